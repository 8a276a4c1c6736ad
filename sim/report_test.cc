#include "sim/report.h"

#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "core/smtp/client_session.h"
#include "core/smtp/command.h"
#include "core/smtp/reply.h"
#include "core/smtp/tls_policy_hook.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/dns.h"
#include "sim/invariants.h"
#include "sim/pcap.h"
#include "sim/report_html.h"
#include "sim/transcript.h"
#include "sim/scenario.h"
#include "sim/sender.h"
#include "sim/world.h"

namespace starling::sim {
namespace {

using nlohmann::json;

const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01

absl::Time At(int seconds) { return kStart + absl::Seconds(seconds); }

ScenarioDomain Domain(const std::string& name) {
  ScenarioDomain d;
  d.name = name;
  d.tlsrpt_rua = {absl::StrCat("mailto:tlsrpt@", name)};
  ScenarioMx mx;
  mx.host = absl::StrCat("mx.", name);
  mx.preference = 10;
  d.mx.push_back(mx);
  return d;
}

Scenario MakeScenario() {
  Scenario s;
  s.world.start = kStart;
  s.world.duration = absl::Hours(1);
  s.sender.hostname = "relay.example.org";
  absl::StatusOr<policy::PolicyTable> table =
      policy::ParsePolicyTable("* may\ndane.example dane\nlax.example may\n");
  EXPECT_TRUE(table.ok()) << table.status();
  if (table.ok()) s.sender.policy = *std::move(table);

  ScenarioDomain sts = Domain("sts.example");
  sts.mta_sts = policy::StsPolicy{policy::StsMode::kEnforce,
                                  {"mx.sts.example"}, 86400};
  sts.mta_sts_id = "1";
  s.domains.push_back(sts);

  ScenarioDomain dane = Domain("dane.example");
  dane.dnssec = DnssecStatus::kSecure;
  dane.tlsa.push_back(TlsaRecord{3, 1, 1, std::string(32, '\xab')});
  dane.mta_sts = sts.mta_sts;  // DANE outranks MTA-STS
  s.domains.push_back(dane);

  // TLSA records, but the table does not use DANE for it.
  ScenarioDomain lax = Domain("lax.example");
  lax.dnssec = DnssecStatus::kSecure;
  lax.tlsa = dane.tlsa;
  s.domains.push_back(lax);

  s.domains.push_back(Domain("plain.example"));
  return s;
}

AttemptRecipient Recipient(uint64_t message, const std::string& address,
                           smtp::RecipientStatus status, smtp::Reply reply,
                           std::string detail = "") {
  std::vector<std::string> parts = absl::StrSplit(address, '@');
  AttemptRecipient r;
  r.message = message;
  r.result.mailbox = smtp::Mailbox{parts[0], parts[1]};
  r.result.status = status;
  r.result.stage = smtp::ClientStage::kEndOfData;
  r.result.reply = std::move(reply);
  r.result.detail = std::move(detail);
  return r;
}

AttemptRecord Connection(const std::string& domain, int at, bool tls,
                         const std::string& result_type,
                         const std::string& mx = "") {
  AttemptRecord a;
  a.kind = AttemptKind::kConnection;
  a.start = At(at);
  a.end = At(at) + absl::Milliseconds(250);
  a.domain = domain;
  a.mx_host = mx.empty() ? absl::StrCat("mx.", domain) : mx;
  a.mx_preference = 10;
  a.connected = true;
  a.tls = tls;
  if (tls) a.chain_verdict = ChainVerdict::kTrusted;
  a.verdict = result_type.empty() ? (tls ? smtp::DeliveryVerdict::kProceedTls
                                         : smtp::DeliveryVerdict::kProceedPlaintext)
                                  : smtp::DeliveryVerdict::kDefer;
  a.tlsrpt_result_type = result_type;
  a.tlsrpt_reported = result_type;
  return a;
}

WorldResult MakeResult() {
  WorldResult r;
  r.seed = 42;
  r.start = kStart;
  r.end = At(3600);
  r.trace_hash = 0xdeadbeefULL;

  AttemptRecord ok = Connection("sts.example", 1, true, "");
  ok.policy_label = "sts:verified";
  ok.recipients.push_back(Recipient(1, "a@sts.example",
                                    smtp::RecipientStatus::kDelivered,
                                    smtp::Reply::Make(250, "2.0.0", "queued")));
  r.attempts.push_back(ok);

  AttemptRecord expired = Connection("sts.example", 2, true,
                                     "certificate-expired");
  expired.chain_verdict = ChainVerdict::kExpired;
  expired.detail = "chain \"expired\", retry later\nsecond line";
  r.attempts.push_back(expired);
  r.attempts.push_back(Connection("sts.example", 3, true, "certificate-expired"));

  AttemptRecord skipped;
  skipped.kind = AttemptKind::kSkipped;
  skipped.start = skipped.end = At(4);
  skipped.domain = "sts.example";
  skipped.mx_host = "evil.example";
  skipped.tlsrpt_result_type = "validation-failure";
  skipped.tlsrpt_reported = "validation-failure";
  skipped.verdict = smtp::DeliveryVerdict::kTryNextMx;
  r.attempts.push_back(skipped);

  AttemptRecord dns;
  dns.kind = AttemptKind::kDns;
  dns.start = dns.end = At(5);
  dns.domain = "sts.example";
  dns.verdict = smtp::DeliveryVerdict::kDefer;
  dns.detail = "MX lookup: timeout (SERVFAIL)";
  r.attempts.push_back(dns);

  // Outside the window [start, end): not reported.
  r.attempts.push_back(Connection("sts.example", 3600, false,
                                  "starttls-not-supported"));

  AttemptRecord plain = Connection("plain.example", 6, false, "");
  plain.recipients.push_back(Recipient(2, "b@plain.example",
                                       smtp::RecipientStatus::kDelivered,
                                       smtp::Reply::Make(250, "", "ok")));
  plain.recipients.push_back(Recipient(
      2, "c@plain.example", smtp::RecipientStatus::kPermFailed,
      smtp::Reply{550, smtp::EnhancedStatus{5, 1, 1}, {"no such user", "really"}},
      "unknown, \"c\""));
  r.attempts.push_back(plain);

  r.attempts.push_back(Connection("dane.example", 7, true, ""));
  AttemptRecord refused = Connection("dane.example", 8, false, "");
  refused.connected = false;
  refused.detail = "connection refused";
  r.attempts.push_back(refused);

  r.attempts.push_back(Connection("lax.example", 9, false,
                                  "starttls-not-supported"));

  for (const char* d :
       {"sts.example", "dane.example", "lax.example", "plain.example"}) {
    DomainSummary summary;
    summary.domain = d;
    summary.profiles = "good";
    r.domains.push_back(summary);
  }
  r.domains[0].tls = 1;
  r.domains[0].tls_by_label["sts:verified"] = 1;
  r.domains[0].tlsrpt_result_types = {"certificate-expired",
                                      "validation-failure"};
  r.domains[3].plaintext = 1;
  r.domains[3].bounced = 1;

  auto recipient = [&r](uint64_t message, const std::string& address,
                        RecipientFate fate, bool over_tls) {
    WorldRecipient w;
    w.message = message;
    w.address = address;
    w.domain = address.substr(address.find('@') + 1);
    w.fate = fate;
    w.attempts = 1;
    w.over_tls = over_tls;
    if (over_tls) w.policy_label = "sts:verified";
    r.recipients.push_back(w);
  };
  recipient(1, "a@sts.example", RecipientFate::kDelivered, true);
  recipient(2, "b@plain.example", RecipientFate::kDelivered, false);
  recipient(2, "c@plain.example", RecipientFate::kBounced, false);
  recipient(3, "d@lax.example", RecipientFate::kQueued, false);
  BounceRecord bounce;
  bounce.message = 2;
  bounce.recipient = smtp::Mailbox{"c", "plain.example"};
  bounce.time = At(6);
  bounce.status = "5.1.1";
  bounce.diagnostic = "550 5.1.1 no such user";
  r.bounces.push_back(bounce);
  r.faults_applied.push_back("mx.sts.example reset at 10m");
  r.faults_not_applied.push_back("mx.nowhere.example refuse at 0s (no such MX host)");
  return r;
}

const TlsRptDomainReport* FindReport(
    const std::vector<TlsRptDomainReport>& reports, const std::string& domain) {
  for (const TlsRptDomainReport& r : reports) {
    if (r.domain == domain) return &r;
  }
  return nullptr;
}

TEST(ReportTest, PolicyTypes) {
  const Scenario s = MakeScenario();
  EXPECT_EQ(ReportPolicyFor(s, WorldResult(), s.domains[0]).type, policy::TlsRptPolicyType::kSts);
  EXPECT_EQ(ReportPolicyFor(s, WorldResult(), s.domains[1]).type, policy::TlsRptPolicyType::kTlsa);
  EXPECT_EQ(ReportPolicyFor(s, WorldResult(), s.domains[1]).policy_strings.size(), 1u);
  EXPECT_EQ(ReportPolicyFor(s, WorldResult(), s.domains[2]).type,
            policy::TlsRptPolicyType::kNoPolicyFound);
  EXPECT_EQ(ReportPolicyFor(s, WorldResult(), s.domains[3]).type,
            policy::TlsRptPolicyType::kNoPolicyFound);
  EXPECT_EQ(ReportPolicyFor(s, WorldResult(), s.domains[3]).domain, "plain.example");

  // DANE without DNSSEC is no policy; MTA-STS the table turns off is none.
  Scenario t = MakeScenario();
  t.domains[1].dnssec = DnssecStatus::kInsecure;
  EXPECT_EQ(ReportPolicyFor(t, WorldResult(), t.domains[1]).type, policy::TlsRptPolicyType::kSts);
  absl::StatusOr<policy::PolicyTable> table =
      policy::ParsePolicyTable("sts.example may mta-sts=no\n");
  if (table.ok()) {
    t.sender.policy = *std::move(table);
    EXPECT_EQ(ReportPolicyFor(t, WorldResult(), t.domains[0]).type,
              policy::TlsRptPolicyType::kNoPolicyFound);
  }
}

// "auto" TLSA records are reported as the world resolved them.
TEST(ReportTest, TlsaPolicyStringHasTheResolvedData) {
  Scenario s = MakeScenario();
  s.domains[1].tlsa = {TlsaRecord{3, 1, 1, ""}};  // "3 1 1 auto"
  WorldResult r;
  r.tlsa["dane.example"] = {TlsaRecord{3, 1, 1, std::string(32, '\xcd')}};
  const policy::TlsRptPolicy p = ReportPolicyFor(s, r, s.domains[1]);
  ASSERT_EQ(p.policy_strings.size(), 1u);
  std::string hex;
  for (int i = 0; i < 32; ++i) hex += "cd";
  EXPECT_EQ(p.policy_strings[0], "3 1 1 " + hex);
}

TEST(ReportTest, CountAttempt) {
  const WorldResult r = MakeResult();
  EXPECT_EQ(CountAttempt(r.attempts[0]), TlsRptCount::kSuccess);
  EXPECT_EQ(CountAttempt(r.attempts[1]), TlsRptCount::kFailure);
  EXPECT_EQ(CountAttempt(r.attempts[3]), TlsRptCount::kFailure);  // skipped MX
  EXPECT_EQ(CountAttempt(r.attempts[4]), TlsRptCount::kNone);     // DNS
  EXPECT_EQ(CountAttempt(r.attempts[6]), TlsRptCount::kNone);     // plaintext
  EXPECT_EQ(CountAttempt(r.attempts[8]), TlsRptCount::kNone);     // refused
  // Refused only by the sender's own pin: a successful session for the
  // recipient's policy.
  AttemptRecord pinned = r.attempts[1];
  pinned.tlsrpt_reported = "";
  EXPECT_EQ(CountAttempt(pinned), TlsRptCount::kSuccess);
}

// Only a domain that publishes _smtp._tls (rua) gets a report.
TEST(ReportTest, OnlyPublishersGetReports) {
  Scenario s = MakeScenario();
  s.domains[0].tlsrpt_rua.clear();
  const std::vector<TlsRptDomainReport> reports = TlsRptReports(s, MakeResult());
  EXPECT_EQ(FindReport(reports, "sts.example"), nullptr);
  ASSERT_NE(FindReport(reports, "dane.example"), nullptr);
  EXPECT_EQ(FindReport(reports, "dane.example")->rua,
            std::vector<std::string>{"mailto:tlsrpt@dane.example"});
}

TEST(ReportTest, TlsRptReportsPerPolicyDomain) {
  const Scenario s = MakeScenario();
  const std::vector<TlsRptDomainReport> reports = TlsRptReports(s, MakeResult());
  ASSERT_EQ(reports.size(), 3u);  // plain.example had no TLS session
  EXPECT_EQ(reports[0].domain, "sts.example");  // scenario order
  EXPECT_EQ(reports[1].domain, "dane.example");
  EXPECT_EQ(reports[2].domain, "lax.example");
  EXPECT_EQ(FindReport(reports, "plain.example"), nullptr);

  const json sts = json::parse(reports[0].json);
  EXPECT_EQ(sts["organization-name"], "Starling mtasim");
  EXPECT_EQ(sts["contact-info"], "postmaster@relay.example.org");
  EXPECT_EQ(sts["report-id"], "2026-01-01T00:00:00Z_sts.example");
  EXPECT_EQ(sts["date-range"]["start-datetime"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(sts["date-range"]["end-datetime"], "2026-01-01T01:00:00Z");
  ASSERT_EQ(sts["policies"].size(), 1u);
  const json& p = sts["policies"][0];
  EXPECT_EQ(p["policy"]["policy-type"], "sts");
  EXPECT_EQ(p["policy"]["policy-domain"], "sts.example");
  EXPECT_EQ(p["policy"]["mx-host"], json({"mx.sts.example"}));
  EXPECT_EQ(p["summary"]["total-successful-session-count"], 1);
  EXPECT_EQ(p["summary"]["total-failure-session-count"], 3);
  ASSERT_EQ(p["failure-details"].size(), 2u);
  const json& expired = p["failure-details"][0];
  EXPECT_EQ(expired["result-type"], "certificate-expired");
  EXPECT_EQ(expired["failed-session-count"], 2);
  EXPECT_EQ(expired["receiving-mx-hostname"], "mx.sts.example");
  EXPECT_EQ(expired["sending-mta-ip"], "192.0.2.1");
  EXPECT_TRUE(absl::StartsWith(expired["receiving-ip"].get<std::string>(),
                               "198.51.100."));
  const json& skipped = p["failure-details"][1];
  EXPECT_EQ(skipped["result-type"], "validation-failure");
  EXPECT_EQ(skipped["receiving-mx-hostname"], "evil.example");
  EXPECT_EQ(skipped["failed-session-count"], 1);

  const json dane = json::parse(reports[1].json);
  EXPECT_EQ(dane["policies"][0]["policy"]["policy-type"], "tlsa");
  EXPECT_EQ(dane["policies"][0]["summary"]["total-successful-session-count"], 1);
  EXPECT_EQ(dane["policies"][0]["summary"]["total-failure-session-count"], 0);
  EXPECT_FALSE(dane["policies"][0].contains("failure-details"));

  const json lax = json::parse(reports[2].json);
  EXPECT_EQ(lax["policies"][0]["policy"]["policy-type"], "no-policy-found");
  EXPECT_EQ(lax["policies"][0]["failure-details"][0]["result-type"],
            "starttls-not-supported");

  TlsRptOptions options;
  options.organization_name = "Example Org";
  options.contact_info = "mailto:tlsrpt@example.org";
  const std::vector<TlsRptDomainReport> named =
      TlsRptReports(s, MakeResult(), options);
  ASSERT_FALSE(named.empty());
  EXPECT_EQ(named[0].report.organization_name, "Example Org");
  EXPECT_EQ(named[0].report.contact_info, "mailto:tlsrpt@example.org");
  // Deterministic.
  EXPECT_EQ(TlsRptReports(s, MakeResult())[0].json, reports[0].json);
}

// A minimal RFC 4180 reader for the test.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(std::move(field));
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.back().push_back(std::move(field));
      field.clear();
      rows.emplace_back();
      ++i;
    } else {
      if (c == '\r' || c == '\n') ADD_FAILURE() << "bare CR or LF outside quotes";
      field += c;
    }
  }
  EXPECT_TRUE(rows.back().empty() && field.empty()) << "no final CRLF";
  rows.pop_back();
  return rows;
}

TEST(ReportTest, AttemptsCsv) {
  const WorldResult r = MakeResult();
  const std::string csv = AttemptsCsv(r);
  const std::vector<std::vector<std::string>> rows = ParseCsv(csv);
  ASSERT_FALSE(rows.empty());
  const std::vector<std::string> header = rows[0];
  ASSERT_EQ(header.size(), 25u);
  EXPECT_EQ(header[0], "attempt");
  EXPECT_EQ(header[13], "detail");
  EXPECT_EQ(header[21], "recipient_detail");
  EXPECT_EQ(header[22], "tlsrpt_reported");
  EXPECT_EQ(header[23], "policy_rule");
  EXPECT_EQ(header[24], "first_failure");
  // One row per attempt without recipients, one per recipient otherwise.
  size_t expected = 1;
  for (const AttemptRecord& a : r.attempts) {
    expected += a.recipients.empty() ? 1 : a.recipients.size();
  }
  ASSERT_EQ(rows.size(), expected);
  for (const std::vector<std::string>& row : rows) EXPECT_EQ(row.size(), 25u);

  const std::vector<std::string>& ok = rows[1];
  EXPECT_EQ(ok[0], "1");
  EXPECT_EQ(ok[1], "connection");
  EXPECT_EQ(ok[2], "2026-01-01T00:00:01Z");
  EXPECT_EQ(ok[3], "2026-01-01T00:00:01.25Z");
  EXPECT_EQ(ok[4], "sts.example");
  EXPECT_EQ(ok[5], "mx.sts.example");
  EXPECT_EQ(ok[6], "10");
  EXPECT_EQ(ok[7], "true");
  EXPECT_EQ(ok[8], "true");
  EXPECT_EQ(ok[9], "trusted");
  EXPECT_EQ(ok[10], "proceed-tls");
  EXPECT_EQ(ok[11], "sts:verified");
  EXPECT_EQ(ok[14], "1");
  EXPECT_EQ(ok[15], "a@sts.example");
  EXPECT_EQ(ok[16], "delivered");
  EXPECT_EQ(ok[18], "250");
  EXPECT_EQ(ok[19], "2.0.0");
  EXPECT_EQ(ok[20], "queued");

  // Quotes, commas and newlines survive the round trip.
  const std::vector<std::string>& expired = rows[2];
  EXPECT_EQ(expired[13], "chain \"expired\", retry later\nsecond line");
  EXPECT_EQ(expired[14], "");  // no recipients
  EXPECT_TRUE(absl::StrContains(
      csv, "\"chain \"\"expired\"\", retry later\nsecond line\""));
  const std::vector<std::string>& bounced = rows[8];
  EXPECT_EQ(bounced[15], "c@plain.example");
  EXPECT_EQ(bounced[16], "perm-failed");
  EXPECT_EQ(bounced[20], "no such user\nreally");
  EXPECT_EQ(bounced[21], "unknown, \"c\"");
}

TEST(ReportTest, AttemptsJson) {
  const WorldResult r = MakeResult();
  const json j = json::parse(AttemptsJson(r));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), r.attempts.size());
  const json& ok = j[0];
  for (const char* key :
       {"attempt", "kind", "start", "end", "domain", "mx_host", "mx_preference",
        "connected", "tls", "chain_verdict", "verdict", "policy_label",
        "tlsrpt_result_type", "tlsrpt_reported", "policy_rule", "first_failure",
        "detail", "recipients"}) {
    EXPECT_TRUE(ok.contains(key)) << key;
  }
  EXPECT_EQ(ok["attempt"], 1);
  EXPECT_EQ(ok["tls"], true);
  EXPECT_EQ(ok["chain_verdict"], "trusted");
  EXPECT_EQ(ok["recipients"][0]["recipient"], "a@sts.example");
  EXPECT_EQ(ok["recipients"][0]["status"], "delivered");
  EXPECT_EQ(ok["recipients"][0]["reply"]["code"], 250);
  EXPECT_EQ(ok["recipients"][0]["reply"]["enhanced"], "2.0.0");
  EXPECT_EQ(ok["recipients"][0]["reply"]["lines"], json({"queued"}));
  EXPECT_TRUE(j[4]["chain_verdict"].is_null());  // the DNS attempt
  EXPECT_EQ(j[4]["kind"], "dns");
  EXPECT_EQ(j[4]["recipients"], json::array());
  EXPECT_EQ(j[6]["recipients"][0]["reply"]["enhanced"], nullptr);
  EXPECT_EQ(j[6]["recipients"][1]["reply"]["lines"],
            json({"no such user", "really"}));
  EXPECT_EQ(j[1]["detail"], "chain \"expired\", retry later\nsecond line");

  // Invalid UTF-8 from the network is replaced, not thrown on.
  WorldResult odd = r;
  odd.attempts[0].detail = "bad \xff octet";
  const json k = json::parse(AttemptsJson(odd));
  EXPECT_EQ(k[0]["detail"], "bad \xef\xbf\xbd octet");
}

