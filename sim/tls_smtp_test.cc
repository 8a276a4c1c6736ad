// End to end: an smtp::ClientSession delivers a message to an
// smtp::ServerSession over a simulated link (random segmentation and
// latency), with a real STARTTLS handshake between two tls::Channels in
// TlsPipes. Everything comes from one seed.
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
#include "sim/tls_pipe.h"

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

// What both ends share: the link, the pipe, output flushing within the
// window, closing once the session has closed, and a log of errors and of
// the bytes sent in the clear and under TLS.
class PipeEnd : public LinkEndpoint {
 public:
  PipeEnd(Scheduler* scheduler, Side side)
      : scheduler_(scheduler), side_(side) {}

  void Attach(Link* link) { link_ = link; }

  void OnData(absl::string_view bytes) override {
    Note("receive", pipe_.ReceiveFromNetwork(bytes, scheduler_->Now()));
    Step();
  }
  void OnWritable() override { Flush(); }

  std::vector<std::string> errors;
  std::string sent_clear;
  std::string sent_tls;

 protected:
  // Moves bytes between session and pipe and answers events until nothing
  // changes; true when anything happened.
  virtual bool Turn() = 0;
  virtual bool SessionClosed() const = 0;
  virtual bool SessionHasOutput() const = 0;

  void Step() {
    for (int guard = 0; guard < 1000 && Turn(); ++guard) {
    }
    Flush();
    if (!link_closed_ && SessionClosed() && !SessionHasOutput()) {
      if (pipe_.mode() == TlsPipe::Mode::kEstablished) {
        Note("close tls", pipe_.CloseTls());
      }
      Flush();
      link_closed_ = true;
      if (!link_->finished()) Note("close link", link_->Close(side_));
    }
  }

  void Flush() {
    while (!pipe_.NetworkOutput().empty() && !link_->finished()) {
      const absl::string_view out = pipe_.NetworkOutput();
      const size_t n = std::min(out.size(), link_->Writable(side_));
      if (n == 0) return;  // OnWritable() resumes
      (pipe_.channel() == nullptr ? sent_clear : sent_tls)
          .append(out.data(), n);
      Note("write", link_->Write(side_, out.substr(0, n)));
      pipe_.ConsumeNetworkOutput(n);
    }
  }

  void Note(absl::string_view what, const absl::Status& status) {
    if (!status.ok())
      errors.push_back(absl::StrCat(what, ": ", status.ToString()));
  }

  Scheduler* scheduler_;
  Side side_;
  Link* link_ = nullptr;
  TlsPipe pipe_;
  bool link_closed_ = false;
};

// The receiving MTA: accepts everything, keeps the message bodies.
class ServerEnd : public PipeEnd {
 public:
  ServerEnd(Scheduler* scheduler, tls::ChannelOptions tls)
      : PipeEnd(scheduler, Side::kB),
        session_(MakeOptions()),
        tls_(std::move(tls)) {}

  void OnConnected() override {
    Note("accept", session_.AcceptConnection(scheduler_->Now()));
    Step();
  }
  void OnClosed(CloseReason) override { Step(); }

  const smtp::ServerSession& session() const { return session_; }
  std::vector<std::string> messages;

 private:
  static std::shared_ptr<const smtp::ServerOptions> MakeOptions() {
    auto options = std::make_shared<smtp::ServerOptions>();
    options->hostname = "mx.example.net";
    options->offer_starttls = true;
    return options;
  }

  bool Turn() override {
    bool progress = !pipe_.Plaintext().empty();
    const size_t output = session_.PendingOutput().size();
    Note("pump", PumpSession(session_, pipe_, scheduler_->Now()));
    progress |= session_.PendingOutput().size() != output;
    while (std::optional<tls::ChannelEvent> event = pipe_.NextEvent()) {
      progress = true;
      if (event->type == tls::ChannelEventType::kHandshakeComplete) {
        Note("tls", session_.TlsEstablished(event->facts, scheduler_->Now()));
      } else if (event->type == tls::ChannelEventType::kFailed) {
        Note("tls", session_.TlsFailed(event->detail, scheduler_->Now()));
      }
    }
    while (std::optional<smtp::ServerEvent> event = session_.NextEvent()) {
      progress = true;
      switch (event->type) {
        case smtp::ServerEventType::kMessageData:
          body_ += event->data;
          break;
        case smtp::ServerEventType::kMessageComplete:
          messages.push_back(std::move(body_));
          body_.clear();
          Note("accept", session_.Accept(scheduler_->Now()));
          break;
        case smtp::ServerEventType::kMessageAborted:
          body_.clear();
          break;
        case smtp::ServerEventType::kStartTls:
          // The 220 leaves in the clear before the first TLS byte.
          Note("pump", PumpSession(session_, pipe_, scheduler_->Now()));
          Flush();
          Note("starttls", pipe_.StartTls(tls_));
          break;
        case smtp::ServerEventType::kClosed:
          break;
        default:
          Note("accept", session_.Accept(scheduler_->Now()));
      }
    }
    return progress;
  }
  bool SessionClosed() const override { return session_.closed(); }
  bool SessionHasOutput() const override {
    return !session_.PendingOutput().empty();
  }

