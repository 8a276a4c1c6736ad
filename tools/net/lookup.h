#ifndef STARLING_TOOLS_NET_LOOKUP_H_
#define STARLING_TOOLS_NET_LOOKUP_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/net/destination.h"
#include "tools/net/resolver.h"
#include "tools/net/sts_cache.h"
#include "tools/net/sts_fetcher.h"

namespace starling::net {

// How a program resolves destinations, as its flags say (starling-probe and
// starling-send --to share them).
struct LookupOptions {
  // Recursive resolvers ("ip" or "ip@port"); empty: /etc/resolv.conf's.
  std::vector<std::string> resolvers;
  // DNSSEC trust anchors (DS or DNSKEY records); empty: Debian's
  // /usr/share/dns/root.key when it exists.
  std::string trust_anchor_file;
  absl::Duration dns_timeout = absl::Seconds(10);
  // The MTA-STS policy cache directory; empty: no cache.
  std::string sts_cache_dir;
  StsFetchOptions sts_fetch;
};

// A resolver, a policy fetcher and the cache, ready for ResolveDestination.
class DestinationLookup {
 public:
  // Fails when one of them cannot start (an unreadable trust anchor or CA
  // file, a cache directory that cannot be created, a bad address).
  static absl::StatusOr<DestinationLookup> Open(const LookupOptions& options);

  absl::StatusOr<DestinationResolution> Resolve(absl::string_view domain,
                                                absl::Time now);

  const ResolverOptions& resolver_options() const { return resolver_options_; }

 private:
  DestinationLookup(ResolverOptions resolver_options,
                    std::unique_ptr<Resolver> resolver,
                    StsPolicyFetcher fetcher, std::optional<StsCache> cache)
      : resolver_options_(std::move(resolver_options)),
        resolver_(std::move(resolver)),
        fetcher_(std::move(fetcher)),
        cache_(std::move(cache)) {}

  ResolverOptions resolver_options_;
  std::unique_ptr<Resolver> resolver_;
  StsPolicyFetcher fetcher_;
  std::optional<StsCache> cache_;
};

}  // namespace starling::net

#endif  // STARLING_TOOLS_NET_LOOKUP_H_
