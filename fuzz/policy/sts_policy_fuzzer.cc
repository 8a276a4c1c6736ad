// MTA-STS policy parsing: an accepted policy is within the RFC's limits and
// survives Print -> Parse; MX matching never accepts an invalid host name.
#include <cstdint>
#include <string>

#include "core/policy/mta_sts.h"
#include "core/policy/names.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using starling::fuzz::Require;
  using namespace starling::policy;
  starling::fuzz::FuzzInput in(data, size);
  const absl::string_view host = in.Bytes(in.Below(80));
  const absl::string_view body = in.Bytes(size);
  const absl::StatusOr<StsPolicy> policy = ParseStsPolicy(body);
  if (!policy.ok()) return 0;
  Require(policy->max_age >= 0 && policy->max_age <= kStsMaxAgeLimit);
  Require(policy->mode == StsMode::kNone || !policy->mx.empty());
  const absl::StatusOr<StsPolicy> again = ParseStsPolicy(PrintStsPolicy(*policy));
  Require(again.ok() && *again == *policy);
  if (StsMxMatches(*policy, host)) Require(IsValidDnsName(host));
  return 0;
}
