#ifndef STARLING_CORE_POLICY_MTA_STS_H_
#define STARLING_CORE_POLICY_MTA_STS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace starling::policy {

// MTA-STS (RFC 8461). Fetching the TXT record and the policy over HTTPS is the
// embedder's job; results come in as data and these functions decide.

inline constexpr int64_t kStsMaxAgeLimit = 31557600;  // §3.2: at most a year
inline constexpr size_t kStsMaxPolicyBytes = 64 * 1024;  // §3.3

// The "id" of a `_mta-sts` TXT record "v=STSv1; id=...;" (§3.1, strictly:
// v=STSv1 first and case-sensitive, id 1..32 alphanumerics, extension fields
// allowed, nothing else).
absl::StatusOr<std::string> ParseStsTxt(absl::string_view record);

// From all TXT strings at _mta-sts.<domain>: records not starting "v=STSv1"
// are ignored; none or several -> NotFound / InvalidArgument (§3.1: treat as
// no policy).
absl::StatusOr<std::string> StsIdFromTxtRecords(
    const std::vector<std::string>& records);

enum class StsMode : uint8_t { kEnforce, kTesting, kNone };
absl::string_view StsModeName(StsMode mode);

struct StsPolicy {
  StsMode mode = StsMode::kNone;
  std::vector<std::string> mx;  // patterns, lower-case
  int64_t max_age = 0;          // seconds, clamped to kStsMaxAgeLimit
  friend bool operator==(const StsPolicy&, const StsPolicy&) = default;
};

// The policy file (§3.2), strictly: "key: value" lines (LF or CRLF),
// version STSv1, mode, max_age (1..10 digits; clamped), mx patterns
// ("host" or "*.domain", valid DNS names) required unless mode is none;
// version, mode and max_age exactly once; unknown keys ignored. A max_age
// above kStsMaxAgeLimit is clamped to it and, when `notes` is given, says so.
absl::StatusOr<StsPolicy> ParseStsPolicy(absl::string_view body,
                                         std::vector<std::string>* notes = nullptr);
std::string PrintStsPolicy(const StsPolicy& policy);

// §4.1: does the MX host match one of the policy's patterns?
bool StsMxMatches(const StsPolicy& policy, absl::string_view mx_host);

// The HTTPS fetch of https://mta-sts.<domain>/.well-known/mta-sts.txt.
struct StsFetch {
  enum class Outcome : uint8_t {
    kCompleted,       // an HTTP response arrived (any status)
    kNetworkError,    // DNS, connect, timeout, TLS failure other than below
    kBadCertificate,  // the policy host's certificate failed PKIX or name
  };
  Outcome outcome = Outcome::kCompleted;
  int http_status = 200;
  std::string content_type;  // must be text/plain (parameters allowed)
  std::string body;
  std::string detail;  // the embedder's words, for the trace
};

// What the TXT lookup said.
struct StsTxtLookup {
  enum class Status : uint8_t { kFound, kAbsent, kTemporaryError };
  Status status = Status::kAbsent;
  std::string id;  // when found
};

struct StsCacheEntry {
  std::string id;
  StsPolicy policy;
  absl::Time fetched_at;
  absl::Time expires_at() const {
    return fetched_at + absl::Seconds(policy.max_age);
  }
  friend bool operator==(const StsCacheEntry&, const StsCacheEntry&) = default;
};

// §5.1: fetch when a TXT record is found and no unexpired cached policy has
// its id.
bool StsNeedsFetch(const StsTxtLookup& txt,
                   const std::optional<StsCacheEntry>& cache, absl::Time now);

struct StsResolution {
  std::optional<StsPolicy> policy;      // the policy in force (mode any)
  std::optional<StsCacheEntry> cache;   // what to cache from now on
  std::string failure_result_type;      // RFC 8460 type when fetching failed
  std::vector<std::string> trace;
};

// Decides the policy in force from the TXT lookup, the cache and (when
// StsNeedsFetch said so) the fetch. A valid cached policy stays in force when
// the TXT record disappears, the lookup fails, or a refetch fails; an expired
// one is dropped. Failures map to sts-policy-fetch-error (network, non-200),
// sts-policy-invalid (content type, syntax) and sts-webpki-invalid.
StsResolution ResolveSts(const StsTxtLookup& txt,
                         const std::optional<StsCacheEntry>& cache,
                         const std::optional<StsFetch>& fetch, absl::Time now);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_MTA_STS_H_
