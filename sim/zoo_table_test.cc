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
#include "sim/zoo_expectations.h"

namespace starling::sim {
namespace {

// The fate of the one message at the end, and the RFC 8460 result types the
// attempts reported ("-" when none): "tls", "plain", "deferred", "bounced".
struct Outcome {
  std::string fate;
  std::string types;
};

Outcome RunOne(PartnerProfile profile, ZooPolicy policy) {
  Scenario scenario;
  scenario.world.start = absl::FromUnixSeconds(1767225600);
  scenario.world.duration = absl::Hours(2);
  scenario.sender.hostname = "relay.example.org";
  const char* table = "* may\n";
  if (policy == ZooPolicy::kEncrypt) table = "* encrypt\n";
  if (policy == ZooPolicy::kVerify) table = "* verify\n";
  if (policy == ZooPolicy::kDane) table = "* dane\n";
  scenario.sender.policy = *policy::ParsePolicyTable(table);
  ScenarioDomain domain;
  domain.name = "zoo.example";
  ScenarioMx mx;
  mx.host = "mx.zoo.example";
  mx.preference = 10;
  mx.profile = profile;
  domain.mx.push_back(mx);
  if (policy == ZooPolicy::kDane) {
    domain.dnssec = DnssecStatus::kSecure;
    domain.tlsa.push_back(TlsaRecord{3, 1, 1, ""});  // matches the leaf
  }
  if (policy == ZooPolicy::kSts) {
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

TEST(ZooTableTest, EveryProfileUnderEveryPolicy) {
  ASSERT_EQ(ZooExpectations().size(), kPartnerProfileCount);
  std::string actual_table;
  int mismatches = 0;
  for (const ZooExpectation& row : ZooExpectations()) {
    std::vector<std::string> cells;
    for (size_t p = 0; p < 5; ++p) {
      const Outcome outcome = RunOne(row.profile, kZooPolicies[p]);
      const std::string cell = absl::StrCat(outcome.fate, " ", outcome.types);
      cells.push_back(absl::StrCat("\"", cell, "\""));
      if (cell != row.expected[p]) {
        ++mismatches;
        ADD_FAILURE() << PartnerProfileName(row.profile) << " under "
                      << ZooPolicyName(kZooPolicies[p]) << ": expected '"
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
