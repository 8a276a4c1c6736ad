#include "core/smtp/client_session.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/smtp/testing/loopback.h"
#include "core/smtp/testing/scripted_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

// TLS is mandatory (Postfix "encrypt"): anything without TLS is deferred.
class MandatoryPolicy : public OpportunisticTlsPolicy {
 public:
  StartTlsIntent AfterEhlo(const Destination& d, const EhloCapabilities& c) override {
    StartTlsIntent intent = OpportunisticTlsPolicy::AfterEhlo(d, c);
    intent.mandatory = true;
    intent.label = "encrypt";
    return intent;
  }
  PolicyDecision WithoutTls(const Destination&, TlsProblem problem,
                            absl::string_view detail) override {
    PolicyDecision decision;
    decision.verdict = DeliveryVerdict::kDefer;
    decision.label = "encrypt";
    decision.tlsrpt_result_type = "starttls-not-supported";
    decision.trace.push_back(absl::StrCat(TlsProblemName(problem), ": ", detail));
    return decision;
  }
};

Mailbox Box(absl::string_view local, absl::string_view domain) {
  return Mailbox{std::string(local), std::string(domain)};
}

OutboundMessage Message(std::vector<std::string> recipients,
                        std::string body = "Subject: test\r\n\r\nHello\r\n") {
  OutboundMessage message;
  message.sender = Box("alice", "a.example");
  for (const std::string& r : recipients) {
    message.recipients.push_back({Box(r, "b.example"), {}});
  }
  message.size = body.size();
  message.body = std::make_shared<StringBodySource>(std::move(body));
  return message;
}

std::shared_ptr<ServerOptions> ServerOpts() {
  auto options = std::make_shared<ServerOptions>();
  options->hostname = "mx.b.example";
  options->offer_starttls = true;
  return options;
}

std::shared_ptr<ClientOptions> ClientOpts() {
  auto options = std::make_shared<ClientOptions>();
  options->helo_name = "relay.a.example";
  return options;
}

Destination Dest() { return Destination{"b.example", "mx.b.example", 10, true}; }

LoopbackOutcome Loop(LoopbackConfig config, TlsPolicyHook* policy,
                     std::vector<OutboundMessage> messages) {
  absl::StatusOr<LoopbackOutcome> outcome =
      RunLoopback(config, policy, std::move(messages), kStart);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  return *std::move(outcome);
}

LoopbackConfig Config(std::shared_ptr<ServerOptions> server = ServerOpts(),
                      std::shared_ptr<ClientOptions> client = ClientOpts()) {
  LoopbackConfig config;
  config.server_options = std::move(server);
  config.client_options = std::move(client);
  config.destination = Dest();
  config.server_facts.version = TlsVersion::kTls12;
  config.server_facts.chain_verdict = ChainVerdict::kTrusted;
  return config;
}

std::vector<std::string> Statuses(const MessageResult& result) {
  std::vector<std::string> out;
  for (const RecipientResult& r : result.recipients) {
    out.push_back(absl::StrCat(r.mailbox.local_part, ":",
                               RecipientStatusName(r.status), "@",
                               ClientStageName(r.stage)));
  }
  return out;
}

// ---- loopback (client <-> server session) --------------------------------------

TEST(ClientSessionTest, DeliversOverOpportunisticTls) {
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome = Loop(Config(), &policy, {Message({"bob", "carol"})});
  ASSERT_EQ(outcome.results.size(), 1u);
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bob:delivered@end of data",
                                     "carol:delivered@end of data"));
  EXPECT_TRUE(outcome.client_used_tls);
  ASSERT_NE(outcome.results[0].tls, nullptr);
  EXPECT_EQ(outcome.results[0].policy.label, "may:trusted");
  EXPECT_EQ(outcome.server_messages_accepted, 1u);
  // Only EHLO and STARTTLS went in plaintext.
  EXPECT_EQ(outcome.client_plaintext, "EHLO relay.a.example\r\nSTARTTLS\r\n");
  EXPECT_THAT(outcome.client_encrypted, HasSubstr("MAIL FROM:<alice@a.example>"));
}

TEST(ClientSessionTest, PipelinedMixedRecipientResults) {
  LoopbackConfig config = Config();
  config.server_script.reject_recipients = {"bad@b.example"};
  config.server_script.defer_recipients = {"later@b.example"};
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome =
      Loop(config, &policy, {Message({"good", "bad", "later", "also"})});
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("good:delivered@end of data",
                                     "bad:perm-failed@RCPT",
                                     "later:temp-failed@RCPT",
                                     "also:delivered@end of data"));
  EXPECT_EQ(outcome.results[0].recipients[1].reply.code, 550);
  ASSERT_TRUE(outcome.results[0].recipients[1].reply.enhanced.has_value());
  EXPECT_EQ(outcome.results[0].recipients[1].reply.enhanced->ToString(), "5.1.1");
}

TEST(ClientSessionTest, WithoutPipeliningOneCommandAtATime) {
  auto server = ServerOpts();
  server->offer_pipelining = false;
  LoopbackConfig config = Config(server);
  config.server_script.reject_recipients = {"bad@b.example"};
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome = Loop(config, &policy, {Message({"bad", "good"})});
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bad:perm-failed@RCPT",
                                     "good:delivered@end of data"));
  EXPECT_TRUE(outcome.server_status.ok()) << outcome.server_status;
}

TEST(ClientSessionTest, BdatWhenPreferredAndOffered) {
  auto client = ClientOpts();
  client->prefer_bdat = true;
  client->bdat_chunk_size = 8;
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome =
      Loop(Config(ServerOpts(), client), &policy,
           {Message({"bob"}, "Subject: chunks\r\n\r\nline\nbare LF\r\n")});
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bob:delivered@end of data"));
  EXPECT_THAT(outcome.client_encrypted, HasSubstr("BDAT 8\r\n"));
  EXPECT_THAT(outcome.client_encrypted, HasSubstr(" LAST\r\n"));
  EXPECT_THAT(outcome.server_transcript, Contains(HasSubstr("via BDAT")));
}

TEST(ClientSessionTest, BdatInChunksWithoutPipelining) {
  auto server = ServerOpts();
  server->offer_pipelining = false;
  auto client = ClientOpts();
  client->prefer_bdat = true;
  client->bdat_chunk_size = 4;
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome =
      Loop(Config(server, client), &policy,
           {Message({"bob"}, "Subject: chunks\r\n\r\nline\r\n"), Message({"carol"})});
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bob:delivered@end of data"));
  EXPECT_THAT(Statuses(outcome.results[1]),
              ::testing::ElementsAre("carol:delivered@end of data"));
  EXPECT_EQ(outcome.server_messages_accepted, 2u);
  EXPECT_TRUE(outcome.server_status.ok()) << outcome.server_status;
}

