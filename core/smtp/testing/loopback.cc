#include "core/smtp/testing/loopback.h"

#include <algorithm>
#include <utility>

namespace starling::smtp {

absl::StatusOr<LoopbackOutcome> RunLoopback(
    const LoopbackConfig& config, TlsPolicyHook* policy,
    std::vector<OutboundMessage> messages, absl::Time start) {
  absl::StatusOr<std::unique_ptr<ClientSession>> created =
      ClientSession::Create(config.client_options, config.destination, policy,
                            std::move(messages), start);
  if (!created.ok()) return created.status();
  ClientSession& client = **created;
  ScriptedServer server(config.server_options, config.server_script, start);

  LoopbackOutcome outcome;
  size_t server_sent = 0;  // octets of the server's output already delivered
  const auto step = [&](size_t available) {
    if (!config.chunker) return available;
    return std::clamp<size_t>(config.chunker(available), 1, available);
  };
  for (int guard = 0; guard < 10'000'000; ++guard) {
    bool progress = false;
    // Client events first: the fake handshake happens between the client
    // reading the 220 and anything else.
    while (std::optional<ClientEvent> event = client.NextEvent()) {
      if (event->type == ClientEventType::kStartTls) {
        const bool ok = config.server_script.tls_handshake_succeeds &&
                        server.session().tls() != nullptr;
        outcome.client_used_tls = ok;
        if (ok) {
          (void)client.TlsEstablished(config.server_facts, start);
        } else {
          (void)client.TlsFailed("simulated handshake failure", start);
        }
        progress = true;
      }
    }
    const absl::string_view out = client.PendingOutput();
    if (!out.empty() && !server.session().closed()) {
      const size_t n = step(out.size());
      (client.tls() != nullptr ? outcome.client_encrypted
                               : outcome.client_plaintext)
          .append(out.data(), n);
      const std::string piece(out.substr(0, n));
      client.ConsumeOutput(n, start);
      outcome.server_status = server.Feed(piece);
      progress = true;
    } else if (!out.empty()) {
      client.ConsumeOutput(out.size(), start);  // nobody is listening any more
      progress = true;
    }
    const std::string& from_server = server.server_bytes();
    if (server_sent < from_server.size() && !client.closed()) {
      const size_t n = step(from_server.size() - server_sent);
      outcome.client_status =
          client.Receive(absl::string_view(from_server).substr(server_sent, n), start);
      server_sent += n;
      progress = true;
    }
    if (client.closed() &&
        (server.session().closed() || client.PendingOutput().empty())) {
      break;
    }
    if (!progress) {
      if (server.session().closed() && server_sent == from_server.size()) {
        client.ConnectionLost("server closed the connection", start);
      } else {
        client.ConnectionLost("stalled: neither side has anything to say",
                              start);
      }
    }
  }
  outcome.results = client.results();
  outcome.server_transcript = server.transcript();
  outcome.server_messages_accepted = server.messages_accepted();
  if (outcome.client_status.ok()) outcome.client_status = client.fatal_error();
  return outcome;
}

}  // namespace starling::smtp
