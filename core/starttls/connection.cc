#include "core/starttls/connection.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace starling::starttls {
namespace {

// Session output moves to the wire while less than this waits there, so a
// slow peer holds the session back (and with it the body source).
constexpr size_t kWireHighWater = 256 * 1024;

// The bound only stops a session that keeps reporting progress forever.
constexpr int kMaxRounds = 10000;

bool CanCarry(TlsPipe::Mode mode) {
  return mode == TlsPipe::Mode::kClear || mode == TlsPipe::Mode::kEstablished;
}

}  // namespace

// ---- server ------------------------------------------------------------------

ServerConnection::ServerConnection(Options options)
    : session_(std::move(options.smtp)), tls_(std::move(options.tls)) {
  if (!tls_.has_value()) session_.set_tls_available(false);
}

void ServerConnection::Note(const absl::Status& status) {
  if (status_.ok() && !status.ok()) status_ = status;
}

absl::Status ServerConnection::AcceptConnection(absl::Time now) {
  const absl::Status status = session_.AcceptConnection(now);
  Pump(now);
  return status;
}

absl::Status ServerConnection::RefuseConnection(const smtp::Reply& reply,
                                                absl::Time now) {
  const absl::Status status = session_.RefuseConnection(reply, now);
  Pump(now);
  return status;
}

absl::Status ServerConnection::ReceiveWire(absl::string_view bytes,
                                           absl::Time now) {
  if (finished_ || bytes.empty()) return status_;
  Note(pipe_.ReceiveFromNetwork(bytes, now));
  Pump(now);
  return status_;
}

smtp::ServerEvent* ServerConnection::NextEvent() {
  if (front_taken_) {
    events_.pop_front();
    front_taken_ = false;
  }
  if (events_.empty()) return nullptr;
  front_taken_ = true;
  return &events_.front();
}

absl::Status ServerConnection::Accept(absl::Time now) {
  const absl::Status status = session_.Accept(now);
  Pump(now);
  return status;
}

absl::Status ServerConnection::Accept(const smtp::Reply& reply,
                                      absl::Time now) {
  const absl::Status status = session_.Accept(reply, now);
  Pump(now);
  return status;
}

absl::Status ServerConnection::Reject(const smtp::Reply& reply,
                                      absl::Time now) {
  const absl::Status status = session_.Reject(reply, now);
  Pump(now);
  return status;
}

absl::Status ServerConnection::AuthChallenge(absl::string_view challenge,
                                             absl::Time now) {
  const absl::Status status = session_.AuthChallenge(challenge, now);
  Pump(now);
  return status;
}

void ServerConnection::Shutdown(absl::Time now) {
  session_.Shutdown(now);
  Pump(now);
}

absl::Status ServerConnection::OnTimeout(absl::Time now) {
  Note(session_.OnTimeout(now));
  Pump(now);
  return status_;
}

void ServerConnection::ConnectionLost(absl::Time now) {
  session_.ConnectionLost(now);
  Pump(now);
}

void ServerConnection::Pump(absl::Time now) {
  for (int round = 0; round < kMaxRounds; ++round) {
    bool progress = false;
    // Input, decrypted when TLS is up.
    if (!pipe_.Plaintext().empty()) {
      const std::string input(pipe_.Plaintext());
      pipe_.ConsumePlaintext(input.size());
      if (!session_.closed()) {
        if (observer_) {
          observer_(false, pipe_.mode() == TlsPipe::Mode::kEstablished, input);
        }
        Note(session_.Receive(input, now));
      }
      progress = true;
    }
    // The channel's news, for the session.
    while (std::optional<tls::ChannelEvent> event = pipe_.NextEvent()) {
      progress = true;
      switch (event->type) {
        case tls::ChannelEventType::kHandshakeComplete:
          Note(session_.TlsEstablished(event->facts, now));
          break;
        case tls::ChannelEventType::kFailed:
          tls_failure_ = *event;
          if (session_.state() == smtp::ServerState::kTlsHandshake) {
            Note(session_.TlsFailed(event->detail, now));
          } else {
            session_.ConnectionLost(now);  // nothing more can be said
          }
          break;
        case tls::ChannelEventType::kClosed:  // the client's close_notify
          session_.ConnectionLost(now);
          break;
        case tls::ChannelEventType::kAlert:
          break;
      }
    }
    // The session's events; STARTTLS is acted on at once, before any more
    // input arrives: the 220 leaves in the clear, then the channel starts.
    while (smtp::ServerEvent* event = session_.NextEvent()) {
      progress = true;
      if (event->type == smtp::ServerEventType::kStartTls) {
        const absl::string_view reply = session_.PendingOutput();
        if (observer_) observer_(true, false, reply);
        Note(pipe_.Send(reply));
        session_.ConsumeOutput(reply.size());
        // STARTTLS is only accepted when TLS is available, i.e. configured.
        if (tls_.has_value()) Note(pipe_.StartTls(*tls_));
      }
      events_.push_back(std::move(*event));
    }
    // Output: held during the handshake, void once TLS has failed.
    const absl::string_view out = session_.PendingOutput();
    const TlsPipe::Mode mode = pipe_.mode();
    if (!out.empty() && CanCarry(mode) &&
        pipe_.NetworkOutput().size() < kWireHighWater) {
      if (observer_) observer_(true, mode == TlsPipe::Mode::kEstablished, out);
      const size_t size = out.size();
      Note(pipe_.Send(out));
      session_.ConsumeOutput(size);
      progress = true;
    } else if (!out.empty() && (mode == TlsPipe::Mode::kFailed ||
                                mode == TlsPipe::Mode::kClosed)) {
      session_.ConsumeOutput(out.size());
      progress = true;
    }
    if (!finished_ && session_.closed() && session_.PendingOutput().empty()) {
      if (pipe_.mode() == TlsPipe::Mode::kEstablished) Note(pipe_.CloseTls());
      finished_ = true;
      progress = true;
    }
    if (!progress) return;
  }
}