TEST(ClientSessionTest, SeveralMessagesWithRsetAfterAFailedTransaction) {
  auto server = ServerOpts();
  server->offer_pipelining = false;
  LoopbackConfig config = Config(server);
  config.server_script.reject_recipients = {"nobody@b.example"};
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome = Loop(
      config, &policy,
      {Message({"bob"}), Message({"nobody"}), Message({"carol"})});
  ASSERT_EQ(outcome.results.size(), 3u);
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bob:delivered@end of data"));
  EXPECT_THAT(Statuses(outcome.results[1]),
              ::testing::ElementsAre("nobody:perm-failed@RCPT"));
  EXPECT_THAT(Statuses(outcome.results[2]),
              ::testing::ElementsAre("carol:delivered@end of data"));
  EXPECT_EQ(outcome.server_messages_accepted, 2u);
  EXPECT_THAT(outcome.client_encrypted, HasSubstr("RSET\r\n"));
}

TEST(ClientSessionTest, NoStartTlsOfferedOpportunisticGoesPlaintext) {
  auto server = ServerOpts();
  server->offer_starttls = false;
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome = Loop(Config(server), &policy, {Message({"bob"})});
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bob:delivered@end of data"));
  EXPECT_FALSE(outcome.client_used_tls);
  EXPECT_EQ(outcome.results[0].policy.tlsrpt_result_type, "starttls-not-supported");
}

TEST(ClientSessionTest, NoStartTlsOfferedMandatoryDefersAndSendsNoEnvelope) {
  auto server = ServerOpts();
  server->offer_starttls = false;
  MandatoryPolicy policy;
  LoopbackOutcome outcome = Loop(Config(server), &policy, {Message({"bob"})});
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bob:temp-failed@STARTTLS"));
  EXPECT_EQ(outcome.client_plaintext, "EHLO relay.a.example\r\nQUIT\r\n");
  EXPECT_EQ(outcome.server_messages_accepted, 0u);
}

TEST(ClientSessionTest, FailedHandshakeDefers) {
  LoopbackConfig config = Config();
  config.server_script.tls_handshake_succeeds = false;
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome = Loop(config, &policy, {Message({"bob"})});
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bob:temp-failed@TLS handshake"));
  EXPECT_THAT(outcome.client_plaintext, Not(HasSubstr("MAIL")));
}

TEST(ClientSessionTest, ServerRequiringTlsGetsIt) {
  auto server = ServerOpts();
  server->require_tls = true;
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome = Loop(Config(server), &policy, {Message({"bob"})});
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bob:delivered@end of data"));
}

TEST(ClientSessionTest, AuthPlainOverTls) {
  LoopbackConfig config = Config();
  auto server = ServerOpts();
  server->auth_mechanisms = {"PLAIN", "LOGIN"};
  config.server_options = server;
  config.server_script.users = {{"relay", "s3cret"}};
  auto client = ClientOpts();
  client->auth_username = "relay";
  client->auth_password = "s3cret";
  config.client_options = client;
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome = Loop(config, &policy, {Message({"bob"})});
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bob:delivered@end of data"));
  EXPECT_THAT(outcome.client_encrypted, HasSubstr("AUTH PLAIN "));
  EXPECT_THAT(outcome.client_plaintext, Not(HasSubstr("AUTH")));
}

TEST(ClientSessionTest, NoCredentialsInPlaintext) {
  auto server = ServerOpts();
  server->offer_starttls = false;
  server->auth_mechanisms = {"PLAIN"};
  server->auth_requires_tls = false;
  auto client = ClientOpts();
  client->auth_username = "relay";
  client->auth_password = "s3cret";
  OpportunisticTlsPolicy policy;
  LoopbackOutcome outcome = Loop(Config(server, client), &policy, {Message({"bob"})});
  EXPECT_THAT(Statuses(outcome.results[0]),
              ::testing::ElementsAre("bob:temp-failed@AUTH"));
  EXPECT_THAT(outcome.client_plaintext, Not(HasSubstr("AUTH")));
}

TEST(ClientSessionTest, RandomChunkingChangesNothing) {
  for (uint64_t seed = 1; seed < 40; ++seed) {
    LoopbackConfig config = Config();
    config.server_script.reject_recipients = {"bad@b.example"};
    uint64_t state = seed;
    config.chunker = [&state](size_t available) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      return 1 + (state >> 33) % available;
    };
    OpportunisticTlsPolicy policy;
    LoopbackOutcome outcome =
        Loop(config, &policy, {Message({"good", "bad"}), Message({"bob"})});
    EXPECT_THAT(Statuses(outcome.results[0]),
                ::testing::ElementsAre("good:delivered@end of data",
                                       "bad:perm-failed@RCPT"))
        << "seed " << seed;
    EXPECT_THAT(Statuses(outcome.results[1]),
                ::testing::ElementsAre("bob:delivered@end of data"));
  }
}

// ---- scripted server replies ----------------------------------------------------

struct Scripted {
  explicit Scripted(std::vector<OutboundMessage> messages,
                    std::shared_ptr<ClientOptions> options = ClientOpts(),
                    TlsPolicyHook* policy = nullptr)
      : policy_(policy ? policy : &opportunistic_) {
    auto session = ClientSession::Create(options, Dest(), policy_,
                                         std::move(messages), kStart);
    EXPECT_TRUE(session.ok()) << session.status();
    client = std::make_unique<ScriptedClient>(*std::move(session),
                                              ScriptedClient::Tls{});
  }
  std::string sent() const { return client->client_bytes(); }
  const RecipientResult& result(size_t m = 0, size_t r = 0) const {
    return client->session().results()[m].recipients[r];
  }

  OpportunisticTlsPolicy opportunistic_;
  TlsPolicyHook* policy_;
  std::unique_ptr<ScriptedClient> client;
};

constexpr absl::string_view kGreeting = "220 mx.b.example ESMTP\r\n";
constexpr absl::string_view kEhloTls =
    "250-mx.b.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
constexpr absl::string_view kEhloPlain =
    "250-mx.b.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n";

