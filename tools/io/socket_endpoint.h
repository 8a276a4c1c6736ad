#ifndef STARLING_TOOLS_IO_SOCKET_ENDPOINT_H_
#define STARLING_TOOLS_IO_SOCKET_ENDPOINT_H_

#include <array>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "asio.hpp"

namespace starling::io {

// One TCP connection driven by a wire-level sans-I/O connection
// (core/starttls): what the peer sends goes to ReceiveWire(), what the
// connection has to say is written as the socket takes it, the
// connection's deadline runs on a steady timer, and the socket closes once
// the connection has finished and everything is written. This is the only
// place that knows sockets; the protocol stays in core/. The real clock is
// read here (absl::Now()) and handed in as `now`.
//
// Owned by a shared_ptr (handlers keep it alive); call Start() once. All of
// its work runs on the socket's executor (one io_context thread).
class SocketEndpoint : public std::enable_shared_from_this<SocketEndpoint> {
 public:
  explicit SocketEndpoint(asio::ip::tcp::socket socket);
  virtual ~SocketEndpoint();
  SocketEndpoint(const SocketEndpoint&) = delete;
  SocketEndpoint& operator=(const SocketEndpoint&) = delete;

  void Start();
  // Stops reading, writes what is pending, then closes (e.g. a zoo profile
  // that drops the connection).
  void Drop();
  // Ends at once: nothing more is written.
  void Abort();

  asio::any_io_executor executor() { return socket_.get_executor(); }
  const asio::ip::tcp::endpoint& peer() const { return peer_; }
  const asio::ip::tcp::endpoint& local() const { return local_; }
  bool closed() const { return closed_; }

 protected:
  // The connection's side. Called on the socket's executor only.
  virtual void OnStart(absl::Time now) = 0;
  virtual void ReceiveWire(absl::string_view bytes, absl::Time now) = 0;
  virtual absl::string_view PendingWire() const = 0;
  virtual void ConsumeWire(size_t n, absl::Time now) = 0;
  virtual absl::Time NextDeadline() const = 0;
  virtual void OnTimeout(absl::Time now) = 0;
  virtual void ConnectionLost(absl::string_view reason, absl::Time now) = 0;
  virtual bool Finished() const = 0;
  // Answers the connection's events; may call Drop().
  virtual void HandleEvents(absl::Time now) = 0;
  // The socket is closed; `reason` says why.
  virtual void OnClosed(absl::string_view reason) = 0;
  // How long each write waits before it leaves (a tarpit); zero: none.
  virtual absl::Duration WriteDelay() const { return absl::ZeroDuration(); }

  // After any outside call into the connection (a decision made later):
  // handles events, writes and re-arms the timer.
  void Kick();

 private:
  void Read();
  void Write();
  void ArmTimer();
  void MaybeClose();
  void Linger(absl::string_view reason);
  void Close(absl::string_view reason);

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  asio::steady_timer write_timer_;
  asio::steady_timer linger_timer_;
  asio::ip::tcp::endpoint peer_;
  asio::ip::tcp::endpoint local_;
  std::array<char, 16 * 1024> buffer_;
  bool reading_ = false;
  bool writing_ = false;
  bool read_ended_ = false;  // EOF, error or Drop(): no more reads
  bool dropping_ = false;
  bool lingering_ = false;  // our side is shut; draining the peer's
  bool closed_ = false;
  absl::Time timer_at_ = absl::InfiniteFuture();
  std::string close_reason_;
};

}  // namespace starling::io

#endif  // STARLING_TOOLS_IO_SOCKET_ENDPOINT_H_
