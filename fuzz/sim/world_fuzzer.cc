// The whole simulator under libFuzzer's coverage guidance (the VOPR /
// FoundationDB idea): the input picks a world seed (sim/swarm.h draws the
// world from it) and a fault schedule on top — connections refused, timed
// out, stalled, reset, a CA rollover, an attacker in front of an MX — and the
// run must keep every invariant (sim/invariants.h). A violation aborts with
// the reproduce line; libFuzzer keeps the input.
//
// Input: 8 bytes of seed (little endian), then per fault 5 bytes: MX host,
// kind, time (1/256ths of the world's duration), stall length, attacker.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>

#include "absl/strings/str_format.h"
#include "fuzz/fuzz_input.h"
#include "sim/attacker.h"
#include "sim/invariants.h"
#include "sim/scenario.h"
#include "sim/swarm.h"
#include "sim/world.h"

namespace starling::sim {
namespace {

using ::starling::fuzz::FuzzInput;
using ::starling::fuzz::Require;

constexpr size_t kMaxFaults = 8;

void Run(FuzzInput& in) {
  uint64_t seed = 0;
  for (int i = 0; i < 8; ++i) seed |= static_cast<uint64_t>(in.Byte()) << (8 * i);
  absl::StatusOr<Scenario> scenario = RandomScenario(seed);
  Require(scenario.ok());
  // Keep worlds small enough for thousands of runs per minute.
  scenario->world.duration = std::min(scenario->world.duration, absl::Hours(2));
  scenario->faults.clear();
  std::vector<ScenarioMx*> hosts;
  for (ScenarioDomain& domain : scenario->domains) {
    for (ScenarioMx& mx : domain.mx) hosts.push_back(&mx);
  }
  for (size_t f = 0; f < kMaxFaults && !in.empty(); ++f) {
    ScenarioMx* host = hosts[in.Byte() % hosts.size()];
    const uint8_t kind = in.Byte();
    const absl::Duration at = scenario->world.duration * in.Byte() / 256;
    const uint8_t stall = in.Byte();
    const uint8_t attacker = in.Byte();
    if (kind % 6 == 5) {
      // An attacker: every MX entry of that host must agree (one route).
      for (ScenarioMx* other : hosts) {
        if (other->host == host->host) {
          other->attacker = AllAttackKinds()[attacker % kAttackKindCount];
        }
      }
      continue;
    }
    ScenarioFault fault;
    fault.host = host->host;
    fault.kind = static_cast<ScenarioFaultKind>(kind % 5);
    fault.at = at;
    if (fault.kind == ScenarioFaultKind::kStall) {
      fault.duration = absl::Seconds(1 + stall * 8);
    }
    scenario->faults.push_back(fault);
  }
  absl::StatusOr<WorldResult> result = RunScenario(*scenario, seed);
  // The world itself may only fail by running away (the step limit).
  Require(result.ok() ||
          result.status().code() == absl::StatusCode::kResourceExhausted);
  if (result.ok() && result->violation.has_value()) {
    std::fprintf(stderr, "world_fuzzer: seed %llu: %s\n",
                 static_cast<unsigned long long>(seed),
                 FormatViolation(*result->violation).c_str());
    std::abort();
  }
}

}  // namespace
}  // namespace starling::sim

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  starling::fuzz::FuzzInput in(data, size);
  starling::sim::Run(in);
  return 0;
}
