#include "sim/random.h"

#include <cstdint>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace starling::sim {
namespace {

std::vector<uint64_t> Draw(Random& random, int n) {
  std::vector<uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(random.Next());
  return out;
}

// The first outputs of xoshiro256** from state {1, 2, 3, 4}, as published
// with the reference implementation.
TEST(RandomTest, ReferenceVectorFromState) {
  Random random = Random::FromState({1, 2, 3, 4});
  EXPECT_EQ(Draw(random, 4), (std::vector<uint64_t>{11520u, 0u, 1509978240u,
                                                    1215971899390074240u}));
}

TEST(RandomTest, SplitMix64ReferenceValue) {
  uint64_t state = 0;
  EXPECT_EQ(SplitMix64(&state), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(state, 0x9e3779b97f4a7c15ULL);
}

// Pinned from an independent Python transcription of the reference
// algorithms (SplitMix64 seeding, xoshiro256**, Lemire's bounded draw); a
// change here changes every simulation run.
TEST(RandomTest, SeededKnownAnswers) {
  Random random(42);
  EXPECT_EQ(
      Draw(random, 4),
      (std::vector<uint64_t>{1546998764402558742u, 6990951692964543102u,
                             12544586762248559009u, 17057574109182124193u}));
  Random zero(0);
  EXPECT_EQ(Draw(zero, 2), (std::vector<uint64_t>{11091344671253066420u,
                                                  13793997310169335082u}));
  Random bounded(42);
  std::vector<uint64_t> below;
  for (int i = 0; i < 8; ++i) below.push_back(bounded.Below(1000));
  EXPECT_EQ(below,
            (std::vector<uint64_t>{83, 378, 680, 924, 991, 769, 719, 850}));
}

TEST(RandomTest, AllZeroStateIsReplaced) {
  Random random = Random::FromState({0, 0, 0, 0});
  Random zero(0);
  EXPECT_EQ(Draw(random, 3), Draw(zero, 3));
}

TEST(RandomTest, SameSeedSameStreamDifferentSeedDifferentStream) {
  Random a(7), b(7), c(8);
  const std::vector<uint64_t> first = Draw(a, 100);
  EXPECT_EQ(first, Draw(b, 100));
  EXPECT_NE(first, Draw(c, 100));
}

TEST(RandomTest, BelowEdgeCases) {
  Random random(1);
  EXPECT_EQ(random.Below(0), 0u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(random.Below(1), 0u);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(random.Below(3), 3u);
  const uint64_t huge = (uint64_t{1} << 63) + 1;  // rejection is likely
  for (int i = 0; i < 1000; ++i) EXPECT_LT(random.Below(huge), huge);
}

TEST(RandomTest, BelowCoversEveryValueRoughlyEvenly) {
  Random random(3);
  std::vector<int> counts(6);
  for (int i = 0; i < 60000; ++i) ++counts[random.Below(6)];
  for (int count : counts) {
    EXPECT_GT(count, 9500);
    EXPECT_LT(count, 10500);
  }
}

TEST(RandomTest, Between) {
  Random random(4);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t value = random.Between(10, 14);
    EXPECT_GE(value, 10u);
    EXPECT_LE(value, 14u);
    seen.insert(value);
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(random.Between(9, 9), 9u);
  EXPECT_EQ(random.Between(9, 3), 9u);
  random.Between(0, UINT64_MAX);  // the full range must not overflow
}

TEST(RandomTest, Chance) {
  Random random(5);
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(random.Chance(0, 10));
    EXPECT_FALSE(random.Chance(3, 0));
    EXPECT_TRUE(random.Chance(10, 10));
    EXPECT_TRUE(random.Chance(11, 10));
  }
  int hits = 0;
  for (int i = 0; i < 100000; ++i) hits += random.Chance(1, 4) ? 1 : 0;
  EXPECT_GT(hits, 24000);
  EXPECT_LT(hits, 26000);
}

TEST(RandomTest, ForkIsDeterministicAndDoesNotAdvanceTheParent) {
  Random parent(11);
  Random child1 = parent.Fork(1);
  Random child1_again = parent.Fork(1);
  Random child2 = parent.Fork(2);
  const std::vector<uint64_t> one = Draw(child1, 50);
  EXPECT_EQ(one, Draw(child1_again, 50));
  EXPECT_NE(one, Draw(child2, 50));

  Random untouched(11);
  EXPECT_EQ(Draw(parent, 10), Draw(untouched, 10));
  // Forked streams differ from the parent's own.
  Random parent_again(11);
  Random fork_again = Random(11).Fork(1);
  EXPECT_NE(Draw(parent_again, 50), Draw(fork_again, 50));
}

RC_GTEST_PROP(RandomProperty, BelowStaysInRange, (uint64_t seed, uint64_t n)) {
  RC_PRE(n > 0u);
  Random random(seed);
  for (int i = 0; i < 20; ++i) RC_ASSERT(random.Below(n) < n);
}

RC_GTEST_PROP(RandomProperty, ForksOfDifferentIdsDiffer,
              (uint64_t seed, uint64_t x, uint64_t y)) {
  RC_PRE(x != y);
  Random parent(seed);
  RC_ASSERT(parent.Fork(x).state() != parent.Fork(y).state());
}

}  // namespace
}  // namespace starling::sim
