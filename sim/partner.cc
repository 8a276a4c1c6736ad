#include "sim/partner.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/smtp/reply.h"
#include "core/tls/rng.h"

namespace starling::sim {

using ::starling::tls::testing::CertKind;

std::array<PartnerProfile, kPartnerProfileCount> AllPartnerProfiles() {
  std::array<PartnerProfile, kPartnerProfileCount> all;
  for (size_t i = 0; i < all.size(); ++i) {
    all[i] = static_cast<PartnerProfile>(i);
  }
  return all;
}

absl::string_view PartnerProfileName(PartnerProfile profile) {
  switch (profile) {
    case PartnerProfile::kNoStartTls:
      return "no-starttls";
    case PartnerProfile::kStartTls454:
      return "starttls-454";
    case PartnerProfile::kGood:
      return "good";
    case PartnerProfile::kExpired:
      return "expired";
    case PartnerProfile::kNotYetValid:
      return "not-yet-valid";
    case PartnerProfile::kSelfSigned:
      return "self-signed";
    case PartnerProfile::kWrongName:
      return "wrong-name";
    case PartnerProfile::kUntrustedCa:
      return "untrusted-ca";
    case PartnerProfile::kRsa1024:
      return "rsa-1024";
    case PartnerProfile::kSha1:
      return "sha1";
    case PartnerProfile::kRevoked:
      return "revoked";
    case PartnerProfile::kMissingIntermediate:
      return "missing-intermediate";
    case PartnerProfile::kTls10Only:
      return "tls10-only";
    case PartnerProfile::kTls11Only:
      return "tls11-only";
    case PartnerProfile::kHandshakeFailure:
      return "handshake-failure";
    case PartnerProfile::kGreylist:
      return "greylist";
    case PartnerProfile::kTarpit:
      return "tarpit";
    case PartnerProfile::kDropMidData:
      return "drop-mid-data";
    case PartnerProfile::kDropAfterEndOfData:
      return "drop-after-end-of-data";
    case PartnerProfile::kRequireTls:
      return "require-tls";
    case PartnerProfile::kRequireClientCert:
      return "require-client-cert";
    case PartnerProfile::kRolloverOldIssuer:
      return "rollover-old-issuer";
    case PartnerProfile::kRolloverNewIssuer:
      return "rollover-new-issuer";
  }
  return "unknown";
}

absl::StatusOr<PartnerProfile> ParsePartnerProfile(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (PartnerProfile profile : AllPartnerProfiles()) {
    if (PartnerProfileName(profile) == lower) return profile;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown partner profile \"", name, "\""));
}

CertKind PartnerCertKind(PartnerProfile profile) {
  switch (profile) {
    case PartnerProfile::kExpired:
      return CertKind::kExpired;
    case PartnerProfile::kNotYetValid:
      return CertKind::kNotYetValid;
    case PartnerProfile::kSelfSigned:
      return CertKind::kSelfSigned;
    case PartnerProfile::kWrongName:
      return CertKind::kWrongName;
    case PartnerProfile::kUntrustedCa:
      return CertKind::kUntrustedIssuer;
    case PartnerProfile::kRsa1024:
      return CertKind::kRsa1024;
    case PartnerProfile::kSha1:
      return CertKind::kSha1Signed;
    case PartnerProfile::kRevoked:
      return CertKind::kRevoked;
    case PartnerProfile::kMissingIntermediate:
      return CertKind::kMissingIntermediate;
    case PartnerProfile::kRolloverOldIssuer:
      return CertKind::kRolloverOld;
    case PartnerProfile::kRolloverNewIssuer:
      return CertKind::kRolloverNew;
    default:
      return CertKind::kGood;
  }
}

Partner::Partner(Scheduler* scheduler, PartnerOptions options)
    : scheduler_(scheduler),
      options_(std::move(options)),
      cert_kind_(PartnerCertKind(options_.profile)) {
  auto server = std::make_shared<smtp::ServerOptions>();
  server->hostname = options_.pki->host_name();
  server->offer_starttls = options_.profile != PartnerProfile::kNoStartTls;
  server->require_tls = options_.profile == PartnerProfile::kRequireTls;
  server_options_ = std::move(server);
}

