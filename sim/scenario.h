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
#include "core/policy/postfix_import.h"
#include "core/policy/table.h"
#include "sim/attacker.h"
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

// The test PKI's roots a sender can trust (sim/world.cc builds its trust
// store from them).
enum class TrustAnchor : uint8_t { kRoot, kOldRoot, kNewRoot, kUntrustedRoot };

// "root", "old-root", "new-root", "untrusted-root".
absl::string_view TrustAnchorName(TrustAnchor anchor);

struct Scenario;

// The level of destinations the sender's table does not list, and where it
// comes from: "may (exchange-online.toml:21)", "none (Postfix's default:
// smtp_tls_security_level unset)", "may (built in: the table has no '*')".
std::string DefaultPolicyText(const Scenario& scenario);

struct ScenarioSender {
  std::string hostname;
  PolicySource policy_source = PolicySource::kNone;
  std::string policy_text;  // as written in the file
  // Its entries' lines are the file's (PolicyTable::SetOrigin with the file
  // name), so traces say "exchange-online.toml:23".
  policy::PolicyTable policy;
  // postfix_policy's main.cf settings: smtp_tls_security_level (the "*"
  // level; unset: Postfix's default, none), smtp_tls_fingerprint_digest,
  // and postfix_lenient.
  policy::PostfixImportOptions postfix_options;
  // Present a client certificate when a server asks (default true).
  bool client_certificate = true;
  // The roots the sender trusts (default: root, old-root and new-root) and
  // whether it has the CRL of the intermediate CA (default true).
  std::vector<TrustAnchor> trust = {TrustAnchor::kRoot, TrustAnchor::kOldRoot,
                                    TrustAnchor::kNewRoot};
  bool crl = true;
  // Importer warnings for postfix_policy, as "<file>:<line>: warning: ...".
  std::vector<std::string> policy_warnings;
};

struct ScenarioMx {
  std::string host;
  uint16_t preference = 0;
  PartnerProfile profile = PartnerProfile::kGood;
  // An on-path attacker on every connection to this host (`attacker = ...`).
  std::optional<AttackKind> attacker;
  int line = 0;
};

// What fetching the domain's MTA-STS policy file gives.
enum class StsFetchOutcome : uint8_t {
  kOk,              // 200, text/plain, the policy
  kNetworkError,    // no answer from mta-sts.<domain>
  kBadCertificate,  // the policy host's certificate fails
  kHttp404,         // the file is not there
  kBadContentType,  // served as text/html
};

// "ok", "network-error", "bad-certificate", "http-404", "bad-content-type".
absl::string_view StsFetchOutcomeName(StsFetchOutcome outcome);

struct ScenarioDomain {
  std::string name;
  std::vector<ScenarioMx> mx;  // in file order
  DnssecStatus dnssec = DnssecStatus::kInsecure;
  // Data decoded from hex; empty for "auto": the record that matches what
  // each MX presents (the runner computes it).
  std::vector<TlsaRecord> tlsa;
  std::optional<policy::StsPolicy> mta_sts;
  std::string mta_sts_id;  // the policy id (TXT "id="), when mta_sts is set
  // The max_age the policy file says when it is over the year a sender keeps
  // (mta_sts->max_age is clamped, RFC 8461 §3.2); unset: the same.
  std::optional<int64_t> mta_sts_published_max_age;
  StsFetchOutcome mta_sts_fetch = StsFetchOutcome::kOk;
  // A Postfix-style next-hop the domain's mail is routed through
  // ("[relay.example]" or "[relay.example]:587", as a relayhost or transport
  // names it): its host is the domain's one `mx` entry (which gives its
  // profile), the sender connects to it without an MX lookup, and the policy
  // table is searched with the next-hop. Empty: the MX records.
  std::string nexthop;
  // TLS-RPT (RFC 8460): the rua URIs the domain publishes at
  // _smtp._tls.<name> ("mailto:..." or "https://..."). Only a domain that
  // publishes one gets a report.
  std::vector<std::string> tlsrpt_rua;
  int line = 0;
};

struct ScenarioLoad {
  std::string to;  // a declared domain
  int64_t messages = 0;
  int64_t recipients = 1;
  int64_t size = 1024;  // body octets
  int requiretls_percent = 0;
  // Queued at world.start + at, or spread evenly over [at, at + spread).
  absl::Duration at;
  absl::Duration spread;
  int line = 0;
};

enum class ScenarioFaultKind : uint8_t {
  kRefuse,
  kTimeout,
  kStall,
  kReset,
  kRollover,  // the partner switches to the new issuer's certificate
};

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