TEST(ClientScriptTest, GreetingRefusedIsSkippedToNextMx) {
  Scripted s({Message({"bob"})});
  ASSERT_TRUE(s.client->FeedPolitely("554 5.7.1 No service\r\n221 bye\r\n").ok());
  EXPECT_EQ(s.result().status, RecipientStatus::kTempFailed);
  EXPECT_EQ(s.result().stage, ClientStage::kGreeting);
  EXPECT_EQ(s.client->session().connection_policy().verdict,
            DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(s.sent(), "QUIT\r\n");
}

TEST(ClientScriptTest, EhloRefusedFallsBackToHeloOnlyWhenPlaintextIsAllowed) {
  Scripted may({Message({"bob"})});
  ASSERT_TRUE(may.client->FeedPolitely(absl::StrCat(
      kGreeting, "502 5.5.1 no EHLO\r\n250 mx.b.example\r\n")).ok());
  EXPECT_THAT(may.sent(), HasSubstr("HELO relay.a.example\r\nMAIL FROM:<alice@a.example>"));

  MandatoryPolicy mandatory;
  Scripted encrypt({Message({"bob"})}, ClientOpts(), &mandatory);
  ASSERT_TRUE(encrypt.client->FeedPolitely(absl::StrCat(
      kGreeting, "502 5.5.1 no EHLO\r\n221 bye\r\n")).ok());
  EXPECT_EQ(encrypt.sent(), "EHLO relay.a.example\r\nQUIT\r\n");
  EXPECT_EQ(encrypt.result().status, RecipientStatus::kTempFailed);
}

class StartTlsRefusedTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StartTlsRefusedTest, OpportunisticContinuesMandatoryDefers) {
  Scripted may({Message({"bob"})});
  ASSERT_TRUE(may.client->FeedPolitely(absl::StrCat(kGreeting, kEhloTls, GetParam())).ok());
  EXPECT_THAT(may.sent(), HasSubstr("STARTTLS\r\nMAIL FROM:"));

  MandatoryPolicy mandatory;
  Scripted encrypt({Message({"bob"})}, ClientOpts(), &mandatory);
  ASSERT_TRUE(encrypt.client->FeedPolitely(absl::StrCat(kGreeting, kEhloTls, GetParam())).ok());
  EXPECT_EQ(encrypt.sent(), "EHLO relay.a.example\r\nSTARTTLS\r\nQUIT\r\n");
  EXPECT_EQ(encrypt.result().status, RecipientStatus::kTempFailed);
  EXPECT_EQ(encrypt.result().stage, ClientStage::kStartTls);
}

INSTANTIATE_TEST_SUITE_P(Replies, StartTlsRefusedTest,
                         ::testing::Values("454 4.7.0 TLS not available\r\n",
                                           "502 5.5.1 not implemented\r\n",
                                           "500 5.5.2 what?\r\n"));

TEST(ClientScriptTest, MissingStartTlsCapabilityUnderMandatoryPolicy) {
  MandatoryPolicy mandatory;
  Scripted s({Message({"bob"})}, ClientOpts(), &mandatory);
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(kGreeting, kEhloPlain)).ok());
  EXPECT_EQ(s.sent(), "EHLO relay.a.example\r\nQUIT\r\n");
  EXPECT_EQ(s.result().stage, ClientStage::kStartTls);
  EXPECT_THAT(s.result().detail, HasSubstr("STARTTLS not offered"));
}

TEST(ClientScriptTest, ResponseInjectionAfterStartTlsIsFatal) {
  Scripted s({Message({"bob"})});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(kGreeting, kEhloTls)).ok());
  // A man in the middle appends a forged EHLO reply behind the 220.
  const absl::Status status = s.client->Feed(
      "220 2.0.0 go ahead\r\n250-mx.b.example\r\n250 AUTH PLAIN\r\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(s.client->session().closed());
  EXPECT_EQ(s.sent(), "EHLO relay.a.example\r\nSTARTTLS\r\n");
  EXPECT_EQ(s.result().status, RecipientStatus::kTempFailed);
  EXPECT_EQ(s.result().stage, ClientStage::kStartTls);
  // Judged by the policy as a failed handshake: reported for TLS-RPT.
  EXPECT_FALSE(s.client->session().connection_policy().tlsrpt_result_type.empty());
  // The handshake is never started on a connection that was tampered with.
  for (const std::string& line : s.client->transcript()) {
    EXPECT_THAT(line, Not(HasSubstr("E: starttls"))) << line;
  }
}

// An attacker who injects a command after a refused STARTTLS shifts every
// reply by one: DATA then gets a 250 meant for a RCPT. Found by
// //fuzz/sim:world_fuzzer ("counted delivered but no partner accepted it").
TEST(ClientScriptTest, RepliesOutOfStepAreFatalAndNeverDeliver) {
  Scripted s({Message({"bob", "carol"})});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(kGreeting, kEhloPlain)).ok());
  const absl::Status status =
      s.client->Feed("250 ok\r\n503 nested MAIL\r\n250 ok\r\n250 ok\r\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("out of step"));
  EXPECT_TRUE(s.client->session().closed());
  for (const RecipientResult& r : s.client->session().results()[0].recipients) {
    EXPECT_NE(r.status, RecipientStatus::kDelivered) << r.mailbox.ToString();
  }
}

TEST(ClientScriptTest, GarbageAndMalformedRepliesAreFatal) {
  for (absl::string_view bad :
       {"hello there\r\n", "250-a\r\n251 b\r\n", "2500 x\r\n", "250 ok\n",
        "250 a\rb\r\n"}) {
    Scripted s({Message({"bob"})});
    ASSERT_TRUE(s.client->FeedPolitely(kGreeting).ok());
    EXPECT_EQ(s.client->Feed(bad).code(), absl::StatusCode::kAborted) << bad;
    EXPECT_TRUE(s.client->session().closed());
  }
}

TEST(ClientScriptTest, OverlongReplyLineAndHugeEhloAreBounded) {
  Scripted long_line({Message({"bob"})});
  ASSERT_TRUE(long_line.client->FeedPolitely(kGreeting).ok());
  EXPECT_EQ(long_line.client->Feed("250 " + std::string(2000, 'x') + "\r\n").code(),
            absl::StatusCode::kAborted);

  Scripted huge({Message({"bob"})});
  ASSERT_TRUE(huge.client->FeedPolitely(kGreeting).ok());
  std::string ehlo = "250-mx.b.example\r\n";
  for (int i = 0; i < 1000; ++i) ehlo += absl::StrCat("250-X-EXT", i, "\r\n");
  ehlo += "250 PIPELINING\r\n";
  EXPECT_EQ(huge.client->Feed(ehlo).code(), absl::StatusCode::kAborted);
}

// A body that is not ready until told so.
class SlowBody : public BodySource {
 public:
  absl::StatusOr<absl::string_view> Read(size_t, bool* end) override {
    *end = ready_;
    return absl::string_view(ready_ ? "late body\r\n" : "");
  }
  bool ready_ = false;
};

TEST(ClientScriptTest, ReplyWithoutCrlfWaitsThenTimesOut) {
  Scripted s({Message({"bob"})});
  ASSERT_TRUE(s.client->Feed("220 mx.b.example ESMTP").ok());  // no CRLF yet
  EXPECT_EQ(s.sent(), "");
  ClientSession& c = s.client->session();
  ASSERT_TRUE(c.OnTimeout(kStart + absl::Minutes(5)).ok());
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(s.result().stage, ClientStage::kGreeting);
  EXPECT_EQ(s.result().reply.code, 451);
}

