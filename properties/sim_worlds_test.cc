// The simulator as a whole, over random small worlds (sim/swarm.h draws one
// per seed; RapidCheck draws the seeds and shrinks toward small ones): every
// world keeps every invariant, the same seed gives the same trace hash, and
// a world's outcome accounts for every recipient exactly once.
#include <cstdint>

#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "sim/invariants.h"
#include "sim/swarm.h"
#include "sim/world.h"

namespace starling::sim {
namespace {

// Worlds cost milliseconds each: RapidCheck's default 100 cases stay quick.
RC_GTEST_PROP(SimWorldProperty, InvariantsHoldAndSameSeedSameTrace,
              (uint64_t seed)) {
  absl::StatusOr<Scenario> scenario = RandomScenario(seed);
  RC_ASSERT(scenario.ok());
  absl::StatusOr<WorldResult> first = RunScenario(*scenario, seed);
  RC_ASSERT(first.ok());
  if (first->violation.has_value()) {
    RC_FAIL(FormatViolation(*first->violation));
  }
  absl::StatusOr<WorldResult> second = RunScenario(*scenario, seed);
  RC_ASSERT(second.ok());
  RC_ASSERT(second->trace_hash == first->trace_hash);
  RC_ASSERT(second->attempt_log == first->attempt_log);

  // Every queued recipient is in exactly one of the summary's columns.
  int64_t queued = 0;
  for (const ScenarioLoad& load : scenario->loads) {
    queued += load.messages * load.recipients;
  }
  int64_t accounted = 0;
  for (const DomainSummary& d : first->domains) {
    accounted += d.tls + d.plaintext + d.deferred + d.bounced;
  }
  RC_ASSERT(accounted == queued);
  RC_ASSERT(static_cast<int64_t>(first->recipients.size()) == queued);
}

}  // namespace
}  // namespace starling::sim
