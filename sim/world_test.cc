#include "sim/world.h"

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tls/facts.h"
#include "core/tls/testing/test_pki.h"
#include "core/tlsfacts/tls_facts.h"
#include "gtest/gtest.h"
#include "sim/scenario.h"

namespace starling::sim {
namespace {

Scenario ZooMini() {
  absl::StatusOr<Scenario> scenario =
      LoadScenarioFile("sim/scenarios/zoo-mini.toml");
  EXPECT_TRUE(scenario.ok()) << scenario.status();
  return scenario.ok() ? *std::move(scenario) : Scenario{};
}

const DomainSummary* Find(const WorldResult& result, const std::string& name) {
  for (const DomainSummary& d : result.domains) {
    if (d.domain == name) return &d;
  }
  return nullptr;
}

TEST(WorldTest, ZooMiniOutcomes) {
  const Scenario scenario = ZooMini();
  ASSERT_TRUE(scenario.world.seed.has_value());
  absl::StatusOr<WorldResult> result = RunScenario(scenario, *scenario.world.seed);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->violation.has_value())
      << FormatViolation(*result->violation);
  EXPECT_TRUE(result->faults_not_applied.empty());
  EXPECT_EQ(result->faults_applied.size(), 1u);

  const DomainSummary* good = Find(*result, "good.example");
  ASSERT_NE(good, nullptr);
  EXPECT_EQ(good->tls, 6) << result->attempt_log;
  // Each host presents a certificate for its own name: verified.
  EXPECT_EQ(good->tls_by_label,
            (std::map<std::string, int64_t>{{"may:trusted", 6}}));
  EXPECT_EQ(good->plaintext + good->deferred + good->bounced, 0);

  const DomainSummary* plain = Find(*result, "plain.example");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->plaintext, 2);
  EXPECT_EQ(plain->tls + plain->deferred + plain->bounced, 0);

  const DomainSummary* expired = Find(*result, "expired.example");
  ASSERT_NE(expired, nullptr);
  EXPECT_EQ(expired->tls, 2);  // opportunistic: an expired chain still encrypts

  const DomainSummary* grey = Find(*result, "grey.example");
  ASSERT_NE(grey, nullptr);
  EXPECT_EQ(grey->tls, 2);
  EXPECT_EQ(grey->deferred + grey->bounced, 0);

  const DomainSummary* strict = Find(*result, "strict.example");
  ASSERT_NE(strict, nullptr);
  EXPECT_EQ(strict->tls + strict->plaintext, 0);
  EXPECT_EQ(strict->deferred + strict->bounced, 1);
  EXPECT_EQ(strict->tlsrpt_result_types.count("starttls-not-supported"), 1u);

  for (const WorldRecipient& r : result->recipients) {
    if (r.domain == "grey.example") {
      EXPECT_EQ(r.fate, RecipientFate::kDelivered);
      EXPECT_EQ(r.attempts, 2) << r.address;
    }
  }
}

TEST(WorldTest, SameSeedSameTraceAnotherSeedRuns) {
  const Scenario scenario = ZooMini();
  absl::StatusOr<WorldResult> a = RunScenario(scenario, 42);
  absl::StatusOr<WorldResult> b = RunScenario(scenario, 42);
  absl::StatusOr<WorldResult> c = RunScenario(scenario, 43);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->trace_hash, b->trace_hash);
  EXPECT_EQ(a->attempt_log, b->attempt_log);
  EXPECT_NE(a->attempt_log, "");
  EXPECT_EQ(c->recipients.size(), a->recipients.size());
  const DomainSummary* good = Find(*c, "good.example");
  ASSERT_NE(good, nullptr);
  EXPECT_EQ(good->tls, 6);
}

TEST(WorldTest, FaultsAreMappedOntoLinks) {
  absl::StatusOr<Scenario> scenario = ParseScenario(R"([world]
duration = "1h"
start = "2026-01-01T00:00:00Z"

[sender]
hostname = "relay.example.org"

[[domain]]
name = "a.example"
mx = [{ host = "mx1.a.example", preference = 10, profile = "good" },
      { host = "mx2.a.example", preference = 20, profile = "good" }]

[[load]]
to = "a.example"
messages = 1

[[fault]]
host = "mx1.a.example"
kind = "refuse"
at = "0s"
)");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  absl::StatusOr<WorldResult> result = RunScenario(*scenario, 5);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->attempts.size(), 2u) << result->attempt_log;
  EXPECT_EQ(result->attempts[0].mx_host, "mx1.a.example");
  EXPECT_FALSE(result->attempts[0].connected);
  EXPECT_EQ(result->domains[0].tls, 1);
}

