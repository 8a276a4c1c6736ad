#ifndef STARLING_SIM_PARTNER_H_
#define STARLING_SIM_PARTNER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/smtp/server_session.h"
#include "core/starttls/connection.h"
#include "core/tls/channel.h"
#include "core/tls/testing/test_pki.h"
#include "sim/scheduler.h"
#include "sim/smtp_endpoint.h"

namespace Botan {
class RandomNumberGenerator;
}  // namespace Botan

namespace starling::sim {

// How a simulated receiving server behaves. Profiles without a certificate
// of their own present the PKI's good one. See docs/simulator.md.
enum class PartnerProfile : uint8_t {
  kNoStartTls,   // STARTTLS not offered
  kStartTls454,  // offered, answered 454 4.7.0
  kGood,         // good certificate
  kExpired,
  kNotYetValid,
  kSelfSigned,
  kWrongName,  // certificate for mail.wrong.example
  kUntrustedCa,
  kRsa1024,
  kSha1,
  kRevoked,
  kMissingIntermediate,
  kTls10Only,           // server policy allows TLS 1.0 only
  kTls11Only,           // server policy allows TLS 1.1 only
  kHandshakeFailure,    // no cipher in common with a standard client
  kGreylist,            // 451 4.7.1 at RCPT for a new sender/recipient pair
  kTarpit,              // every reply released tarpit_delay late
  kDropMidData,         // drops the connection when body octets arrive
  kDropAfterEndOfData,  // accepts the message, drops before the reply
  kRequireTls,          // 530 5.7.0 to MAIL without TLS
  kRequireClientCert,   // the handshake fails without a client certificate
  kRolloverOldIssuer,   // certificate from the old root of the rollover pair
  kRolloverNewIssuer,   // certificate from the new root
};

inline constexpr size_t kPartnerProfileCount = 23;
std::array<PartnerProfile, kPartnerProfileCount> AllPartnerProfiles();

// "no-starttls", "starttls-454", "good", ..., "rollover-new-issuer".
absl::string_view PartnerProfileName(PartnerProfile profile);
// The inverse of PartnerProfileName (case-insensitive); kInvalidArgument for
// an unknown name.
absl::StatusOr<PartnerProfile> ParsePartnerProfile(absl::string_view name);

// The certificate a profile presents.
tls::testing::CertKind PartnerCertKind(PartnerProfile profile);

struct PartnerOptions {
  PartnerProfile profile = PartnerProfile::kGood;
  // Required: certificates and, for kRequireClientCert, the trust store
  // client certificates are checked against. Its host name is the server's
  // name.
  std::shared_ptr<const tls::testing::TestPki> pki;
  // kTarpit: how long each reply is held back.
  absl::Duration tarpit_delay = absl::Seconds(30);
};

// A message the partner accepted (its 250 may never have left: see
// kDropAfterEndOfData).
struct ReceivedMessage {
  std::string sender;  // empty for the null reverse-path
  std::vector<std::string> recipients;
  std::string body;
  bool over_tls = false;
};

// What a partner remembers across connections: its greylist and what it
// accepted. Shared by the simulator's Partner and by starling-sink --zoo.
class PartnerState {
 public:
  // `keep_messages` false: count what is accepted but keep no copy (a
  // long-running zoo on real sockets).
  explicit PartnerState(bool keep_messages = true)
      : keep_messages_(keep_messages) {}

  // kGreylist: false the first time the pair is seen.
  bool GreylistPasses(const std::string& sender, const std::string& recipient);
  void Accepted(ReceivedMessage message);

  const std::vector<ReceivedMessage>& messages() const { return messages_; }
  size_t accepted_messages() const { return accepted_messages_; }
  size_t accepted_recipients() const { return accepted_recipients_; }
  size_t greylisted() const { return greylisted_; }
  void CountGreylisted() { ++greylisted_; }

 private:
  std::set<std::pair<std::string, std::string>> greylist_seen_;
  bool keep_messages_;
  std::vector<ReceivedMessage> messages_;
  size_t accepted_messages_ = 0;
  size_t accepted_recipients_ = 0;
  size_t greylisted_ = 0;
};

// What a profile's server is, wherever it runs (over the simulator's links
// or on real sockets): its SMTP options and its TLS channel.
std::shared_ptr<const smtp::ServerOptions> PartnerServerOptions(
    PartnerProfile profile, absl::string_view host_name);
tls::ChannelOptions PartnerChannelOptions(
    PartnerProfile profile, const tls::testing::TestPki& pki,
    tls::testing::CertKind presented,
    std::shared_ptr<Botan::RandomNumberGenerator> rng);

// How a profile's server answers one connection: every decision of the
// session, and when it drops the connection. The tarpit's delay is the
// driver's to apply (to everything the connection writes).
class PartnerDialogue {
 public:
  // Where the errors of the calls it makes go.
  using ErrorSink =
      std::function<void(absl::string_view what, const absl::Status& status)>;

