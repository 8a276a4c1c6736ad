#include "sim/swarm.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "sim/attacker.h"
#include "sim/partner.h"
#include "sim/random.h"
#include "sim/world.h"

namespace starling::sim {
namespace {

constexpr absl::string_view kLevels[] = {"may",    "encrypt", "verify",
                                          "secure", "dane",    "dane-only"};

template <typename T, size_t N>
const T& Pick(Random& random, const T (&items)[N]) {
  return items[random.Below(N)];
}

}  // namespace

absl::StatusOr<Scenario> RandomScenario(uint64_t seed) {
  Random random = Random(seed).Fork(0x5a4d);
  Scenario scenario;
  scenario.world.seed = seed;
  scenario.world.start = absl::FromUnixSeconds(1767225600);  // 2026-01-01
  scenario.world.duration = absl::Hours(random.Between(1, 8));
  scenario.sender.hostname = "relay.example.org";

  // Swarm: each seed enables a random subset of the features.
  const bool use_faults = random.Chance(1, 2);
  const bool use_sts = random.Chance(1, 2);
  const bool use_dane = random.Chance(1, 2);
  const bool use_requiretls = random.Chance(1, 3);
  const bool use_attackers = random.Chance(1, 4);
  std::vector<PartnerProfile> profiles;
  for (PartnerProfile profile : AllPartnerProfiles()) {
    if (random.Chance(1, 2)) profiles.push_back(profile);
  }
  if (profiles.empty()) profiles.push_back(PartnerProfile::kGood);

  std::string policy =
      absl::StrCat("* ", random.Chance(3, 4) ? "may" : "encrypt", "\n");
  const int domains = static_cast<int>(random.Between(1, 5));
  std::vector<std::string> hosts;
  for (int d = 1; d <= domains; ++d) {
    ScenarioDomain domain;
    domain.name = absl::StrCat("d", d, ".example");
    const int mx = static_cast<int>(random.Between(1, 3));
    for (int m = 1; m <= mx; ++m) {
      ScenarioMx entry;
      entry.host = absl::StrCat("mx", m, ".", domain.name);
      entry.preference = static_cast<uint16_t>(random.Below(3) * 10);
      entry.profile = profiles[random.Below(profiles.size())];
      if (use_attackers && random.Chance(1, 3)) {
        entry.attacker = AllAttackKinds()[random.Below(kAttackKindCount)];
      }
      hosts.push_back(entry.host);
      domain.mx.push_back(std::move(entry));
    }
    domain.dnssec = static_cast<DnssecStatus>(random.Below(3));
    if (use_dane && random.Chance(1, 2)) {
      // Empty data: the record that matches what the MX presents.
      TlsaRecord tlsa{3, 1, 1, ""};
      if (random.Chance(1, 4)) tlsa.data = std::string(32, '\x42');
      domain.tlsa.push_back(std::move(tlsa));
    }
    if (use_sts && random.Chance(1, 2)) {
      policy::StsPolicy sts;
      sts.mode = random.Chance(1, 2) ? policy::StsMode::kEnforce
                                     : policy::StsMode::kTesting;
      sts.mx.push_back(random.Chance(3, 4)
                                    ? absl::StrCat("*.", domain.name)
                                    : std::string("mx.elsewhere.example"));
      sts.max_age = 86400;
      domain.mta_sts = std::move(sts);
      domain.mta_sts_id = "1";
    }
    if (random.Chance(1, 2)) {
      absl::StrAppend(&policy, domain.name, " ", Pick(random, kLevels), "\n");
    }
    ScenarioLoad load;
    load.to = domain.name;
    load.messages = static_cast<int64_t>(random.Between(1, 5));
    load.recipients = static_cast<int64_t>(random.Between(1, 3));
    load.size = static_cast<int64_t>(random.Between(64, 20000));
    load.requiretls_percent =
        use_requiretls ? static_cast<int>(random.Below(101)) : 0;
    scenario.loads.push_back(std::move(load));
    scenario.domains.push_back(std::move(domain));
  }
  absl::StatusOr<policy::PolicyTable> table = policy::ParsePolicyTable(policy);
  if (!table.ok()) return table.status();
  scenario.sender.policy_source = PolicySource::kTable;
  scenario.sender.policy_text = std::move(policy);
  scenario.sender.policy = *std::move(table);

  const int faults = use_faults ? static_cast<int>(random.Between(1, 4)) : 0;
  for (int f = 0; f < faults; ++f) {
    ScenarioFault fault;
    fault.host = hosts[random.Below(hosts.size())];
    fault.kind = static_cast<ScenarioFaultKind>(random.Below(5));
    fault.at = absl::Seconds(static_cast<int64_t>(
        random.Below(static_cast<uint64_t>(
            absl::ToInt64Seconds(scenario.world.duration)))));
    if (fault.kind == ScenarioFaultKind::kStall) {
      fault.duration = absl::Seconds(random.Between(10, 1800));
    }
    scenario.faults.push_back(std::move(fault));
  }
  return scenario;
}

SwarmOutcome RunSwarmSeed(uint64_t seed, bool check_determinism) {
  SwarmOutcome outcome;
  outcome.seed = seed;
  absl::StatusOr<Scenario> scenario = RandomScenario(seed);
  if (!scenario.ok()) {
    outcome.error = scenario.status();
    return outcome;
  }
  absl::StatusOr<WorldResult> result = RunScenario(*scenario, seed);
  if (!result.ok()) {
    outcome.error = result.status();
    return outcome;
  }
  outcome.violation = result->violation;
  outcome.trace_hash = result->trace_hash;
  outcome.attempts = static_cast<int64_t>(result->attempts.size());
  outcome.duplicates_in_window = result->duplicates_in_window;
  for (const WorldRecipient& r : result->recipients) {
    switch (r.fate) {
      case RecipientFate::kDelivered:
        ++outcome.delivered;
        break;
      case RecipientFate::kBounced:
        ++outcome.bounced;
        break;
      case RecipientFate::kQueued:
        ++outcome.queued;
        break;
    }
  }
  if (check_determinism && !outcome.violation.has_value()) {
    absl::StatusOr<WorldResult> again = RunScenario(*scenario, seed);
    if (!again.ok()) {
      outcome.error = again.status();
    } else {
      outcome.nondeterministic = again->trace_hash != result->trace_hash;
    }
  }
  return outcome;
}

std::string SwarmFailureLine(const SwarmOutcome& outcome) {
  std::string what;
  if (!outcome.error.ok()) {
    what = absl::StrCat("error: ", outcome.error.ToString());
  } else if (outcome.violation.has_value()) {
    what = FormatViolation(*outcome.violation);
  } else if (outcome.nondeterministic) {
    what = "nondeterministic: two runs gave different trace hashes";
  } else {
    what = "ok";
  }
  return absl::StrFormat(
      "seed %d: %s; reproduce: bazel run //tools:mtasim -- --swarm "
      "--seeds=%d..%d",
      outcome.seed, what, outcome.seed, outcome.seed);
}

}  // namespace starling::sim
