#include "sim/world.h"

#include <string>

#include "absl/status/statusor.h"
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
  EXPECT_TRUE(result->faults_not_applied.empty());
  EXPECT_EQ(result->faults_applied.size(), 1u);

  const DomainSummary* good = Find(*result, "good.example");
  ASSERT_NE(good, nullptr);
  EXPECT_EQ(good->tls, 6) << result->attempt_log;
  EXPECT_EQ(good->tls_by_label.at("may:trusted"), 6);
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

}  // namespace
}  // namespace starling::sim
