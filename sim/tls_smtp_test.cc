// End to end: an smtp::ClientSession delivers a message to an
// smtp::ServerSession over a simulated link (random segmentation and
// latency), with a real STARTTLS handshake between two tls::Channels, each
// side driven by core/starttls's connection. Everything comes from one seed.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"
#include "core/smtp/server_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tls/channel.h"
#include "core/tls/rng.h"
#include "core/tls/testing/test_pki.h"
#include "core/tlsfacts/tls_facts.h"
#include "gtest/gtest.h"
#include "sim/link.h"
#include "sim/random.h"
#include "sim/scheduler.h"
#include "core/starttls/connection.h"
#include "sim/smtp_endpoint.h"

namespace starling::sim {
namespace {

using ::starling::tls::testing::CertKind;
using ::starling::tls::testing::TestPki;

const absl::Time kReference = absl::FromUnixSeconds(1700000000);
constexpr absl::string_view kBody =
    "Subject: simulated\r\n\r\nHello over TLS.\r\n.leading dot\r\n";

const TestPki& Pki() {
  static const std::shared_ptr<const TestPki> pki = TestPki::Get(7, kReference);
  return *pki;
}

// The receiving MTA: accepts everything, keeps the message bodies. The
// STARTTLS plumbing is core/starttls's, the link plumbing SessionEndpoint's.
class ServerEnd : public SessionEndpoint {
 public:
  ServerEnd(Scheduler* scheduler, tls::ChannelOptions tls)
      : SessionEndpoint(scheduler, Side::kB),
        connection_({Options(), std::move(tls)}) {}

  void OnConnected() override {
    Note("accept", connection_.AcceptConnection(scheduler_->Now()));
    Step();
  }
  void OnClosed(CloseReason reason) override {
    if (reason == CloseReason::kFin) {
      Step();
    } else {
      Detach();
    }
  }

  const smtp::ServerSession& session() const { return connection_.session(); }
  std::vector<std::string> messages;

 protected:
  bool Turn() override {
    bool progress = false;
    while (smtp::ServerEvent* event = connection_.NextEvent()) {
      progress = true;
      switch (event->type) {
        case smtp::ServerEventType::kMessageData:
          body_ += event->data;
          break;
        case smtp::ServerEventType::kMessageComplete:
          messages.push_back(std::move(body_));
          body_.clear();
          Note("accept", connection_.Accept(scheduler_->Now()));
          break;
        case smtp::ServerEventType::kHelo:
        case smtp::ServerEventType::kMailFrom:
        case smtp::ServerEventType::kRcptTo:
          Note("accept", connection_.Accept(scheduler_->Now()));
          break;
        default:
          break;
      }
    }
    return progress;
  }
  absl::Status ReceiveWire(absl::string_view bytes, absl::Time now) override {
    return connection_.ReceiveWire(bytes, now);
  }
  absl::string_view PendingWire() const override {
    return connection_.PendingWire();
  }
  void ConsumeWire(size_t n, absl::Time) override { connection_.ConsumeWire(n); }
  const starttls::TlsPipe& Pipe() const override { return connection_.pipe(); }
  bool Finished() const override { return connection_.finished(); }
  absl::Time SessionDeadline() const override {
    return connection_.NextDeadline();
  }
  void SessionTimeout(absl::Time now) override {
    Note("timeout", connection_.OnTimeout(now));
  }

 private:
  static std::shared_ptr<const smtp::ServerOptions> Options() {
    auto options = std::make_shared<smtp::ServerOptions>();
    options->hostname = "mx.example.net";
    options->offer_starttls = true;
    return options;
  }