std::unique_ptr<PartnerConnection> Partner::NewConnection(uint64_t seed) {
  ++connections_;
  tls::ChannelOptions tls;
  tls.role = tls::Role::kServer;
  tls.identities = {options_.pki->identity(cert_kind_)};
  tls.rng = tls::SeededRng(seed, "server");
  switch (options_.profile) {
    case PartnerProfile::kTls10Only:
      tls.policy.min_version = tls.policy.max_version = TlsVersion::kTls10;
      break;
    case PartnerProfile::kTls11Only:
      tls.policy.min_version = tls.policy.max_version = TlsVersion::kTls11;
      break;
    case PartnerProfile::kHandshakeFailure:
      // A client's default list (ChaCha20-Poly1305, AES-GCM) has no CCM, so
      // the server finds no shared suite and aborts with handshake_failure.
      tls.policy.ciphers = {"AES-256/CCM"};
      break;
    case PartnerProfile::kRequireClientCert:
      tls.policy.client_auth = tls::ClientAuth::kRequire;
      tls.trust = options_.pki->trust_store();
      break;
    default:
      break;
  }
  return std::unique_ptr<PartnerConnection>(
      new PartnerConnection(this, std::move(tls)));
}

void Partner::SwitchCertificate(CertKind kind) {
  cert_kind_ = kind;
  ++certificate_switches_;
}

bool Partner::GreylistPasses(const std::string& sender,
                             const std::string& recipient) {
  return !greylist_seen_.emplace(sender, recipient).second;
}

void Partner::Accepted(ReceivedMessage message) {
  accepted_recipients_ += message.recipients.size();
  messages_.push_back(std::move(message));
}

PartnerConnection::PartnerConnection(Partner* partner, tls::ChannelOptions tls)
    : SessionEndpoint(partner->scheduler_, Side::kB),
      partner_(partner),
      tls_(std::move(tls)),
      session_(partner->server_options_) {}

PartnerConnection::~PartnerConnection() {
  if (release_.sequence != 0) scheduler_->Cancel(release_);
}

void PartnerConnection::OnConnected() {
  Note("accept", session_.AcceptConnection(scheduler_->Now()));
  Step();
}

void PartnerConnection::OnClosed(CloseReason reason) {
  if (reason != CloseReason::kFin) {
    if (release_.sequence != 0) scheduler_->Cancel(release_);
    release_ = EventHandle();
    Detach();
    return;
  }
  Step();
  // The client stopped sending before the session ended (no QUIT): there is
  // nobody left to answer. A closed session's held replies still leave
  // (a half-closed peer may read them) and the link closes after them.
  if (!session_.closed()) {
    if (release_.sequence != 0) scheduler_->Cancel(release_);
    release_ = EventHandle();
    held_.clear();
    Drop();
  }
}

bool PartnerConnection::Turn() {
  bool progress = false;
  if (!pipe_.Plaintext().empty()) {
    const std::string input(pipe_.Plaintext());
    pipe_.ConsumePlaintext(input.size());
    Note("receive", session_.Receive(input, scheduler_->Now()));
    progress = true;
  }
  while (std::optional<tls::ChannelEvent> event = pipe_.NextEvent()) {
    progress = true;
    if (event->type == tls::ChannelEventType::kHandshakeComplete) {
      ++partner_->tls_sessions_;
      Note("tls", session_.TlsEstablished(event->facts, scheduler_->Now()));
    } else if (event->type == tls::ChannelEventType::kFailed) {
      Note("tls", session_.TlsFailed(event->detail, scheduler_->Now()));
    }
  }
  while (!dropped()) {
    std::optional<smtp::ServerEvent> event = session_.NextEvent();
    if (!event.has_value()) break;
    progress = true;
    HandleEvent(*std::move(event));
  }
  if (dropped()) return false;
  return MoveOutput() || progress;
}

