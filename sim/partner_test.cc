// Each partner profile, driven by an smtp::ClientSession with opportunistic
// TLS over a simulated link, behaves as its name says.
#include "sim/partner.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tls/channel.h"
#include "core/tls/rng.h"
#include "core/tls/testing/test_pki.h"
#include "core/tlsfacts/tls_facts.h"
#include "gtest/gtest.h"
#include "sim/link.h"
#include "sim/random.h"
#include "sim/scheduler.h"
#include "sim/smtp_endpoint.h"

namespace starling::sim {
namespace {

using ::starling::tls::testing::CertKind;
using ::starling::tls::testing::TestPki;

const absl::Time kReference = absl::FromUnixSeconds(1700000000);
constexpr absl::string_view kBody = "Subject: zoo\r\n\r\nHello, partner.\r\n";

std::shared_ptr<const TestPki> Pki() {
  static const std::shared_ptr<const TestPki> pki = TestPki::Get(7, kReference);
  return pki;
}

// How the sending side is set up (beyond opportunistic TLS).
struct ClientSetup {
  uint64_t seed = 1;
  size_t min_rsa_bits = 2048;
  TlsVersion min_version = TlsVersion::kTls12;
  bool client_certificate = false;
  bool attempt_starttls = true;
};

struct Outcome {
  smtp::RecipientResult recipient;
  std::shared_ptr<const TlsFacts> message_tls;  // null: sent in plaintext
  std::optional<TlsFacts> client_facts;
  std::optional<tls::FailureReason> client_failure;
  std::string client_clear;
  std::string server_clear;
  std::vector<std::string> client_errors;
  std::vector<std::string> server_errors;
  bool link_finished = false;
  absl::Duration elapsed;
};

// A partner and the world it lives in; Deliver() runs one connection.
class World {
 public:
  explicit World(PartnerProfile profile,
                 absl::Duration tarpit_delay = absl::Seconds(20))
      : scheduler_(kReference),
        partner_(&scheduler_, PartnerOptions{profile, Pki(), tarpit_delay}) {}

  Partner& partner() { return partner_; }
  Scheduler& scheduler() { return scheduler_; }

  Outcome Deliver(const ClientSetup& setup = {}) {
    ClientEndpointOptions options;
    auto smtp = std::make_shared<smtp::ClientOptions>();
    smtp->helo_name = "relay.example.org";
    smtp->attempt_starttls = setup.attempt_starttls;
    options.smtp = smtp;
    options.destination = {"example.net", "mx.example.net", 10, true};
    options.tls.role = tls::Role::kClient;
    options.tls.trust = Pki()->trust_store();
    options.tls.rng = tls::SeededRng(setup.seed, "client");
    options.tls.policy.min_rsa_bits = setup.min_rsa_bits;
    options.tls.policy.min_version = setup.min_version;
    if (setup.client_certificate) {
      options.tls.identities = {Pki()->identity(CertKind::kClient)};
    }
    smtp::OutboundMessage message;
    message.sender = smtp::Mailbox{"alice", "example.org"};
    message.recipients.push_back({smtp::Mailbox{"bob", "example.net"}, {}});
    message.size = kBody.size();
    message.body = std::make_shared<smtp::StringBodySource>(std::string(kBody));
    std::vector<smtp::OutboundMessage> messages;
    messages.push_back(std::move(message));
    absl::StatusOr<std::unique_ptr<ClientEndpoint>> client =
        ClientEndpoint::Create(&scheduler_, std::move(options), &policy_,
                               std::move(messages));
    EXPECT_TRUE(client.ok()) << client.status();
    std::unique_ptr<PartnerConnection> server =
        partner_.NewConnection(setup.seed);

    LinkOptions link_options;
    link_options.max_segment = 97;  // records and replies arrive in pieces
    link_options.window = 4096;
    Link link(&scheduler_, Random(setup.seed).Fork(1), link_options,
              client->get(), server.get());
    (*client)->Attach(&link);
    server->Attach(&link);
    (*client)->set_record_sent(true);
    server->set_record_sent(true);
    const absl::Time start = scheduler_.Now();
    EXPECT_TRUE(link.Connect().ok());
    const absl::Status run = scheduler_.RunUntilIdle();
    EXPECT_TRUE(run.ok()) << run;

    Outcome outcome;
    const smtp::ClientSession& session = (*client)->session();
    EXPECT_TRUE(session.closed());
    EXPECT_EQ(session.results().size(), 1u);
    if (!session.results().empty()) {
      EXPECT_EQ(session.results()[0].recipients.size(), 1u);
      outcome.recipient = session.results()[0].recipients[0];
      outcome.message_tls = session.results()[0].tls;
    }
    outcome.client_facts = (*client)->handshake_facts();
    outcome.client_failure = (*client)->handshake_failure();
    outcome.client_clear = (*client)->sent_clear();
    outcome.server_clear = server->sent_clear();
    outcome.client_errors = (*client)->errors();
    outcome.server_errors = server->errors();
    outcome.link_finished = link.finished();
    outcome.elapsed = scheduler_.Now() - start;
    return outcome;
  }