TEST(ClientScriptTest, SurplusReplyIsFatal) {
  OutboundMessage message = Message({"bob"});
  auto body = std::make_shared<SlowBody>();
  message.body = body;
  Scripted s({std::move(message)});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n")).ok());
  // Nothing is outstanding while the body waits: any reply is surplus.
  EXPECT_EQ(s.client->Feed("250 surplus\r\n").code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(s.client->session().closed());
}

TEST(ClientScriptTest, BodySourceThatIsNotReadyResumes) {
  OutboundMessage message = Message({"bob"});
  auto body = std::make_shared<SlowBody>();
  message.body = body;
  Scripted s({std::move(message)});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n")).ok());
  EXPECT_EQ(s.client->session().NextDeadline(), absl::InfiniteFuture());
  body->ready_ = true;
  s.client->session().ResumeBody(kStart);
  ASSERT_TRUE(s.client->FeedPolitely("250 queued\r\n221 bye\r\n").ok());
  EXPECT_EQ(s.result().status, RecipientStatus::kDelivered);
}

TEST(ClientScriptTest, Unsolicited421TempFailsEverythingPending) {
  Scripted s({Message({"bob", "carol"}), Message({"dave"})});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 2.1.0 ok\r\n",
      "421 4.3.2 shutting down\r\n")).ok());
  EXPECT_TRUE(s.client->session().closed());
  for (const MessageResult& m : s.client->session().results()) {
    for (const RecipientResult& r : m.recipients) {
      EXPECT_EQ(r.status, RecipientStatus::kTempFailed);
      EXPECT_EQ(r.reply.code, 421);
    }
  }
  EXPECT_EQ(s.result(0, 0).stage, ClientStage::kRcpt);
}

TEST(ClientScriptTest, DataAndEndOfDataFailures) {
  Scripted data({Message({"bob"})});
  ASSERT_TRUE(data.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n554 5.5.1 no\r\n250 reset\r\n221 bye\r\n")).ok());
  EXPECT_EQ(data.result().status, RecipientStatus::kPermFailed);
  EXPECT_EQ(data.result().stage, ClientStage::kData);
  EXPECT_THAT(data.sent(), HasSubstr("RSET\r\nQUIT\r\n"));

  Scripted end({Message({"bob"})});
  ASSERT_TRUE(end.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n452 4.3.1 full\r\n221 bye\r\n")).ok());
  EXPECT_EQ(end.result().status, RecipientStatus::kTempFailed);
  EXPECT_EQ(end.result().stage, ClientStage::kEndOfData);
  EXPECT_THAT(end.sent(), HasSubstr("Hello\r\n.\r\nQUIT\r\n"));
}

TEST(ClientScriptTest, AllRecipientsRefusedButDataAccepted) {
  // RFC 2920 §3.1: a 354 after no accepted recipient gets an empty message.
  Scripted s({Message({"bob"})});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n550 no\r\n354 go\r\n554 no\r\n221 bye\r\n")).ok());
  EXPECT_EQ(s.result().status, RecipientStatus::kPermFailed);
  EXPECT_THAT(s.sent(), HasSubstr("DATA\r\n.\r\nQUIT\r\n"));
  EXPECT_THAT(s.sent(), Not(HasSubstr("Hello")));
}

TEST(ClientScriptTest, MailRefusedFailsEveryRecipient) {
  Scripted s({Message({"bob", "carol"})});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "553 5.1.8 bad sender\r\n503 no\r\n503 no\r\n503 no\r\n221 bye\r\n")).ok());
  EXPECT_EQ(s.result(0, 0).stage, ClientStage::kMail);
  EXPECT_EQ(s.result(0, 1).status, RecipientStatus::kPermFailed);
  EXPECT_THAT(s.sent(), Not(HasSubstr("RSET")));
}

TEST(ClientScriptTest, LostAfterEndOfDataIsFlaggedPossiblyDelivered) {
  Scripted s({Message({"bob"})});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n")).ok());
  s.client->Hangup();
  EXPECT_EQ(s.result().status, RecipientStatus::kTempFailed);
  EXPECT_EQ(s.result().stage, ClientStage::kEndOfData);
  EXPECT_THAT(s.result().detail, HasSubstr("possibly delivered"));
}

constexpr absl::string_view kEhloChunking =
    "250-mx.b.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
constexpr absl::string_view kEhloChunkingOnly =
    "250-mx.b.example\r\n250 CHUNKING\r\n";

std::shared_ptr<ClientOptions> BdatOpts(size_t chunk) {
  auto options = ClientOpts();
  options->prefer_bdat = true;
  options->bdat_chunk_size = chunk;
  return options;
}

// F1 (docs/properties.md): BDAT in three chunks, all pipelined; the server
// may have answered BDAT 1 LAST when the connection dies, although the
// replies to the first two chunks were never read.
TEST(ClientScriptTest, LostWithBdatChunkRepliesUnreadIsFlaggedPossiblyDelivered) {
  Scripted s({Message({"bob", "carol"}, "hello\r\n")}, BdatOpts(3));
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloChunking, "250 ok\r\n250 ok\r\n250 ok\r\n")).ok());
  EXPECT_THAT(s.sent(), HasSubstr("BDAT 3\r\nhelBDAT 3\r\nlo\rBDAT 1 LAST\r\n\n"));
  s.client->Hangup();
  for (size_t r = 0; r < 2; ++r) {
    EXPECT_EQ(s.result(0, r).status, RecipientStatus::kTempFailed);
    EXPECT_EQ(s.result(0, r).stage, ClientStage::kEndOfData);
    EXPECT_THAT(s.result(0, r).detail, HasSubstr("possibly delivered"));
  }
}

// The same window when the client gives up waiting instead.
TEST(ClientScriptTest, TimeoutWithBdatLastOutstandingIsFlaggedPossiblyDelivered) {
  Scripted s({Message({"bob"}, "hello\r\n")}, BdatOpts(3));
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloChunking, "250 ok\r\n250 ok\r\n250 first chunk\r\n")).ok());
  ClientSession& c = s.client->session();
  ASSERT_TRUE(c.OnTimeout(absl::FromUnixSeconds(0) + absl::Minutes(30)).ok());
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(s.result().status, RecipientStatus::kTempFailed);
  EXPECT_EQ(s.result().stage, ClientStage::kEndOfData);
  EXPECT_THAT(s.result().detail, HasSubstr("possibly delivered"));
}

