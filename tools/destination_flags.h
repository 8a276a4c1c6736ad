#ifndef STARLING_TOOLS_DESTINATION_FLAGS_H_
#define STARLING_TOOLS_DESTINATION_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "asio.hpp"
#include "tools/net/lookup.h"
#include "tools/send/route.h"

namespace starling::tools {

// The flags of the programs that resolve a destination themselves
// (starling-probe, starling-send --to): where DNS and MTA-STS policies come
// from, and, as a testing aid, where connections go.

// This file, for ParseToolFlags' --help, and its list flags.
inline constexpr absl::string_view kDestinationFlagsFile = "tools/destination_flags.cc";
std::vector<absl::string_view> DestinationFlagNames();
std::vector<absl::string_view> DestinationListFlags();

// --resolver, --trust-anchor-file, --dns-timeout, --sts-cache, --sts-ca,
// --sts-connect-to.
net::LookupOptions LookupOptionsFromFlags();

// --connect and --port; an error names the flag.
absl::StatusOr<send::ConnectOverrides> ConnectOverridesFromFlags(
    asio::io_context& context);

// One line for a report's header: the resolvers and the trust anchor used.
std::string DescribeResolver(const net::ResolverOptions& options);

}  // namespace starling::tools

#endif  // STARLING_TOOLS_DESTINATION_FLAGS_H_
