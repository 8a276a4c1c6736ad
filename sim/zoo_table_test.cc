// Every partner profile against the sender's main policy kinds: what happens
// to one message to a domain whose only MX has that profile, under `may`,
// `encrypt`, `verify`, DANE (3 1 1 record matching the MX's certificate,
// DNSSEC secure) and MTA-STS (enforce, the MX listed).
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "gtest/gtest.h"
#include "sim/partner.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace starling::sim {
namespace {

enum class Policy { kMay, kEncrypt, kVerify, kDane, kSts };
constexpr Policy kPolicies[] = {Policy::kMay, Policy::kEncrypt, Policy::kVerify,
                                Policy::kDane, Policy::kSts};

const char* PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kMay:
      return "may";
    case Policy::kEncrypt:
      return "encrypt";
    case Policy::kVerify:
      return "verify";
    case Policy::kDane:
      return "dane";
    case Policy::kSts:
      return "sts";
  }
  return "?";
}

// The fate of the one message at the end, and the RFC 8460 result types the
// attempts reported ("-" when none): "tls", "plain", "deferred", "bounced".
struct Outcome {
  std::string fate;
  std::string types;
};

Outcome RunOne(PartnerProfile profile, Policy policy) {
  Scenario scenario;
  scenario.world.start = absl::FromUnixSeconds(1767225600);
  scenario.world.duration = absl::Hours(2);
  scenario.sender.hostname = "relay.example.org";
  const char* table = "* may\n";
  if (policy == Policy::kEncrypt) table = "* encrypt\n";
  if (policy == Policy::kVerify) table = "* verify\n";
  if (policy == Policy::kDane) table = "* dane\n";
  scenario.sender.policy = *policy::ParsePolicyTable(table);
  ScenarioDomain domain;
  domain.name = "zoo.example";
  ScenarioMx mx;
  mx.host = "mx.zoo.example";
  mx.preference = 10;
  mx.profile = profile;
  domain.mx.push_back(mx);
  if (policy == Policy::kDane) {
    domain.dnssec = DnssecStatus::kSecure;
    domain.tlsa.push_back(TlsaRecord{3, 1, 1, ""});  // matches the leaf
  }
  if (policy == Policy::kSts) {
    policy::StsPolicy sts;
    sts.mode = policy::StsMode::kEnforce;
    sts.mx = {"mx.zoo.example"};
    sts.max_age = 86400;
    domain.mta_sts = sts;
    domain.mta_sts_id = "1";
  }
  scenario.domains.push_back(domain);
  ScenarioLoad load;
  load.to = "zoo.example";
  load.messages = 1;
  scenario.loads.push_back(load);

  absl::StatusOr<WorldResult> result = RunScenario(scenario, 1);
  if (!result.ok()) return {result.status().ToString(), ""};
  if (result->violation.has_value()) {
    return {FormatViolation(*result->violation), ""};
  }
  const DomainSummary& d = result->domains.at(0);
  std::string fate = d.tls == 1         ? "tls"
                     : d.plaintext == 1 ? "plain"
                     : d.deferred == 1  ? "deferred"
                     : d.bounced == 1   ? "bounced"
                                        : "?";
  return {fate, d.tlsrpt_result_types.empty()
                    ? "-"
                    : absl::StrJoin(d.tlsrpt_result_types, ",")};
}

struct Row {
  PartnerProfile profile;
  // may, encrypt, verify, dane, sts: "fate" or "fate types".
  std::vector<std::string> expected;
};