// Attackers and the CA rollover (simulator issue #7). One domain per policy
// behind an attacked MX host of profile `good`, and an unattacked control.

const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01

// Two domains whose single MX has `attacker`: may.example (`* may`) and
// encrypt.example (`encrypt`), two messages each, plus clean.example (no
// attacker).
absl::StatusOr<WorldResult> RunAttacked(absl::string_view attacker,
                                        uint64_t seed) {
  const std::string text = absl::StrReplaceAll(R"([world]
duration = "2h"
start = "2026-01-01T00:00:00Z"

[sender]
hostname = "relay.example.org"
policy = """
* may
encrypt.example encrypt
"""

[[domain]]
name = "may.example"
mx = [{ host = "mx.may.example", preference = 10, profile = "good", attacker = "$A" }]

[[domain]]
name = "encrypt.example"
mx = [{ host = "mx.encrypt.example", preference = 10, profile = "good", attacker = "$A" }]

[[domain]]
name = "clean.example"
mx = [{ host = "mx.clean.example", preference = 10, profile = "good" }]

[[load]]
to = "may.example"
messages = 2

[[load]]
to = "encrypt.example"
messages = 2

[[load]]
to = "clean.example"
messages = 2
)", {{"$A", attacker}});
  absl::StatusOr<Scenario> scenario = ParseScenario(text);
  if (!scenario.ok()) return scenario.status();
  return RunScenario(*scenario, seed);
}

std::string AttemptsOf(const WorldResult& result, absl::string_view domain) {
  std::string out;
  for (const AttemptRecord& a : result.attempts) {
    if (a.domain == domain) absl::StrAppend(&out, FormatAttempt(a), "\n");
  }
  return out;
}

// Nothing reached the partner behind the attacker, nothing counts as
// delivered, every recipient is still queued (retried, never bounced within
// the world's 2 hours).
void ExpectNothingGotThrough(const WorldResult& result,
                             absl::string_view domain) {
  const DomainSummary* d = Find(result, std::string(domain));
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->tls + d->plaintext + d->bounced, 0)
      << AttemptsOf(result, domain);
  EXPECT_EQ(d->deferred, 2);
  int attempts = 0;
  for (const AttemptRecord& a : result.attempts) {
    if (a.domain != domain) continue;
    ++attempts;
    for (const AttemptRecipient& r : a.recipients) {
      EXPECT_NE(r.result.status, smtp::RecipientStatus::kDelivered)
          << FormatAttempt(a);
    }
  }
  EXPECT_GE(attempts, 3) << AttemptsOf(result, domain);  // retried
}

void ExpectCleanControl(const WorldResult& result) {
  const DomainSummary* clean = Find(result, "clean.example");
  ASSERT_NE(clean, nullptr);
  EXPECT_EQ(clean->tls, 2) << AttemptsOf(result, "clean.example");
}

// Under `may` the sender may retry a host in plaintext at once after a
// failed handshake (sim/sender.cc, as Postfix does): then the attack ends
// in a plaintext delivery, which `may` allows. What must never happen: a
// delivery over TLS, or one on a connection where the attacker's bytes were
// acted upon.
void ExpectAtMostPlaintextFallback(const WorldResult& result,
                                   absl::string_view domain) {
  const DomainSummary* d = Find(result, std::string(domain));
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->tls + d->bounced, 0) << AttemptsOf(result, domain);
  EXPECT_EQ(d->plaintext + d->deferred, 2) << AttemptsOf(result, domain);
  for (const AttemptRecord& a : result.attempts) {
    if (a.domain != domain) continue;
    EXPECT_FALSE(a.tls) << FormatAttempt(a);
    for (const AttemptRecipient& r : a.recipients) {
      if (r.result.status != smtp::RecipientStatus::kDelivered) continue;
      EXPECT_EQ(a.verdict, smtp::DeliveryVerdict::kProceedPlaintext)
          << FormatAttempt(a);
      EXPECT_FALSE(absl::StrContains(FormatAttempt(a), "injection"))
          << FormatAttempt(a);
    }
  }
}