// Only a message whose end of data has left is in the window: an earlier
// message is settled, a later one was never sent.
TEST(ClientScriptTest, OnlyTheMessageWhoseEndOfDataLeftIsPossiblyDelivered) {
  Scripted s({Message({"bob"}), Message({"carol"}), Message({"dave"})});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n",
      "250 ok\r\n250 ok\r\n354 go\r\n")).ok());
  s.client->Hangup();
  EXPECT_EQ(s.result(0, 0).status, RecipientStatus::kDelivered);
  EXPECT_EQ(s.result(1, 0).status, RecipientStatus::kTempFailed);
  EXPECT_EQ(s.result(1, 0).stage, ClientStage::kEndOfData);
  EXPECT_THAT(s.result(1, 0).detail, HasSubstr("possibly delivered"));
  EXPECT_EQ(s.result(2, 0).status, RecipientStatus::kTempFailed);
  EXPECT_NE(s.result(2, 0).stage, ClientStage::kEndOfData);
  EXPECT_THAT(s.result(2, 0).detail, Not(HasSubstr("possibly delivered")));
}

// An end-of-data marker still in PendingOutput() never reached the server:
// no window, and not the end-of-data stage the exactly-once ledgers key on.
TEST(ClientScriptTest, EndOfDataNotYetSentIsNotPossiblyDelivered) {
  OpportunisticTlsPolicy policy;
  std::vector<OutboundMessage> messages;
  messages.push_back(Message({"bob"}));
  auto session =
      ClientSession::Create(ClientOpts(), Dest(), &policy, std::move(messages), kStart);
  ASSERT_TRUE(session.ok()) << session.status();
  ClientSession& c = **session;
  for (absl::string_view reply :
       {kGreeting, kEhloPlain, absl::string_view("250 ok\r\n"),
        absl::string_view("250 ok\r\n"), absl::string_view("354 go\r\n")}) {
    c.ConsumeOutput(c.PendingOutput().size(), kStart);
    ASSERT_TRUE(c.Receive(reply, kStart).ok());
  }
  // The body and its "." are in the output; the embedder sends only part.
  ASSERT_TRUE(absl::EndsWith(c.PendingOutput(), "\r\n.\r\n"));
  c.ConsumeOutput(c.PendingOutput().size() - 2, kStart);
  c.ConnectionLost("reset", kStart);
  EXPECT_EQ(c.results()[0].recipients[0].status, RecipientStatus::kTempFailed);
  EXPECT_EQ(c.results()[0].recipients[0].stage, ClientStage::kData);
  EXPECT_THAT(c.results()[0].recipients[0].detail, Not(HasSubstr("possibly delivered")));
}

// F2 (docs/properties.md): without PIPELINING each BDAT waits for the reply
// to the one before (RFC 2920 §3.1, RFC 3030).
TEST(ClientScriptTest, WithoutPipeliningEachBdatWaitsForItsReply) {
  Scripted s({Message({"bob"}, "hello\r\n")}, BdatOpts(3));
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloChunkingOnly, "250 ok\r\n250 ok\r\n")).ok());
  EXPECT_TRUE(absl::EndsWith(s.sent(), "RCPT TO:<bob@b.example>\r\nBDAT 3\r\nhel"))
      << s.sent();
  ASSERT_TRUE(s.client->Feed("250 2.0.0 3 octets\r\n").ok());
  EXPECT_TRUE(absl::EndsWith(s.sent(), "BDAT 3\r\nhelBDAT 3\r\nlo\r")) << s.sent();
  ASSERT_TRUE(s.client->Feed("250 2.0.0 6 octets\r\n").ok());
  EXPECT_TRUE(absl::EndsWith(s.sent(), "BDAT 3\r\nlo\rBDAT 1 LAST\r\n\n")) << s.sent();
  EXPECT_EQ(s.result().status, RecipientStatus::kPending);
  ASSERT_TRUE(s.client->FeedPolitely("250 2.0.0 queued\r\n221 bye\r\n").ok());
  EXPECT_EQ(s.result().status, RecipientStatus::kDelivered);
  EXPECT_EQ(s.result().stage, ClientStage::kEndOfData);
}

// ... and a refused chunk stops the body there: nothing more is sent.
TEST(ClientScriptTest, WithoutPipeliningARefusedBdatStopsTheBody) {
  Scripted s({Message({"bob"}, "hello\r\n")}, BdatOpts(3));
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloChunkingOnly, "250 ok\r\n250 ok\r\n",
      "452 4.3.1 no room\r\n250 reset\r\n221 bye\r\n")).ok());
  EXPECT_THAT(s.sent(), Not(HasSubstr("lo\r")));
  EXPECT_THAT(s.sent(), Not(HasSubstr("LAST")));
  EXPECT_THAT(s.sent(), HasSubstr("BDAT 3\r\nhelRSET\r\n"));
  EXPECT_EQ(s.result().status, RecipientStatus::kTempFailed);
  EXPECT_EQ(s.result().stage, ClientStage::kData);
}

// With PIPELINING the chunks still go back to back.
TEST(ClientScriptTest, WithPipeliningBdatChunksArePipelined) {
  Scripted s({Message({"bob"}, "hello\r\n")}, BdatOpts(3));
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloChunking, "250 ok\r\n250 ok\r\n")).ok());
  EXPECT_TRUE(absl::EndsWith(s.sent(), "BDAT 3\r\nhelBDAT 3\r\nlo\rBDAT 1 LAST\r\n\n"))
      << s.sent();
  ASSERT_TRUE(s.client->FeedPolitely("250 a\r\n250 b\r\n250 c\r\n221 bye\r\n").ok());
  EXPECT_EQ(s.result().status, RecipientStatus::kDelivered);
}

TEST(ClientScriptTest, CapabilityChecksBeforeSending) {
  OutboundMessage utf8 = Message({"bob"});
  utf8.smtputf8 = true;
  OutboundMessage big = Message({"carol"});
  big.size = 5000;
  OutboundMessage eight = Message({"dave"});
  eight.body_type = BodyType::k8BitMime;
  Scripted s({std::move(utf8), std::move(big), std::move(eight)});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, "250-mx.b.example\r\n250 SIZE 1000\r\n221 bye\r\n")).ok());
  EXPECT_EQ(s.result(0).reply.code, 553);
  EXPECT_EQ(s.result(1).reply.code, 552);
  EXPECT_EQ(s.result(2).reply.code, 554);
  for (size_t m = 0; m < 3; ++m) {
    EXPECT_EQ(s.result(m).status, RecipientStatus::kPermFailed);
    EXPECT_EQ(s.result(m).stage, ClientStage::kLocal);
  }
  EXPECT_EQ(s.sent(), "EHLO relay.a.example\r\nQUIT\r\n");
}

