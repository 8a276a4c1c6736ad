#include "sim/report.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/dane.h"
#include "core/policy/engine.h"
#include "core/policy/json/tlsrpt_json.h"
#include "core/policy/level.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "core/smtp/client_session.h"
#include "core/smtp/reply.h"
#include "core/smtp/tls_policy_hook.h"
#include "nlohmann/json.hpp"
#include "sim/dns.h"
#include "sim/invariants.h"
#include "sim/pcap.h"
#include "sim/report_html.h"
#include "sim/output_files.h"

namespace starling::sim {
namespace {

using Json = nlohmann::ordered_json;

// RFC 3339 UTC with as many fractional digits as the time needs.
std::string Rfc3339(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

std::string Dump(const Json& json) {
  // Replace invalid UTF-8 rather than throw: replies come from the network.
  return json.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string SenderHostname(const Scenario& scenario) {
  return scenario.sender.hostname.empty() ? std::string("relay.example.org")
                                          : scenario.sender.hostname;
}

bool UsesDane(const policy::PolicyEntry& entry) {
  auto dane = [](policy::Level level) {
    return level == policy::Level::kDane || level == policy::Level::kDaneOnly;
  };
  return dane(entry.level) || (entry.testing && dane(entry.floor));
}

// Counted sessions of one domain.
struct SessionCounts {
  int64_t successful = 0;
  int64_t failed = 0;
};

std::string CsvField(absl::string_view field) {
  if (field.find_first_of(",\"\r\n") == absl::string_view::npos) {
    return std::string(field);
  }
  std::string out = "\"";
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

void CsvRow(const std::vector<std::string>& fields, std::string* out) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out->push_back(',');
    absl::StrAppend(out, CsvField(fields[i]));
  }
  absl::StrAppend(out, "\r\n");
}

std::string Bool(bool value) { return value ? "true" : "false"; }

std::string ChainVerdictText(const AttemptRecord& attempt) {
  return attempt.chain_verdict.has_value()
             ? std::string(policy::ChainVerdictName(*attempt.chain_verdict))
             : std::string();
}

Json ReplyJson(const smtp::Reply& reply) {
  if (reply.code == 0) return nullptr;
  Json json = {{"code", reply.code}};
  json["enhanced"] = reply.enhanced.has_value()
                         ? Json(reply.enhanced->ToString())
                         : Json(nullptr);
  json["lines"] = reply.lines;
  return json;
}

Json AttemptJson(size_t index, const AttemptRecord& a) {
  Json json = {
      {"attempt", index},
      {"kind", std::string(AttemptKindName(a.kind))},
      {"start", Rfc3339(a.start)},
      {"end", Rfc3339(a.end)},
      {"domain", a.domain},
      {"mx_host", a.mx_host},
      {"mx_preference", a.mx_preference},
      {"connected", a.connected},
      {"tls", a.tls},
  };
  json["chain_verdict"] =
      a.chain_verdict.has_value() ? Json(ChainVerdictText(a)) : Json(nullptr);
  json["verdict"] = std::string(smtp::DeliveryVerdictName(a.verdict));
  json["policy_label"] = a.policy_label;
  json["tlsrpt_result_type"] = a.tlsrpt_result_type;
  json["tlsrpt_reported"] = a.tlsrpt_reported;
  json["policy_rule"] = a.policy_rule;
  json["first_failure"] = a.first_failure;
  json["detail"] = a.detail;
  Json recipients = Json::array();
  for (const AttemptRecipient& r : a.recipients) {
    recipients.push_back({
        {"message", r.message},
        {"recipient", r.result.mailbox.ToString()},
        {"status", std::string(smtp::RecipientStatusName(r.result.status))},
        {"stage", std::string(smtp::ClientStageName(r.result.stage))},
        {"reply", ReplyJson(r.result.reply)},
        {"detail", r.result.detail},
    });
  }
  json["recipients"] = std::move(recipients);
  return json;
}

std::string FileSafe(absl::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') c = '_';
  }
  return out;
}

// The TLS-RPT sessions of the result, aggregated over [start, end).
policy::TlsRptAggregator Aggregate(const Scenario& scenario,
                                   const WorldResult& result) {
  policy::TlsRptAggregator aggregator(scenario.world.start, result.end);
  std::map<std::string, policy::TlsRptPolicy> policies;
  for (const ScenarioDomain& domain : scenario.domains) {
    policies.emplace(domain.name, ReportPolicyFor(scenario, result, domain));
  }
  const std::string sending_ip = PcapClientIp();
  for (const AttemptRecord& attempt : result.attempts) {
    const TlsRptCount count = CountAttempt(attempt);
    if (count == TlsRptCount::kNone) continue;
    auto policy = policies.find(absl::AsciiStrToLower(attempt.domain));
    if (policy == policies.end()) continue;
    policy::TlsRptSession session;
    session.policy = policy->second;
    session.time = attempt.start;
    session.success = count == TlsRptCount::kSuccess;
    if (!session.success) {
      session.failure.result_type = attempt.tlsrpt_reported;
      session.failure.sending_mta_ip = sending_ip;
      session.failure.receiving_mx_hostname = attempt.mx_host;
      if (!attempt.mx_host.empty()) {
        session.failure.receiving_ip = PcapServerIp(attempt.mx_host);
      }
    }
    aggregator.Add(session);
  }
  return aggregator;
}

}  // namespace

policy::TlsRptPolicy ReportPolicyFor(const Scenario& scenario,
                                     const WorldResult& result,
                                     const ScenarioDomain& domain) {
  const policy::PolicyEntry& entry = scenario.sender.policy.Lookup(
      domain.nexthop.empty() ? domain.name : domain.nexthop);
  auto resolved = result.tlsa.find(domain.name);
  if (UsesDane(entry) && !domain.tlsa.empty() &&
      domain.dnssec == DnssecStatus::kSecure) {
    std::vector<policy::TlsaRecord> records;
    for (const TlsaRecord& r : resolved != result.tlsa.end()
                                   ? resolved->second
                                   : domain.tlsa) {
      records.push_back(
          policy::TlsaRecord{r.usage, r.selector, r.matching_type, r.data});
    }
    return policy::TlsaReportPolicy(domain.name, records);
  }
  if (entry.mta_sts && domain.mta_sts.has_value() && domain.nexthop.empty()) {
    return policy::StsReportPolicy(domain.name, *domain.mta_sts);
  }
  policy::TlsRptPolicy none;
  none.type = policy::TlsRptPolicyType::kNoPolicyFound;
  none.domain = absl::AsciiStrToLower(domain.name);
  return none;
}

TlsRptCount CountAttempt(const AttemptRecord& attempt) {
  switch (attempt.kind) {
    case AttemptKind::kDns:
      return TlsRptCount::kNone;
    case AttemptKind::kSkipped:
      return attempt.tlsrpt_reported.empty() ? TlsRptCount::kNone
                                             : TlsRptCount::kFailure;
    case AttemptKind::kConnection:
      if (!attempt.tlsrpt_reported.empty()) return TlsRptCount::kFailure;
      return attempt.tls ? TlsRptCount::kSuccess : TlsRptCount::kNone;
  }
  return TlsRptCount::kNone;
}

std::vector<TlsRptDomainReport> TlsRptReports(const Scenario& scenario,
                                              const WorldResult& result,
                                              const TlsRptOptions& options) {
  const policy::TlsRptAggregator aggregator = Aggregate(scenario, result);
  const std::string organization = options.organization_name.empty()
                                       ? std::string("Starling mtasim")
                                       : options.organization_name;
  const std::string contact =
      options.contact_info.empty()
          ? absl::StrCat("postmaster@", SenderHostname(scenario))
          : options.contact_info;
  std::vector<TlsRptDomainReport> reports;
  for (const ScenarioDomain& domain : scenario.domains) {
    if (domain.tlsrpt_rua.empty()) continue;  // nowhere to send it
    const std::string report_id =
        absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", scenario.world.start,
                                      absl::UTCTimeZone()),
                     "_", domain.name);
    std::optional<policy::TlsRptReport> report =
        aggregator.ReportFor(domain.name, organization, contact, report_id);
    if (!report.has_value()) continue;
    TlsRptDomainReport out;
    out.domain = domain.name;
    out.rua = domain.tlsrpt_rua;
    out.json = policy::TlsRptReportJson(*report);
    out.report = *std::move(report);
    reports.push_back(std::move(out));
  }
  return reports;
}