  starttls::ServerConnection connection_;
  std::string body_;
};

struct RunResult {
  std::vector<smtp::MessageResult> results;
  std::optional<TlsFacts> client_facts;
  absl::Time handshake_time;
  std::optional<tls::FailureReason> client_failure;
  bool server_saw_tls = false;
  std::vector<std::string> server_messages;
  std::vector<std::string> errors;
  std::string client_clear, client_tls, server_clear, server_tls;
  // Every delivery: time, receiving side, kind, bytes.
  std::string trace;
  bool finished = false;  // both ends closed (or the link was reset)
};

struct Scenario {
  uint64_t seed = 1;
  CertKind kind = CertKind::kGood;
  std::string body = std::string(kBody);
  LinkOptions link;
  size_t client_min_rsa_bits = 2048;
};

Scenario WithSeed(uint64_t seed, CertKind kind = CertKind::kGood) {
  Scenario scenario;
  scenario.seed = seed;
  scenario.kind = kind;
  scenario.link.max_segment = 97;  // TLS records arrive in several pieces
  scenario.link.window = 4096;
  return scenario;
}

RunResult Deliver(const Scenario& scenario) {
  Scheduler scheduler(kReference);
  Random random(scenario.seed);

  tls::ChannelOptions client_tls;
  client_tls.role = tls::Role::kClient;
  client_tls.trust = Pki().trust_store();
  client_tls.rng = tls::SeededRng(scenario.seed, "client");
  client_tls.policy.min_rsa_bits = scenario.client_min_rsa_bits;
  tls::ChannelOptions server_tls;
  server_tls.role = tls::Role::kServer;
  server_tls.identities = {Pki().identity(scenario.kind)};
  server_tls.rng = tls::SeededRng(scenario.seed, "server");

  ClientEndpointOptions client_options;
  auto smtp_options = std::make_shared<smtp::ClientOptions>();
  smtp_options->helo_name = "relay.example.org";
  client_options.smtp = smtp_options;
  client_options.destination = {"example.net", "mx.example.net"};
  client_options.tls = client_tls;
  smtp::OutboundMessage message;
  message.sender = smtp::Mailbox{"alice", "example.org"};
  message.recipients.push_back({smtp::Mailbox{"bob", "example.net"}, {}});
  message.size = scenario.body.size();
  message.body = std::make_shared<smtp::StringBodySource>(scenario.body);
  std::vector<smtp::OutboundMessage> messages;
  messages.push_back(std::move(message));
  smtp::OpportunisticTlsPolicy policy;
  absl::StatusOr<std::unique_ptr<ClientEndpoint>> created = ClientEndpoint::Create(
      &scheduler, std::move(client_options), &policy, std::move(messages));
  EXPECT_TRUE(created.ok()) << created.status();
  ClientEndpoint& client = **created;
  ServerEnd server(&scheduler, server_tls);
  Link link(&scheduler, random.Fork(1), scenario.link, &client, &server);
  client.Attach(&link);
  server.Attach(&link);
  client.set_record_sent(true);
  server.set_record_sent(true);
  RunResult result;
  link.set_observer([&result](const LinkRecord& record) {
    absl::StrAppend(&result.trace, absl::ToUnixNanos(record.time), " ",
                    SideName(record.to), " ", LinkEventTypeName(record.type),
                    " ", record.bytes.size(), ":", record.bytes, "\n");
  });
  EXPECT_TRUE(link.Connect().ok());
  const absl::Status status = scheduler.RunUntilIdle();
  EXPECT_TRUE(status.ok()) << status;
  result.finished = link.finished();
  result.results = client.session().results();
  result.client_facts = client.handshake_facts();
  result.handshake_time = client.handshake_time();
  result.client_failure = client.handshake_failure();
  result.server_saw_tls = server.session().tls() != nullptr;
  result.server_messages = server.messages;
  result.errors = client.errors();
  result.errors.insert(result.errors.end(), server.errors().begin(),
                       server.errors().end());
  result.client_clear = client.sent_clear();
  result.client_tls = client.sent_tls();
  result.server_clear = server.sent_clear();
  result.server_tls = server.sent_tls();
  return result;
}

TEST(TlsSmtpTest, DeliversOverRealStartTls) {
  const RunResult run = Deliver(WithSeed(1));
  EXPECT_TRUE(run.errors.empty()) << absl::StrJoin(run.errors, "\n");
  EXPECT_TRUE(run.finished);

  ASSERT_EQ(run.server_messages.size(), 1u);
  EXPECT_EQ(run.server_messages[0],
            "Subject: simulated\r\n\r\nHello over TLS.\r\n.leading dot\r\n");
  ASSERT_EQ(run.results.size(), 1u);
  ASSERT_EQ(run.results[0].recipients.size(), 1u);
  EXPECT_EQ(run.results[0].recipients[0].status,
            smtp::RecipientStatus::kDelivered);
  ASSERT_NE(run.results[0].tls, nullptr);
  EXPECT_TRUE(run.server_saw_tls);

  ASSERT_TRUE(run.client_facts.has_value());
  const TlsFacts& facts = *run.client_facts;
  EXPECT_EQ(facts.version, TlsVersion::kTls12);
  EXPECT_EQ(facts.sni, "mx.example.net");
  ASSERT_FALSE(facts.peer_chain.empty());
  EXPECT_EQ(facts.peer_chain[0].common_name, "mx.example.net");
  EXPECT_EQ(facts.peer_chain[0].dns_names,
            std::vector<std::string>{"mx.example.net"});
  EXPECT_EQ(facts.chain_verdict, ChainVerdict::kTrusted);
  EXPECT_TRUE(
      absl::StrContains(facts.trust_anchor_dn, "Starling Test Root CA"));
  EXPECT_EQ(run.results[0].tls->cipher_suite, facts.cipher_suite);

  // The boundary: greeting, EHLO and STARTTLS in the clear; the envelope
  // and the body only under TLS.
  EXPECT_TRUE(absl::StartsWith(run.server_clear, "220 mx.example.net"));
  EXPECT_TRUE(absl::StrContains(run.server_clear, "STARTTLS"));
  EXPECT_TRUE(
      absl::EndsWith(run.server_clear, "220 2.0.0 Ready to start TLS\r\n"))
      << run.server_clear;
  EXPECT_EQ(run.client_clear, "EHLO relay.example.org\r\nSTARTTLS\r\n");
  EXPECT_FALSE(run.client_tls.empty());
  EXPECT_FALSE(run.server_tls.empty());
  for (const std::string* wire : {&run.client_tls, &run.server_tls}) {
    EXPECT_FALSE(absl::StrContains(*wire, "MAIL FROM"));
    EXPECT_FALSE(absl::StrContains(*wire, "Hello over TLS"));
    EXPECT_FALSE(absl::StrContains(*wire, "250"));
  }
  // A TLS handshake record (content type 22, version 3.x) opens each side.
  EXPECT_EQ(run.client_tls.substr(0, 2), std::string("\x16\x03", 2));
  EXPECT_EQ(run.server_tls.substr(0, 2), std::string("\x16\x03", 2));
}

TEST(TlsSmtpTest, ExpiredCertificateIsReportedAndOpportunisticTlsDelivers) {
  const RunResult run = Deliver(WithSeed(1, CertKind::kExpired));
  EXPECT_TRUE(run.errors.empty()) << absl::StrJoin(run.errors, "\n");
  ASSERT_TRUE(run.client_facts.has_value());
  EXPECT_EQ(run.client_facts->chain_verdict, ChainVerdict::kExpired);
  EXPECT_EQ(run.client_facts->version, TlsVersion::kTls12);
  ASSERT_EQ(run.results.size(), 1u);
  ASSERT_EQ(run.results[0].recipients.size(), 1u);
  EXPECT_EQ(run.results[0].recipients[0].status,
            smtp::RecipientStatus::kDelivered);
  ASSERT_NE(run.results[0].tls, nullptr);
  EXPECT_EQ(run.results[0].tls->chain_verdict, ChainVerdict::kExpired);
  EXPECT_EQ(run.server_messages.size(), 1u);
}

TEST(TlsSmtpTest, SameSeedSameCiphertext) {
  const RunResult first = Deliver(WithSeed(42));
  const RunResult second = Deliver(WithSeed(42));
  EXPECT_FALSE(first.client_tls.empty());
  EXPECT_EQ(first.client_tls, second.client_tls);
  EXPECT_EQ(first.server_tls, second.server_tls);
  EXPECT_EQ(first.trace, second.trace);  // timing and segmentation too

  const RunResult other = Deliver(WithSeed(43));
  EXPECT_EQ(other.server_messages, first.server_messages);
  EXPECT_EQ(other.client_clear, first.client_clear);
  EXPECT_NE(other.client_tls, first.client_tls);
  EXPECT_NE(other.server_tls, first.server_tls);
  EXPECT_NE(other.trace, first.trace);
}

// A 300 KB body through a 1 KB window: the writers wait for OnWritable()
// and every octet still arrives, encrypted.
TEST(TlsSmtpTest, LargeBodyThroughASmallWindow) {
  Scenario scenario = WithSeed(5);
  scenario.link.window = 1024;
  scenario.link.max_segment = 1460;
  scenario.body.clear();
  for (int i = 0; scenario.body.size() < 300 * 1024; ++i) {
    absl::StrAppend(&scenario.body, "line ", i,
                    " of a long simulated message\r\n");
  }
  const RunResult run = Deliver(scenario);
  EXPECT_TRUE(run.errors.empty()) << absl::StrJoin(run.errors, "\n");
  ASSERT_EQ(run.server_messages.size(), 1u);
  EXPECT_EQ(run.server_messages[0], scenario.body);
  EXPECT_GT(run.client_tls.size(), scenario.body.size());
  EXPECT_TRUE(run.finished);
}

// The client refuses the server's RSA-1024 key during the handshake: both
// channels fail, both sessions are told, nothing is sent in the clear and
// the recipient is temp-failed at the handshake.
TEST(TlsSmtpTest, FailedHandshakeTempFailsWithoutPlaintext) {
  const RunResult run = Deliver(WithSeed(1, CertKind::kRsa1024));
  EXPECT_FALSE(run.client_facts.has_value());
  EXPECT_EQ(run.client_failure, tls::FailureReason::kInsufficientSecurity);
  EXPECT_TRUE(run.server_messages.empty());
  EXPECT_FALSE(run.server_saw_tls);
  ASSERT_EQ(run.results.size(), 1u);
  ASSERT_EQ(run.results[0].recipients.size(), 1u);
  EXPECT_EQ(run.results[0].recipients[0].status,
            smtp::RecipientStatus::kTempFailed);
  EXPECT_EQ(run.results[0].recipients[0].stage,
            smtp::ClientStage::kTlsHandshake);
  EXPECT_EQ(run.client_clear, "EHLO relay.example.org\r\nSTARTTLS\r\n");
  EXPECT_FALSE(absl::StrContains(run.client_tls, "MAIL FROM"));
  EXPECT_TRUE(run.finished);
  // The failure surfaces as the channels' kAborted on both sides.
  EXPECT_FALSE(run.errors.empty());
  for (const std::string& error : run.errors) {
    EXPECT_TRUE(absl::StrContains(error, "ABORTED")) << error;
  }

  Scenario allowed = WithSeed(1, CertKind::kRsa1024);
  allowed.client_min_rsa_bits = 1024;
  const RunResult weak = Deliver(allowed);
  ASSERT_TRUE(weak.client_facts.has_value());
  EXPECT_EQ(weak.client_facts->chain_verdict, ChainVerdict::kWeakKeyOrHash);
  EXPECT_EQ(weak.server_messages.size(), 1u);
}

// A reset just after the handshake (found by a first run: the same seed
// gives the same schedule up to the fault): the client learns of it as a
// lost connection and temp-fails the recipient; nothing is delivered.
TEST(TlsSmtpTest, ResetAfterHandshakeTempFails) {
  const RunResult clean = Deliver(WithSeed(3));
  ASSERT_TRUE(clean.client_facts.has_value());
  ASSERT_EQ(clean.server_messages.size(), 1u);

  Scenario scenario = WithSeed(3);
  scenario.link.faults.reset_at = clean.handshake_time + absl::Nanoseconds(1);
  const RunResult run = Deliver(scenario);
  EXPECT_TRUE(run.errors.empty()) << absl::StrJoin(run.errors, "\n");
  ASSERT_TRUE(run.client_facts.has_value());
  EXPECT_EQ(run.handshake_time, clean.handshake_time);
  EXPECT_TRUE(absl::StrContains(run.trace, " A reset "));
  EXPECT_TRUE(absl::StrContains(run.trace, " B reset "));
  EXPECT_TRUE(run.server_messages.empty());
  ASSERT_EQ(run.results.size(), 1u);
  ASSERT_EQ(run.results[0].recipients.size(), 1u);
  EXPECT_EQ(run.results[0].recipients[0].status,
            smtp::RecipientStatus::kTempFailed);
  EXPECT_TRUE(run.finished);
}

}  // namespace
}  // namespace starling::sim
