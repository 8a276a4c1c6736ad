#ifndef STARLING_TOOLS_IO_INBOUND_H_
#define STARLING_TOOLS_IO_INBOUND_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "core/smtp/server_session.h"
#include "core/starttls/connection.h"
#include "tools/io/socket_endpoint.h"

namespace starling::io {

// The embedder of one inbound connection: answers its decisions.
class InboundHandler {
 public:
  virtual ~InboundHandler() = default;
  // The connection is up; `peer` is the client's address.
  virtual void OnOpen(const asio::ip::tcp::endpoint& /*peer*/,
                      const asio::ip::tcp::endpoint& /*local*/) {}
  // Answers `event` on `connection` (decisions may also be answered later
  // through InboundEndpoint::Decide). The event is the connection's: valid,
  // and movable from, until the next event is taken. False: drop the
  // connection now.
  virtual bool OnEvent(smtp::ServerEvent& event,
                       starttls::ServerConnection& connection,
                       absl::Time now) = 0;
  virtual void OnClosed(const starttls::ServerConnection& /*connection*/,
                        absl::string_view /*reason*/) {}
  // How long each write waits (a tarpit); zero: none.
  virtual absl::Duration WriteDelay() const { return absl::ZeroDuration(); }
};

class InboundEndpoint : public SocketEndpoint {
 public:
  // `refuse`: answer the greeting with this reply instead (over the
  // connection limit). `on_closed` runs once the socket is closed.
  InboundEndpoint(asio::ip::tcp::socket socket,
                  starttls::ServerConnection::Options options,
                  std::unique_ptr<InboundHandler> handler,
                  std::optional<smtp::Reply> refuse,
                  std::function<void()> on_closed);

  // 421 4.3.2 to the client and close (the server is going down). Runs on
  // the endpoint's executor.
  void Shutdown();
  void set_on_closed(std::function<void()> on_closed) {
    on_closed_ = std::move(on_closed);
  }

 protected:
  void OnStart(absl::Time now) override;
  void ReceiveWire(absl::string_view bytes, absl::Time now) override {
    (void)connection_.ReceiveWire(bytes, now);
  }
  absl::string_view PendingWire() const override {
    return connection_.PendingWire();
  }
  void ConsumeWire(size_t n, absl::Time) override { connection_.ConsumeWire(n); }
  absl::Time NextDeadline() const override { return connection_.NextDeadline(); }
  void OnTimeout(absl::Time now) override { (void)connection_.OnTimeout(now); }
  void ConnectionLost(absl::string_view, absl::Time now) override {
    connection_.ConnectionLost(now);
  }
  bool Finished() const override { return connection_.finished(); }
  void HandleEvents(absl::Time now) override;
  void OnClosed(absl::string_view reason) override;
  absl::Duration WriteDelay() const override { return handler_->WriteDelay(); }

 private:
  starttls::ServerConnection connection_;
  std::unique_ptr<InboundHandler> handler_;
  std::optional<smtp::Reply> refuse_;
  std::function<void()> on_closed_;
};

// One listening address and how its connections are run.
struct Listener {
  asio::ip::tcp::endpoint address;
  // Shared by every connection.
  std::shared_ptr<const smtp::ServerOptions> smtp;
  // Made per connection (each gets its own RNG); nullopt: no STARTTLS.
  std::function<std::optional<tls::ChannelOptions>()> tls;
  std::function<std::unique_ptr<InboundHandler>()> handler;
};

struct InboundOptions {
  std::vector<Listener> listeners;
  size_t max_connections = 1000;  // more are refused with 421 4.7.0
  size_t threads = 1;             // io_contexts, each on its own thread
  // After Shutdown(), connections still open this long are cut.
  absl::Duration drain_timeout = absl::Seconds(10);
};

// Accepts connections on every listener's address and runs each as an
// InboundEndpoint. Run() returns when Shutdown() has closed every
// connection (SIGTERM / SIGINT call it: 421 4.3.2 to open sessions, drain,
// return).
class InboundServer {
 public:
  static absl::StatusOr<std::unique_ptr<InboundServer>> Create(
      InboundOptions options);
  ~InboundServer();

  // The addresses actually bound, in listener order (ports chosen by the
  // kernel filled in).
  const std::vector<asio::ip::tcp::endpoint>& bound() const { return bound_; }
  // Also stop on SIGTERM and SIGINT.
  void HandleSignals();
  // Blocks until shut down.
  void Run();
  // Thread-safe.
  void Shutdown();
  size_t active() const;

 private:
  explicit InboundServer(InboundOptions options);
  void Accept(size_t index);
  void Forget(InboundEndpoint* endpoint);

  InboundOptions options_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::vector<asio::ip::tcp::endpoint> bound_;
  std::unique_ptr<asio::signal_set> signals_;
  std::unique_ptr<asio::steady_timer> drain_timer_;  // on contexts_[0]
  size_t next_context_ = 0;
  mutable std::mutex mutex_;
  std::set<std::shared_ptr<InboundEndpoint>> endpoints_;
  bool stopping_ = false;
};

// "127.0.0.1:25", "[::1]:2525", "localhost:0" (port 0: the kernel chooses).
absl::StatusOr<asio::ip::tcp::endpoint> ParseEndpoint(absl::string_view text);

}  // namespace starling::io

#endif  // STARLING_TOOLS_IO_INBOUND_H_