std::string AttemptsCsv(const WorldResult& result) {
  std::string out;
  CsvRow({"attempt", "kind", "start", "end", "domain", "mx_host",
          "mx_preference", "connected", "tls", "chain_verdict", "verdict",
          "policy_label", "tlsrpt_result_type", "detail", "message",
          "recipient", "status", "stage", "reply_code", "reply_enhanced",
          "reply_text", "recipient_detail", "tlsrpt_reported", "policy_rule",
          "first_failure"},
         &out);
  for (size_t i = 0; i < result.attempts.size(); ++i) {
    const AttemptRecord& a = result.attempts[i];
    const std::vector<std::string> attempt = {
        absl::StrCat(i + 1),
        std::string(AttemptKindName(a.kind)),
        Rfc3339(a.start),
        Rfc3339(a.end),
        a.domain,
        a.mx_host,
        absl::StrCat(a.mx_preference),
        Bool(a.connected),
        Bool(a.tls),
        ChainVerdictText(a),
        std::string(smtp::DeliveryVerdictName(a.verdict)),
        a.policy_label,
        a.tlsrpt_result_type,
        a.detail,
    };
    const std::vector<std::string> tail = {a.tlsrpt_reported, a.policy_rule,
                                           a.first_failure};
    if (a.recipients.empty()) {
      std::vector<std::string> row = attempt;
      row.resize(row.size() + 8);
      row.insert(row.end(), tail.begin(), tail.end());
      CsvRow(row, &out);
      continue;
    }
    for (const AttemptRecipient& r : a.recipients) {
      std::vector<std::string> row = attempt;
      const smtp::Reply& reply = r.result.reply;
      row.push_back(absl::StrCat(r.message));
      row.push_back(r.result.mailbox.ToString());
      row.push_back(std::string(smtp::RecipientStatusName(r.result.status)));
      row.push_back(std::string(smtp::ClientStageName(r.result.stage)));
      row.push_back(reply.code == 0 ? "" : absl::StrCat(reply.code));
      row.push_back(reply.enhanced.has_value() ? reply.enhanced->ToString()
                                               : "");
      row.push_back(absl::StrJoin(reply.lines, "\n"));
      row.push_back(r.result.detail);
      row.insert(row.end(), tail.begin(), tail.end());
      CsvRow(row, &out);
    }
  }
  return out;
}

