#ifndef STARLING_TOOLS_IO_OUTBOUND_H_
#define STARLING_TOOLS_IO_OUTBOUND_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "core/smtp/client_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/starttls/connection.h"
#include "tools/io/socket_endpoint.h"

namespace starling::io {

// How one outbound connection ended.
struct OutboundResult {
  bool connected = false;
  asio::ip::tcp::endpoint local;   // when connected: our end
  asio::ip::tcp::endpoint remote;  // and the address that answered
  std::vector<smtp::MessageResult> results;
  smtp::PolicyDecision policy;              // the connection's decision
  std::optional<TlsFacts> handshake_facts;  // also when policy refused them
  std::optional<tls::ChannelEvent> tls_failure;
  absl::Status status;        // the session's or channel's first error
  std::string close_reason;   // why the socket closed
  absl::Time started;
  absl::Time handshake_done = absl::InfiniteFuture();
  absl::Time ended;
};

using OutboundDone = std::function<void(OutboundResult)>;
// Message `index`'s results became final at `when`.
using OutboundMessageDone = std::function<void(size_t index, absl::Time when)>;

// Connects to `server` (trying each address in turn within
// `connect_timeout`) and delivers `messages` over one connection; `done`
// runs on `context` when the connection has ended, with every recipient's
// result; `on_message`, if set, as each message's results become final;
// `observer`, if set, sees the session's bytes (a transcript). `policy` must
// outlive it. Fails at once (kInvalidArgument) when a message cannot be sent
// at all.
absl::Status Deliver(asio::io_context& context,
                     std::vector<asio::ip::tcp::endpoint> server,
                     starttls::ClientConnection::Options options,
                     smtp::TlsPolicyHook* policy,
                     std::vector<smtp::OutboundMessage> messages,
                     absl::Duration connect_timeout, OutboundDone done,
                     OutboundMessageDone on_message = nullptr,
                     starttls::SessionObserver observer = nullptr);

// Host names through the system resolver (getaddrinfo), literals as they
// are: "mx.example.org:25", "127.0.0.1:2525", "[::1]:25".
absl::StatusOr<std::vector<asio::ip::tcp::endpoint>> ResolveHostPort(
    asio::io_context& context, absl::string_view text);

}  // namespace starling::io

#endif  // STARLING_TOOLS_IO_OUTBOUND_H_