TEST(ReportTest, ResultJson) {
  const Scenario s = MakeScenario();
  const WorldResult r = MakeResult();
  const json j = json::parse(ResultJson(s, r));
  EXPECT_EQ(j["seed"], 42);
  EXPECT_EQ(j["start"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(j["end"], "2026-01-01T01:00:00Z");
  EXPECT_EQ(j["trace_hash"], "00000000deadbeef");
  EXPECT_TRUE(j["violation"].is_null());
  EXPECT_EQ(j["recipients"]["total"], 4);
  EXPECT_EQ(j["recipients"]["delivered"], 2);
  EXPECT_EQ(j["recipients"]["delivered_tls"], 1);
  EXPECT_EQ(j["recipients"]["delivered_plaintext"], 1);
  EXPECT_EQ(j["recipients"]["bounced"], 1);
  EXPECT_EQ(j["recipients"]["queued"], 1);
  EXPECT_EQ(j["attempts"]["total"], r.attempts.size());
  EXPECT_EQ(j["attempts"]["dns"], 1);
  EXPECT_EQ(j["attempts"]["skipped"], 1);
  ASSERT_EQ(j["domains"].size(), 4u);
  const json& sts = j["domains"][0];
  EXPECT_EQ(sts["domain"], "sts.example");
  EXPECT_EQ(sts["profiles"], json({"good"}));
  EXPECT_EQ(sts["tls"], 1);
  EXPECT_EQ(sts["tls_by_label"]["sts:verified"], 1);
  EXPECT_EQ(sts["tlsrpt_policy_type"], "sts");
  EXPECT_EQ(sts["tlsrpt_result_types"],
            json({"certificate-expired", "validation-failure"}));
  // The out-of-window attempt still counts here: this is the whole run.
  EXPECT_EQ(sts["tlsrpt_sessions"]["successful"], 1);
  EXPECT_EQ(sts["tlsrpt_sessions"]["failed"], 4);
  EXPECT_EQ(j["domains"][1]["tlsrpt_policy_type"], "tlsa");
  EXPECT_EQ(j["domains"][3]["plaintext"], 1);
  EXPECT_EQ(j["domains"][3]["bounced"], 1);
  ASSERT_EQ(j["bounces"].size(), 1u);
  EXPECT_EQ(j["bounces"][0]["recipient"], "c@plain.example");
  EXPECT_EQ(j["bounces"][0]["status"], "5.1.1");
  EXPECT_EQ(j["bounces"][0]["expired"], false);
  EXPECT_EQ(j["faults"]["applied"], json({"mx.sts.example reset at 10m"}));
  EXPECT_EQ(j["faults"]["not_applied"].size(), 1u);

  WorldResult violated = r;
  InvariantViolation violation;
  violation.kind = InvariantKind::kExactlyOnce;
  violation.time = At(9);
  violation.detail = "recipient delivered twice";
  violated.violation = violation;
  const json v = json::parse(ResultJson(s, violated));
  EXPECT_EQ(v["violation"]["detail"], "recipient delivered twice");
  EXPECT_EQ(v["violation"]["time"], "2026-01-01T00:00:09Z");
  EXPECT_TRUE(v["violation"]["exit_code"].is_number());
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream s;
  s << file.rdbuf();
  return s.str();
}

TEST(ReportTest, WriteReports) {
  const Scenario s = MakeScenario();
  const WorldResult r = MakeResult();
  const std::string dir = absl::StrCat(testing::TempDir(), "/reports/x");
  ASSERT_TRUE(WriteReports(dir, s, r).ok());
  EXPECT_EQ(ReadFile(dir + "/tlsrpt-sts.example.json"),
            TlsRptReports(s, r)[0].json + "\n");
  EXPECT_TRUE(std::filesystem::exists(dir + "/tlsrpt-dane.example.json"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/tlsrpt-plain.example.json"));
  EXPECT_EQ(ReadFile(dir + "/attempts.csv"), AttemptsCsv(r));
  EXPECT_EQ(ReadFile(dir + "/attempts.json"), AttemptsJson(r));
  EXPECT_EQ(ReadFile(dir + "/result.json"), ResultJson(s, r));
  EXPECT_TRUE(absl::StartsWith(ReadFile(dir + "/report.html"), "<!DOCTYPE html>"));

  const std::string blocked = dir + "/attempts.csv/sub";
  const absl::Status status = WriteReports(blocked, s, r);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), blocked)) << status;
}

TEST(ReportTest, HtmlIsSelfContainedAndEscaped) {
  Scenario s = MakeScenario();
  s.sender.hostname = "relay<&>.example.org";
  WorldResult r = MakeResult();
  r.domains[0].why["pin (table): <b>no</b> & \"quoted\""] = 1;
  const std::string html = ReportHtml(s, r);
  EXPECT_TRUE(absl::StartsWith(html, "<!DOCTYPE html>"));
  EXPECT_TRUE(absl::EndsWith(html, "</html>\n"));
  EXPECT_FALSE(absl::StrContains(html, "<script"));
  EXPECT_TRUE(absl::StrContains(html, "relay&lt;&amp;&gt;.example.org"));
  EXPECT_TRUE(absl::StrContains(
      html, "pin (table): &lt;b&gt;no&lt;/b&gt; &amp; &quot;quoted&quot;"));
  EXPECT_FALSE(absl::StrContains(html, "<b>no</b>"));
  // One timeline per domain, one series per outcome in each.
  size_t timelines = 0;
  for (size_t at = html.find("<svg class=\"timeline\""); at != std::string::npos;
       at = html.find("<svg class=\"timeline\"", at + 1)) {
    ++timelines;
  }
  EXPECT_EQ(timelines, r.domains.size());
  for (const char* series : kTimelineSeries) {
    size_t n = 0;
    const std::string needle = absl::StrCat("<polyline class=\"series series-", series, "\"");
    for (size_t at = html.find(needle); at != std::string::npos; at = html.find(needle, at + 1)) {
      ++n;
    }
    EXPECT_EQ(n, timelines) << series;
  }
  EXPECT_EQ(ReportHtml(s, r), html);  // deterministic
}

// The real thing: a world run's outputs are well-formed and consistent.
TEST(ReportTest, ZooMiniWorld) {
  absl::StatusOr<Scenario> scenario =
      LoadScenarioFile("sim/scenarios/zoo-mini.toml");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  absl::StatusOr<WorldResult> result = RunScenario(*scenario, 42);
  ASSERT_TRUE(result.ok()) << result.status();
  // Kept with the test's outputs for a look at real files.
  if (const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR")) {
    EXPECT_TRUE(
        WriteReports(absl::StrCat(outputs, "/zoo-mini"), *scenario, *result)
            .ok());
  }
  const json j = json::parse(ResultJson(*scenario, *result));
  EXPECT_EQ(j["recipients"]["total"], result->recipients.size());
  EXPECT_EQ(j["trace_hash"].get<std::string>().size(), 16u);
  const json attempts = json::parse(AttemptsJson(*result));
  EXPECT_EQ(attempts.size(), result->attempts.size());
  const std::vector<TlsRptDomainReport> reports =
      TlsRptReports(*scenario, *result);
  const TlsRptDomainReport* strict = FindReport(reports, "strict.example");
  ASSERT_NE(strict, nullptr);
  const json s = json::parse(strict->json);
  EXPECT_EQ(s["policies"][0]["policy"]["policy-type"], "no-policy-found");
  EXPECT_EQ(s["policies"][0]["failure-details"][0]["result-type"],
            "starttls-not-supported");
  const TlsRptDomainReport* good = FindReport(reports, "good.example");
  ASSERT_NE(good, nullptr);
  EXPECT_GE(json::parse(good->json)["policies"][0]["summary"]
                ["total-successful-session-count"]
                    .get<int>(),
            1);
}

// Captured connections of a real world: transcripts and pcap files (decoded
// by tshark when it is installed).
TEST(ReportTest, ZooMiniCaptures) {
  absl::StatusOr<Scenario> scenario =
      LoadScenarioFile("sim/scenarios/zoo-mini.toml");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  WorldOptions options;
  options.capture = true;
  absl::StatusOr<WorldResult> result = RunScenario(*scenario, 42, options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_FALSE(result->captures.empty());
  const CapturedConnection* good = nullptr;
  for (const CapturedConnection& c : result->captures) {
    if (c.domain == "good.example") good = &c;
  }
  ASSERT_NE(good, nullptr);
  const std::string transcript = FormatTranscript(*good);
  EXPECT_TRUE(absl::StrContains(transcript, " C: STARTTLS\n")) << transcript;
  EXPECT_TRUE(absl::StrContains(transcript, " C[tls]: EHLO relay.example.org\n"))
      << transcript;
  EXPECT_TRUE(absl::StrContains(transcript, " body lines ...\n")) << transcript;

  const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  const std::string dir = absl::StrCat(
      outputs != nullptr ? std::string(outputs) : testing::TempDir(),
      "/zoo-mini-captures");
  ASSERT_TRUE(WritePcapFiles(dir, result->captures).ok());
  ASSERT_TRUE(WriteTranscriptFiles(dir, result->captures).ok());
  if (std::system("command -v tshark > /dev/null 2>&1") != 0) return;
  const std::string command =
      absl::StrCat("tshark -n -r '", dir, "/", PcapFileName(*good),
                   "' -Y 'smtp.req || tls.handshake.type == 1' -T fields "
                   "-e smtp.command_line -e tls.handshake.type 2>/dev/null");
  std::string out;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
    pclose(pipe);
  }
  EXPECT_TRUE(absl::StrContains(out, "EHLO relay.example.org")) << out;
  EXPECT_TRUE(absl::StrContains(out, "STARTTLS")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\t1")) << out;  // a ClientHello
}

}  // namespace
}  // namespace starling::sim
