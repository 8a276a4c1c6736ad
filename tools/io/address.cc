#include "tools/io/address.h"

#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace starling::io {

absl::StatusOr<HostPort> SplitHostPort(absl::string_view text) {
  HostPort out;
  absl::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\": expected [IPv6]:PORT"));
    }
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\": expected HOST:PORT"));
    }
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  uint32_t number = 0;
  if (!absl::SimpleAtoi(port, &number) || number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": bad port \"", port, "\""));
  }
  out.port = static_cast<uint16_t>(number);
  return out;
}

std::string MachineName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
    return "localhost";
  }
  return name;
}

std::string FormatEndpoint(const asio::ip::tcp::endpoint& endpoint) {
  const std::string ip = endpoint.address().to_string();
  return endpoint.address().is_v6()
             ? absl::StrCat("[", ip, "]:", endpoint.port())
             : absl::StrCat(ip, ":", endpoint.port());
}

}  // namespace starling::io