TEST(ClientScriptTest, RequireTlsMessageBouncesInPlaintextWithoutBeingSent) {
  OutboundMessage flagged = Message({"bob"});
  flagged.tls_flags.requiretls = true;
  Scripted s({std::move(flagged), Message({"carol"})});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n")).ok());
  EXPECT_EQ(s.result(0).status, RecipientStatus::kPermFailed);
  ASSERT_TRUE(s.result(0).reply.enhanced.has_value());
  EXPECT_EQ(s.result(0).reply.enhanced->ToString(), "5.7.10");
  EXPECT_EQ(s.result(1).status, RecipientStatus::kDelivered);
  EXPECT_THAT(s.sent(), Not(HasSubstr("<bob@b.example>")));
}

TEST(ClientScriptTest, BodyIsStuffedAndNormalisedNeverBare) {
  Scripted s({Message({"bob"}, ".dot\nbare LF\rbare CR\r\n.\r\nlast")});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n")).ok());
  EXPECT_THAT(s.sent(), HasSubstr("DATA\r\n..dot\r\nbare LF\r\nbare CR\r\n..\r\nlast\r\n.\r\n"));
}

TEST(ClientScriptTest, OverlongLineFailsTheMessageAndNeverEndsTheData) {
  Scripted s({Message({"bob"}, std::string(1200, 'x') + "\r\n"), Message({"carol"})});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n")).ok());
  EXPECT_TRUE(s.client->session().closed());
  EXPECT_EQ(s.result(0).status, RecipientStatus::kPermFailed);
  EXPECT_THAT(s.result(0).detail, HasSubstr("longer than 998"));
  EXPECT_EQ(s.result(1).status, RecipientStatus::kTempFailed);
  EXPECT_THAT(s.sent(), Not(HasSubstr("\r\n.\r\n")));
}

TEST(ClientScriptTest, EnvelopeWithCrLfOrBracketIsRejectedByTheApi) {
  OpportunisticTlsPolicy policy;
  for (Mailbox bad : {Box("a\r\nRCPT TO:<x", "b.example"), Box("a>", "b.example"),
                      Box("a", "b.example>"), Box("a", std::string("b\0c", 3)),
                      Box(std::string(80, 'a'), "b.example")}) {
    OutboundMessage message = Message({"bob"});
    message.recipients[0].mailbox = bad;
    EXPECT_EQ(ClientSession::Create(ClientOpts(), Dest(), &policy,
                                    {std::move(message)}, kStart)
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
  }
  OutboundMessage bad_sender = Message({"bob"});
  bad_sender.sender = Box("x", "y\nz");
  EXPECT_FALSE(ClientSession::Create(ClientOpts(), Dest(), &policy,
                                     {std::move(bad_sender)}, kStart)
                   .ok());
}

TEST(ClientScriptTest, TimeoutsFollowRfc5321) {
  Scripted s({Message({"bob"})});
  ClientSession& c = s.client->session();
  EXPECT_EQ(c.NextDeadline(), kStart + absl::Minutes(5));  // greeting
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n")).ok());
  // Now waiting for the 354: two minutes from when DATA went out.
  EXPECT_EQ(c.NextDeadline(), absl::FromUnixSeconds(0) + absl::Minutes(2));
  ASSERT_TRUE(c.OnTimeout(absl::FromUnixSeconds(0) + absl::Minutes(3)).ok());
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(s.result().status, RecipientStatus::kTempFailed);
  EXPECT_EQ(s.result().stage, ClientStage::kData);
}

// Mandatory TLS, but messages marked "TLS-Required: No" waive it (RFC 8689).
class WaivablePolicy : public MandatoryPolicy {
 public:
  PolicyDecision ForMessage(const Destination&, const MessageTlsFlags& flags,
                            const EhloCapabilities&, const TlsFacts*,
                            const PolicyDecision& connection) override {
    PolicyDecision decision = connection;
    if (flags.tls_required_no && !flags.requiretls) {
      decision.verdict = DeliveryVerdict::kProceedPlaintext;
    }
    return decision;
  }
};

TEST(ClientScriptTest, TlsRequiredNoMessageGoesWhenThePolicyRefusesTheConnection) {
  WaivablePolicy policy;
  OutboundMessage waived = Message({"carol"});
  waived.tls_flags.tls_required_no = true;
  OutboundMessage both = Message({"dave"});
  both.tls_flags.tls_required_no = true;
  both.tls_flags.requiretls = true;  // REQUIRETLS wins: the header is ignored
  Scripted s({Message({"bob"}), std::move(waived), std::move(both)}, ClientOpts(),
             &policy);
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain,
      "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n")).ok());
  EXPECT_EQ(s.result(0).status, RecipientStatus::kTempFailed);
  EXPECT_EQ(s.result(1).status, RecipientStatus::kDelivered);
  EXPECT_EQ(s.result(2).status, RecipientStatus::kTempFailed);
  EXPECT_THAT(s.sent(), HasSubstr("RCPT TO:<carol@b.example>"));
  EXPECT_THAT(s.sent(), Not(HasSubstr("<bob@b.example>")));
  EXPECT_THAT(s.sent(), Not(HasSubstr("<dave@b.example>")));
}

TEST(ClientScriptTest, MandatoryPolicyNeverWritesEnvelopeInPlaintext) {
  MandatoryPolicy mandatory;
  Scripted s({Message({"bob"})}, ClientOpts(), &mandatory);
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloTls, "220 go\r\n", kEhloPlain,
      "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n")).ok());
  // The simulated handshake succeeded, so everything after STARTTLS is TLS.
  EXPECT_EQ(s.result().status, RecipientStatus::kDelivered);
  const std::string sent = s.sent();
  EXPECT_LT(sent.find("STARTTLS"), sent.find("MAIL FROM"));
}

// ---- replies out of step, whatever the segmentation ------------------------------

}  // namespace

// Reaches a transition the table does not have (only a bug could).
class ClientSessionTestPeer {
 public:
  static bool Transit(ClientSession& session, ClientInput input) {
    return session.Transit(input, client_state::Closed{});
  }
};