  PartnerDialogue(PartnerProfile profile, PartnerState* state,
                  ErrorSink errors);

  // Answers `event` on `connection`; returns false when the profile drops
  // the connection now (kDropMidData, kDropAfterEndOfData).
  bool Handle(smtp::ServerEvent& event, starttls::ServerConnection& connection,
              absl::Time now);

 private:
  void Note(absl::string_view what, const absl::Status& status);

  PartnerProfile profile_;
  PartnerState* state_;
  ErrorSink errors_;
  std::string sender_;
  std::vector<std::string> recipients_;
  std::string body_;
};

class PartnerConnection;

// A simulated receiving MTA: the state that outlives a connection (the
// greylist, what was accepted) and a factory for the server end of each
// link that connects to it. The scheduler must outlive the partner and its
// connections; connections must not outlive the partner.
class Partner {
 public:
  Partner(Scheduler* scheduler, PartnerOptions options);
  Partner(const Partner&) = delete;
  Partner& operator=(const Partner&) = delete;

  // The B end of a new link. `seed` keys its TLS randomness.
  std::unique_ptr<PartnerConnection> NewConnection(uint64_t seed);

  // From now on new connections present the PKI's `kind` certificate (e.g.
  // kRolloverNew when the partner's CA rolls over); connections already made
  // keep the one they had. The profile's other behaviour is unchanged.
  void SwitchCertificate(tls::testing::CertKind kind);
  // The certificate new connections present (PartnerCertKind(profile) until
  // switched).
  tls::testing::CertKind cert_kind() const { return cert_kind_; }
  size_t certificate_switches() const { return certificate_switches_; }

  PartnerProfile profile() const { return options_.profile; }
  const std::vector<ReceivedMessage>& messages() const {
    return state_.messages();
  }
  size_t accepted_recipients() const { return state_.accepted_recipients(); }
  size_t connections() const { return connections_; }
  size_t tls_sessions() const { return tls_sessions_; }
  // RCPTs answered 451 by the greylist.
  size_t greylisted() const { return state_.greylisted(); }

 private:
  friend class PartnerConnection;

  Scheduler* scheduler_;
  PartnerOptions options_;
  std::shared_ptr<const smtp::ServerOptions> server_options_;
  tls::testing::CertKind cert_kind_;
  size_t certificate_switches_ = 0;
  PartnerState state_;
  size_t connections_ = 0;
  size_t tls_sessions_ = 0;
};

// The server end of one link: an smtp::ServerSession answered as the
// partner's profile says, with a server tls::Channel on STARTTLS (a
// starttls::ServerConnection).
class PartnerConnection : public SessionEndpoint {
 public:
  ~PartnerConnection() override;

  void OnConnected() override;
  void OnClosed(CloseReason reason) override;

  const smtp::ServerSession& session() const { return connection_.session(); }

 protected:
  bool Turn() override;
  absl::Status ReceiveWire(absl::string_view bytes, absl::Time now) override {
    return connection_.ReceiveWire(bytes, now);
  }
  // kTarpit: only the octets whose release time has come.
  absl::string_view PendingWire() const override;
  void ConsumeWire(size_t n, absl::Time now) override;
  const starttls::TlsPipe& Pipe() const override { return connection_.pipe(); }
  bool Finished() const override { return connection_.finished(); }
  bool Holding() const override { return !held_.empty(); }
  uint64_t WireOffset() const override;
  absl::Time SessionDeadline() const override {
    return connection_.NextDeadline();
  }
  void SessionTimeout(absl::Time now) override {
    Note("timeout", connection_.OnTimeout(now));
  }

 private:
  friend class Partner;

  PartnerConnection(Partner* partner, tls::ChannelOptions tls);

  // kTarpit: takes the connection's new wire output into held_.
  void Hold();
  void ArmRelease();

  Partner* partner_;
  starttls::ServerConnection connection_;
  PartnerDialogue dialogue_;
  // kTarpit: wire octets waiting for their release time, in order; the
  // front ones whose time has come are released_ octets long.
  std::deque<std::pair<absl::Time, std::string>> held_;
  size_t released_ = 0;
  uint64_t wire_offset_ = 0;  // kTarpit: octets written so far
  EventHandle release_;
  bool counted_tls_ = false;
};

}  // namespace starling::sim

#endif  // STARLING_SIM_PARTNER_H_
