#ifndef STARLING_SIM_SCENARIO_H_
#define STARLING_SIM_SCENARIO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "sim/dns.h"
#include "sim/partner.h"

namespace starling::sim {

// A simulator scenario as read from a TOML file (docs/simulator.md, "Scenario
// files"): plain data, validated, with the file line of every item so that a
// runner can point back at the file. Names are canonical (lower case, no
// trailing dot).

struct ScenarioWorld {
  std::optional<uint64_t> seed;  // nullopt: the runner's --seed
  absl::Duration duration;       // > 0
  absl::Time start;
};

enum class PolicySource : uint8_t {
  kNone,     // neither key: an empty table (every domain `may`)
  kTable,    // sender.policy, core/policy table format
  kPostfix,  // sender.postfix_policy, smtp_tls_policy_maps lines
};

struct ScenarioSender {
  std::string hostname;
  PolicySource policy_source = PolicySource::kNone;
  std::string policy_text;  // as written in the file
  policy::PolicyTable policy;
  // Importer warnings for postfix_policy, as "<file>:<line>: warning: ...".
  std::vector<std::string> policy_warnings;
};

struct ScenarioMx {
  std::string host;
  uint16_t preference = 0;
  PartnerProfile profile = PartnerProfile::kGood;
  int line = 0;
};

struct ScenarioDomain {
  std::string name;
  std::vector<ScenarioMx> mx;  // in file order
  DnssecStatus dnssec = DnssecStatus::kInsecure;
  std::vector<TlsaRecord> tlsa;  // data decoded from hex
  std::optional<policy::StsPolicy> mta_sts;
  std::string mta_sts_id;  // the policy id (TXT "id="), when mta_sts is set
  int line = 0;
};

struct ScenarioLoad {
  std::string to;  // a declared domain
  int64_t messages = 0;
  int64_t recipients = 1;
  int64_t size = 1024;  // body octets
  int requiretls_percent = 0;
  int line = 0;
};

enum class ScenarioFaultKind : uint8_t { kRefuse, kTimeout, kStall, kReset };

absl::string_view ScenarioFaultKindName(ScenarioFaultKind kind);

struct ScenarioFault {
  std::string host;  // a declared MX host
  ScenarioFaultKind kind = ScenarioFaultKind::kRefuse;
  absl::Duration at;        // after world.start, within world.duration
  absl::Duration duration;  // kStall only (> 0); zero otherwise
  int line = 0;
};

struct Scenario {
  ScenarioWorld world;
  ScenarioSender sender;
  std::vector<ScenarioDomain> domains;
  std::vector<ScenarioLoad> loads;
  std::vector<ScenarioFault> faults;

  // Null for an undeclared domain (case-insensitive).
  const ScenarioDomain* FindDomain(absl::string_view name) const;
};

// Parses and validates scenario TOML text. `file_name` only labels errors:
// every failure is kInvalidArgument with a message such as
// "scenario.toml:12: unknown partner profile 'expird'".
absl::StatusOr<Scenario> ParseScenario(absl::string_view text,
                                       absl::string_view file_name =
                                           "scenario.toml");

// Reads `path` and parses it (errors name the path). kNotFound when the file
// cannot be read.
absl::StatusOr<Scenario> LoadScenarioFile(const std::string& path);

}  // namespace starling::sim

#endif  // STARLING_SIM_SCENARIO_H_