TEST(WorldAttackTest, StripStartTlsWinsAgainstMayAndIsDeferredUnderEncrypt) {
  absl::StatusOr<WorldResult> result = RunAttacked("strip-starttls", 7);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->violation.has_value())
      << FormatViolation(*result->violation);
  // Opportunistic TLS: the attack succeeds, mail goes in plaintext.
  const DomainSummary* may = Find(*result, "may.example");
  ASSERT_NE(may, nullptr);
  EXPECT_EQ(may->plaintext, 2) << AttemptsOf(*result, "may.example");
  EXPECT_EQ(may->tls + may->deferred + may->bounced, 0);
  // Mandatory TLS: no STARTTLS seen, nothing sent, deferred and reported.
  const DomainSummary* strict = Find(*result, "encrypt.example");
  ASSERT_NE(strict, nullptr);
  EXPECT_EQ(strict->tls + strict->plaintext + strict->bounced, 0)
      << AttemptsOf(*result, "encrypt.example");
  EXPECT_EQ(strict->deferred, 2);
  EXPECT_EQ(strict->tlsrpt_result_types,
            std::set<std::string>{"starttls-not-supported"});
  for (const AttemptRecord& a : result->attempts) {
    if (a.domain != "encrypt.example") continue;
    EXPECT_TRUE(a.connected);
    EXPECT_FALSE(a.tls);
    EXPECT_EQ(a.verdict, smtp::DeliveryVerdict::kDefer) << FormatAttempt(a);
  }
  ExpectCleanControl(*result);
  EXPECT_EQ(result->partner_accepted, 4);  // clean + may (in plaintext)
}

TEST(WorldAttackTest, InjectedServerRepliesNeverCountAsDelivered) {
  for (const uint64_t seed : {7, 8}) {
    SCOPED_TRACE(seed);
    absl::StatusOr<WorldResult> result =
        RunAttacked("inject-server-reply", seed);
    ASSERT_TRUE(result.ok()) << result.status();
    // The forged "250 ... queued as FORGED" was never taken for a delivery:
    // the ledger would flag a recipient counted delivered that no partner
    // accepted, or one accepted twice.
    EXPECT_FALSE(result->violation.has_value())
        << FormatViolation(*result->violation);
    ExpectAtMostPlaintextFallback(*result, "may.example");
    ExpectNothingGotThrough(*result, "encrypt.example");
    ExpectCleanControl(*result);
    const DomainSummary* may = Find(*result, "may.example");
    ASSERT_NE(may, nullptr);
    EXPECT_EQ(result->partner_accepted, 2 + may->plaintext);
    // With the sender's 1460-octet segments the 220 and the forged replies
    // arrive together and the client reports the injection.
    EXPECT_TRUE(absl::StrContains(AttemptsOf(*result, "encrypt.example"),
                                  "response injection"))
        << AttemptsOf(*result, "encrypt.example");
  }
}

TEST(WorldAttackTest, InjectedClientCommandsAreNeverExecuted) {
  for (const uint64_t seed : {7, 8}) {
    SCOPED_TRACE(seed);
    absl::StatusOr<WorldResult> result =
        RunAttacked("inject-client-command", seed);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_FALSE(result->violation.has_value())
        << FormatViolation(*result->violation);
    // The partner closes on the pipelined command (554 to STARTTLS) or
    // fails the handshake on it: it never runs the attacker's MAIL FROM.
    // `may` goes on in plaintext after the 554, on a connection the
    // partner has closed: nothing is delivered there either.
    ExpectAtMostPlaintextFallback(*result, "may.example");
    ExpectNothingGotThrough(*result, "encrypt.example");
    ExpectCleanControl(*result);
    const DomainSummary* may = Find(*result, "may.example");
    ASSERT_NE(may, nullptr);
    EXPECT_EQ(result->partner_accepted, 2 + may->plaintext);
    EXPECT_TRUE(absl::StrContains(AttemptsOf(*result, "encrypt.example"),
                                  "STARTTLS answered 554"))
        << AttemptsOf(*result, "encrypt.example");
  }
}

