#ifndef STARLING_TOOLS_SEND_ROUTE_H_
#define STARLING_TOOLS_SEND_ROUTE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "asio.hpp"
#include "tools/net/destination.h"

namespace starling::send {

// Where the connections to a domain's MX hosts go: each host's addresses
// from DNS on port 25, unless told otherwise. The overrides are a testing
// aid: test servers listen on loopback ports the kernel chose, while the MX
// names (and so TLSA lookups, certificate names and MTA-STS matching) stay
// those DNS gave.
struct ConnectOverrides {
  uint16_t port = 25;  // for addresses from DNS
  std::vector<asio::ip::tcp::endpoint> every_mx;  // "HOST:PORT"
  std::map<std::string, std::vector<asio::ip::tcp::endpoint>> by_mx;  // "MX=HOST:PORT"
};

// Reads --connect values: "HOST:PORT" sends every MX there, "MX=HOST:PORT"
// that MX host alone (the more specific wins; several values add up).
// HOST may be a name (the system resolver) or an address literal.
absl::StatusOr<ConnectOverrides> ParseConnectOverrides(
    asio::io_context& context, const std::vector<std::string>& specs,
    uint16_t port);

// One MX host and where to connect for it.
struct MxRoute {
  const net::MxHost* host = nullptr;  // in the resolution it came from
  std::vector<asio::ip::tcp::endpoint> endpoints;  // in the order to try
  bool overridden = false;  // from ConnectOverrides, not from DNS
  std::string problem;      // why `endpoints` is empty
};

// The routes of `r`'s hosts, in its (preference) order: an override, else
// the host's A then AAAA records on `connect.port`. Records of a bogus
// answer are never used.
std::vector<MxRoute> RoutesFor(const net::DestinationResolution& r,
                               const ConnectOverrides& connect);

// The index of the last route with somewhere to connect: the host a sender
// tries last (Destination::last_mx), or routes.size() when there is none.
size_t LastMxToTry(const std::vector<MxRoute>& routes);

}  // namespace starling::send

#endif  // STARLING_TOOLS_SEND_ROUTE_H_