// What a careful relay does, profile by profile. Opportunistic TLS takes
// any certificate; encrypt needs TLS but no authentication; verify and
// MTA-STS need a trusted chain with the MX's name; DANE-EE (3 1 1) pins the
// key and ignores names, dates and issuers.
const std::vector<Row>& Expected() {
  static const auto* rows = new std::vector<Row>{
      {PartnerProfile::kNoStartTls,
       {"plain -", "deferred starttls-not-supported",
        "deferred starttls-not-supported", "deferred starttls-not-supported",
        "deferred starttls-not-supported"}},
      {PartnerProfile::kStartTls454,
       {"plain -", "deferred starttls-not-supported",
        "deferred starttls-not-supported", "deferred starttls-not-supported",
        "deferred starttls-not-supported"}},
      {PartnerProfile::kGood, {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kExpired,
       {"tls -", "tls -", "deferred certificate-expired", "tls -",
        "deferred certificate-expired"}},
      // RFC 8460 has no "not yet valid" type.
      {PartnerProfile::kNotYetValid,
       {"tls -", "tls -", "deferred validation-failure", "tls -",
        "deferred validation-failure"}},
      {PartnerProfile::kSelfSigned,
       {"tls -", "tls -", "deferred certificate-not-trusted", "tls -",
        "deferred certificate-not-trusted"}},
      {PartnerProfile::kWrongName,
       {"tls -", "tls -", "deferred certificate-host-mismatch", "tls -",
        "deferred certificate-host-mismatch"}},
      {PartnerProfile::kUntrustedCa,
       {"tls -", "tls -", "deferred certificate-not-trusted", "tls -",
        "deferred certificate-not-trusted"}},
      // Our TLS floor refuses the key in the handshake; `may` then retries
      // the host at once without STARTTLS. The failed handshake is reported
      // (validation-failure) even where TLS was optional.
      {PartnerProfile::kRsa1024,
       {"plain validation-failure", "deferred validation-failure",
        "deferred validation-failure", "deferred validation-failure",
        "deferred validation-failure"}},
      {PartnerProfile::kSha1,
       {"tls -", "tls -", "deferred validation-failure", "tls -",
        "deferred validation-failure"}},
      {PartnerProfile::kRevoked,
       {"tls -", "tls -", "deferred validation-failure", "tls -",
        "deferred validation-failure"}},
      {PartnerProfile::kMissingIntermediate,
       {"tls -", "tls -", "deferred certificate-not-trusted", "tls -",
        "deferred certificate-not-trusted"}},
      {PartnerProfile::kTls10Only,
       {"plain validation-failure", "deferred validation-failure",
        "deferred validation-failure", "deferred validation-failure",
        "deferred validation-failure"}},
      {PartnerProfile::kTls11Only,
       {"plain validation-failure", "deferred validation-failure",
        "deferred validation-failure", "deferred validation-failure",
        "deferred validation-failure"}},
      {PartnerProfile::kHandshakeFailure,
       {"plain validation-failure", "deferred validation-failure",
        "deferred validation-failure", "deferred validation-failure",
        "deferred validation-failure"}},
      {PartnerProfile::kGreylist, {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kTarpit, {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kDropMidData,
       {"deferred -", "deferred -", "deferred -", "deferred -", "deferred -"}},
      {PartnerProfile::kDropAfterEndOfData,
       {"deferred -", "deferred -", "deferred -", "deferred -", "deferred -"}},
      {PartnerProfile::kRequireTls,
       {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kRequireClientCert,
       {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kRolloverOldIssuer,
       {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kRolloverNewIssuer,
       {"tls -", "tls -", "tls -", "tls -", "tls -"}},
  };
  return *rows;
}

TEST(ZooTableTest, EveryProfileUnderEveryPolicy) {
  ASSERT_EQ(Expected().size(), kPartnerProfileCount);
  std::string actual_table;
  int mismatches = 0;
  for (const Row& row : Expected()) {
    std::vector<std::string> cells;
    for (size_t p = 0; p < 5; ++p) {
      const Outcome outcome = RunOne(row.profile, kPolicies[p]);
      const std::string cell = absl::StrCat(outcome.fate, " ", outcome.types);
      cells.push_back(absl::StrCat("\"", cell, "\""));
      if (cell != row.expected[p]) {
        ++mismatches;
        ADD_FAILURE() << PartnerProfileName(row.profile) << " under "
                      << PolicyName(kPolicies[p]) << ": expected '"
                      << row.expected[p] << "', got '" << cell << "'";
      }
    }
    absl::StrAppend(&actual_table, PartnerProfileName(row.profile), ": {",
                    absl::StrJoin(cells, ", "), "}\n");
  }
  if (mismatches > 0) std::cerr << actual_table;
}

}  // namespace
}  // namespace starling::sim
