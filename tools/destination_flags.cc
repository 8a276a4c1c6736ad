#include "tools/destination_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

ABSL_FLAG(std::vector<std::string>, resolver, {},
          "recursive resolver to ask, IP or IP@PORT; several allowed "
          "(default: the nameservers of /etc/resolv.conf)");
ABSL_FLAG(std::string, trust_anchor_file, "",
          "DNSSEC trust anchors, DS or DNSKEY records in zone-file form "
          "(default: /usr/share/dns/root.key when present)");
ABSL_FLAG(uint64_t, dns_timeout, 10, "seconds for each round of DNS lookups");
ABSL_FLAG(std::string, sts_cache, "",
          "directory of the MTA-STS policy cache (RFC 8461 §5.1; default: "
          "none, every policy is fetched)");
ABSL_FLAG(std::string, sts_ca, "",
          "CA bundle for MTA-STS policy hosts (default: the system store)");
ABSL_FLAG(std::vector<std::string>, sts_connect_to, {},
          "testing aid: fetch MTA-STS policies from elsewhere, as curl's "
          "--connect-to HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT (the "
          "certificate is still checked for mta-sts.<domain>)");
ABSL_FLAG(std::vector<std::string>, connect, {},
          "testing aid: connect to HOST:PORT instead of every MX host's "
          "addresses, or MX=HOST:PORT for that MX alone (MX names, TLSA and "
          "MTA-STS checks stay those of DNS)");
ABSL_FLAG(uint64_t, port, 25, "the port of MX hosts' addresses from DNS");

namespace starling::tools {

std::vector<absl::string_view> DestinationFlagNames() {
  return {"resolver", "trust_anchor_file", "dns_timeout", "sts_cache",
          "sts_ca",   "sts_connect_to",    "connect",     "port"};
}

std::vector<absl::string_view> DestinationListFlags() {
  return {"resolver", "sts_connect_to", "connect"};
}

net::LookupOptions LookupOptionsFromFlags() {
  net::LookupOptions options;
  options.resolvers = absl::GetFlag(FLAGS_resolver);
  options.trust_anchor_file = absl::GetFlag(FLAGS_trust_anchor_file);
  options.dns_timeout = absl::Seconds(absl::GetFlag(FLAGS_dns_timeout));
  options.sts_cache_dir = absl::GetFlag(FLAGS_sts_cache);
  options.sts_fetch.ca_file = absl::GetFlag(FLAGS_sts_ca);
  options.sts_fetch.connect_to = absl::GetFlag(FLAGS_sts_connect_to);
  return options;
}

absl::StatusOr<send::ConnectOverrides> ConnectOverridesFromFlags(
    asio::io_context& context) {
  const uint64_t port = absl::GetFlag(FLAGS_port);
  if (port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--port: ", port, " is not a port"));
  }
  return send::ParseConnectOverrides(context, absl::GetFlag(FLAGS_connect),
                                     static_cast<uint16_t>(port));
}

std::string DescribeResolver(const net::ResolverOptions& options) {
  std::string out =
      !options.forwarders.empty()
          ? absl::StrJoin(options.forwarders, ", ")
          : !options.resolv_conf.empty()
                ? absl::StrCat("the nameservers of ", options.resolv_conf)
                : std::string("full recursion from the root");
  absl::StrAppend(&out, "; DNSSEC trust anchor ",
                  options.trust_anchor_file.empty() ? "none (nothing is secure)"
                                                    : options.trust_anchor_file);
  return out;
}

}  // namespace starling::tools