namespace {

// The server's bytes fed in two pieces cut at `cut` (npos: in one piece), or
// politely (one reply at a time) when `cut` is 0; the client's output is
// drained after every piece.
std::vector<std::string> ResultsFor(absl::string_view script, size_t cut,
                                    OutboundMessage message,
                                    absl::Status* fatal = nullptr) {
  Scripted s({std::move(message)});
  if (cut == 0) {
    (void)s.client->FeedPolitely(script);
  } else if (cut >= script.size()) {
    (void)s.client->Feed(script);
  } else {
    if (s.client->Feed(script.substr(0, cut)).ok()) {
      (void)s.client->Feed(script.substr(cut));
    }
  }
  s.client->Hangup();
  if (fatal != nullptr) *fatal = s.client->session().fatal_error();
  std::vector<std::string> out;
  for (const RecipientResult& r : s.client->session().results()[0].recipients) {
    out.push_back(absl::StrCat(r.mailbox.local_part, ":",
                               RecipientStatusName(r.status)));
  }
  return out;
}

// A reply slipped in between the 354 and the end of data takes the place of
// the end-of-data reply; the real one then answers QUIT, which only 221 may.
// However the bytes are cut, the message is never counted as delivered (or
// bounced): the replies were out of step.
TEST(ClientOutOfStepTest, SurplusReplyAfterThe354NeverCountsAsDelivery) {
  const std::string script = absl::StrCat(
      kGreeting, kEhloPlain,
      "250 ok\r\n250 ok\r\n354 go\r\n250 2.0.0 forged\r\n250 2.0.0 queued\r\n"
      "221 bye\r\n");
  for (size_t cut = 0; cut <= script.size(); ++cut) {
    absl::Status fatal;
    EXPECT_THAT(ResultsFor(script, cut, Message({"bob"}), &fatal),
                ::testing::ElementsAre("bob:temp-failed"))
        << "cut at " << cut;
    EXPECT_EQ(fatal.code(), absl::StatusCode::kAborted) << "cut at " << cut;
  }
}

// The injected reply is a refusal while the server really took the message:
// no bounce (the retry may duplicate; it never loses or wrongly returns it).
TEST(ClientOutOfStepTest, InjectedRefusalNeverBounces) {
  const std::string script = absl::StrCat(
      kGreeting, kEhloPlain,
      "250 ok\r\n250 ok\r\n354 go\r\n554 5.7.1 forged\r\n250 2.0.0 queued\r\n"
      "221 bye\r\n");
  for (size_t cut : {size_t{0}, script.size(), script.find("554")}) {
    EXPECT_THAT(ResultsFor(script, cut, Message({"bob"})),
                ::testing::ElementsAre("bob:temp-failed"))
        << "cut at " << cut;
  }
}

// A big body is still being written when the surplus reply arrives: with
// nothing outstanding it is fatal at once.
TEST(ClientOutOfStepTest, ReplyWhileTheBodyIsBeingWrittenIsFatal) {
  auto options = ClientOpts();
  options->output_high_water = 64;
  std::string body;
  for (int i = 0; i < 400; ++i) body += std::string(70, 'x') + "\r\n";
  Scripted s({Message({"bob"}, body)}, options);
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n")).ok());
  // The 354 and a reply behind it in one piece: the body is not yet sent.
  const absl::Status status = s.client->Feed("354 go\r\n250 2.0.0 forged\r\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.client->session().fatal_reason(), SessionError::kRepliesOutOfStep);
  EXPECT_EQ(s.result().status, RecipientStatus::kTempFailed);
  EXPECT_THAT(s.sent(), Not(HasSubstr("\r\n.\r\n")));
}

// Results stay tentative until a reply only its own command can get.
TEST(ClientOutOfStepTest, ResultsSettleAtA221) {
  Scripted s({Message({"bob"})});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n")).ok());
  EXPECT_EQ(s.result().status, RecipientStatus::kPending);
  EXPECT_FALSE(s.client->session().results()[0].done);
  ASSERT_TRUE(s.client->FeedPolitely("221 bye\r\n").ok());
  EXPECT_EQ(s.result().status, RecipientStatus::kDelivered);
  EXPECT_TRUE(s.client->session().results()[0].done);
}

TEST(ClientOutOfStepTest, RepliesOnlyAnotherCommandCanGetAreFatal) {
  for (absl::string_view reply :
       {"235 2.7.0 ok\r\n", "354 go\r\n", "221 bye\r\n", "334 x\r\n",
        "220 again\r\n", "211 status\r\n"}) {
    Scripted s({Message({"bob"})});
    ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(kGreeting, kEhloPlain)).ok());
    // The reply to MAIL.
    EXPECT_EQ(s.client->Feed(reply).code(), absl::StatusCode::kAborted) << reply;
    EXPECT_EQ(s.client->session().fatal_reason(),
              SessionError::kRepliesOutOfStep);
  }
}

// RFC 5321 §4.2: reply text is textstring. Control characters are a
// protocol error wherever the reply comes.
TEST(ClientReplyTextTest, ControlCharactersAreFatalInEveryState) {
  const std::vector<std::string> prefix = {
      "", std::string(kGreeting), absl::StrCat(kGreeting, kEhloPlain),
      absl::StrCat(kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n"),
      absl::StrCat(kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n")};
  for (const std::string& before : prefix) {
    for (char control : {'\0', '\x01', '\x07', '\x1b', '\x7f'}) {
      Scripted s({Message({"bob"})});
      ASSERT_TRUE(s.client->FeedPolitely(before).ok());
      const std::string reply =
          absl::StrCat("250 text", std::string(1, control), "here\r\n");
      EXPECT_EQ(s.client->Feed(reply).code(), absl::StatusCode::kAborted);
      EXPECT_EQ(s.client->session().fatal_reason(), SessionError::kMalformedReply);
      EXPECT_NE(s.result().status, RecipientStatus::kDelivered);
    }
  }
}

TEST(ClientReplyTextTest, Utf8OnlyFromAServerThatOffersSmtputf8) {
  Scripted plain({Message({"bob"})});
  ASSERT_TRUE(plain.client->FeedPolitely(absl::StrCat(kGreeting, kEhloPlain)).ok());
  EXPECT_EQ(plain.client->Feed("250 d\xc3\xa9j\xc3\xa0 vu\r\n").code(),
            absl::StatusCode::kAborted);

  Scripted utf8({Message({"bob"})});
  ASSERT_TRUE(utf8.client->FeedPolitely(absl::StrCat(
      kGreeting, "250-mx.b.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                 "250 SMTPUTF8\r\n",
      "250 d\xc3\xa9j\xc3\xa0 vu\r\n250 ok\r\n354 go\r\n250 queued\r\n"
      "221 bye\r\n")).ok());
  EXPECT_EQ(utf8.result().status, RecipientStatus::kDelivered);
}

// ---- what the client declares ---------------------------------------------------

TEST(ClientBodyTypeTest, EightBitBodyGoesWithBody8BitMime) {
  Scripted s({Message({"bob"}, "Subject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0\r\n")});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain,
      "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n")).ok());
  EXPECT_THAT(s.sent(), HasSubstr("MAIL FROM:<alice@a.example> BODY=8BITMIME\r\n"));
  EXPECT_EQ(s.result().status, RecipientStatus::kDelivered);
}

TEST(ClientBodyTypeTest, EightBitBodyNeverGoesToAServerWithout8BitMime) {
  Scripted s({Message({"bob"}, "d\xc3\xa9j\xc3\xa0\r\n")});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, "250-mx.b.example\r\n250 PIPELINING\r\n", "221 bye\r\n")).ok());
  EXPECT_EQ(s.result().status, RecipientStatus::kPermFailed);
  EXPECT_EQ(s.result().stage, ClientStage::kLocal);
  EXPECT_EQ(s.result().reply.code, 554);
  EXPECT_THAT(s.sent(), Not(HasSubstr("MAIL FROM")));
}

