#include "tools/io/inbound.h"

#include "tools/io/address.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace starling::io {

InboundEndpoint::InboundEndpoint(asio::ip::tcp::socket socket,
                                 starttls::ServerConnection::Options options,
                                 std::unique_ptr<InboundHandler> handler,
                                 std::optional<smtp::Reply> refuse,
                                 std::function<void()> on_closed)
    : SocketEndpoint(std::move(socket)),
      connection_(std::move(options)),
      handler_(std::move(handler)),
      refuse_(std::move(refuse)),
      on_closed_(std::move(on_closed)) {}

void InboundEndpoint::OnStart(absl::Time now) {
  handler_->OnOpen(peer(), local());
  if (refuse_.has_value()) {
    (void)connection_.RefuseConnection(*refuse_, now);
  } else {
    (void)connection_.AcceptConnection(now);
  }
}

void InboundEndpoint::HandleEvents(absl::Time now) {
  while (smtp::ServerEvent* event = connection_.NextEvent()) {
    if (!handler_->OnEvent(*event, connection_, now)) {
      Drop();
      return;
    }
  }
}

void InboundEndpoint::Shutdown() {
  connection_.Shutdown(absl::Now());
  Kick();
}

void InboundEndpoint::OnClosed(absl::string_view reason) {
  handler_->OnClosed(connection_, reason);
  if (on_closed_) on_closed_();
}

absl::StatusOr<asio::ip::tcp::endpoint> ParseEndpoint(absl::string_view text) {
  absl::StatusOr<HostPort> split = SplitHostPort(text);
  if (!split.ok()) return split.status();
  const std::string host = split->host == "localhost" ? "127.0.0.1" : split->host;
  asio::error_code error;
  const asio::ip::address address = asio::ip::make_address(host, error);
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\": \"", split->host, "\" is not an IP address"));
  }
  return asio::ip::tcp::endpoint(address, split->port);
}

InboundServer::InboundServer(InboundOptions options)
    : options_(std::move(options)) {}

InboundServer::~InboundServer() = default;

absl::StatusOr<std::unique_ptr<InboundServer>> InboundServer::Create(
    InboundOptions options) {
  if (options.listeners.empty()) {
    return absl::InvalidArgumentError("nothing to listen on");
  }
  std::unique_ptr<InboundServer> server(new InboundServer(std::move(options)));
  const size_t threads = std::max<size_t>(1, server->options_.threads);
  for (size_t i = 0; i < threads; ++i) {
    server->contexts_.push_back(std::make_unique<asio::io_context>(1));
    server->guards_.push_back(asio::make_work_guard(*server->contexts_.back()));
  }
  for (const Listener& listener : server->options_.listeners) {
    const asio::ip::tcp::endpoint& endpoint = listener.address;
    auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(*server->contexts_[0]);
    asio::error_code error;
    acceptor->open(endpoint.protocol(), error);
    if (!error) acceptor->set_option(asio::socket_base::reuse_address(true), error);
    if (!error && endpoint.address().is_v6()) {
      acceptor->set_option(asio::ip::v6_only(true), error);
    }
    if (!error) acceptor->bind(endpoint, error);
    if (!error) acceptor->listen(asio::socket_base::max_listen_connections, error);
    if (error) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", endpoint.address().to_string(), ":",
          endpoint.port(), ": ", error.message()));
    }
    server->bound_.push_back(acceptor->local_endpoint(error));
    server->acceptors_.push_back(std::move(acceptor));
  }
  for (size_t i = 0; i < server->acceptors_.size(); ++i) server->Accept(i);
  return server;
}

void InboundServer::Accept(size_t index) {
  asio::io_context& context = *contexts_[next_context_++ % contexts_.size()];
  acceptors_[index]->async_accept(
      context, [this, index, &context](const asio::error_code& error,
                             asio::ip::tcp::socket socket) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          if (stopping_) return;
        }
        if (error) {
          if (error != asio::error::operation_aborted) Accept(index);
          return;
        }
        std::optional<smtp::Reply> refuse;
        if (active() >= options_.max_connections) {
          refuse = smtp::Reply::Make(421, "4.7.0",
                                     "Too many connections, try again later");
        }
        const Listener& listener = options_.listeners[index];
        starttls::ServerConnection::Options options{
            listener.smtp, listener.tls ? listener.tls() : std::nullopt};
        auto endpoint = std::make_shared<InboundEndpoint>(
            std::move(socket), std::move(options), listener.handler(), refuse,
            nullptr);
        InboundEndpoint* raw = endpoint.get();
        raw->set_on_closed([this, raw] { Forget(raw); });
        {
          // The registry keeps it alive until its socket closes.
          std::lock_guard<std::mutex> lock(mutex_);
          endpoints_.insert(endpoint);
        }
        asio::post(context, [endpoint] { endpoint->Start(); });
        Accept(index);
      });
}

void InboundServer::Forget(InboundEndpoint* endpoint) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = endpoints_.begin(); it != endpoints_.end(); ++it) {
    if (it->get() == endpoint) {
      endpoints_.erase(it);
      break;
    }
  }
  if (stopping_ && endpoints_.empty()) {
    for (auto& guard : guards_) guard.reset();
    // drain_timer_ is only touched on contexts_[0].
    asio::post(*contexts_[0], [this] {
      if (drain_timer_ != nullptr) drain_timer_->cancel();
    });
  }
}

size_t InboundServer::active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return endpoints_.size();
}

void InboundServer::HandleSignals() {
  signals_ = std::make_unique<asio::signal_set>(*contexts_[0], SIGTERM, SIGINT);
  signals_->async_wait([this](const asio::error_code& error, int) {
    if (!error) Shutdown();
  });
}

void InboundServer::Shutdown() {
  std::vector<std::shared_ptr<InboundEndpoint>> open;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    open.assign(endpoints_.begin(), endpoints_.end());
    if (open.empty()) {
      for (auto& guard : guards_) guard.reset();
    }
  }
  asio::post(*contexts_[0], [this, draining = !open.empty()] {
    asio::error_code ignored;
    for (auto& acceptor : acceptors_) acceptor->close(ignored);
    if (signals_ != nullptr) signals_->cancel(ignored);
    if (!draining) return;
    // A client that reads nothing would hold its 421 (and us) forever.
    drain_timer_ = std::make_unique<asio::steady_timer>(*contexts_[0]);
    drain_timer_->expires_after(
        absl::ToChronoNanoseconds(options_.drain_timeout));
    drain_timer_->async_wait([this](const asio::error_code& error) {
      if (error) return;
      std::vector<std::shared_ptr<InboundEndpoint>> left;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        left.assign(endpoints_.begin(), endpoints_.end());
      }
      for (const std::shared_ptr<InboundEndpoint>& endpoint : left) {
        asio::post(endpoint->executor(), [endpoint] { endpoint->Abort(); });
      }
    });
  });
  for (const std::shared_ptr<InboundEndpoint>& endpoint : open) {
    asio::post(endpoint->executor(), [endpoint] { endpoint->Shutdown(); });
  }
}

void InboundServer::Run() {
  std::vector<std::thread> threads;
  for (size_t i = 1; i < contexts_.size(); ++i) {
    threads.emplace_back([context = contexts_[i].get()] { context->run(); });
  }
  contexts_[0]->run();
  for (std::thread& thread : threads) thread.join();
}

}  // namespace starling::io
