#include "tools/testing/loopback.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace starling::tools::testing {

absl::StatusOr<LoopbackSocket> LoopbackSocket::Bind(Kind kind) {
  const int fd = socket(
      AF_INET, (kind == Kind::kUdp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      (kind == Kind::kTcpListening && listen(fd, 4) != 0) ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const absl::Status error =
        absl::InternalError(absl::StrCat("loopback socket: ", strerror(errno)));
    close(fd);
    return error;
  }
  return LoopbackSocket(fd, ntohs(address.sin_port));
}

LoopbackSocket::LoopbackSocket(LoopbackSocket&& other)
    : fd_(std::exchange(other.fd_, -1)), port_(other.port_) {}

LoopbackSocket::~LoopbackSocket() { Close(); }

std::string LoopbackSocket::dns_address() const {
  return absl::StrCat("127.0.0.1@", port_);
}

void LoopbackSocket::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

}  // namespace starling::tools::testing