  smtp::ServerSession session_;
  tls::ChannelOptions tls_;
  std::string body_;
};

// The sending MTA: one message, opportunistic TLS.
class ClientEnd : public PipeEnd {
 public:
  ClientEnd(Scheduler* scheduler, tls::ChannelOptions tls, std::string body)
      : PipeEnd(scheduler, Side::kA), tls_(std::move(tls)) {
    auto options = std::make_shared<smtp::ClientOptions>();
    options->helo_name = "relay.example.org";
    smtp::OutboundMessage message;
    message.sender = smtp::Mailbox{"alice", "example.org"};
    message.recipients.push_back({smtp::Mailbox{"bob", "example.net"}, {}});
    message.size = body.size();
    message.body = std::make_shared<smtp::StringBodySource>(std::move(body));
    std::vector<smtp::OutboundMessage> messages;
    messages.push_back(std::move(message));
    absl::StatusOr<std::unique_ptr<smtp::ClientSession>> session =
        smtp::ClientSession::Create(
            options,
            smtp::Destination{"example.net", "mx.example.net", 10, true},
            &policy_, std::move(messages), scheduler->Now());
    EXPECT_TRUE(session.ok()) << session.status();
    session_ = *std::move(session);
  }

  void OnConnected() override { Step(); }
  void OnClosed(CloseReason reason) override {
    if (!session_->closed()) {
      session_->ConnectionLost(
          absl::StrCat("connection ", CloseReasonName(reason)),
          scheduler_->Now());
    }
    Step();
  }

  const smtp::ClientSession& session() const { return *session_; }
  std::optional<TlsFacts> handshake_facts;
  absl::Time handshake_time = absl::InfiniteFuture();
  std::optional<tls::FailureReason> handshake_failure;

 private:
  bool Turn() override {
    bool progress = !pipe_.Plaintext().empty();
    const size_t output = session_->PendingOutput().size();
    Note("pump", PumpSession(*session_, pipe_, scheduler_->Now()));
    progress |= session_->PendingOutput().size() != output;
    while (std::optional<tls::ChannelEvent> event = pipe_.NextEvent()) {
      progress = true;
      if (event->type == tls::ChannelEventType::kHandshakeComplete) {
        handshake_facts = event->facts;
        handshake_time = scheduler_->Now();
        Note("tls", session_->TlsEstablished(event->facts, scheduler_->Now()));
      } else if (event->type == tls::ChannelEventType::kFailed) {
        handshake_failure = event->reason;
        Note("tls", session_->TlsFailed(event->detail, scheduler_->Now()));
      }
    }
    while (std::optional<smtp::ClientEvent> event = session_->NextEvent()) {
      progress = true;
      if (event->type == smtp::ClientEventType::kStartTls) {
        tls::ChannelOptions options = tls_;
        if (!event->sni.empty()) options.server_name = event->sni;
        Note("starttls", pipe_.StartTls(std::move(options)));
      }
    }
    return progress;
  }
  bool SessionClosed() const override { return session_->closed(); }
  bool SessionHasOutput() const override {
    return !session_->PendingOutput().empty();
  }

  smtp::OpportunisticTlsPolicy policy_;
  std::unique_ptr<smtp::ClientSession> session_;
  tls::ChannelOptions tls_;
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

  ClientEnd client(&scheduler, client_tls, scenario.body);
  ServerEnd server(&scheduler, server_tls);
  Link link(&scheduler, random.Fork(1), scenario.link, &client, &server);
  client.Attach(&link);
  server.Attach(&link);
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
  result.client_facts = client.handshake_facts;
  result.handshake_time = client.handshake_time;
  result.client_failure = client.handshake_failure;
  result.server_saw_tls = server.session().tls() != nullptr;
  result.server_messages = server.messages;
  result.errors = client.errors;
  result.errors.insert(result.errors.end(), server.errors.begin(),
                       server.errors.end());
  result.client_clear = client.sent_clear;
  result.client_tls = client.sent_tls;
  result.server_clear = server.sent_clear;
  result.server_tls = server.sent_tls;
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