// A stream cannot say up front: an 8-bit octet in a body sent as 7BIT fails
// the message, and the connection drops before the end of data.
class StreamedBody : public BodySource {
 public:
  explicit StreamedBody(std::string body) : body_(std::move(body)) {}
  absl::StatusOr<absl::string_view> Read(size_t, bool* end) override {
    *end = true;
    return absl::string_view(body_);
  }

 private:
  std::string body_;
};

TEST(ClientBodyTypeTest, UndeclaredEightBitOctetFailsBeforeTheEndOfData) {
  OutboundMessage message = Message({"bob"});
  message.body = std::make_shared<StreamedBody>("plain\r\nthen 8-bit: \xe9\r\n");
  Scripted s({std::move(message)});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, kEhloPlain, "250 ok\r\n250 ok\r\n354 go\r\n")).ok());
  EXPECT_TRUE(s.client->session().closed());
  EXPECT_EQ(s.result().status, RecipientStatus::kPermFailed);
  EXPECT_THAT(s.result().detail, HasSubstr("8-bit"));
  EXPECT_THAT(s.sent(), Not(HasSubstr("\xe9")));
  EXPECT_THAT(s.sent(), Not(HasSubstr("\r\n.\r\n")));
}

// RFC 3461 §3: DSN parameters lengthen RCPT by 500 octets (real clients send
// 615-octet RCPT lines with NOTIFY and ORCPT that Postfix and Exim accept).
TEST(ClientLineLimitTest, DsnParametersMayExceed512Octets) {
  OutboundMessage message = Message({"bob"});
  DsnNotify notify;
  notify.success = notify.failure = notify.delay = true;
  message.recipients[0].dsn.notify = notify;
  message.recipients[0].dsn.orcpt =
      absl::StrCat("rfc822;", std::string(463, 'o'), "@b.example");
  Scripted s({std::move(message)});
  ASSERT_TRUE(s.client->FeedPolitely(absl::StrCat(
      kGreeting, "250-mx.b.example\r\n250-PIPELINING\r\n250 DSN\r\n")).ok());
  const std::string sent = s.sent();
  const size_t rcpt = sent.find("RCPT TO:");
  ASSERT_NE(rcpt, std::string::npos);
  EXPECT_GT(sent.find("\r\n", rcpt) - rcpt + 2, 512u);
  // Past what DSN allows: refused before anything is sent.
  OutboundMessage too_long = Message({"bob"});
  too_long.recipients[0].dsn.orcpt =
      absl::StrCat("rfc822;", std::string(1100, 'o'), "@b.example");
  OpportunisticTlsPolicy policy;
  std::vector<OutboundMessage> messages;
  messages.push_back(std::move(too_long));
  EXPECT_EQ(ClientSession::Create(ClientOpts(), Dest(), &policy,
                                  std::move(messages), kStart)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- the TLS handshake's edges ----------------------------------------------------

TEST(ClientTlsTest, StallAfterStartTlsIsClosedAtTheHandshakeDeadline) {
  Scripted s({Message({"bob"})});
  ClientSession& c = s.client->session();
  // Do not let the scripted client answer the handshake.
  auto options = ClientOpts();
  OpportunisticTlsPolicy policy;
  std::vector<OutboundMessage> messages;
  messages.push_back(Message({"bob"}));
  auto session =
      ClientSession::Create(options, Dest(), &policy, std::move(messages), kStart);
  ASSERT_TRUE(session.ok());
  ClientSession& client = **session;
  for (absl::string_view reply : {kGreeting, kEhloTls}) {
    ASSERT_TRUE(client.Receive(reply, kStart).ok());
    client.ConsumeOutput(client.PendingOutput().size(), kStart);
  }
  const absl::Time handshake = kStart + absl::Seconds(3);
  ASSERT_TRUE(client.Receive("220 go ahead\r\n", handshake).ok());
  ASSERT_EQ(client.state(), ClientState::kTlsHandshake);
  EXPECT_EQ(client.NextDeadline(), handshake + absl::Minutes(5));
  ASSERT_TRUE(client.OnTimeout(handshake + absl::Minutes(4)).ok());
  EXPECT_FALSE(client.closed());
  ASSERT_TRUE(client.OnTimeout(handshake + absl::Minutes(5)).ok());
  EXPECT_TRUE(client.closed());
  EXPECT_EQ(client.results()[0].recipients[0].stage, ClientStage::kTlsHandshake);
  EXPECT_EQ(client.results()[0].recipients[0].status, RecipientStatus::kTempFailed);
  (void)c;
}

// The server completes the handshake, then refuses us (a fatal alert about
// our certificate, or it just hangs up) before any reply over TLS: that is a
// failed handshake, judged by the policy, not "connection lost at EHLO".
TEST(ClientTlsTest, FailureAfterTheHandshakeBeforeAnyReplyIsTheHandshakes) {
  for (bool alert : {true, false}) {
    OpportunisticTlsPolicy policy;
    std::vector<OutboundMessage> messages;
    messages.push_back(Message({"bob"}));
    auto session = ClientSession::Create(ClientOpts(), Dest(), &policy,
                                         std::move(messages), kStart);
    ASSERT_TRUE(session.ok());
    ClientSession& client = **session;
    for (absl::string_view reply : {kGreeting, kEhloTls,
                                    absl::string_view("220 go ahead\r\n")}) {
      ASSERT_TRUE(client.Receive(reply, kStart).ok());
      client.ConsumeOutput(client.PendingOutput().size(), kStart);
    }
    ASSERT_TRUE(client.TlsEstablished(TlsFacts{}, kStart).ok());
    ASSERT_EQ(client.state(), ClientState::kEhlo);
    if (alert) {
      EXPECT_TRUE(client.TlsFailed("peer alert: bad_certificate", kStart).ok());
    } else {
      client.ConnectionLost("reset", kStart);
    }
    EXPECT_TRUE(client.closed());
    EXPECT_EQ(client.results()[0].recipients[0].stage, ClientStage::kTlsHandshake);
    EXPECT_EQ(client.results()[0].tls, nullptr);
  }
}

TEST(ClientSessionTest, MissingTableRowIsAStickyInternalErrorNotACrash) {
  Scripted s({Message({"bob"})});
  ClientSession& c = s.client->session();
  EXPECT_FALSE(ClientSessionTestPeer::Transit(c, ClientInput::kMailSent));
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.fatal_error().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(c.fatal_reason(), SessionError::kInternal);
  EXPECT_EQ(c.Receive("220 hi\r\n", kStart).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(c.TlsEstablished(TlsFacts{}, kStart).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(s.result().status, RecipientStatus::kTempFailed);
}

}  // namespace
}  // namespace starling::smtp
