#ifndef STARLING_CORE_STARTTLS_TLS_PIPE_H_
#define STARLING_CORE_STARTTLS_TLS_PIPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/tls/channel.h"

namespace starling::starttls {

// The byte path between one SMTP session and the network, for a connection
// that starts in the clear and may switch to TLS after STARTTLS: in the clear
// bytes pass as they are; after StartTls() network bytes are TLS records
// decrypted by a real tls::Channel and application bytes are encrypted by
// it. The pipe moves bytes and reports the channel's events. The connections
// in connection.h join it to an SMTP session; use those.
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
  void ConsumeNetworkOutput(size_t n);
  // Where TLS starts in the network output stream, counted from its first
  // octet: octets before it left in the clear. UINT64_MAX before StartTls().
  uint64_t tls_start() const { return tls_start_; }
  uint64_t network_consumed() const { return consumed_; }

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
  uint64_t consumed_ = 0;
  uint64_t tls_start_ = UINT64_MAX;
};

absl::string_view TlsPipeModeName(TlsPipe::Mode mode);

}  // namespace starling::starttls

#endif  // STARLING_CORE_STARTTLS_TLS_PIPE_H_
