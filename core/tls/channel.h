#ifndef STARLING_CORE_TLS_CHANNEL_H_
#define STARLING_CORE_TLS_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/tls/credentials.h"
#include "core/tls/policy_bridge.h"
#include "core/tlsfacts/tls_facts.h"

namespace Botan {
class RandomNumberGenerator;
}  // namespace Botan

namespace starling::tls {

enum class Role : uint8_t { kClient, kServer };

struct ChannelOptions {
  Role role = Role::kClient;
  ChannelPolicy policy;
  // Client: the name sent as SNI (empty: none). Server: unused.
  std::string server_name;
  // Server: the certificate(s) offered; the first whose key type suits the
  // negotiated suite is used (e.g. one ECDSA and one RSA). Client: the
  // certificate sent when the server asks for one (none: an empty reply).
  std::vector<std::shared_ptr<const Identity>> identities;
  // Validates the peer's chain (the verdict becomes a fact). Null: the chain
  // is reported with ChainVerdict::kNotChecked. Required for
  // ClientAuth::kRequire.
  std::shared_ptr<const TrustStore> trust;
  // Required: SeededRng() for simulation, SystemRng() for real use.
  std::shared_ptr<Botan::RandomNumberGenerator> rng;
};

// Why a channel failed, in TLS terms.
enum class FailureReason : uint8_t {
  kNone,
  kProtocolVersion,        // no protocol version both sides allow
  kNoSharedCipher,         // no cipher suite, group or signature in common
  kBadCertificate,         // a certificate was unusable or refused
  kInsufficientSecurity,   // the peer's key is below the policy's minimum
  kPeerAlert,              // the peer sent a fatal alert (see `alert`)
  kDecodeError,            // a malformed record or handshake message
  kUnexpectedMessage,      // a message out of order
  kBadRecordMac,           // a record failed its integrity check
  kDecryptError,           // a handshake signature or Finished did not verify
  kHandshakeFailure,       // any other handshake failure
  kInternalError,          // Botan failed (or threw something unexpected)
};

absl::string_view FailureReasonName(FailureReason reason);

enum class ChannelEventType : uint8_t {
  kHandshakeComplete,  // `facts` describe the session; Write() may be used
  kAlert,              // the peer sent a warning alert (`alert`)
  kFailed,             // fatal: `reason`, `alert`, `detail`; nothing more
                       // happens but the pending output (our alert) drains
  kClosed,             // the peer closed (close_notify); our reply is queued
};

absl::string_view ChannelEventTypeName(ChannelEventType type);

struct ChannelEvent {
  ChannelEventType type = ChannelEventType::kClosed;
  TlsFacts facts;                            // kHandshakeComplete
  FailureReason reason = FailureReason::kNone;  // kFailed
  // kAlert, kFailed: the alert received (kPeerAlert, kAlert) or sent
  // (otherwise), as its RFC 5246 code and Botan's name ("protocol_version").
  std::optional<uint8_t> alert;
  std::string alert_name;
  std::string detail;  // kFailed: Botan's own words
};

// A TLS client or server (Botan 2, TLS 1.0 to 1.2) in the sans-I/O shape:
// the embedder feeds the peer's bytes with Receive(), sends PendingOutput(),
// reads decrypted bytes from Plaintext(), pulls events with NextEvent(), and
// encrypts with Write(). A client's ClientHello is pending as soon as it is
// created.
//
// Deterministic: with a seeded RNG, the same options and the same input, the
// output is byte-identical (no wall clock: the peer's chain is validated at
// the `now` of the Receive() that carried it; no session resumption).
//
// Errors: kFailedPrecondition for misuse (Write before the handshake, input
// after the end); kAborted for a fatal TLS failure, which is sticky: every
// later Receive()/Write() returns it. No exception ever leaves this class.
class Channel {
 public:
  // kInvalidArgument when the options are unusable (no RNG, a server with no
  // identity, kRequire without a trust store, a policy Botan refuses).
  static absl::StatusOr<Channel> Create(ChannelOptions options);

  Channel(Channel&&) noexcept;
  Channel& operator=(Channel&&) noexcept;
  ~Channel();

  // Ciphertext from the peer.
  absl::Status Receive(absl::string_view ciphertext, absl::Time now);

  // Next event, or nullopt when there is none.
  std::optional<ChannelEvent> NextEvent();

  // Ciphertext to send; valid until the next mutating call.
  absl::string_view PendingOutput() const;
  void ConsumeOutput(size_t n);

  // Decrypted application data; valid until the next mutating call.
  absl::string_view Plaintext() const;
  void ConsumePlaintext(size_t n);

  // Encrypts application data (after kHandshakeComplete).
  absl::Status Write(absl::string_view plaintext);

  // Sends close_notify. Later input is discarded.
  absl::Status Close();

  bool established() const;
  // True once closed by either side or failed.
  bool closed() const;
  const absl::Status& fatal_error() const;
  // The session's facts once established, else null.
  const TlsFacts* facts() const;
  // Bytes held besides the Botan state (output and plaintext buffers).
  size_t buffered_bytes() const;

 private:
  class Impl;
  explicit Channel(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace starling::tls

#endif  // STARLING_CORE_TLS_CHANNEL_H_
