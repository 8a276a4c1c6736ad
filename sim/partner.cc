#include "sim/partner.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
  std::vector<absl::string_view> names;
  for (PartnerProfile profile : AllPartnerProfiles()) {
    names.push_back(PartnerProfileName(profile));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown partner profile \"", name,
                   "\" (valid: ", absl::StrJoin(names, ", "), ")"));
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

std::shared_ptr<const smtp::ServerOptions> PartnerServerOptions(
    PartnerProfile profile, absl::string_view host_name) {
  auto server = std::make_shared<smtp::ServerOptions>();
  server->hostname = std::string(host_name);
  server->offer_starttls = profile != PartnerProfile::kNoStartTls;
  server->require_tls = profile == PartnerProfile::kRequireTls;
  return server;
}

tls::ChannelOptions PartnerChannelOptions(
    PartnerProfile profile, const tls::testing::TestPki& pki,
    CertKind presented, std::shared_ptr<Botan::RandomNumberGenerator> rng) {
  tls::ChannelOptions tls;
  tls.role = tls::Role::kServer;
  tls.identities = {pki.identity(presented)};
  tls.rng = std::move(rng);
  switch (profile) {
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
      tls.trust = pki.trust_store();
      break;
    default:
      break;
  }
  return tls;
}

bool PartnerState::GreylistPasses(const std::string& sender,
                                  const std::string& recipient) {
  return !greylist_seen_.emplace(sender, recipient).second;
}

void PartnerState::Accepted(ReceivedMessage message) {
  ++accepted_messages_;
  accepted_recipients_ += message.recipients.size();
  if (keep_messages_) messages_.push_back(std::move(message));
}

Partner::Partner(Scheduler* scheduler, PartnerOptions options)
    : scheduler_(scheduler),
      options_(std::move(options)),
      server_options_(
          PartnerServerOptions(options_.profile, options_.pki->host_name())),
      cert_kind_(PartnerCertKind(options_.profile)) {}

std::unique_ptr<PartnerConnection> Partner::NewConnection(uint64_t seed) {
  ++connections_;
  return std::unique_ptr<PartnerConnection>(new PartnerConnection(
      this, PartnerChannelOptions(options_.profile, *options_.pki, cert_kind_,
                                  tls::SeededRng(seed, "server"))));
}

void Partner::SwitchCertificate(CertKind kind) {
  cert_kind_ = kind;
  ++certificate_switches_;
}

PartnerConnection::PartnerConnection(Partner* partner, tls::ChannelOptions tls)
    : SessionEndpoint(partner->scheduler_, Side::kB),
      partner_(partner),
      connection_({partner->server_options_, std::move(tls)}),
      dialogue_(partner->profile(), &partner->state_,
                [this](absl::string_view what, const absl::Status& status) {
                  Note(what, status);
                }) {}

PartnerConnection::~PartnerConnection() {
  if (release_.sequence != 0) scheduler_->Cancel(release_);
}

void PartnerConnection::OnConnected() {
  Note("accept", connection_.AcceptConnection(scheduler_->Now()));
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
  if (!connection_.session().closed()) {
    if (release_.sequence != 0) scheduler_->Cancel(release_);
    release_ = EventHandle();
    held_.clear();
    released_ = 0;
    Drop();
  }
}

bool PartnerConnection::Turn() {
  bool progress = false;
  while (!dropped()) {
    smtp::ServerEvent* event = connection_.NextEvent();
    if (event == nullptr) break;
    progress = true;
    if (!dialogue_.Handle(*event, connection_, scheduler_->Now())) {
      Drop();
    }
  }
  if (dropped()) return false;
  if (!counted_tls_ && connection_.session().tls() != nullptr) {
    counted_tls_ = true;
    ++partner_->tls_sessions_;
  }
  if (partner_->profile() == PartnerProfile::kTarpit &&
      !connection_.PendingWire().empty()) {
    Hold();
    progress = true;
  }
  return progress;
}

absl::string_view PartnerConnection::PendingWire() const {
  if (partner_->profile() != PartnerProfile::kTarpit) {
    return connection_.PendingWire();
  }
  if (held_.empty() || released_ == 0) return {};
  return held_.front().second;
}

