#include "core/tls/channel.h"

#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "botan/credentials_manager.h"
#include "botan/exceptn.h"
#include "botan/rng.h"
#include "botan/tls_alert.h"
#include "botan/tls_callbacks.h"
#include "botan/tls_client.h"
#include "botan/tls_exceptn.h"
#include "botan/tls_messages.h"
#include "botan/tls_server.h"
#include "botan/tls_session_manager.h"
#include "botan/x509cert.h"
#include "core/tls/facts.h"

namespace starling::tls {
namespace {

using Botan::TLS::Alert;

FailureReason ReasonForLocalAlert(Alert::Type type, absl::string_view detail) {
  switch (type) {
    case Alert::PROTOCOL_VERSION:
      return FailureReason::kProtocolVersion;
    case Alert::HANDSHAKE_FAILURE:
      // Botan raises handshake_failure for "Can't agree on a ciphersuite"
      // and for a missing shared group or signature scheme alike.
      if (absl::StrContains(detail, "agree") ||
          absl::StrContains(detail, "shared") ||
          absl::StrContains(detail, "ciphersuite")) {
        return FailureReason::kNoSharedCipher;
      }
      return FailureReason::kHandshakeFailure;
    case Alert::BAD_CERTIFICATE:
    case Alert::UNSUPPORTED_CERTIFICATE:
    case Alert::CERTIFICATE_REVOKED:
    case Alert::CERTIFICATE_EXPIRED:
    case Alert::CERTIFICATE_UNKNOWN:
    case Alert::UNKNOWN_CA:
      return FailureReason::kBadCertificate;
    case Alert::ILLEGAL_PARAMETER:
      return absl::StrContains(detail, "ertificate")
                 ? FailureReason::kBadCertificate
                 : FailureReason::kHandshakeFailure;
    case Alert::INSUFFICIENT_SECURITY:
      return FailureReason::kInsufficientSecurity;
    case Alert::DECODE_ERROR:
    case Alert::RECORD_OVERFLOW:
      return FailureReason::kDecodeError;
    case Alert::UNEXPECTED_MESSAGE:
      return FailureReason::kUnexpectedMessage;
    case Alert::BAD_RECORD_MAC:
      return FailureReason::kBadRecordMac;
    case Alert::DECRYPT_ERROR:
      return FailureReason::kDecryptError;
    case Alert::INTERNAL_ERROR:
      return FailureReason::kInternalError;
    default:
      return FailureReason::kHandshakeFailure;
  }
}

// The alert a server sends when ClientAuth::kRequire refuses a client chain.
Alert::Type AlertForVerdict(ChainVerdict verdict) {
  switch (verdict) {
    case ChainVerdict::kExpired:
    case ChainVerdict::kNotYetValid:
      return Alert::CERTIFICATE_EXPIRED;
    case ChainVerdict::kRevoked:
      return Alert::CERTIFICATE_REVOKED;
    case ChainVerdict::kUntrustedRoot:
    case ChainVerdict::kSelfSigned:
    case ChainVerdict::kIncompleteChain:
      return Alert::UNKNOWN_CA;
    default:
      return Alert::BAD_CERTIFICATE;
  }
}

bool ForwardSecret(const Botan::TLS::Ciphersuite& suite) {
  const std::string kex = suite.kex_algo();
  return kex == "ECDH" || kex == "DH" || kex == "ECDHE_PSK" ||
         kex == "DHE_PSK" || kex == "CECPQ1";
}

}  // namespace

absl::string_view FailureReasonName(FailureReason reason) {
  switch (reason) {
    case FailureReason::kNone: return "none";
    case FailureReason::kProtocolVersion: return "protocol_version";
    case FailureReason::kNoSharedCipher: return "no_shared_cipher";
    case FailureReason::kBadCertificate: return "bad_certificate";
    case FailureReason::kInsufficientSecurity: return "insufficient_security";
    case FailureReason::kPeerAlert: return "peer_alert";
    case FailureReason::kDecodeError: return "decode_error";
    case FailureReason::kUnexpectedMessage: return "unexpected_message";
    case FailureReason::kBadRecordMac: return "bad_record_mac";
    case FailureReason::kDecryptError: return "decrypt_error";
    case FailureReason::kHandshakeFailure: return "handshake_failure";
    case FailureReason::kInternalError: return "internal_error";
  }
  return "unknown";
}

absl::string_view ChannelEventTypeName(ChannelEventType type) {
  switch (type) {
    case ChannelEventType::kHandshakeComplete: return "handshake_complete";
    case ChannelEventType::kAlert: return "alert";
    case ChannelEventType::kFailed: return "failed";
    case ChannelEventType::kClosed: return "closed";
  }
  return "unknown";
}

// Botan calls back into this object (it is both the callbacks and the
// credentials of its TLS::Client/Server), so it never moves: Channel owns it
// through a pointer.
class Channel::Impl final : public Botan::TLS::Callbacks,
                            public Botan::Credentials_Manager {
 public:
  Impl(ChannelOptions options, BridgedPolicy policy)
      : options_(std::move(options)), policy_(std::move(policy)) {}

  absl::Status Start() {
    try {
      if (options_.role == Role::kClient) {
        botan_ = std::make_unique<Botan::TLS::Client>(
            *this, sessions_, *this, policy_, *options_.rng,
            Botan::TLS::Server_Information(options_.server_name),
            policy_.max_version());
      } else {
        botan_ = std::make_unique<Botan::TLS::Server>(
            *this, sessions_, *this, policy_, *options_.rng);
      }
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls channel: Botan refused the options: ", e.what()));
    }
    return absl::OkStatus();
  }

  absl::Status Receive(absl::string_view ciphertext, absl::Time now) {
    if (!fatal_.ok()) return fatal_;
    if (closed_locally_) return absl::OkStatus();  // discarded after Close()
    if (closed_) {
      return absl::FailedPreconditionError("tls channel: input after close");
    }
    now_ = now;
    try {
      botan_->received_data(
          reinterpret_cast<const uint8_t*>(ciphertext.data()),
          ciphertext.size());
    } catch (const Botan::TLS::TLS_Exception& e) {
      FailLocally(e.type(), e.what());
    } catch (const Botan::Invalid_Authentication_Tag& e) {
      FailLocally(Alert::BAD_RECORD_MAC, e.what());
    } catch (const Botan::Decoding_Error& e) {
      FailLocally(Alert::DECODE_ERROR, e.what());
    } catch (const std::exception& e) {
      FailLocally(Alert::INTERNAL_ERROR, e.what());
    } catch (...) {
      FailLocally(Alert::INTERNAL_ERROR, "unknown exception");
    }
    return fatal_;
  }

  std::optional<ChannelEvent> NextEvent() {
    if (events_.empty()) return std::nullopt;
    ChannelEvent event = std::move(events_.front());
    events_.pop_front();
    return event;
  }

  absl::string_view PendingOutput() const { return output_; }
  void ConsumeOutput(size_t n) { output_.erase(0, n); }
  absl::string_view Plaintext() const { return plaintext_; }
  void ConsumePlaintext(size_t n) { plaintext_.erase(0, n); }

  absl::Status Write(absl::string_view plaintext) {
    if (!fatal_.ok()) return fatal_;
    if (!established_ || closed_) {
      return absl::FailedPreconditionError(
          "tls channel: Write() before the handshake completed or after close");
    }
    try {
      botan_->send(reinterpret_cast<const uint8_t*>(plaintext.data()),
                   plaintext.size());
    } catch (const std::exception& e) {
      FailLocally(Alert::INTERNAL_ERROR, e.what());
    }
    return fatal_;
  }

  absl::Status Close() {
    if (!fatal_.ok()) return fatal_;
    if (closed_) return absl::OkStatus();
    try {
      botan_->close();
    } catch (const std::exception& e) {
      FailLocally(Alert::INTERNAL_ERROR, e.what());
      return fatal_;
    }
    closed_ = true;
    closed_locally_ = true;
    return absl::OkStatus();
  }

  bool established() const { return established_; }
  bool closed() const { return closed_ || !fatal_.ok(); }
  const absl::Status& fatal_error() const { return fatal_; }
  const TlsFacts* facts() const { return established_ ? &facts_ : nullptr; }
  size_t buffered_bytes() const {
    return output_.capacity() + plaintext_.capacity();
  }

  // ---- Botan::TLS::Callbacks ----

  void tls_emit_data(const uint8_t data[], size_t size) override {
    output_.append(reinterpret_cast<const char*>(data), size);
  }

  void tls_record_received(uint64_t /*seq_no*/, const uint8_t data[],
                           size_t size) override {
    plaintext_.append(reinterpret_cast<const char*>(data), size);
  }

  void tls_alert(Alert alert) override {
    ChannelEvent event;
    event.alert = static_cast<uint8_t>(alert.type());
    event.alert_name = alert.type_string();
    if (alert.type() == Alert::CLOSE_NOTIFY && established_) {
      event.type = ChannelEventType::kClosed;
      closed_ = true;
    } else if (alert.is_fatal() || alert.type() == Alert::CLOSE_NOTIFY) {
      // A close_notify during the handshake is the peer giving up.
      event.type = ChannelEventType::kFailed;
      event.reason = FailureReason::kPeerAlert;
      event.detail = absl::StrCat("peer sent ", alert.is_fatal() ? "fatal " : "",
                                  "alert ", event.alert_name);
      fatal_ = absl::AbortedError(absl::StrCat("tls: ", event.detail));
      closed_ = true;
    } else {
      event.type = ChannelEventType::kAlert;
    }
    events_.push_back(std::move(event));
  }

  bool tls_session_established(const Botan::TLS::Session& session) override {
    facts_.version = ToTlsVersion(session.version());
    const Botan::TLS::Ciphersuite suite = session.ciphersuite();
    facts_.cipher_suite = suite.to_string();
    facts_.forward_secret = ForwardSecret(suite);
    facts_.key_exchange_group = facts_.forward_secret ? group_ : "";
    facts_.sni = options_.role == Role::kClient
                     ? options_.server_name
                     : session.server_info().hostname();
    facts_.peer_chain.clear();
    for (const Botan::X509_Certificate& cert : session.peer_certs()) {
      facts_.peer_chain.push_back(DescribeCertificate(cert));
    }
    facts_.chain_verdict = chain_check_.verdict;
    facts_.trust_anchor_dn = chain_check_.trust_anchor_dn;
    facts_.chain_detail = chain_check_.detail;
    return false;  // never cached: no resumption
  }

  void tls_session_activated() override {
    established_ = true;
    ChannelEvent event;
    event.type = ChannelEventType::kHandshakeComplete;
    event.facts = facts_;
    events_.push_back(std::move(event));
  }

  // Replaces Botan's check (wall clock, throws on any problem) with a
  // verdict at the injected time that is reported, not enforced; only a
  // server with ClientAuth::kRequire refuses a chain.
  void tls_verify_cert_chain(
      const std::vector<Botan::X509_Certificate>& cert_chain,
      const std::vector<std::shared_ptr<const Botan::OCSP::Response>>&,
      const std::vector<Botan::Certificate_Store*>&, Botan::Usage_Type usage,
      const std::string&, const Botan::TLS::Policy&) override {
    if (options_.trust == nullptr) {
      chain_check_ = ChainCheck{};
    } else {
      chain_check_ = CheckChain(cert_chain, *options_.trust, now_, usage,
                                policy_.channel_policy().min_chain_strength);
    }
    if (options_.role == Role::kServer &&
        policy_.channel_policy().client_auth == ClientAuth::kRequire &&
        chain_check_.verdict != ChainVerdict::kTrusted) {
      throw Botan::TLS::TLS_Exception(
          AlertForVerdict(chain_check_.verdict),
          absl::StrCat("client certificate refused: ", chain_check_.detail));
    }
  }

  // Records the key exchange group from the ServerKeyExchange, which both
  // roles see (sent or received).
  void tls_inspect_handshake_msg(
      const Botan::TLS::Handshake_Message& message) override {
    if (message.type() == Botan::TLS::SERVER_HELLO) {
      const auto& hello = static_cast<const Botan::TLS::Server_Hello&>(message);
      kex_ = Botan::TLS::Ciphersuite::by_id(hello.ciphersuite()).kex_method();
    } else if (message.type() == Botan::TLS::SERVER_KEX) {
      const std::vector<uint8_t>& params =
          static_cast<const Botan::TLS::Server_Key_Exchange&>(message).params();
      if (kex_ == Botan::TLS::Kex_Algo::ECDH && params.size() >= 3 &&
          params[0] == 3 /* named_curve */) {
        group_ = GroupName(static_cast<uint16_t>(params[1] << 8 | params[2]));
      } else if (kex_ == Botan::TLS::Kex_Algo::DH && params.size() >= 2) {
        // TLS 1.2 DHE sends the group's numbers, not its name: the size of p.
        group_ = absl::StrCat("dh/", (params[0] << 8 | params[1]) * 8);
      }
    }
  }

  // ---- Botan::Credentials_Manager ----

  std::vector<Botan::Certificate_Store*> trusted_certificate_authorities(
      const std::string& type, const std::string&) override {
    // A server names its CAs in the CertificateRequest only when it asks
    // for client certificates.
    if (type == "tls-server" && options_.trust != nullptr &&
        policy_.channel_policy().client_auth != ClientAuth::kNone) {
      return {options_.trust->store()};
    }
    return {};
  }

  std::vector<Botan::X509_Certificate> find_cert_chain(
      const std::vector<std::string>& cert_key_types,
      const std::vector<Botan::X509_DN>&, const std::string&,
      const std::string&) override {
    for (const auto& identity : options_.identities) {
      for (const std::string& key_type : cert_key_types) {
        if (identity->key_type() == key_type) return identity->chain();
      }
    }
    return {};
  }

  Botan::Private_Key* private_key_for(const Botan::X509_Certificate& cert,
                                      const std::string&,
                                      const std::string&) override {
    for (const auto& identity : options_.identities) {
      if (identity->chain().front() == cert) {
        // Botan's interface predates const keys; it only signs with it.
        return const_cast<Botan::Private_Key*>(&identity->key());
      }
    }
    return nullptr;
  }

 private:
  void FailLocally(Alert::Type alert, absl::string_view detail) {
    if (!fatal_.ok()) return;  // the first failure is the reason
    ChannelEvent event;
    event.type = ChannelEventType::kFailed;
    event.reason = ReasonForLocalAlert(alert, detail);
    event.alert = static_cast<uint8_t>(alert);
    event.alert_name = Alert(alert, true).type_string();
    event.detail = std::string(detail);
    fatal_ = absl::AbortedError(absl::StrCat(
        "tls: ", FailureReasonName(event.reason), ": ", event.detail));
    closed_ = true;
    events_.push_back(std::move(event));
  }

  ChannelOptions options_;
  BridgedPolicy policy_;
  Botan::TLS::Session_Manager_Noop sessions_;
  std::unique_ptr<Botan::TLS::Channel> botan_;

  std::string output_;
  std::string plaintext_;
  std::deque<ChannelEvent> events_;
  absl::Status fatal_;
  absl::Time now_ = absl::UnixEpoch();
  bool established_ = false;
  bool closed_ = false;
  bool closed_locally_ = false;

  Botan::TLS::Kex_Algo kex_ = Botan::TLS::Kex_Algo::STATIC_RSA;
  std::string group_;
  ChainCheck chain_check_;
  TlsFacts facts_;
};

absl::StatusOr<Channel> Channel::Create(ChannelOptions options) {
  if (options.rng == nullptr) {
    return absl::InvalidArgumentError("tls channel: no RNG");
  }
  if (options.role == Role::kServer && options.identities.empty()) {
    return absl::InvalidArgumentError("tls channel: a server needs an identity");
  }
  for (const auto& identity : options.identities) {
    if (identity == nullptr || identity->chain().empty()) {
      return absl::InvalidArgumentError("tls channel: empty identity");
    }
  }
  if (options.role == Role::kServer &&
      options.policy.client_auth == ClientAuth::kRequire &&
      options.trust == nullptr) {
    return absl::InvalidArgumentError(
        "tls channel: ClientAuth::kRequire needs a trust store");
  }
  absl::StatusOr<BridgedPolicy> policy = BridgedPolicy::Create(options.policy);
  if (!policy.ok()) return policy.status();
  auto impl = std::make_unique<Impl>(std::move(options), *std::move(policy));
  absl::Status started = impl->Start();
  if (!started.ok()) return started;
  return Channel(std::move(impl));
}

Channel::Channel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Channel::Channel(Channel&&) noexcept = default;
Channel& Channel::operator=(Channel&&) noexcept = default;
Channel::~Channel() = default;

absl::Status Channel::Receive(absl::string_view ciphertext, absl::Time now) {
  return impl_->Receive(ciphertext, now);
}
std::optional<ChannelEvent> Channel::NextEvent() { return impl_->NextEvent(); }
absl::string_view Channel::PendingOutput() const {
  return impl_->PendingOutput();
}
void Channel::ConsumeOutput(size_t n) { impl_->ConsumeOutput(n); }
absl::string_view Channel::Plaintext() const { return impl_->Plaintext(); }
void Channel::ConsumePlaintext(size_t n) { impl_->ConsumePlaintext(n); }
absl::Status Channel::Write(absl::string_view plaintext) {
  return impl_->Write(plaintext);
}
absl::Status Channel::Close() { return impl_->Close(); }
bool Channel::established() const { return impl_->established(); }
bool Channel::closed() const { return impl_->closed(); }
const absl::Status& Channel::fatal_error() const {
  return impl_->fatal_error();
}
const TlsFacts* Channel::facts() const { return impl_->facts(); }
size_t Channel::buffered_bytes() const { return impl_->buffered_bytes(); }

}  // namespace starling::tls