TEST(WorldAttackTest, TlsDowngradeNeverGivesATls10Session) {
  absl::StatusOr<WorldResult> result = RunAttacked("tls-downgrade", 7);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->violation.has_value())
      << FormatViolation(*result->violation);
  // The partner refuses the TLS 1.0 hello (protocol_version). `encrypt`
  // defers and reports it; `may` never gets a weaker TLS session either,
  // but its sender may retry in plaintext, which `may` allows.
  ExpectNothingGotThrough(*result, "encrypt.example");
  ExpectAtMostPlaintextFallback(*result, "may.example");
  for (const AttemptRecord& a : result->attempts) {
    if (a.domain == "clean.example") continue;
    EXPECT_FALSE(a.tls) << FormatAttempt(a);
    if (a.verdict != smtp::DeliveryVerdict::kProceedPlaintext) {
      EXPECT_TRUE(absl::StrContains(FormatAttempt(a), "protocol_version"))
          << FormatAttempt(a);
    }
  }
  const DomainSummary* strict = Find(*result, "encrypt.example");
  ASSERT_NE(strict, nullptr);
  EXPECT_EQ(strict->tlsrpt_result_types,
            std::set<std::string>{"validation-failure"});
  ExpectCleanControl(*result);
  const DomainSummary* may = Find(*result, "may.example");
  ASSERT_NE(may, nullptr);
  EXPECT_EQ(result->partner_accepted, 2 + may->plaintext);
}

TEST(WorldAttackTest, AttackedWorldsAreDeterministic) {
  for (const char* attacker : {"strip-starttls", "inject-server-reply",
                               "inject-client-command", "tls-downgrade"}) {
    absl::StatusOr<WorldResult> a = RunAttacked(attacker, 11);
    absl::StatusOr<WorldResult> b = RunAttacked(attacker, 11);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->attempt_log, b->attempt_log) << attacker;
    EXPECT_EQ(a->trace_hash, b->trace_hash) << attacker;
  }
}

// A policy value in the table format: quoted, '"' and '\' escaped.
std::string Quoted(absl::string_view value) {
  return absl::StrCat(
      "\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}),
      "\"");
}