void PartnerConnection::ConsumeWire(size_t n, absl::Time now) {
  if (partner_->profile() != PartnerProfile::kTarpit) {
    connection_.ConsumeWire(n);
    return;
  }
  (void)now;
  wire_offset_ += n;
  held_.front().second.erase(0, n);
  if (held_.front().second.empty()) {
    held_.pop_front();
    --released_;
  }
}

uint64_t PartnerConnection::WireOffset() const {
  return partner_->profile() == PartnerProfile::kTarpit
             ? wire_offset_
             : connection_.pipe().network_consumed();
}

void PartnerConnection::Hold() {
  const absl::string_view out = connection_.PendingWire();
  held_.emplace_back(scheduler_->Now() + partner_->options_.tarpit_delay,
                     std::string(out));
  connection_.ConsumeWire(out.size());
  ArmRelease();
}

PartnerDialogue::PartnerDialogue(PartnerProfile profile, PartnerState* state,
                                 ErrorSink errors)
    : profile_(profile), state_(state), errors_(std::move(errors)) {}

void PartnerDialogue::Note(absl::string_view what, const absl::Status& status) {
  if (!status.ok() && errors_) errors_(what, status);
}

bool PartnerDialogue::Handle(smtp::ServerEvent& event,
                             starttls::ServerConnection& connection,
                             absl::Time now) {
  const PartnerProfile profile = profile_;
  switch (event.type) {
    case smtp::ServerEventType::kHelo:
      Note("accept", connection.Accept(now));
      // The EHLO reply above still lists STARTTLS; the command itself
      // now gets 454.
      if (profile == PartnerProfile::kStartTls454) {
        connection.mutable_session().set_tls_available(false);
      }
      break;
    case smtp::ServerEventType::kMailFrom:
      sender_ = event.command.path.has_value() ? event.command.path->ToString()
                                               : std::string();
      recipients_.clear();
      Note("accept", connection.Accept(now));
      break;
    case smtp::ServerEventType::kRcptTo: {
      const std::string recipient = event.command.path.has_value()
                                        ? event.command.path->ToString()
                                        : std::string();
      if (profile == PartnerProfile::kGreylist &&
          !state_->GreylistPasses(sender_, recipient)) {
        state_->CountGreylisted();
        Note("reject",
             connection.Reject(smtp::Reply::Make(
                 451, "4.7.1", "Greylisted, please try again later"),
                 now));
        break;
      }
      recipients_.push_back(recipient);
      Note("accept", connection.Accept(now));
      break;
    }
    case smtp::ServerEventType::kMessageData:
      if (profile == PartnerProfile::kDropMidData) return false;
      body_ += event.data;
      break;
    case smtp::ServerEventType::kMessageComplete: {
      ReceivedMessage message;
      message.sender = sender_;
      message.recipients = std::move(recipients_);
      message.body = std::move(body_);
      message.over_tls = connection.session().tls() != nullptr;
      recipients_.clear();
      body_.clear();
      state_->Accepted(std::move(message));
      // The message is taken but the client never hears so: the window in
      // which a retry duplicates it.
      if (profile == PartnerProfile::kDropAfterEndOfData) return false;
      Note("accept", connection.Accept(now));
      break;
    }
    case smtp::ServerEventType::kMessageAborted:
      body_.clear();
      break;
    case smtp::ServerEventType::kStartTls:  // the connection handles it
      break;
    case smtp::ServerEventType::kClosed:
      break;
    case smtp::ServerEventType::kAuth:
      Note("reject", connection.Reject(smtp::Reply::Make(
                         535, "5.7.8", "Authentication not supported here"),
                         now));
      break;
  }
  return true;
}

void PartnerConnection::ArmRelease() {
  if (release_.sequence != 0 || held_.size() == released_) return;
  release_ = scheduler_->At(held_[released_].first, [this] {
    release_ = EventHandle();
    // Every piece whose time has come may leave now.
    while (released_ < held_.size() &&
           held_[released_].first <= scheduler_->Now()) {
      ++released_;
    }
    ArmRelease();
    Step();
  });
}

}  // namespace starling::sim