std::string AttemptsJson(const WorldResult& result) {
  Json json = Json::array();
  for (size_t i = 0; i < result.attempts.size(); ++i) {
    json.push_back(AttemptJson(i + 1, result.attempts[i]));
  }
  return Dump(json);
}

std::string ResultJson(const Scenario& scenario, const WorldResult& result) {
  std::map<std::string, SessionCounts> sessions;
  std::map<std::string, int64_t> attempts_by_kind = {
      {"dns", 0}, {"skipped", 0}, {"connection", 0}};
  for (const AttemptRecord& attempt : result.attempts) {
    ++attempts_by_kind[std::string(AttemptKindName(attempt.kind))];
    switch (CountAttempt(attempt)) {
      case TlsRptCount::kSuccess:
        ++sessions[attempt.domain].successful;
        break;
      case TlsRptCount::kFailure:
        ++sessions[attempt.domain].failed;
        break;
      case TlsRptCount::kNone:
        break;
    }
  }

  int64_t delivered = 0, tls = 0, plaintext = 0, bounced = 0, queued = 0;
  for (const WorldRecipient& r : result.recipients) {
    switch (r.fate) {
      case RecipientFate::kDelivered:
        ++delivered;
        ++(r.over_tls ? tls : plaintext);
        break;
      case RecipientFate::kBounced:
        ++bounced;
        break;
      case RecipientFate::kQueued:
        ++queued;
        break;
    }
  }
  const Json recipients = {{"total", result.recipients.size()},
                           {"delivered", delivered},
                           {"delivered_tls", tls},
                           {"delivered_plaintext", plaintext},
                           {"bounced", bounced},
                           {"queued", queued}};

  Json domains = Json::array();
  for (const DomainSummary& d : result.domains) {
    std::vector<std::string> profiles;
    if (d.profiles != "-" && !d.profiles.empty()) {
      profiles = absl::StrSplit(d.profiles, ',');
    }
    const ScenarioDomain* declared = scenario.FindDomain(d.domain);
    const std::string policy_type =
        declared == nullptr
            ? std::string(policy::TlsRptPolicyTypeName(
                  policy::TlsRptPolicyType::kNoPolicyFound))
            : std::string(policy::TlsRptPolicyTypeName(
                  ReportPolicyFor(scenario, result, *declared).type));
    Json by_label = Json::object();
    for (const auto& [label, n] : d.tls_by_label) by_label[label] = n;
    const SessionCounts counts = sessions[d.domain];
    Json why = Json::object();
    for (const auto& [reason, n] : d.why) why[reason] = n;
    Json periods = Json::array();
    for (const DomainPeriod& p : d.periods) {
      Json labels = Json::object();
      for (const auto& [label, n] : p.counts.tls_by_label) labels[label] = n;
      periods.push_back({
          {"from", Rfc3339(p.from)},
          {"to", Rfc3339(p.to)},
          {"after", p.after},
          {"tls", p.counts.tls},
          {"tls_by_label", std::move(labels)},
          {"plaintext", p.counts.plaintext},
          {"deferred", p.counts.deferred},
          {"bounced", p.counts.bounced},
          {"max_delay_seconds", absl::ToInt64Seconds(p.max_delay)},
      });
    }
    domains.push_back({
        {"domain", d.domain},
        {"profiles", profiles},
        {"tls", d.tls},
        {"tls_by_label", std::move(by_label)},
        {"plaintext", d.plaintext},
        {"deferred", d.deferred},
        {"bounced", d.bounced},
        {"tlsrpt_policy_type", policy_type},
        {"tlsrpt_result_types", Json(std::vector<std::string>(
                                    d.tlsrpt_result_types.begin(),
                                    d.tlsrpt_result_types.end()))},
        {"tlsrpt_sessions",
         {{"successful", counts.successful}, {"failed", counts.failed}}},
        {"tlsrpt_rua", declared == nullptr ? std::vector<std::string>()
                                           : declared->tlsrpt_rua},
        {"policy", d.policy},
        {"policy_rule", d.policy_rule},
        {"why", std::move(why)},
        {"periods", std::move(periods)},
    });
  }

  Json bounces = Json::array();
  for (const BounceRecord& b : result.bounces) {
    bounces.push_back({
        {"message", b.message},
        {"recipient", b.recipient.ToString()},
        {"time", Rfc3339(b.time)},
        {"status", b.status},
        {"diagnostic", b.diagnostic},
        {"expired", b.expired},
    });
  }

  Json attempts = {{"total", result.attempts.size()}};
  for (const auto& [kind, n] : attempts_by_kind) attempts[kind] = n;

  Json violation = nullptr;
  if (result.violation.has_value()) {
    violation = {
        {"kind", std::string(InvariantKindName(result.violation->kind))},
        {"time", Rfc3339(result.violation->time)},
        {"detail", result.violation->detail},
        {"exit_code", InvariantExitCode(result.violation->kind)},
    };
  }

  const Json json = {
      {"seed", result.seed},
      {"start", Rfc3339(scenario.world.start)},
      {"end", Rfc3339(result.end)},
      {"trace_hash", absl::StrFormat("%016x", result.trace_hash)},
      {"steps", result.steps},
      {"violation", std::move(violation)},
      {"policy",
       {{"default", DefaultPolicyText(scenario)},
        {"warnings", scenario.sender.policy_warnings}}},
      {"recipients", recipients},
      {"attempts", std::move(attempts)},
      {"partner_accepted", result.partner_accepted},
      {"duplicates_in_window", result.duplicates_in_window},
      {"domains", std::move(domains)},
      {"bounces", std::move(bounces)},
      {"faults",
       {{"applied", result.faults_applied},
        {"not_applied", result.faults_not_applied}}},
  };
  return Dump(json);
}

absl::Status WriteReports(const std::string& dir, const Scenario& scenario,
                          const WorldResult& result,
                          const TlsRptOptions& options) {
  if (absl::Status made = MakeDirectory(dir); !made.ok()) return made;
  const std::filesystem::path base(dir);
  for (const TlsRptDomainReport& report :
       TlsRptReports(scenario, result, options)) {
    const absl::Status status = WriteFile(
        (base / absl::StrCat("tlsrpt-", FileSafe(report.domain), ".json"))
            .string(),
        report.json + "\n");
    if (!status.ok()) return status;
  }
  const std::pair<const char*, std::string> files[] = {
      {"attempts.csv", AttemptsCsv(result)},
      {"attempts.json", AttemptsJson(result)},
      {"result.json", ResultJson(scenario, result)},
      {"report.html", ReportHtml(scenario, result)},
  };
  for (const auto& [name, bytes] : files) {
    const absl::Status status = WriteFile((base / name).string(), bytes);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace starling::sim
