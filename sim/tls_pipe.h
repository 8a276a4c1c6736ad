#ifndef STARLING_SIM_TLS_PIPE_H_
#define STARLING_SIM_TLS_PIPE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/tls/channel.h"

namespace starling::sim {

// The byte path between one SMTP session and the network, for a connection
// that starts in the clear and may switch to TLS after STARTTLS: in the clear
// bytes pass as they are; after StartTls() network bytes are TLS records
// decrypted by a real tls::Channel and application bytes are encrypted by
// it. The pipe moves bytes and reports the channel's events; the embedder
// tells the SMTP session about them (TlsEstablished / TlsFailed).
class TlsPipe {
 public:
  enum class Mode : uint8_t {
    kClear,
    kHandshaking,
    kEstablished,
    kClosed,  // close_notify sent or received
    kFailed,  // the channel failed; its alert may still be in the output
  };

  TlsPipe() = default;
  TlsPipe(TlsPipe&&) = default;
  TlsPipe& operator=(TlsPipe&&) = default;

  // Switches to TLS (a client's ClientHello is queued at once). Output
  // already queued in the clear (the 220 to STARTTLS) still goes first.
  // kFailedPrecondition when TLS has started already, or when cleartext from
  // the network is still unread: those bytes arrived before the handshake
  // and must never be read as if they had come through it.
  // kInvalidArgument when the channel options are unusable.
  absl::Status StartTls(tls::ChannelOptions options);

  // Bytes from the network: in the clear they become Plaintext() as they
  // are; with TLS they are decrypted into Plaintext() (events as they
  // happen). Returns the channel's status (kAborted, sticky, once failed).
  absl::Status ReceiveFromNetwork(absl::string_view bytes, absl::Time now);

  // Application bytes to send: as they are in the clear, encrypted once
  // established. kFailedPrecondition during the handshake and after the end.
  absl::Status Send(absl::string_view plaintext);

  // Sends close_notify (TLS only; in the clear nothing is sent).
  absl::Status CloseTls();

  // What the application should read; valid until the next mutating call.
  absl::string_view Plaintext() const { return plaintext_; }
  void ConsumePlaintext(size_t n) { plaintext_.erase(0, n); }

  // What should go to the network; valid until the next mutating call.
  absl::string_view NetworkOutput() const { return output_; }
  void ConsumeNetworkOutput(size_t n) { output_.erase(0, n); }

  // The channel's next event (nullopt in the clear or when there is none).
  std::optional<tls::ChannelEvent> NextEvent();

  Mode mode() const;
  // Null in the clear.
  const tls::Channel* channel() const {
    return channel_.has_value() ? &*channel_ : nullptr;
  }

 private:
  // Appends the channel's ciphertext and plaintext to our buffers.
  void Collect();

  std::optional<tls::Channel> channel_;
  std::string plaintext_;
  std::string output_;
};

absl::string_view TlsPipeModeName(TlsPipe::Mode mode);

// Moves bytes between an SMTP session (smtp::ClientSession or
// smtp::ServerSession: Receive / PendingOutput / ConsumeOutput) and its pipe:
// the pipe's plaintext into the session, and the session's output into the
// pipe while the pipe can carry it (in the clear or established; never
// during the handshake). Events stay for the embedder. Returns the first
// error of the session or the pipe. `observe`, when set, sees the bytes the
// session read (sent = false) and wrote (sent = true).
using PumpObserver = std::function<void(bool sent, absl::string_view bytes)>;
template <typename Session>
absl::Status PumpSession(Session& session, TlsPipe& pipe, absl::Time now,
                         const PumpObserver& observe = nullptr) {
  absl::Status status;
  if (!pipe.Plaintext().empty()) {
    const std::string input(pipe.Plaintext());
    pipe.ConsumePlaintext(input.size());
    if (observe) observe(false, input);
    status.Update(session.Receive(input, now));
  }
  const TlsPipe::Mode mode = pipe.mode();
  const absl::string_view out = session.PendingOutput();
  if (!out.empty() &&
      (mode == TlsPipe::Mode::kClear || mode == TlsPipe::Mode::kEstablished)) {
    const size_t size = out.size();
    const absl::Status sent = pipe.Send(out);
    if (sent.ok()) {
      if (observe) observe(true, out);
      if constexpr (requires { session.ConsumeOutput(size, now); }) {
        session.ConsumeOutput(size, now);
      } else {
        session.ConsumeOutput(size);
      }
    }
    status.Update(sent);
  }
  return status;
}

}  // namespace starling::sim

#endif  // STARLING_SIM_TLS_PIPE_H_