TEST(WorldRolloverTest, PinnedIssuersSeeTheRolloverAtItsTime) {
  // The partners' roots: the PKI the world uses (seed 7, the world's start;
  // the roots do not depend on the host name).
  const std::shared_ptr<const tls::testing::TestPki> pki =
      tls::testing::TestPki::Get(7, kStart);
  ASSERT_NE(pki, nullptr);
  absl::StatusOr<CertificateFacts> old_root =
      tls::DescribeCertificateDer(pki->old_root_der());
  absl::StatusOr<CertificateFacts> new_root =
      tls::DescribeCertificateDer(pki->new_root_der());
  ASSERT_TRUE(old_root.ok() && new_root.ok());

  // old-pin and new-pin share one partner that rolls over at 20m; late's
  // partner rolls over at 20m too, but its first connection is stalled
  // until 25m, so it only ever meets the new certificate.
  const std::string text = absl::StrReplaceAll(R"([world]
duration = "2h"
start = "2026-01-01T00:00:00Z"

[sender]
hostname = "relay.example.org"
policy = '''
* may
old-pin.example verify trust-anchor=$OLD
new-pin.example verify trust-anchor=$NEW
late.example verify trust-anchor=$OLD
'''

[[domain]]
name = "old-pin.example"
mx = [{ host = "mx.partner.example", preference = 10, profile = "rollover-old-issuer" }]

[[domain]]
name = "new-pin.example"
mx = [{ host = "mx.partner.example", preference = 10, profile = "rollover-old-issuer" }]

[[domain]]
name = "late.example"
mx = [{ host = "mx.late.example", preference = 10, profile = "rollover-old-issuer" }]

[[load]]
to = "old-pin.example"
messages = 1

[[load]]
to = "new-pin.example"
messages = 1

[[load]]
to = "late.example"
messages = 1

[[fault]]
host = "mx.partner.example"
kind = "rollover"
at = "20m"

[[fault]]
host = "mx.late.example"
kind = "rollover"
at = "20m"

[[fault]]
host = "mx.late.example"
kind = "stall"
at = "0s"
duration = "25m"
)",
      {{"$OLD", Quoted(old_root->subject_dn)},
       {"$NEW", Quoted(new_root->subject_dn)}});
  absl::StatusOr<Scenario> scenario = ParseScenario(text);
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  absl::StatusOr<WorldResult> result = RunScenario(*scenario, 3);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->violation.has_value())
      << FormatViolation(*result->violation);
  EXPECT_EQ(result->faults_applied.size(), 3u);
  const absl::Time event = kStart + absl::Minutes(20);

  // Pinned to the old issuer, delivered before the event.
  const DomainSummary* old_pin = Find(*result, "old-pin.example");
  ASSERT_NE(old_pin, nullptr);
  EXPECT_EQ(old_pin->tls_by_label,
            (std::map<std::string, int64_t>{{"verify:verified", 1}}))
      << AttemptsOf(*result, "old-pin.example");

  // Pinned to the new issuer: refused until the event, verified after it.
  const DomainSummary* new_pin = Find(*result, "new-pin.example");
  ASSERT_NE(new_pin, nullptr);
  EXPECT_EQ(new_pin->tls_by_label,
            (std::map<std::string, int64_t>{{"verify:verified", 1}}))
      << AttemptsOf(*result, "new-pin.example");
  int before = 0;
  int after = 0;
  for (const AttemptRecord& a : result->attempts) {
    if (a.domain != "new-pin.example") continue;
    if (a.start < event) {
      ++before;
      EXPECT_TRUE(a.tls) << FormatAttempt(a);
      EXPECT_EQ(a.tlsrpt_result_type, "certificate-not-trusted")
          << FormatAttempt(a);
      EXPECT_EQ(a.verdict, smtp::DeliveryVerdict::kDefer) << FormatAttempt(a);
      // Never "verified" beside a failed check: the anchor is not ours.
      EXPECT_EQ(a.policy_label, "verify:untrusted") << FormatAttempt(a);
      EXPECT_EQ(a.first_failure.rfind("FAIL: trust-anchor (table): ", 0), 0u)
          << a.first_failure;
      // The sender's own anchor choice is not the recipient's policy: not
      // reported in TLS-RPT.
      EXPECT_EQ(a.tlsrpt_reported, "") << FormatAttempt(a);
    } else {
      ++after;
      EXPECT_EQ(a.policy_label, "verify:verified") << FormatAttempt(a);
      EXPECT_EQ(a.tlsrpt_result_type, "") << FormatAttempt(a);
    }
  }
  EXPECT_GE(before, 2) << AttemptsOf(*result, "new-pin.example");
  EXPECT_EQ(after, 1) << AttemptsOf(*result, "new-pin.example");

  // Pinned to the old issuer, first reached after the event: refused with
  // the new certificate on every attempt.
  const DomainSummary* late = Find(*result, "late.example");
  ASSERT_NE(late, nullptr);
  EXPECT_EQ(late->tls + late->plaintext + late->bounced, 0)
      << AttemptsOf(*result, "late.example");
  EXPECT_EQ(late->deferred, 1);
  EXPECT_EQ(late->tlsrpt_result_types,
            std::set<std::string>{"certificate-not-trusted"});
  int late_tls = 0;
  for (const AttemptRecord& a : result->attempts) {
    if (a.domain != "late.example" || !a.tls) continue;
    ++late_tls;
    EXPECT_GE(a.start, event) << FormatAttempt(a);
    EXPECT_EQ(a.tlsrpt_result_type, "certificate-not-trusted")
        << FormatAttempt(a);
  }
  EXPECT_GE(late_tls, 1) << AttemptsOf(*result, "late.example");
}

}  // namespace
}  // namespace starling::sim