 private:
  Scheduler scheduler_;
  smtp::OpportunisticTlsPolicy policy_;
  Partner partner_;
};

void ExpectDelivered(const Outcome& outcome) {
  EXPECT_EQ(outcome.recipient.status, smtp::RecipientStatus::kDelivered)
      << outcome.recipient.detail;
  EXPECT_TRUE(outcome.link_finished);
}

void ExpectTempFailed(const Outcome& outcome, smtp::ClientStage stage) {
  EXPECT_EQ(outcome.recipient.status, smtp::RecipientStatus::kTempFailed)
      << outcome.recipient.detail;
  EXPECT_EQ(outcome.recipient.stage, stage)
      << smtp::ClientStageName(outcome.recipient.stage) << ": "
      << outcome.recipient.detail;
  EXPECT_TRUE(outcome.link_finished);
}

// Nothing of the envelope or body went in the clear.
void ExpectNoPlaintextEnvelope(const Outcome& outcome) {
  EXPECT_FALSE(absl::StrContains(outcome.client_clear, "MAIL FROM"))
      << outcome.client_clear;
  EXPECT_FALSE(absl::StrContains(outcome.client_clear, "Hello, partner"));
}

TEST(PartnerProfileTest, NamesRoundTrip) {
  std::set<std::string> names;
  for (PartnerProfile profile : AllPartnerProfiles()) {
    const absl::string_view name = PartnerProfileName(profile);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.emplace(name).second) << name;
    absl::StatusOr<PartnerProfile> parsed = ParsePartnerProfile(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, profile);
  }
  EXPECT_EQ(names.size(), kPartnerProfileCount);
  EXPECT_EQ(*ParsePartnerProfile("Drop-After-End-Of-Data"),
            PartnerProfile::kDropAfterEndOfData);
  EXPECT_EQ(ParsePartnerProfile("good ").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePartnerProfile("").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Certificate profiles: opportunistic TLS delivers over TLS whatever the
// chain, and the client's facts carry the verdict the certificate earns.
class CertificateProfileTest : public ::testing::TestWithParam<PartnerProfile> {
};

TEST_P(CertificateProfileTest, DeliversOverTlsWithTheExpectedVerdict) {
  World world(GetParam());
  const Outcome outcome = world.Deliver();
  ExpectDelivered(outcome);
  EXPECT_TRUE(outcome.client_errors.empty())
      << absl::StrJoin(outcome.client_errors, "\n");
  EXPECT_TRUE(outcome.server_errors.empty())
      << absl::StrJoin(outcome.server_errors, "\n");
  ASSERT_TRUE(outcome.client_facts.has_value());
  ASSERT_NE(outcome.message_tls, nullptr);
  const ChainVerdict expected =
      tls::testing::ExpectedVerdict(PartnerCertKind(GetParam()));
  EXPECT_EQ(outcome.client_facts->chain_verdict, expected);
  EXPECT_EQ(outcome.message_tls->chain_verdict, expected);
  EXPECT_EQ(outcome.client_facts->version, TlsVersion::kTls12);
  ExpectNoPlaintextEnvelope(outcome);
  ASSERT_EQ(world.partner().messages().size(), 1u);
  EXPECT_TRUE(world.partner().messages()[0].over_tls);
  EXPECT_EQ(world.partner().messages()[0].body, kBody);
  EXPECT_EQ(world.partner().messages()[0].sender, "alice@example.org");
  EXPECT_EQ(world.partner().messages()[0].recipients,
            std::vector<std::string>{"bob@example.net"});
  EXPECT_EQ(world.partner().accepted_recipients(), 1u);
  EXPECT_EQ(world.partner().tls_sessions(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, CertificateProfileTest,
    ::testing::Values(PartnerProfile::kGood, PartnerProfile::kExpired,
                      PartnerProfile::kNotYetValid, PartnerProfile::kSelfSigned,
                      PartnerProfile::kWrongName, PartnerProfile::kUntrustedCa,
                      PartnerProfile::kSha1, PartnerProfile::kRevoked,
                      PartnerProfile::kMissingIntermediate,
                      PartnerProfile::kRolloverOldIssuer,
                      PartnerProfile::kRolloverNewIssuer),
    [](const ::testing::TestParamInfo<PartnerProfile>& info) {
      std::string name(PartnerProfileName(info.param));
      name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
      return name;
    });

TEST(PartnerTest, CertificatesNameWhatTheProfileSays) {
  World wrong(PartnerProfile::kWrongName);
  const Outcome outcome = wrong.Deliver();
  ASSERT_TRUE(outcome.client_facts.has_value());
  ASSERT_FALSE(outcome.client_facts->peer_chain.empty());
  EXPECT_EQ(outcome.client_facts->peer_chain[0].dns_names,
            std::vector<std::string>{"mail.wrong.example"});

  World old_issuer(PartnerProfile::kRolloverOldIssuer);
  const Outcome old_outcome = old_issuer.Deliver();
  ASSERT_TRUE(old_outcome.client_facts.has_value());
  EXPECT_TRUE(absl::StrContains(old_outcome.client_facts->trust_anchor_dn,
                                "Starling Test Old Root CA"));
  World new_issuer(PartnerProfile::kRolloverNewIssuer);
  const Outcome new_outcome = new_issuer.Deliver();
  ASSERT_TRUE(new_outcome.client_facts.has_value());
  EXPECT_TRUE(absl::StrContains(new_outcome.client_facts->trust_anchor_dn,
                                "Starling Test New Root CA"));
}

TEST(PartnerTest, SwitchCertificateServesNewConnectionsOnly) {
  World world(PartnerProfile::kRolloverOldIssuer);
  EXPECT_EQ(world.partner().cert_kind(), CertKind::kRolloverOld);
  ClientSetup setup;
  const Outcome before = world.Deliver(setup);
  ExpectDelivered(before);
  ASSERT_TRUE(before.client_facts.has_value());
  EXPECT_TRUE(absl::StrContains(before.client_facts->trust_anchor_dn,
                                "Starling Test Old Root CA"));

  // The switch comes 1 ms into the next connection, long before its
  // handshake: that connection keeps the certificate it was made with.
  world.scheduler().After(absl::Milliseconds(1), [&world] {
    world.partner().SwitchCertificate(CertKind::kRolloverNew);
  });
  setup.seed = 2;
  const Outcome during = world.Deliver(setup);
  ExpectDelivered(during);
  EXPECT_EQ(world.partner().cert_kind(), CertKind::kRolloverNew);
  EXPECT_EQ(world.partner().certificate_switches(), 1u);
  ASSERT_TRUE(during.client_facts.has_value());
  EXPECT_TRUE(absl::StrContains(during.client_facts->trust_anchor_dn,
                                "Starling Test Old Root CA"));

  setup.seed = 3;
  const Outcome after = world.Deliver(setup);
  ExpectDelivered(after);
  ASSERT_TRUE(after.client_facts.has_value());
  EXPECT_TRUE(absl::StrContains(after.client_facts->trust_anchor_dn,
                                "Starling Test New Root CA"));
  ASSERT_FALSE(after.client_facts->peer_chain.empty());
  ASSERT_FALSE(before.client_facts->peer_chain.empty());
  EXPECT_NE(after.client_facts->peer_chain[0].der,
            before.client_facts->peer_chain[0].der);
  // The same host name on both sides of the rollover.
  EXPECT_EQ(after.client_facts->peer_chain[0].dns_names,
            before.client_facts->peer_chain[0].dns_names);
  EXPECT_EQ(world.partner().messages().size(), 3u);
  EXPECT_EQ(world.partner().profile(), PartnerProfile::kRolloverOldIssuer);
}

TEST(PartnerTest, NoStartTlsDeliversInPlaintext) {
  World world(PartnerProfile::kNoStartTls);
  const Outcome outcome = world.Deliver();
  ExpectDelivered(outcome);
  EXPECT_EQ(outcome.message_tls, nullptr);
  EXPECT_FALSE(absl::StrContains(outcome.server_clear, "STARTTLS"));
  EXPECT_FALSE(absl::StrContains(outcome.client_clear, "STARTTLS"));
  EXPECT_TRUE(absl::StrContains(outcome.client_clear, "Hello, partner"));
  ASSERT_EQ(world.partner().messages().size(), 1u);
  EXPECT_FALSE(world.partner().messages()[0].over_tls);
  EXPECT_EQ(world.partner().tls_sessions(), 0u);
}

TEST(PartnerTest, StartTls454IsOfferedRefusedAndPlaintextDelivers) {
  World world(PartnerProfile::kStartTls454);
  const Outcome outcome = world.Deliver();
  ExpectDelivered(outcome);
  EXPECT_EQ(outcome.message_tls, nullptr);
  EXPECT_TRUE(absl::StrContains(outcome.server_clear, "250-STARTTLS"))
      << outcome.server_clear;
  EXPECT_TRUE(absl::StrContains(outcome.client_clear, "STARTTLS\r\n"));
  EXPECT_TRUE(absl::StrContains(outcome.server_clear, "454 4.7.0"));
  EXPECT_FALSE(outcome.client_facts.has_value());
  EXPECT_EQ(world.partner().messages().size(), 1u);
}

TEST(PartnerTest, Rsa1024FailsTheHandshakeUnlessAllowed) {
  World world(PartnerProfile::kRsa1024);
  const Outcome outcome = world.Deliver();
  ExpectTempFailed(outcome, smtp::ClientStage::kTlsHandshake);
  EXPECT_EQ(outcome.client_failure, tls::FailureReason::kInsufficientSecurity);
  ExpectNoPlaintextEnvelope(outcome);

  ClientSetup weak;
  weak.min_rsa_bits = 1024;
  const Outcome allowed = world.Deliver(weak);
  ExpectDelivered(allowed);
  ASSERT_TRUE(allowed.client_facts.has_value());
  EXPECT_EQ(allowed.client_facts->chain_verdict, ChainVerdict::kWeakKeyOrHash);
  EXPECT_EQ(world.partner().messages().size(), 1u);
}

class OldVersionTest
    : public ::testing::TestWithParam<std::pair<PartnerProfile, TlsVersion>> {};

TEST_P(OldVersionTest, OnlyAClientThatAllowsTheVersionGetsThrough) {
  const auto [profile, version] = GetParam();
  World world(profile);
  const Outcome refused = world.Deliver();  // TLS 1.2 only
  ExpectTempFailed(refused, smtp::ClientStage::kTlsHandshake);
  EXPECT_TRUE(refused.client_failure.has_value());
  ExpectNoPlaintextEnvelope(refused);
  EXPECT_TRUE(world.partner().messages().empty());

  ClientSetup lenient;
  lenient.min_version = TlsVersion::kTls10;
  const Outcome outcome = world.Deliver(lenient);
  ExpectDelivered(outcome);
  ASSERT_TRUE(outcome.client_facts.has_value());
  EXPECT_EQ(outcome.client_facts->version, version);
  EXPECT_EQ(outcome.client_facts->chain_verdict, ChainVerdict::kTrusted);
  EXPECT_EQ(world.partner().messages().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, OldVersionTest,
    ::testing::Values(
        std::make_pair(PartnerProfile::kTls10Only, TlsVersion::kTls10),
        std::make_pair(PartnerProfile::kTls11Only, TlsVersion::kTls11)));

TEST(PartnerTest, HandshakeFailureTempFailsWithoutPlaintext) {
  World world(PartnerProfile::kHandshakeFailure);
  const Outcome outcome = world.Deliver();
  ExpectTempFailed(outcome, smtp::ClientStage::kTlsHandshake);
  EXPECT_EQ(outcome.client_failure, tls::FailureReason::kPeerAlert);
  EXPECT_FALSE(outcome.client_facts.has_value());
  ExpectNoPlaintextEnvelope(outcome);
  EXPECT_TRUE(world.partner().messages().empty());
  EXPECT_EQ(world.partner().tls_sessions(), 0u);
}

TEST(PartnerTest, GreylistRefusesTheFirstAttemptOnly) {
  World world(PartnerProfile::kGreylist);
  const Outcome first = world.Deliver();
  ExpectTempFailed(first, smtp::ClientStage::kRcpt);
  EXPECT_EQ(first.recipient.reply.code, 451);
  EXPECT_TRUE(world.partner().messages().empty());
  EXPECT_EQ(world.partner().greylisted(), 1u);

  ClientSetup retry;
  retry.seed = 2;
  const Outcome second = world.Deliver(retry);
  ExpectDelivered(second);
  ASSERT_NE(second.message_tls, nullptr);
  EXPECT_EQ(world.partner().messages().size(), 1u);
  EXPECT_EQ(world.partner().greylisted(), 1u);
  EXPECT_EQ(world.partner().connections(), 2u);
}

TEST(PartnerTest, TarpitDelaysEveryReply) {
  World quick(PartnerProfile::kGood);
  const Outcome baseline = quick.Deliver();
  ExpectDelivered(baseline);

  World world(PartnerProfile::kTarpit, absl::Seconds(20));
  const Outcome outcome = world.Deliver();
  ExpectDelivered(outcome);
  EXPECT_TRUE(outcome.server_errors.empty())
      << absl::StrJoin(outcome.server_errors, "\n");
  ASSERT_NE(outcome.message_tls, nullptr);
  EXPECT_EQ(world.partner().messages().size(), 1u);
  // Greeting, EHLO, 220, EHLO, the pipelined MAIL/RCPT/DATA replies, the end
  // of data and QUIT: at least seven rounds of 20 s.
  EXPECT_GE(outcome.elapsed, baseline.elapsed + absl::Seconds(7 * 20));
  EXPECT_LT(outcome.elapsed, absl::Minutes(5));
}

TEST(PartnerTest, TarpitBeyondTheGreetingTimeoutTempFails) {
  World world(PartnerProfile::kTarpit, absl::Minutes(6));
  const Outcome outcome = world.Deliver();
  // Not one byte came back, so the client counts it as the connection
  // timing out (its greeting timer, 5 minutes).
  ExpectTempFailed(outcome, smtp::ClientStage::kConnect);
  EXPECT_TRUE(absl::StrContains(outcome.recipient.detail, "timeout"))
      << outcome.recipient.detail;
  EXPECT_TRUE(outcome.client_clear.empty());
  EXPECT_TRUE(world.partner().messages().empty());
  EXPECT_GE(outcome.elapsed, absl::Minutes(5));
}

TEST(PartnerTest, DropMidDataTempFailsAndAcceptsNothing) {
  World world(PartnerProfile::kDropMidData);
  const Outcome outcome = world.Deliver();
  EXPECT_EQ(outcome.recipient.status, smtp::RecipientStatus::kTempFailed);
  EXPECT_TRUE(outcome.recipient.stage == smtp::ClientStage::kData ||
              outcome.recipient.stage == smtp::ClientStage::kEndOfData)
      << smtp::ClientStageName(outcome.recipient.stage);
  EXPECT_TRUE(outcome.link_finished);
  EXPECT_TRUE(world.partner().messages().empty());
  EXPECT_EQ(world.partner().accepted_recipients(), 0u);
}

TEST(PartnerTest, DropAfterEndOfDataIsTheDuplicateWindow) {
  World world(PartnerProfile::kDropAfterEndOfData);
  const Outcome outcome = world.Deliver();
  ExpectTempFailed(outcome, smtp::ClientStage::kEndOfData);
  // The partner has the message although the client will retry it.
  ASSERT_EQ(world.partner().messages().size(), 1u);
  EXPECT_EQ(world.partner().messages()[0].body, kBody);
  EXPECT_EQ(world.partner().accepted_recipients(), 1u);
}

TEST(PartnerTest, RequireTlsRefusesMailWithoutTls) {
  World world(PartnerProfile::kRequireTls);
  const Outcome with_tls = world.Deliver();
  ExpectDelivered(with_tls);
  ASSERT_NE(with_tls.message_tls, nullptr);

  ClientSetup plaintext;
  plaintext.attempt_starttls = false;
  const Outcome without = world.Deliver(plaintext);
  EXPECT_NE(without.recipient.status, smtp::RecipientStatus::kDelivered);
  EXPECT_EQ(without.recipient.stage, smtp::ClientStage::kMail);
  EXPECT_EQ(without.recipient.reply.code, 530);
  EXPECT_TRUE(absl::StrContains(without.server_clear, "530 5.7.0"));
  EXPECT_EQ(world.partner().messages().size(), 1u);
}

TEST(PartnerTest, RequireClientCertFailsTheHandshakeWithoutOne) {
  World world(PartnerProfile::kRequireClientCert);
  const Outcome without = world.Deliver();
  ExpectTempFailed(without, smtp::ClientStage::kTlsHandshake);
  ExpectNoPlaintextEnvelope(without);
  EXPECT_TRUE(world.partner().messages().empty());

  ClientSetup with_cert;
  with_cert.client_certificate = true;
  const Outcome with = world.Deliver(with_cert);
  ExpectDelivered(with);
  ASSERT_EQ(world.partner().messages().size(), 1u);
  EXPECT_TRUE(world.partner().messages()[0].over_tls);
}

// Whatever the profile, the attempt ends: a final recipient state, the link
// finished, the scheduler idle.
TEST(PartnerTest, EveryProfileEndsTheAttempt) {
  for (PartnerProfile profile : AllPartnerProfiles()) {
    SCOPED_TRACE(PartnerProfileName(profile));
    World world(profile);
    const Outcome outcome = world.Deliver();
    EXPECT_NE(outcome.recipient.status, smtp::RecipientStatus::kPending);
    EXPECT_TRUE(outcome.link_finished);
  }
}

}  // namespace
}  // namespace starling::sim
