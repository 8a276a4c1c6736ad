#ifndef STARLING_SIM_ZOO_EXPECTATIONS_H_
#define STARLING_SIM_ZOO_EXPECTATIONS_H_

#include <array>
#include <string>
#include <vector>

#include "sim/partner.h"

namespace starling::sim {

// The sender's main policy kinds the zoo is judged under: `may`,
// `encrypt`, `verify`, DANE (a 3 1 1 record matching the MX's certificate,
// DNSSEC secure) and MTA-STS (enforce, the MX listed; table `may`).
enum class ZooPolicy { kMay, kEncrypt, kVerify, kDane, kSts };
inline constexpr std::array<ZooPolicy, 5> kZooPolicies = {
    ZooPolicy::kMay, ZooPolicy::kEncrypt, ZooPolicy::kVerify, ZooPolicy::kDane,
    ZooPolicy::kSts};

// "may", "encrypt", "verify", "dane", "sts".
const char* ZooPolicyName(ZooPolicy policy);

// What happens to one message to a domain whose only MX has `profile`,
// under each policy in kZooPolicies order: "<fate> <types>", the fate being
// tls, plain, deferred or bounced and the types the RFC 8460 result types
// the attempts reported, comma-separated ("-" when none). Checked against
// the simulator (//sim:zoo_table_test) and against starling-sink --zoo on
// real sockets (//tools/sink:zoo_parity_test).
struct ZooExpectation {
  PartnerProfile profile;
  std::vector<std::string> expected;
};
const std::vector<ZooExpectation>& ZooExpectations();

}  // namespace starling::sim

#endif  // STARLING_SIM_ZOO_EXPECTATIONS_H_
