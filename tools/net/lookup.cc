#include "tools/net/lookup.h"

#include <utility>

namespace starling::net {

absl::StatusOr<DestinationLookup> DestinationLookup::Open(
    const LookupOptions& options) {
  ResolverOptions resolver_options = ResolverOptions::System();
  if (!options.resolvers.empty()) {
    resolver_options.forwarders = options.resolvers;
    resolver_options.resolv_conf.clear();
  }
  if (!options.trust_anchor_file.empty()) {
    resolver_options.trust_anchor_file = options.trust_anchor_file;
  }
  resolver_options.timeout = options.dns_timeout;
  absl::StatusOr<std::unique_ptr<Resolver>> resolver =
      Resolver::Create(resolver_options);
  if (!resolver.ok()) return resolver.status();
  absl::StatusOr<StsPolicyFetcher> fetcher =
      StsPolicyFetcher::Create(options.sts_fetch);
  if (!fetcher.ok()) return fetcher.status();
  std::optional<StsCache> cache;
  if (!options.sts_cache_dir.empty()) {
    absl::StatusOr<StsCache> opened = StsCache::Open(options.sts_cache_dir);
    if (!opened.ok()) return opened.status();
    cache.emplace(*std::move(opened));
  }
  return DestinationLookup(std::move(resolver_options), *std::move(resolver),
                           *std::move(fetcher), std::move(cache));
}

absl::StatusOr<DestinationResolution> DestinationLookup::Resolve(
    absl::string_view domain, absl::Time now) {
  return ResolveDestination(domain, *resolver_, fetcher_,
                            cache_.has_value() ? &*cache_ : nullptr, now);
}

}  // namespace starling::net