// ---- client ------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<ClientConnection>> ClientConnection::Create(
    Options options, smtp::TlsPolicyHook* policy,
    std::vector<smtp::OutboundMessage> messages, absl::Time now) {
  absl::StatusOr<std::unique_ptr<smtp::ClientSession>> session =
      smtp::ClientSession::Create(std::move(options.smtp),
                                  std::move(options.destination), policy,
                                  std::move(messages), now);
  if (!session.ok()) return session.status();
  return std::unique_ptr<ClientConnection>(
      new ClientConnection(std::move(options.tls), *std::move(session)));
}

ClientConnection::ClientConnection(tls::ChannelOptions tls,
                                   std::unique_ptr<smtp::ClientSession> session)
    : tls_(std::move(tls)), session_(std::move(session)) {}

void ClientConnection::Note(const absl::Status& status) {
  if (status_.ok() && !status.ok()) status_ = status;
}

absl::Status ClientConnection::ReceiveWire(absl::string_view bytes,
                                           absl::Time now) {
  if (finished_ || bytes.empty()) return status_;
  Note(pipe_.ReceiveFromNetwork(bytes, now));
  Pump(now);
  return status_;
}

std::optional<smtp::ClientEvent> ClientConnection::NextEvent() {
  if (events_.empty()) return std::nullopt;
  smtp::ClientEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

void ClientConnection::ConsumeWire(size_t n, absl::Time now) {
  pipe_.ConsumeNetworkOutput(n);
  Pump(now);
}

absl::Status ClientConnection::OnTimeout(absl::Time now) {
  Note(session_->OnTimeout(now));
  Pump(now);
  return status_;
}

void ClientConnection::ConnectionLost(absl::string_view reason,
                                      absl::Time now) {
  session_->ConnectionLost(reason, now);
  Pump(now);
}

void ClientConnection::ResumeBody(absl::Time now) {
  session_->ResumeBody(now);
  Pump(now);
}

void ClientConnection::Pump(absl::Time now) {
  for (int round = 0; round < kMaxRounds; ++round) {
    bool progress = false;
    if (!pipe_.Plaintext().empty()) {
      const std::string input(pipe_.Plaintext());
      pipe_.ConsumePlaintext(input.size());
      if (!session_->closed()) {
        if (observer_) {
          observer_(false, pipe_.mode() == TlsPipe::Mode::kEstablished, input);
        }
        Note(session_->Receive(input, now));
      }
      progress = true;
    }
    while (std::optional<tls::ChannelEvent> event = pipe_.NextEvent()) {
      progress = true;
      switch (event->type) {
        case tls::ChannelEventType::kHandshakeComplete:
          handshake_facts_ = event->facts;
          Note(session_->TlsEstablished(event->facts, now));
          break;
        case tls::ChannelEventType::kFailed: {
          tls_failure_ = *event;
          // In the handshake, or after it before any reply over TLS: the
          // handshake failed (the session judges which); later, the
          // connection is simply gone.
          const absl::Status failed = session_->TlsFailed(event->detail, now);
          if (failed.code() == absl::StatusCode::kFailedPrecondition) {
            session_->ConnectionLost(absl::StrCat("TLS failed: ", event->detail),
                                     now);
          } else {
            Note(failed);
          }
          break;
        }
        case tls::ChannelEventType::kClosed:  // the server's close_notify
          session_->ConnectionLost("the server closed TLS", now);
          break;
        case tls::ChannelEventType::kAlert:
          break;
      }
    }
    while (std::optional<smtp::ClientEvent> event = session_->NextEvent()) {
      progress = true;
      if (event->type == smtp::ClientEventType::kStartTls) {
        tls::ChannelOptions options = tls_;
        if (!event->sni.empty()) options.server_name = event->sni;
        const absl::Status started = pipe_.StartTls(std::move(options));
        Note(started);
        if (!started.ok()) {
          Note(session_->TlsFailed(started.message(), now));
        }
      }
      events_.push_back(*std::move(event));
    }
    const absl::string_view out = session_->PendingOutput();
    const TlsPipe::Mode mode = pipe_.mode();
    if (!out.empty() && CanCarry(mode) &&
        pipe_.NetworkOutput().size() < kWireHighWater) {
      if (observer_) observer_(true, mode == TlsPipe::Mode::kEstablished, out);
      const size_t size = out.size();
      Note(pipe_.Send(out));
      session_->ConsumeOutput(size, now);
      progress = true;
    } else if (!out.empty() && (mode == TlsPipe::Mode::kFailed ||
                                mode == TlsPipe::Mode::kClosed)) {
      session_->ConsumeOutput(out.size(), now);
      progress = true;
    }
    if (!finished_ && session_->closed() && session_->PendingOutput().empty()) {
      if (pipe_.mode() == TlsPipe::Mode::kEstablished) Note(pipe_.CloseTls());
      finished_ = true;
      progress = true;
    }
    if (!progress) return;
  }
}

}  // namespace starling::starttls
