// The deep swarm: as many seeds as asked for, split into disjoint ranges by
// Bazel's test sharding, so that
//
//   bazel test //sim:swarm_deep_test --test_env=STARLING_SWARM_SEEDS=1000000
//
// fans a million seeds out over a remote-execution cluster (shard_count
// shards, each on its own machine) with no change. Each shard prints the
// seeds it ran and its seeds per second (one core).
//
// Environment (read through --test_env):
//   STARLING_SWARM_SEEDS       seeds in all shards together (default 400)
//   STARLING_SWARM_FIRST_SEED  the first seed (default 1000, past the seeds
//                              //sim:swarm_test runs)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/numbers.h"
#include "sim/swarm.h"

namespace starling::sim {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    std::fprintf(stderr, "%s=%s is not a number\n", name, text);
    std::exit(2);
  }
  return value;
}

int Run() {
  const uint64_t seeds = EnvOr("STARLING_SWARM_SEEDS", 400);
  const uint64_t first = EnvOr("STARLING_SWARM_FIRST_SEED", 1000);
  const uint64_t shards = EnvOr("TEST_TOTAL_SHARDS", 1);
  const uint64_t shard = EnvOr("TEST_SHARD_INDEX", 0);
  if (shards == 0 || shard >= shards) {
    std::fprintf(stderr, "shard %llu of %llu makes no sense\n",
                 static_cast<unsigned long long>(shard),
                 static_cast<unsigned long long>(shards));
    return 2;
  }
  // Tells Bazel that this test shards (it fails the test otherwise).
  if (const char* status = std::getenv("TEST_SHARD_STATUS_FILE")) {
    std::ofstream touch(status);
  }

  // Contiguous ranges: shard i takes [first + i*seeds/shards, first +
  // (i+1)*seeds/shards), which together cover every seed exactly once.
  const uint64_t begin = first + shard * seeds / shards;
  const uint64_t end = first + (shard + 1) * seeds / shards;

  // Wall time in a test binary only to report a rate; no decision uses it.
  const auto start = std::chrono::steady_clock::now();
  uint64_t failures = 0;
  int64_t attempts = 0;
  for (uint64_t seed = begin; seed < end; ++seed) {
    const SwarmOutcome outcome = RunSwarmSeed(seed, seed % 10 == 0);
    attempts += outcome.attempts;
    if (!outcome.ok() || outcome.attempts == 0) {
      ++failures;
      std::printf("FAIL %s\n", SwarmFailureLine(outcome).c_str());
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf(
      "shard %llu/%llu: seeds %llu..%llu (%llu), %lld delivery attempts, %llu "
      "failing, %.1f s, %.1f seeds/s on one core\n",
      static_cast<unsigned long long>(shard + 1),
      static_cast<unsigned long long>(shards),
      static_cast<unsigned long long>(begin),
      static_cast<unsigned long long>(end == begin ? end : end - 1),
      static_cast<unsigned long long>(end - begin),
      static_cast<long long>(attempts), static_cast<unsigned long long>(failures),
      seconds, seconds > 0 ? static_cast<double>(end - begin) / seconds : 0.0);
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace starling::sim

int main() { return starling::sim::Run(); }
