// A consumer's outbound TLS policy (the table its relay ships) run against
// Starling's partner zoo in the deterministic simulator: mail for the bank
// never goes in plaintext or to an expired certificate, opportunistic mail
// still flows.
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace {

// The policy under test, as the relay's configuration has it.
constexpr char kMyPolicy[] = R"(* may
bank.example verify
partner.example encrypt
)";

std::string World() {
  return std::string(R"(
[world]
seed = 7
duration = "2h"
start = "2027-01-01T00:00:00Z"

[sender]
hostname = "relay.consumer.example"
policy = """
)") + kMyPolicy + R"("""

[[domain]]
name = "bank.example"
mx = [{ host = "mx.bank.example", preference = 10, profile = "expired" }]

[[domain]]
name = "partner.example"
mx = [{ host = "mx.partner.example", preference = 10, profile = "no-starttls" }]

[[domain]]
name = "shop.example"
mx = [{ host = "mx.shop.example", preference = 10, profile = "no-starttls" }]

[[domain]]
name = "good.example"
mx = [{ host = "mx.good.example", preference = 10, profile = "good" }]

[[load]]
to = "bank.example"
messages = 2

[[load]]
to = "partner.example"
messages = 2

[[load]]
to = "shop.example"
messages = 2

[[load]]
to = "good.example"
messages = 2
)";
}

const starling::sim::DomainSummary& Summary(const starling::sim::WorldResult& result,
                                            const std::string& domain) {
  for (const auto& summary : result.domains) {
    if (summary.domain == domain) return summary;
  }
  ADD_FAILURE() << "no summary for " << domain;
  return result.domains.front();
}

TEST(MyRelayPolicy, HoldsAgainstThePartnerZoo) {
  absl::StatusOr<starling::sim::Scenario> scenario = starling::sim::ParseScenario(World());
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  absl::StatusOr<starling::sim::WorldResult> result = starling::sim::RunScenario(*scenario, 7);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->violation.has_value());

  // The bank's certificate has expired: defer, never plaintext, never TLS.
  const auto& bank = Summary(*result, "bank.example");
  EXPECT_EQ(bank.tls, 0);
  EXPECT_EQ(bank.plaintext, 0);
  EXPECT_EQ(bank.deferred, 2);
  EXPECT_TRUE(bank.tlsrpt_result_types.contains("certificate-expired"));
  // The partner must get TLS, offers none: deferred with the RFC 8460 type.
  const auto& partner = Summary(*result, "partner.example");
  EXPECT_EQ(partner.plaintext, 0);
  EXPECT_TRUE(partner.tlsrpt_result_types.contains("starttls-not-supported"));
  // Everyone else: opportunistic.
  EXPECT_EQ(Summary(*result, "shop.example").plaintext, 2);
  EXPECT_EQ(Summary(*result, "good.example").tls, 2);
}

}  // namespace
