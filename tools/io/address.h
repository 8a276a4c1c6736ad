#ifndef STARLING_TOOLS_IO_ADDRESS_H_
#define STARLING_TOOLS_IO_ADDRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "asio.hpp"

namespace starling::io {

struct HostPort {
  std::string host;  // brackets of an IPv6 literal removed
  uint16_t port = 0;
};

// "host:25", "192.0.2.1:25", "[2001:db8::1]:25". kInvalidArgument naming
// the text when the form or the port is wrong.
absl::StatusOr<HostPort> SplitHostPort(absl::string_view text);

// This machine's host name ("localhost" when it has none).
std::string MachineName();

// "192.0.2.1:25" or "[2001:db8::1]:25".
std::string FormatEndpoint(const asio::ip::tcp::endpoint& endpoint);

}  // namespace starling::io

#endif  // STARLING_TOOLS_IO_ADDRESS_H_
