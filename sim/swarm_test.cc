// A bounded swarm run as a test. Bazel's sharding (shard_count) splits the
// seeds between shards, so a remote-execution cluster can fan them out.
#include "sim/swarm.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace starling::sim {
namespace {

TEST(SwarmTest, SameSeedSameWorld) {
  absl::StatusOr<Scenario> a = RandomScenario(7);
  absl::StatusOr<Scenario> b = RandomScenario(7);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->sender.policy_text, b->sender.policy_text);
  ASSERT_EQ(a->domains.size(), b->domains.size());
  EXPECT_EQ(a->faults.size(), b->faults.size());
  for (size_t i = 0; i < a->domains.size(); ++i) {
    ASSERT_EQ(a->domains[i].mx.size(), b->domains[i].mx.size());
    for (size_t m = 0; m < a->domains[i].mx.size(); ++m) {
      EXPECT_EQ(a->domains[i].mx[m].profile, b->domains[i].mx[m].profile);
    }
  }
}

// One test per seed: gtest's sharding (which Bazel drives through
// shard_count) hands each shard its share of the seeds.
class SwarmSeedTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(SwarmSeedTest, KeepsTheInvariants) {
  const uint64_t seed = GetParam();
  const SwarmOutcome outcome = RunSwarmSeed(seed, seed % 10 == 0);
  EXPECT_TRUE(outcome.ok()) << SwarmFailureLine(outcome);
  EXPECT_GT(outcome.attempts, 0) << SwarmFailureLine(outcome);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SwarmSeedTest,
                         ::testing::Range<uint64_t>(1, 161));

}  // namespace
}  // namespace starling::sim
