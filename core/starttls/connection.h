#ifndef STARLING_CORE_STARTTLS_CONNECTION_H_
#define STARLING_CORE_STARTTLS_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"
#include "core/smtp/reply.h"
#include "core/smtp/server_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/starttls/tls_pipe.h"
#include "core/tls/channel.h"

namespace starling::starttls {

// Sees the SMTP session's own bytes (plaintext, before encryption / after
// decryption): `sent` for what the session wrote, `tls` when they went (or
// came) over TLS. For transcripts.
using SessionObserver =
    std::function<void(bool sent, bool tls, absl::string_view bytes)>;

// The STARTTLS pump: one SMTP connection that starts in the clear and may
// switch to TLS, as a wire-level sans-I/O object. Wire bytes in
// (ReceiveWire), wire bytes out (PendingWire / ConsumeWire), the session's
// events out (NextEvent), one combined deadline (NextDeadline / OnTimeout).
// It does what every STARTTLS embedder must and nobody should write twice:
// the 220 to STARTTLS leaves in the clear before the first TLS byte, session
// output is held while the handshake runs, plaintext and ciphertext are
// routed both ways, the channel's result reaches the session
// (TlsEstablished / TlsFailed), and close_notify follows the session's end.
// Sockets, clocks and buffers of the network stay the embedder's.
//
// After every call, write PendingWire() to the socket (ConsumeWire what was
// written); once finished() is true and nothing is pending, close it.

// The server side.
class ServerConnection {
 public:
  struct Options {
    std::shared_ptr<const smtp::ServerOptions> smtp;
    // The server TLS channel started on STARTTLS (Role::kServer, identities,
    // an RNG, a trust store when client certificates are asked for). Unset:
    // STARTTLS is not available (advertised only when smtp->offer_starttls,
    // then answered 454).
    std::optional<tls::ChannelOptions> tls;
  };

  explicit ServerConnection(Options options);
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  // The connection decision (smtp::ServerSession::AcceptConnection /
  // RefuseConnection).
  absl::Status AcceptConnection(absl::Time now);
  absl::Status RefuseConnection(const smtp::Reply& reply, absl::Time now);

  // Bytes from the peer: in the clear they go to the session, after the
  // switch to the TLS channel (and what it decrypts to the session).
  absl::Status ReceiveWire(absl::string_view bytes, absl::Time now);

  // Session events (kStartTls is acted on here and passed on for the record),
  // held here: valid, and movable from, until the next NextEvent() (pushing
  // more events, e.g. in Accept(), leaves it in place).
  smtp::ServerEvent* NextEvent();

  // The session's decisions; their replies go out through the wire.
  absl::Status Accept(absl::Time now);
  absl::Status Accept(const smtp::Reply& reply, absl::Time now);
  absl::Status Reject(const smtp::Reply& reply, absl::Time now);
  absl::Status AuthChallenge(absl::string_view challenge, absl::Time now);
  void Shutdown(absl::Time now);

  absl::string_view PendingWire() const { return pipe_.NetworkOutput(); }
  void ConsumeWire(size_t n) { pipe_.ConsumeNetworkOutput(n); }

  absl::Time NextDeadline() const { return session_.NextDeadline(); }
  absl::Status OnTimeout(absl::Time now);
  // The peer closed or reset the connection.
  void ConnectionLost(absl::Time now);

  // The session has ended and all it said is in PendingWire() (with TLS,
  // close_notify after it): close the socket once that is written.
  bool finished() const { return finished_; }
  // The first error of the session or the channel.
  const absl::Status& status() const { return status_; }

  const smtp::ServerSession& session() const { return session_; }
  // For calls that produce no output (e.g. set_tls_available).
  smtp::ServerSession& mutable_session() { return session_; }
  const TlsPipe& pipe() const { return pipe_; }
  // How the channel failed, when it did.
  const std::optional<tls::ChannelEvent>& tls_failure() const {
    return tls_failure_;
  }
  void set_observer(SessionObserver observer) { observer_ = std::move(observer); }

 private:
  // Moves bytes and events until nothing changes.
  void Pump(absl::Time now);
  void Note(const absl::Status& status);

  smtp::ServerSession session_;
  std::optional<tls::ChannelOptions> tls_;
  TlsPipe pipe_;
  std::deque<smtp::ServerEvent> events_;
  bool front_taken_ = false;  // events_.front() was handed out
  std::optional<tls::ChannelEvent> tls_failure_;
  SessionObserver observer_;
  absl::Status status_;
  bool finished_ = false;
};

// The client side.
class ClientConnection {
 public:
  struct Options {
    std::shared_ptr<const smtp::ClientOptions> smtp;
    smtp::Destination destination;
    // The client TLS channel started on STARTTLS (Role::kClient, trust, an
    // RNG, a client certificate if any); server_name is replaced by the SNI
    // the policy chose.
    tls::ChannelOptions tls;
  };

  // Fails as smtp::ClientSession::Create does. `policy` must outlive it.
  static absl::StatusOr<std::unique_ptr<ClientConnection>> Create(
      Options options, smtp::TlsPolicyHook* policy,
      std::vector<smtp::OutboundMessage> messages, absl::Time now);

  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  absl::Status ReceiveWire(absl::string_view bytes, absl::Time now);
  // Session events (kStartTls is acted on here and passed on for the record).
  std::optional<smtp::ClientEvent> NextEvent();

  absl::string_view PendingWire() const { return pipe_.NetworkOutput(); }
  // `n` octets were written at `now` (the session's body timer restarts and
  // more of the body may be read).
  void ConsumeWire(size_t n, absl::Time now);

  absl::Time NextDeadline() const { return session_->NextDeadline(); }
  absl::Status OnTimeout(absl::Time now);
  // The connection could not be made, or was closed or reset by the peer.
  void ConnectionLost(absl::string_view reason, absl::Time now);
  // A BodySource that said "not ready" has more now.
  void ResumeBody(absl::Time now);

  bool finished() const { return finished_; }
  const absl::Status& status() const { return status_; }
  const smtp::ClientSession& session() const { return *session_; }
  const TlsPipe& pipe() const { return pipe_; }
  // The facts of a completed handshake (also when the policy then refused
  // them), and how the channel failed, when it did.
  const std::optional<TlsFacts>& handshake_facts() const {
    return handshake_facts_;
  }
  const std::optional<tls::ChannelEvent>& tls_failure() const {
    return tls_failure_;
  }
  void set_observer(SessionObserver observer) { observer_ = std::move(observer); }

 private:
  ClientConnection(tls::ChannelOptions tls,
                   std::unique_ptr<smtp::ClientSession> session);

  void Pump(absl::Time now);
  void Note(const absl::Status& status);

  tls::ChannelOptions tls_;
  std::unique_ptr<smtp::ClientSession> session_;
  TlsPipe pipe_;
  std::deque<smtp::ClientEvent> events_;
  std::optional<TlsFacts> handshake_facts_;
  std::optional<tls::ChannelEvent> tls_failure_;
  SessionObserver observer_;
  absl::Status status_;
  bool finished_ = false;
};

}  // namespace starling::starttls

#endif  // STARLING_CORE_STARTTLS_CONNECTION_H_
