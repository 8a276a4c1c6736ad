#ifndef STARLING_SIM_SWARM_H_
#define STARLING_SIM_SWARM_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/invariants.h"
#include "sim/scenario.h"

namespace starling::sim {

// Swarm testing (Groce et al., ISSTA 2012): every seed draws a different
// small world — which partner profiles, policies, DNSSEC/DANE/MTA-STS
// state, load and faults are in play — so that each run exercises a random
// subset of the features and their interactions. The same seed always
// draws the same world.
absl::StatusOr<Scenario> RandomScenario(uint64_t seed);

struct SwarmOutcome {
  uint64_t seed = 0;
  // The world could not be drawn or run (not an invariant violation).
  absl::Status error;
  std::optional<InvariantViolation> violation;
  // The second run's trace differed (check_determinism only).
  bool nondeterministic = false;
  uint64_t trace_hash = 0;
  int64_t attempts = 0;
  int64_t delivered = 0;
  int64_t bounced = 0;
  int64_t queued = 0;
  int64_t duplicates_in_window = 0;

  bool ok() const {
    return error.ok() && !violation.has_value() && !nondeterministic;
  }
};

// Draws the world for `seed`, runs it (twice when `check_determinism`) and
// checks the invariants.
SwarmOutcome RunSwarmSeed(uint64_t seed, bool check_determinism);

// One line for a failing seed, ending with the command that reproduces it.
std::string SwarmFailureLine(const SwarmOutcome& outcome);

}  // namespace starling::sim

#endif  // STARLING_SIM_SWARM_H_
