#include "tools/io/outbound.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "tools/io/address.h"

namespace starling::io {
namespace {

class OutboundEndpoint : public SocketEndpoint {
 public:
  OutboundEndpoint(asio::ip::tcp::socket socket,
                   std::unique_ptr<starttls::ClientConnection> connection,
                   OutboundResult result, OutboundMessageDone on_message,
                   OutboundDone done)
      : SocketEndpoint(std::move(socket)),
        connection_(std::move(connection)),
        result_(std::move(result)),
        on_message_(std::move(on_message)),
        done_(std::move(done)) {}

 protected:
  void OnStart(absl::Time) override {}
  void ReceiveWire(absl::string_view bytes, absl::Time now) override {
    (void)connection_->ReceiveWire(bytes, now);
  }
  absl::string_view PendingWire() const override {
    return connection_->PendingWire();
  }
  void ConsumeWire(size_t n, absl::Time now) override {
    connection_->ConsumeWire(n, now);
  }
  absl::Time NextDeadline() const override { return connection_->NextDeadline(); }
  void OnTimeout(absl::Time now) override { (void)connection_->OnTimeout(now); }
  void ConnectionLost(absl::string_view reason, absl::Time now) override {
    connection_->ConnectionLost(reason, now);
  }
  bool Finished() const override { return connection_->finished(); }
  void HandleEvents(absl::Time now) override {
    while (std::optional<smtp::ClientEvent> event = connection_->NextEvent()) {
      if (event->type == smtp::ClientEventType::kMessageDone && on_message_) {
        on_message_(event->message, now);
      }
    }
    if (result_.handshake_done == absl::InfiniteFuture() &&
        connection_->handshake_facts().has_value()) {
      result_.handshake_done = now;
    }
  }
  void OnClosed(absl::string_view reason) override {
    const absl::Time now = absl::Now();
    // A socket closed under a session still running: the connection died.
    if (!connection_->session().closed()) {
      connection_->ConnectionLost(reason, now);
    }
    result_.results = connection_->session().results();
    result_.policy = connection_->session().connection_policy();
    result_.handshake_facts = connection_->handshake_facts();
    result_.tls_failure = connection_->tls_failure();
    result_.status = connection_->status();
    result_.close_reason = std::string(reason);
    result_.ended = now;
    if (done_) std::exchange(done_, nullptr)(std::move(result_));
  }

 private:
  std::unique_ptr<starttls::ClientConnection> connection_;
  OutboundResult result_;
  OutboundMessageDone on_message_;
  OutboundDone done_;
};

// Tries `addresses` in order; the connection is made before the first byte.
struct Connector : std::enable_shared_from_this<Connector> {
  Connector(asio::io_context& context, std::vector<asio::ip::tcp::endpoint> a,
            std::unique_ptr<starttls::ClientConnection> c,
            OutboundMessageDone m, OutboundDone d, absl::Duration timeout)
      : socket(context),
        timer(context),
        addresses(std::move(a)),
        connection(std::move(c)),
        on_message(std::move(m)),
        done(std::move(d)),
        connect_timeout(timeout) {}

  void Next() {
    if (next >= addresses.size()) {
      Fail(last_error.empty() ? "no address to connect to" : last_error);
      return;
    }
    const asio::ip::tcp::endpoint address = addresses[next++];
    asio::error_code ignored;
    socket.close(ignored);
    timer.expires_after(absl::ToChronoNanoseconds(connect_timeout));
    timer.async_wait([self = shared_from_this()](const asio::error_code& e) {
      if (!e) self->socket.cancel();  // the connect below then fails
    });
    socket.async_connect(address, [self = shared_from_this(), address](
                                      const asio::error_code& error) {
      self->timer.cancel();
      if (error) {
        self->last_error = absl::StrCat(
            "connect to ", address.address().to_string(), ":", address.port(),
            ": ",
            error == asio::error::operation_aborted ? "timed out"
                                                    : error.message());
        self->Next();
        return;
      }
      OutboundResult result;
      result.connected = true;
      result.started = self->started;
      asio::error_code ignored;
      result.local = self->socket.local_endpoint(ignored);
      result.remote = address;
      auto endpoint = std::make_shared<OutboundEndpoint>(
          std::move(self->socket), std::move(self->connection),
          std::move(result), std::move(self->on_message),
          std::move(self->done));
      endpoint->Start();
    });
  }

  void Fail(absl::string_view why) {
    const absl::Time now = absl::Now();
    connection->ConnectionLost(why, now);
    OutboundResult result;
    result.started = started;
    result.ended = now;
    result.results = connection->session().results();
    result.policy = connection->session().connection_policy();
    result.status = absl::UnavailableError(why);
    result.close_reason = std::string(why);
    if (done) std::exchange(done, nullptr)(std::move(result));
  }

  asio::ip::tcp::socket socket;
  asio::steady_timer timer;
  std::vector<asio::ip::tcp::endpoint> addresses;
  std::unique_ptr<starttls::ClientConnection> connection;
  OutboundMessageDone on_message;
  OutboundDone done;
  absl::Duration connect_timeout;
  size_t next = 0;
  std::string last_error;
  absl::Time started = absl::Now();
};

}  // namespace

absl::Status Deliver(asio::io_context& context,
                     std::vector<asio::ip::tcp::endpoint> server,
                     starttls::ClientConnection::Options options,
                     smtp::TlsPolicyHook* policy,
                     std::vector<smtp::OutboundMessage> messages,
                     absl::Duration connect_timeout, OutboundDone done,
                     OutboundMessageDone on_message,
                     starttls::SessionObserver observer) {
  absl::StatusOr<std::unique_ptr<starttls::ClientConnection>> connection =
      starttls::ClientConnection::Create(std::move(options), policy,
                                         std::move(messages), absl::Now());
  if (!connection.ok()) return connection.status();
  if (observer) (*connection)->set_observer(std::move(observer));
  auto connector = std::make_shared<Connector>(
      context, std::move(server), *std::move(connection), std::move(on_message),
      std::move(done), connect_timeout);
  connector->Next();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<asio::ip::tcp::endpoint>> ResolveHostPort(
    asio::io_context& context, absl::string_view text) {
  absl::StatusOr<HostPort> split = SplitHostPort(text);
  if (!split.ok()) return split.status();
  if (split->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": port 0 cannot be connected to"));
  }
  asio::ip::tcp::resolver resolver(context);
  asio::error_code error;
  const auto results =
      resolver.resolve(split->host, std::to_string(split->port), error);
  if (error) {
    return absl::NotFoundError(
        absl::StrCat("cannot resolve \"", split->host, "\": ", error.message()));
  }
  std::vector<asio::ip::tcp::endpoint> out;
  for (const auto& entry : results) out.push_back(entry.endpoint());
  return out;
}

}  // namespace starling::io