namespace starling::sim {
namespace {

// The sender's trust store comes from the scenario: trusting only the old
// root of the rollover pair refuses the usual root under `verify` but not
// the partner still on the old issuer; a violation stops the run (the
// buffer bound, set absurdly low here, shows the plumbing).
// A Postfix map's "[host]:port" key is a next-hop: it governs mail routed
// through that relay, never the recipient domain of the same name; what the
// map does not list gets smtp_tls_security_level. An MD5 fingerprint with
// main.cf's digest pins as Postfix would.
TEST(WorldTest, PostfixNextHopKeysGovernRoutedMail) {
  absl::StatusOr<Scenario> plain = ParseScenario(R"([world]
duration = "1h"
start = "2026-01-01T00:00:00Z"
[sender]
hostname = "relay.example.org"
)");
  ASSERT_TRUE(plain.ok());
  absl::StatusOr<std::vector<HostCertificate>> certs = HostCertificates(*plain);
  ASSERT_TRUE(certs.ok());
  // The relay's certificate MD5, as `mtasim --fingerprints` prints it.
  Scenario with_relay = *plain;
  with_relay.domains.push_back(ScenarioDomain{});
  with_relay.domains.back().name = "partner.example";
  ScenarioMx relay;
  relay.host = "relay.partner.example";
  with_relay.domains.back().mx = {relay};
  absl::StatusOr<std::vector<HostCertificate>> relay_certs =
      HostCertificates(with_relay);
  ASSERT_TRUE(relay_certs.ok());
  ASSERT_EQ(relay_certs->size(), 1u);
  std::string md5;
  for (const char c : (*relay_certs)[0].leaf.md5) {
    absl::StrAppend(&md5, md5.empty() ? "" : ":",
                    absl::AsciiStrToUpper(absl::BytesToHexString(std::string(1, c))));
  }
  const std::string text = absl::StrCat(R"([world]
seed = 3
duration = "1h"
start = "2026-01-01T00:00:00Z"
[sender]
hostname = "relay.example.org"
smtp_tls_security_level = "may"
smtp_tls_fingerprint_digest = "md5"
postfix_policy = """
[relay.partner.example]:587 fingerprint match=)", md5, R"(
relay.partner.example encrypt
"""
[[domain]]
name = "partner.example"
nexthop = "[relay.partner.example]:587"
mx = [{ host = "relay.partner.example", preference = 0, profile = "good" }]
[[domain]]
name = "relay.partner.example"
mx = [{ host = "mx.relay.partner.example", preference = 10, profile = "self-signed" }]
[[domain]]
name = "other.example"
mx = [{ host = "mx.other.example", preference = 10, profile = "no-starttls" }]
[[load]]
to = "partner.example"
messages = 2
[[load]]
to = "relay.partner.example"
messages = 2
[[load]]
to = "other.example"
messages = 2
)");
  absl::StatusOr<Scenario> scenario = ParseScenario(text, "org.toml");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  absl::StatusOr<WorldResult> result = RunScenario(*scenario, 3);
  ASSERT_TRUE(result.ok()) << result.status();
  const DomainSummary* routed = Find(*result, "partner.example");
  ASSERT_NE(routed, nullptr);
  EXPECT_EQ(routed->policy_rule, "'[relay.partner.example]:587' (org.toml:10)");
  EXPECT_EQ(routed->tls_by_label,
            (std::map<std::string, int64_t>{{"fingerprint:verified", 2}}));
  // The recipient domain named like the relay has its own entry.
  const DomainSummary* named = Find(*result, "relay.partner.example");
  ASSERT_NE(named, nullptr);
  EXPECT_EQ(named->policy_rule, "'relay.partner.example' (org.toml:11)");
  EXPECT_EQ(named->tls_by_label,
            (std::map<std::string, int64_t>{{"encrypt:untrusted", 2}}));
  // Unlisted: smtp_tls_security_level.
  const DomainSummary* other = Find(*result, "other.example");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->plaintext, 2);
  EXPECT_EQ(other->policy_rule, "'*' (built in)");
  for (const AttemptRecord& a : result->attempts) {
    if (a.domain == "partner.example") {
      EXPECT_EQ(a.mx_host, "relay.partner.example") << FormatAttempt(a);
    }
  }
}

TEST(WorldTest, TrustStoreFromTheScenarioAndViolationsStopTheRun) {
  absl::StatusOr<Scenario> scenario = ParseScenario(R"([world]
duration = "1h"
start = "2026-01-01T00:00:00Z"
[sender]
hostname = "relay.example.org"
trust = ["old-root"]
policy = "* verify"
[[domain]]
name = "good.example"
mx = [{ host = "mx.good.example", preference = 10, profile = "good" }]
[[domain]]
name = "old.example"
mx = [{ host = "mx.old.example", preference = 10, profile = "rollover-old-issuer" }]
[[load]]
to = "good.example"
messages = 1
[[load]]
to = "old.example"
messages = 1
)");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  absl::StatusOr<WorldResult> result = RunScenario(*scenario, 3);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->violation.has_value());
  ASSERT_EQ(result->domains.size(), 2u);
  EXPECT_EQ(result->domains[0].tls, 0);
  EXPECT_EQ(result->domains[0].tlsrpt_result_types.count("certificate-not-trusted"), 1u);
  EXPECT_EQ(result->domains[1].tls, 1);

  WorldOptions tiny;
  tiny.max_unsent = 10;
  result = RunScenario(*scenario, 3, tiny);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->violation.has_value());
  EXPECT_EQ(result->violation->kind, InvariantKind::kBufferBound);
  EXPECT_LT(result->end, scenario->world.start + absl::Hours(1));  // stopped
}

}  // namespace
}  // namespace starling::sim
