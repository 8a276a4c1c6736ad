#ifndef STARLING_TOOLS_TESTING_LOOPBACK_H_
#define STARLING_TOOLS_TESTING_LOOPBACK_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace starling::tools::testing {

// A socket bound to 127.0.0.1 on a port the kernel picked, for the peers
// that never answer: a UDP socket nobody reads (queries time out), a TCP
// socket that listens but never accepts (TLS never starts), or, after
// Close(), a port where nothing listens.
class LoopbackSocket {
 public:
  enum class Kind : uint8_t { kUdp, kTcpListening };

  static absl::StatusOr<LoopbackSocket> Bind(Kind kind);

  LoopbackSocket(LoopbackSocket&& other);
  LoopbackSocket& operator=(LoopbackSocket&& other) = delete;
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;
  ~LoopbackSocket();

  uint16_t port() const { return port_; }
  std::string dns_address() const;  // "127.0.0.1@<port>" (libunbound)
  void Close();

 private:
  LoopbackSocket(int fd, uint16_t port) : fd_(fd), port_(port) {}

  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace starling::tools::testing

#endif  // STARLING_TOOLS_TESTING_LOOPBACK_H_