void PartnerConnection::HandleEvent(smtp::ServerEvent event) {
  const PartnerProfile profile = partner_->profile();
  switch (event.type) {
    case smtp::ServerEventType::kHelo:
      Note("accept", session_.Accept(scheduler_->Now()));
      // The EHLO reply above still lists STARTTLS; the command itself
      // now gets 454.
      if (profile == PartnerProfile::kStartTls454) {
        session_.set_tls_available(false);
      }
      break;
    case smtp::ServerEventType::kMailFrom:
      sender_ = event.command.path.has_value() ? event.command.path->ToString()
                                               : std::string();
      recipients_.clear();
      Note("accept", session_.Accept(scheduler_->Now()));
      break;
    case smtp::ServerEventType::kRcptTo: {
      const std::string recipient = event.command.path.has_value()
                                        ? event.command.path->ToString()
                                        : std::string();
      if (profile == PartnerProfile::kGreylist &&
          !partner_->GreylistPasses(sender_, recipient)) {
        ++partner_->greylisted_;
        Note("reject",
             session_.Reject(smtp::Reply::Make(
                 451, "4.7.1", "Greylisted, please try again later"),
                 scheduler_->Now()));
        break;
      }
      recipients_.push_back(recipient);
      Note("accept", session_.Accept(scheduler_->Now()));
      break;
    }
    case smtp::ServerEventType::kMessageData:
      if (profile == PartnerProfile::kDropMidData) {
        Drop();
        break;
      }
      body_ += event.data;
      break;
    case smtp::ServerEventType::kMessageComplete: {
      ReceivedMessage message;
      message.sender = sender_;
      message.recipients = std::move(recipients_);
      message.body = std::move(body_);
      message.over_tls = session_.tls() != nullptr;
      recipients_.clear();
      body_.clear();
      partner_->Accepted(std::move(message));
      // The message is taken but the client never hears so: the window in
      // which a retry duplicates it.
      if (profile == PartnerProfile::kDropAfterEndOfData) {
        Drop();
        break;
      }
      Note("accept", session_.Accept(scheduler_->Now()));
      break;
    }
    case smtp::ServerEventType::kMessageAborted:
      body_.clear();
      break;
    case smtp::ServerEventType::kStartTls:
      MoveOutput();  // the 220 leaves before the first TLS byte
      if (profile == PartnerProfile::kTarpit) {
        start_tls_after_held_ = true;
      } else {
        StartTls();
      }
      break;
    case smtp::ServerEventType::kClosed:
      break;
    case smtp::ServerEventType::kAuth:
      Note("reject", session_.Reject(smtp::Reply::Make(
                         535, "5.7.8", "Authentication not supported here"),
                         scheduler_->Now()));
      break;
  }
}

void PartnerConnection::StartTls() {
  Flush();
  Note("starttls", pipe_.StartTls(tls_));
}

bool PartnerConnection::MoveOutput() {
  const absl::string_view out = session_.PendingOutput();
  if (out.empty()) return false;
  const size_t size = out.size();
  if (partner_->profile() == PartnerProfile::kTarpit) {
    held_.emplace_back(scheduler_->Now() + partner_->options_.tarpit_delay,
                       std::string(out));
    session_.ConsumeOutput(size);
    ArmRelease();
    return true;
  }
  const TlsPipe::Mode mode = pipe_.mode();
  if (mode != TlsPipe::Mode::kClear && mode != TlsPipe::Mode::kEstablished) {
    return false;
  }
  const absl::Status sent = pipe_.Send(out);
  if (sent.ok()) session_.ConsumeOutput(size);
  Note("send", sent);
  return sent.ok();
}

void PartnerConnection::ArmRelease() {
  if (release_.sequence != 0 || held_.empty()) return;
  release_ = scheduler_->At(held_.front().first, [this] {
    release_ = EventHandle();
    Release();
  });
}

void PartnerConnection::Release() {
  while (!held_.empty() && held_.front().first <= scheduler_->Now()) {
    const TlsPipe::Mode mode = pipe_.mode();
    // Replies to a session whose TLS has ended can no longer be sent.
    if (mode == TlsPipe::Mode::kClear || mode == TlsPipe::Mode::kEstablished) {
      Note("send", pipe_.Send(held_.front().second));
    }
    held_.pop_front();
  }
  if (held_.empty() && start_tls_after_held_) {
    start_tls_after_held_ = false;
    StartTls();
  }
  ArmRelease();
  Step();
}

}  // namespace starling::sim
