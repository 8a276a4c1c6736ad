#ifndef STARLING_TOOLS_NET_STS_CACHE_H_
#define STARLING_TOOLS_NET_STS_CACHE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/policy/mta_sts.h"

namespace starling::net {

// The MTA-STS policy cache on disk (RFC 8461 §5.1): a directory with one
// small JSON file per policy domain, "<domain>.json":
//
//   {"format": "starling-mta-sts-cache/1", "domain": "example.com",
//    "id": "20240101", "fetched_at": "2024-07-01T12:00:00Z",
//    "policy": {"mode": "enforce", "mx": ["mx.example.com"], "max_age": 86400}}
//
// It only stores and loads policy::StsCacheEntry; what an entry means (still
// valid at `now`, refetch on a new TXT id) is policy::ResolveSts's decision.
// max_age is clamped to policy::kStsMaxAgeLimit on the way in and out, so a
// hand-edited file cannot keep a policy longer than a year. Writes are
// atomic (temporary file, fsync, rename); a file that is not exactly such an
// entry is a DataLoss error naming the file, never a crash.
class StsCache {
 public:
  // Uses `directory`, creating it (mode 0700) when it does not exist.
  static absl::StatusOr<StsCache> Open(std::string directory);

  // The cached entry for `domain`, or nullopt when there is none.
  absl::StatusOr<std::optional<policy::StsCacheEntry>> Load(
      absl::string_view domain) const;

  absl::Status Store(absl::string_view domain,
                     const policy::StsCacheEntry& entry) const;

  // Forgets `domain`'s entry; not an error when there is none.
  absl::Status Remove(absl::string_view domain) const;

  // The file of `domain`'s entry; InvalidArgument when `domain` is not a DNS
  // name (so no name can point outside the directory).
  absl::StatusOr<std::string> PathFor(absl::string_view domain) const;

  const std::string& directory() const { return directory_; }

 private:
  explicit StsCache(std::string directory) : directory_(std::move(directory)) {}

  std::string directory_;
};

// The file format alone, for tools that print or check entries. `domain`
// must be what the file says.
std::string StsCacheEntryToJson(absl::string_view domain,
                                const policy::StsCacheEntry& entry);
absl::StatusOr<policy::StsCacheEntry> StsCacheEntryFromJson(
    absl::string_view domain, absl::string_view json);

}  // namespace starling::net

#endif  // STARLING_TOOLS_NET_STS_CACHE_H_
