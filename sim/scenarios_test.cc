// Runs every scenario shipped in sim/scenarios/ (one test per file, so
// Bazel's shard_count spreads them over shards): no invariant is violated,
// the same seed gives the same trace, and the outcomes each scenario is
// there to show hold.
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "gtest/gtest.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace starling::sim {
namespace {

struct Loaded {
  Scenario scenario;
  WorldResult result;
  std::map<std::string, DomainSummary> domains;
};

Loaded RunFile(const std::string& name) {
  Loaded out;
  absl::StatusOr<Scenario> scenario =
      LoadScenarioFile(absl::StrCat("sim/scenarios/", name, ".toml"));
  EXPECT_TRUE(scenario.ok()) << scenario.status();
  if (!scenario.ok()) return out;
  out.scenario = *std::move(scenario);
  const uint64_t seed = out.scenario.world.seed.value_or(1);
  absl::StatusOr<WorldResult> result = RunScenario(out.scenario, seed);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return out;
  out.result = *std::move(result);
  EXPECT_FALSE(out.result.violation.has_value())
      << FormatViolation(*out.result.violation);
  absl::StatusOr<WorldResult> again = RunScenario(out.scenario, seed);
  EXPECT_TRUE(again.ok()) << again.status();
  if (again.ok()) {
    EXPECT_EQ(again->trace_hash, out.result.trace_hash);
  }
  for (const DomainSummary& d : out.result.domains) out.domains[d.domain] = d;
  return out;
}

bool Reported(const DomainSummary& d, const std::string& type) {
  return d.tlsrpt_result_types.count(type) > 0;
}

TEST(ScenariosTest, ExchangeOnline) {
  Loaded w = RunFile("exchange-online");
  auto& d = w.domains;
  EXPECT_EQ(d["northwind.example"].tls, 80);
  EXPECT_EQ(d["woodgrove.example"].plaintext, 10);  // opportunistic
  EXPECT_EQ(d["tailspin.example"].tls, 10);         // encryption only
  EXPECT_EQ(d["litware.example"].tls, 6);           // TLS 1.0 connector
  EXPECT_EQ(d["wingtip.example"].plaintext, 6);     // TLS 1.1: refused, clear
  EXPECT_EQ(d["onprem.contoso.example"].tls, 40);   // client certificate
  // The forced-TLS partner never gets mail in plaintext and catches up
  // after its outage.
  EXPECT_EQ(d["fabrikam.example"].plaintext, 0);
  EXPECT_EQ(d["fabrikam.example"].deferred, 0);
  EXPECT_TRUE(Reported(d["fabrikam.example"], "certificate-expired"));
  // The rollover: the pinned connector stops at the new issuer; the one in
  // testing mode goes on and reports it.
  EXPECT_GT(d["adatum.example"].tls, 0);
  EXPECT_GT(d["adatum.example"].deferred, 0);
  EXPECT_TRUE(Reported(d["adatum.example"], "certificate-not-trusted"));
  EXPECT_EQ(d["proseware.example"].tls, 12);
  EXPECT_TRUE(Reported(d["proseware.example"], "certificate-not-trusted"));
  for (const auto& [name, summary] : d) {
    EXPECT_EQ(summary.bounced, 0) << name;
  }
  // What the docs say of it. The expired backup MX is tried only while the
  // primary hangs (13:00-13:40), and refused each time: it never takes mail.
  const absl::Time start = w.scenario.world.start;
  int backup_tries = 0;
  for (const AttemptRecord& a : w.result.attempts) {
    if (a.mx_host != "backup.fabrikam.example") continue;
    ++backup_tries;
    EXPECT_GE(a.start, start + absl::Hours(5)) << FormatAttempt(a);
    EXPECT_LT(a.start, start + absl::Hours(5) + absl::Minutes(40)) << FormatAttempt(a);
    EXPECT_EQ(a.tlsrpt_result_type, "certificate-expired") << FormatAttempt(a);
    EXPECT_EQ(a.verdict, smtp::DeliveryVerdict::kDefer) << FormatAttempt(a);
    for (const AttemptRecipient& r : a.recipients) {
      EXPECT_NE(r.result.status, smtp::RecipientStatus::kDelivered);
    }
  }
  EXPECT_GT(backup_tries, 0);
  // The stalled primary is given up on after the 5-minute greeting timer.
  for (const AttemptRecord& a : w.result.attempts) {
    if (a.mx_host == "mail.fabrikam.example" && !a.tls && a.connected) {
      EXPECT_EQ(a.end - a.start, absl::Minutes(5)) << FormatAttempt(a);
    }
  }
  // The rollover at 10:00 shows as two periods: delivered, then deferred.
  const DomainSummary& adatum = d["adatum.example"];
  ASSERT_EQ(adatum.periods.size(), 2u);
  EXPECT_EQ(adatum.periods[0].counts.deferred, 0);
  EXPECT_GT(adatum.periods[0].counts.tls, 0);
  EXPECT_EQ(adatum.periods[1].counts.tls, 0);
  EXPECT_GT(adatum.periods[1].counts.deferred, 0);
  EXPECT_EQ(adatum.policy_rule, "'adatum.example' (exchange-online.toml:32)");
  ASSERT_EQ(adatum.why.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(adatum.why.begin()->first, "trust-anchor (table)"))
      << adatum.why.begin()->first;
}

// The scenario docs/admin-guide.md tells admins to copy.
TEST(ScenariosTest, Starter) {
  Loaded w = RunFile("starter");
  auto& d = w.domains;
  EXPECT_EQ(d["provider.example"].tls, 48);
  EXPECT_EQ(d["provider.example"].tls_by_label["sts:verified"], 48);
  EXPECT_EQ(d["partner.example"].tls_by_label["secure:verified"], 16);
  // Routed through the relay: the next-hop rule, not the default.
  EXPECT_EQ(d["bank.example"].policy_rule, "'[relay.bank.example]:587' (starter.toml:28)");
  EXPECT_EQ(d["bank.example"].tls_by_label["encrypt:trusted"], 8);
  EXPECT_GT(d["supplier.example"].deferred, 0);
  EXPECT_EQ(d["legacy.example"].plaintext, 4);
  for (const auto& [name, summary] : d) EXPECT_EQ(summary.bounced, 0) << name;
}

TEST(ScenariosTest, Zoo) {
  Loaded w = RunFile("zoo");
  auto& d = w.domains;
  EXPECT_EQ(d["good.example"].tls, 4);
  EXPECT_EQ(d["no-starttls.example"].plaintext, 4);
  EXPECT_EQ(d["drop-after-end-of-data.example"].deferred, 4);
  EXPECT_GT(w.result.duplicates_in_window, 0);
  EXPECT_EQ(d["good.verified.example"].tls, 4);
  for (const char* refused :
       {"expired", "self-signed", "wrong-name", "untrusted-ca",
        "missing-intermediate"}) {
    const DomainSummary& s = d[absl::StrCat(refused, ".verified.example")];
    EXPECT_EQ(s.tls + s.plaintext, 0) << refused;
    EXPECT_FALSE(s.tlsrpt_result_types.empty()) << refused;
  }
}

TEST(ScenariosTest, DaneSts) {
  Loaded w = RunFile("dane-sts");
  auto& d = w.domains;
  for (const char* ok : {"dane-ee", "dane-ta", "dane-expired-ee",
                         "sts-enforce", "dane-and-sts"}) {
    EXPECT_EQ(d[absl::StrCat(ok, ".example")].tls, 3) << ok;
  }
  for (const char* held : {"dane-mismatch", "dnssec-bogus", "dane-no-starttls",
                           "sts-mx-mismatch", "sts-expired",
                           "sts-no-starttls"}) {
    const DomainSummary& s = d[absl::StrCat(held, ".example")];
    EXPECT_EQ(s.deferred, 3) << held;
    EXPECT_FALSE(s.tlsrpt_result_types.empty()) << held;
  }
  EXPECT_TRUE(Reported(d["dnssec-bogus.example"], "dnssec-invalid"));
  EXPECT_EQ(d["sts-testing.example"].tls, 3);
  EXPECT_EQ(d["sts-fetch-fail.example"].tls, 3);
  EXPECT_TRUE(Reported(d["sts-fetch-fail.example"], "sts-policy-fetch-error"));
}

TEST(ScenariosTest, Attackers) {
  Loaded w = RunFile("attackers");
  for (const auto& [name, s] : w.domains) {
    if (name == "control.example") {
      EXPECT_EQ(s.tls, 2);
      continue;
    }
    // Injection never delivers; under a mandatory policy nothing goes in
    // the clear, whatever the attack.
    if (absl::StartsWith(name, "inject-")) {
      EXPECT_EQ(s.tls + s.plaintext, 0) << name;
    }
    if (absl::StrContains(name, ".encrypt.") ||
        absl::StrContains(name, ".verify.") ||
        absl::StrContains(name, ".dane.")) {
      EXPECT_EQ(s.plaintext, 0) << name;
      EXPECT_FALSE(s.tlsrpt_result_types.empty()) << name;
    }
  }
  // Opportunistic TLS loses to stripping, by design.
  EXPECT_GT(w.domains["strip-starttls.example"].plaintext, 0);
}

TEST(ScenariosTest, ZooMini) { RunFile("zoo-mini"); }

}  // namespace
}  // namespace starling::sim
