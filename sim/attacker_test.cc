// Each attack rewrites exactly what it says, whatever the segmentation of the
// writes; against real TLS channels and a real SMTP client and partner, none
// of them gets a message through TLS that the client did not mean to send.
#include "sim/attacker.h"

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
#include "sim/partner.h"
#include "sim/random.h"
#include "sim/scheduler.h"
#include "sim/smtp_endpoint.h"

namespace starling::sim {
namespace {

using ::starling::tls::testing::CertKind;
using ::starling::tls::testing::TestPki;

const absl::Time kReference = absl::FromUnixSeconds(1700000000);

std::shared_ptr<const TestPki> Pki() {
  static const std::shared_ptr<const TestPki> pki = TestPki::Get(7, kReference);
  return pki;
}

struct Write {
  Side from;
  std::string bytes;
};

// What each side received.
struct Wire {
  std::string to_server;  // A -> B
  std::string to_client;  // B -> A
  size_t strikes = 0;
  bool tls_started = false;
};

// Runs `script` through a fresh attacker, each write cut into pieces of
// `piece` octets (0: whole), then closes both directions.
Wire RunScript(AttackKind kind, const std::vector<Write>& script,
               size_t piece = 0) {
  std::unique_ptr<Attacker> attacker = MakeAttacker(kind);
  Wire wire;
  for (const Write& write : script) {
    std::string& out = write.from == Side::kA ? wire.to_server : wire.to_client;
    absl::string_view rest = write.bytes;
    while (!rest.empty()) {
      const size_t n = piece == 0 ? rest.size() : std::min(piece, rest.size());
      out += attacker->Rewrite(write.from, rest.substr(0, n));
      rest.remove_prefix(n);
    }
  }
  wire.to_server += attacker->Flush(Side::kA);
  wire.to_client += attacker->Flush(Side::kB);
  wire.strikes = attacker->strikes();
  wire.tls_started = attacker->tls_started();
  return wire;
}

// The same script, every write cut in two at every point, and cut into
// pieces of every size up to 12: the wire must not depend on segmentation.
void ExpectSegmentationIndependent(AttackKind kind,
                                   const std::vector<Write>& script,
                                   const Wire& expected) {
  for (size_t piece = 1; piece <= 12; ++piece) {
    const Wire wire = RunScript(kind, script, piece);
    EXPECT_EQ(wire.to_server, expected.to_server) << "piece " << piece;
    EXPECT_EQ(wire.to_client, expected.to_client) << "piece " << piece;
    EXPECT_EQ(wire.strikes, expected.strikes) << "piece " << piece;
  }
  for (size_t w = 0; w < script.size(); ++w) {
    for (size_t cut = 1; cut < script[w].bytes.size(); ++cut) {
      std::vector<Write> split;
      for (size_t i = 0; i < script.size(); ++i) {
        if (i != w) {
          split.push_back(script[i]);
          continue;
        }
        split.push_back({script[i].from, script[i].bytes.substr(0, cut)});
        split.push_back({script[i].from, script[i].bytes.substr(cut)});
      }
      const Wire wire = RunScript(kind, split);
      EXPECT_EQ(wire.to_server, expected.to_server)
          << "write " << w << " cut at " << cut;
      EXPECT_EQ(wire.to_client, expected.to_client)
          << "write " << w << " cut at " << cut;
    }
  }
}

const char kGreeting[] = "220 mx.example.net ESMTP Starling\r\n";
const char kEhlo[] = "EHLO relay.example.org\r\n";
const char kEhloReply[] =
    "250-mx.example.net\r\n250-PIPELINING\r\n250-STARTTLS\r\n"
    "250 8BITMIME\r\n";
const char kReady[] = "220 2.0.0 Ready to start TLS\r\n";

// Up to the 220 to STARTTLS.
std::vector<Write> UpToStartTls() {
  return {{Side::kB, kGreeting},
          {Side::kA, kEhlo},
          {Side::kB, kEhloReply},
          {Side::kA, "STARTTLS\r\n"},
          {Side::kB, kReady}};
}

// A minimal TLS 1.2 ClientHello record (not a valid offer, but the right
// shape), then a second record.
std::string FakeClientHello() {
  std::string body;
  body += std::string("\x03\x03", 2);          // client_version TLS 1.2
  body += std::string(32, '\x5a');             // random
  body += std::string("\x00", 1);              // session id
  body += std::string("\x00\x02\xc0\x2b", 4);  // one suite
  body += std::string("\x01\x00", 2);          // compression: null
  // Extensions: supported_versions (43) listing TLS 1.2 and 1.1, then an
  // unknown one whose data looks like versions.
  body += std::string("\x00\x0f", 2);
  body += std::string("\x00\x2b\x00\x05\x04\x03\x03\x03\x02", 9);
  body += std::string("\x12\x34\x00\x02\x03\x03", 6);
  std::string handshake = std::string("\x01\x00", 2);
  handshake += static_cast<char>(body.size() >> 8);
  handshake += static_cast<char>(body.size() & 0xff);
  handshake += body;
  std::string record = std::string("\x16\x03\x03", 3);
  record += static_cast<char>(handshake.size() >> 8);
  record += static_cast<char>(handshake.size() & 0xff);
  record += handshake;
  return record;
}

TEST(AttackKindTest, NamesRoundTrip) {
  std::set<std::string> names;
  for (AttackKind kind : AllAttackKinds()) {
    const absl::string_view name = AttackKindName(kind);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.emplace(name).second) << name;
    absl::StatusOr<AttackKind> parsed = ParseAttackKind(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kind);
    EXPECT_EQ(MakeAttacker(kind)->kind(), kind);
  }
  EXPECT_EQ(names.size(), kAttackKindCount);
  EXPECT_EQ(*ParseAttackKind("STRIP-StartTLS"), AttackKind::kStripStartTls);
  EXPECT_EQ(ParseAttackKind("strip").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseAttackKind("").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StripStartTlsTest, HidesTheCapabilityAndBreaksTheCommand) {
  const std::vector<Write> script = {
      {Side::kB, "220 mx.example.net STARTTLS greeting untouched\r\n"},
      {Side::kA, kEhlo},
      {Side::kB, kEhloReply},
      {Side::kA, "STARTTLS\r\n"},  // a client that tries anyway
      {Side::kB, "500 5.5.2 Unrecognized command\r\n"},
      {Side::kA,
       "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
       "DATA\r\n"},
      {Side::kB, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n"},
      // Body lines are the message: never touched.
      {Side::kA, "Subject: x\r\n\r\nSTARTTLS\r\n250-STARTTLS\r\n.\r\n"},
      {Side::kB, "250 2.0.0 Ok\r\n"},
      {Side::kA, "EHLO again.example\r\n"},
      {Side::kB, "250-mx.example.net\r\n250 starttls\r\n"},
      {Side::kA, "QUIT\r\n"},
      {Side::kB, "221 2.0.0 Bye\r\n"},
  };
  Wire expected;
  expected.to_client =
      "220 mx.example.net STARTTLS greeting untouched\r\n"
      "250-mx.example.net\r\n250-PIPELINING\r\n250-XXXXXXXA\r\n"
      "250 8BITMIME\r\n"
      "500 5.5.2 Unrecognized command\r\n"
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n"
      "250 2.0.0 Ok\r\n"
      "250-mx.example.net\r\n250 XXXXXXXA\r\n"
      "221 2.0.0 Bye\r\n";
  expected.to_server =
      "EHLO relay.example.org\r\n"
      "XXXXXXXA\r\n"
      "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
      "Subject: x\r\n\r\nSTARTTLS\r\n250-STARTTLS\r\n.\r\n"
      "EHLO again.example\r\n"
      "QUIT\r\n";
  expected.strikes = 3;
  const Wire wire = RunScript(AttackKind::kStripStartTls, script);
  EXPECT_EQ(wire.to_client, expected.to_client);
  EXPECT_EQ(wire.to_server, expected.to_server);
  EXPECT_EQ(wire.strikes, 3u);
  EXPECT_FALSE(wire.tls_started);
  ExpectSegmentationIndependent(AttackKind::kStripStartTls, script, expected);
}

TEST(StripStartTlsTest, ChunkedBodiesAreCountedNotRead) {
  const std::vector<Write> script = {
      {Side::kB, kGreeting},
      {Side::kA, kEhlo},
      {Side::kB, "250-mx.example.net\r\n250 CHUNKING\r\n"},
      {Side::kA, "BDAT 10 LAST\r\nSTARTTLS\r\n"},  // 10 body octets
      {Side::kB, "250 2.0.0 Ok\r\n"},
      {Side::kA, "STARTTLS\r\n"},
  };
  const Wire wire = RunScript(AttackKind::kStripStartTls, script);
  EXPECT_EQ(wire.to_server,
            "EHLO relay.example.org\r\nBDAT 10 LAST\r\nSTARTTLS\r\n"
            "XXXXXXXA\r\n");
}

TEST(StripStartTlsTest, HeldPartialLinesAreFlushedAtClose) {
  const Wire wire =
      RunScript(AttackKind::kStripStartTls,
                {{Side::kB, "220 mx ready\r\n250-STAR"}, {Side::kA, "QUI"}});
  EXPECT_EQ(wire.to_client, "220 mx ready\r\n250-STAR");
  EXPECT_EQ(wire.to_server, "QUI");
}

TEST(InjectServerReplyTest, AppendsForgedRepliesToThe220ToStartTls) {
  std::vector<Write> script = UpToStartTls();
  const std::string hello = FakeClientHello();
  // After the 220 everything is TLS: passed on as it is.
  script.push_back({Side::kA, hello});
  script.push_back({Side::kB, "\x16\x03\x03 220 250 STARTTLS\r\n"});
  Wire expected;
  expected.to_client =
      absl::StrCat(kGreeting, kEhloReply, kReady, kInjectedServerReplies,
                   "\x16\x03\x03 220 250 STARTTLS\r\n");
  expected.to_server = absl::StrCat(kEhlo, "STARTTLS\r\n", hello);
  expected.strikes = 1;
  const Wire wire = RunScript(AttackKind::kInjectServerReply, script);
  EXPECT_EQ(wire.to_client, expected.to_client);
  EXPECT_EQ(wire.to_server, expected.to_server);
  EXPECT_EQ(wire.strikes, 1u);
  EXPECT_TRUE(wire.tls_started);
  ExpectSegmentationIndependent(AttackKind::kInjectServerReply, script,
                                expected);
}

TEST(InjectServerReplyTest, NothingWhenStartTlsIsRefused) {
  const Wire wire = RunScript(AttackKind::kInjectServerReply,
                              {{Side::kB, kGreeting},
                               {Side::kA, kEhlo},
                               {Side::kB, kEhloReply},
                               {Side::kA, "STARTTLS\r\n"},
                               {Side::kB, "454 4.7.0 TLS not available\r\n"},
                               {Side::kA, "MAIL FROM:<a@example.org>\r\n"},
                               {Side::kB, "220 not a reply to STARTTLS\r\n"}});
  EXPECT_EQ(wire.strikes, 0u);
  EXPECT_FALSE(wire.tls_started);
  EXPECT_FALSE(absl::StrContains(wire.to_client, "FORGED"));
}

TEST(InjectServerReplyTest, PipelinedRepliesAreMatchedInOrder) {
  // The 220 answering MAIL (nonsense, but a 220) must not be taken for the
  // reply to STARTTLS, which comes after it.
  const Wire wire = RunScript(AttackKind::kInjectServerReply,
                              {{Side::kB, kGreeting},
                               {Side::kA, kEhlo},
                               {Side::kB, kEhloReply},
                               {Side::kA, "RSET\r\nSTARTTLS\r\n"},
                               {Side::kB, "220 odd\r\n"},
                               {Side::kB, "220 ready\r\n"}});
  EXPECT_EQ(wire.strikes, 1u);
  EXPECT_TRUE(absl::EndsWith(
      wire.to_client,
      absl::StrCat("220 odd\r\n220 ready\r\n", kInjectedServerReplies)));
}

TEST(InjectClientCommandTest, AppendsACommandToStartTls) {
  std::vector<Write> script = UpToStartTls();
  script.push_back({Side::kA, FakeClientHello()});
  script.push_back({Side::kA, "MAIL FROM:<inside@tls>\r\n"});  // "TLS"
  Wire expected;
  expected.to_client = absl::StrCat(kGreeting, kEhloReply, kReady);
  expected.to_server =
      absl::StrCat(kEhlo, "STARTTLS\r\n", kInjectedClientCommand,
                   FakeClientHello(), "MAIL FROM:<inside@tls>\r\n");
  expected.strikes = 1;
  const Wire wire = RunScript(AttackKind::kInjectClientCommand, script);
  EXPECT_EQ(wire.to_client, expected.to_client);
  EXPECT_EQ(wire.to_server, expected.to_server);
  EXPECT_TRUE(wire.tls_started);
  ExpectSegmentationIndependent(AttackKind::kInjectClientCommand, script,
                                expected);
  // Lower case and trailing blanks are still STARTTLS.
  const Wire lower =
      RunScript(AttackKind::kInjectClientCommand,
                {{Side::kB, kGreeting}, {Side::kA, "starttls \r\n"}});
  EXPECT_EQ(lower.to_server,
            absl::StrCat("starttls \r\n", kInjectedClientCommand));
}

TEST(TlsDowngradeTest, RewritesTheClientHelloVersionsOnly) {
  std::vector<Write> script = UpToStartTls();
  const std::string hello = FakeClientHello();
  const std::string second("\x17\x03\x03\x00\x02\x03\x03", 7);
  const std::string answer("\x16\x03\x03\x00\x01\x02", 6);
  script.push_back({Side::kA, hello + second});
  script.push_back({Side::kB, answer});
  std::string downgraded = hello;
  downgraded[2] = '\x01';
  downgraded[10] = '\x01';
  const size_t versions = hello.size() - 6 - 4;  // in supported_versions
  ASSERT_EQ(hello.substr(versions, 4), std::string("\x03\x03\x03\x02", 4));
  downgraded[versions + 1] = '\x01';
  downgraded[versions + 3] = '\x01';
  Wire expected;
  expected.to_client = absl::StrCat(kGreeting, kEhloReply, kReady, answer);
  expected.to_server = absl::StrCat(kEhlo, "STARTTLS\r\n", downgraded, second);
  expected.strikes = 1;
  const Wire wire = RunScript(AttackKind::kTlsDowngrade, script);
  EXPECT_EQ(wire.to_server, expected.to_server);
  EXPECT_EQ(wire.to_client, expected.to_client);
  EXPECT_EQ(wire.strikes, 1u);
  ExpectSegmentationIndependent(AttackKind::kTlsDowngrade, script, expected);
}

TEST(TlsDowngradeTest, LeavesPlaintextAndFailedStartTlsAlone) {
  const Wire wire =
      RunScript(AttackKind::kTlsDowngrade, {{Side::kB, kGreeting},
                                            {Side::kA, kEhlo},
                                            {Side::kB, kEhloReply},
                                            {Side::kA, "STARTTLS\r\n"},
                                            {Side::kB, "454 4.7.0 no\r\n"},
                                            {Side::kA, FakeClientHello()}});
  EXPECT_EQ(wire.strikes, 0u);
  EXPECT_EQ(wire.to_server,
            absl::StrCat(kEhlo, "STARTTLS\r\n", FakeClientHello()));
  // An unfinished record is handed over at close, unchanged.
  const std::string hello = FakeClientHello();
  std::vector<Write> script = UpToStartTls();
  script.push_back({Side::kA, hello.substr(0, 20)});
  const Wire cut = RunScript(AttackKind::kTlsDowngrade, script);
  EXPECT_TRUE(absl::EndsWith(cut.to_server, hello.substr(0, 20)));
}

// Real Botan channels, the client's first flight through the attacker.
struct HandshakeOutcome {
  std::optional<tls::ChannelEvent> client_done;  // complete or failed
  std::optional<tls::ChannelEvent> server_done;
  size_t strikes = 0;
};

HandshakeOutcome Handshake(TlsVersion client_min, TlsVersion server_min,
                           bool attack) {
  tls::ChannelOptions client_options;
  client_options.role = tls::Role::kClient;
  client_options.server_name = "mx.example.net";
  client_options.trust = Pki()->trust_store();
  client_options.rng = tls::SeededRng(1, "client");
  client_options.policy.min_version = client_min;
  tls::ChannelOptions server_options;
  server_options.role = tls::Role::kServer;
  server_options.identities = {Pki()->identity(CertKind::kGood)};
  server_options.rng = tls::SeededRng(1, "server");
  server_options.policy.min_version = server_min;
  absl::StatusOr<tls::Channel> client = tls::Channel::Create(client_options);
  absl::StatusOr<tls::Channel> server = tls::Channel::Create(server_options);
  EXPECT_TRUE(client.ok() && server.ok());
  HandshakeOutcome outcome;
  if (!client.ok() || !server.ok()) return outcome;

  std::unique_ptr<Attacker> attacker = MakeAttacker(AttackKind::kTlsDowngrade);
  for (const Write& w : UpToStartTls()) attacker->Rewrite(w.from, w.bytes);
  EXPECT_TRUE(attacker->tls_started());

  auto collect = [](tls::Channel& channel,
                    std::optional<tls::ChannelEvent>& done) {
    while (std::optional<tls::ChannelEvent> event = channel.NextEvent()) {
      if (event->type == tls::ChannelEventType::kHandshakeComplete ||
          event->type == tls::ChannelEventType::kFailed) {
        if (!done.has_value()) done = *event;
      }
    }
  };
  for (int round = 0; round < 20; ++round) {
    bool moved = false;
    const std::string from_client(client->PendingOutput());
    client->ConsumeOutput(from_client.size());
    if (!from_client.empty()) {
      moved = true;
      const std::string wire =
          attack ? attacker->Rewrite(Side::kA, from_client) : from_client;
      (void)server->Receive(wire, kReference);
    }
    collect(*server, outcome.server_done);
    const std::string from_server(server->PendingOutput());
    server->ConsumeOutput(from_server.size());
    if (!from_server.empty()) {
      moved = true;
      (void)client->Receive(from_server, kReference);
    }
    collect(*client, outcome.client_done);
    if (!moved) break;
  }
  outcome.strikes = attacker->strikes();
  return outcome;
}

TEST(TlsDowngradeTest, WithoutTheAttackBothAllowingTls10NegotiateTls12) {
  const HandshakeOutcome outcome =
      Handshake(TlsVersion::kTls10, TlsVersion::kTls10, /*attack=*/false);
  ASSERT_TRUE(outcome.client_done.has_value());
  ASSERT_EQ(outcome.client_done->type,
            tls::ChannelEventType::kHandshakeComplete);
  EXPECT_EQ(outcome.client_done->facts.version, TlsVersion::kTls12);
}

TEST(TlsDowngradeTest, TheClientDetectsTheDowngradeWhenBothAllowTls10) {
  const HandshakeOutcome outcome =
      Handshake(TlsVersion::kTls10, TlsVersion::kTls10, /*attack=*/true);
  EXPECT_EQ(outcome.strikes, 1u);
  // The server, offered nothing but TLS 1.0, negotiates it and marks its
  // random with the downgrade sentinel (RFC 8446 §4.1.3, which Botan 2
  // implements for TLS 1.2 too); the client, which offered TLS 1.2, sees
  // the sentinel and aborts with illegal_parameter. (Without the sentinel
  // the Finished messages, computed over different ClientHellos, would not
  // verify.) No TLS 1.0 session ever completes.
  ASSERT_TRUE(outcome.client_done.has_value());
  EXPECT_EQ(outcome.client_done->type, tls::ChannelEventType::kFailed);
  EXPECT_EQ(outcome.client_done->alert_name, "illegal_parameter")
      << outcome.client_done->detail;
  ASSERT_TRUE(outcome.server_done.has_value());
  EXPECT_EQ(outcome.server_done->type, tls::ChannelEventType::kFailed);
  EXPECT_EQ(outcome.server_done->reason, tls::FailureReason::kPeerAlert);
}

TEST(TlsDowngradeTest, AServerThatRequiresTls12RefusesTheHello) {
  const HandshakeOutcome outcome =
      Handshake(TlsVersion::kTls12, TlsVersion::kTls12, /*attack=*/true);
  ASSERT_TRUE(outcome.server_done.has_value());
  EXPECT_EQ(outcome.server_done->type, tls::ChannelEventType::kFailed);
  EXPECT_EQ(outcome.server_done->reason, tls::FailureReason::kProtocolVersion)
      << outcome.server_done->detail;
  ASSERT_TRUE(outcome.client_done.has_value());
  EXPECT_EQ(outcome.client_done->type, tls::ChannelEventType::kFailed);
  EXPECT_EQ(outcome.client_done->reason, tls::FailureReason::kPeerAlert);
  EXPECT_EQ(outcome.client_done->alert_name, "protocol_version");
}

// One delivery by an opportunistic client to a good partner over a link
// with an attacker, pieces of up to 7 octets.
struct Delivery {
  smtp::RecipientResult recipient;
  std::shared_ptr<const TlsFacts> message_tls;
  std::optional<tls::FailureReason> client_failure;
  std::string client_clear;
  std::string server_clear;
  std::vector<std::string> client_errors;
  std::vector<std::string> server_errors;
  size_t strikes = 0;
  std::vector<ReceivedMessage> accepted;
  size_t server_tls_sessions = 0;
};

Delivery Deliver(AttackKind kind, uint64_t seed) {
  Scheduler scheduler(kReference);
  Partner partner(&scheduler, PartnerOptions{PartnerProfile::kGood, Pki(),
                                             absl::Seconds(1)});
  smtp::OpportunisticTlsPolicy policy;
  ClientEndpointOptions options;
  auto smtp_options = std::make_shared<smtp::ClientOptions>();
  smtp_options->helo_name = "relay.example.org";
  options.smtp = smtp_options;
  options.destination = {"example.net", "mx.example.net", 10, true};
  options.tls.role = tls::Role::kClient;
  options.tls.trust = Pki()->trust_store();
  options.tls.rng = tls::SeededRng(seed, "client");
  const std::string body = "Subject: attacked\r\n\r\nHello.\r\n";
  smtp::OutboundMessage message;
  message.sender = smtp::Mailbox{"alice", "example.org"};
  message.recipients.push_back({smtp::Mailbox{"bob", "example.net"}, {}});
  message.size = body.size();
  message.body = std::make_shared<smtp::StringBodySource>(body);
  std::vector<smtp::OutboundMessage> messages;
  messages.push_back(std::move(message));
  absl::StatusOr<std::unique_ptr<ClientEndpoint>> client =
      ClientEndpoint::Create(&scheduler, std::move(options), &policy,
                             std::move(messages));
  EXPECT_TRUE(client.ok()) << client.status();
  std::unique_ptr<PartnerConnection> server = partner.NewConnection(seed);
  LinkOptions link_options;
  link_options.max_segment = 7;
  link_options.faults.tamper = [kind] { return MakeAttacker(kind); };
  Link link(&scheduler, Random(seed).Fork(1), link_options, client->get(),
            server.get());
  (*client)->Attach(&link);
  server->Attach(&link);
  (*client)->set_record_sent(true);
  server->set_record_sent(true);
  EXPECT_TRUE(link.Connect().ok());
  EXPECT_TRUE(scheduler.RunUntilIdle().ok());

  Delivery out;
  const smtp::ClientSession& session = (*client)->session();
  EXPECT_TRUE(session.closed());
  if (!session.results().empty() && !session.results()[0].recipients.empty()) {
    out.recipient = session.results()[0].recipients[0];
    out.message_tls = session.results()[0].tls;
  }
  out.client_failure = (*client)->handshake_failure();
  out.client_clear = (*client)->sent_clear();
  out.server_clear = server->sent_clear();
  out.client_errors = (*client)->errors();
  out.server_errors = server->errors();
  out.strikes = static_cast<Attacker*>(link.tamper())->strikes();
  out.accepted = partner.messages();
  out.server_tls_sessions = partner.tls_sessions();
  return out;
}

constexpr uint64_t kSeeds = 12;

TEST(AttackOverLinkTest, StripStartTlsWinsAgainstOpportunisticTls) {
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(seed);
    const Delivery d = Deliver(AttackKind::kStripStartTls, seed);
    EXPECT_EQ(d.recipient.status, smtp::RecipientStatus::kDelivered)
        << d.recipient.detail;
    EXPECT_EQ(d.message_tls, nullptr);
    EXPECT_GE(d.strikes, 1u);
    // The server offered it; the client never saw it, so never asked.
    EXPECT_TRUE(absl::StrContains(d.server_clear, "STARTTLS"));
    EXPECT_FALSE(absl::StrContains(d.client_clear, "STARTTLS"));
    EXPECT_TRUE(absl::StrContains(d.client_clear, "Hello."));
    ASSERT_EQ(d.accepted.size(), 1u);
    EXPECT_FALSE(d.accepted[0].over_tls);
  }
}

TEST(AttackOverLinkTest, InjectedServerRepliesAreNeverRead) {
  std::set<std::string> ways;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(seed);
    const Delivery d = Deliver(AttackKind::kInjectServerReply, seed);
    EXPECT_EQ(d.strikes, 1u);
    EXPECT_EQ(d.recipient.status, smtp::RecipientStatus::kTempFailed)
        << d.recipient.detail;
    EXPECT_TRUE(d.accepted.empty());
    EXPECT_FALSE(absl::StrContains(d.client_clear, "MAIL FROM"));
    const std::string errors = absl::StrJoin(d.client_errors, "\n");
    if (absl::StrContains(errors, "response injection")) {
      ways.insert("injection detected");
    } else {
      // The forged bytes arrived after the client started TLS: they were
      // read as a broken TLS record.
      EXPECT_TRUE(d.client_failure.has_value()) << errors;
      ways.insert("tls failed");
    }
  }
  EXPECT_FALSE(ways.empty());
}

TEST(AttackOverLinkTest, InjectedClientCommandsAreNeverExecuted) {
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(seed);
    const Delivery d = Deliver(AttackKind::kInjectClientCommand, seed);
    EXPECT_EQ(d.strikes, 1u);
    EXPECT_NE(d.recipient.status, smtp::RecipientStatus::kDelivered)
        << d.recipient.detail;
    for (const ReceivedMessage& m : d.accepted) {
      EXPECT_NE(m.sender, "attacker@evil.example");
    }
    EXPECT_TRUE(d.accepted.empty());
    EXPECT_EQ(d.server_tls_sessions, 0u)
        << absl::StrJoin(d.server_errors, "\n");
  }
}

TEST(AttackOverLinkTest, DowngradedHelloFailsTheHandshake) {
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(seed);
    const Delivery d = Deliver(AttackKind::kTlsDowngrade, seed);
    EXPECT_EQ(d.strikes, 1u);
    EXPECT_EQ(d.recipient.status, smtp::RecipientStatus::kTempFailed);
    EXPECT_EQ(d.recipient.stage, smtp::ClientStage::kTlsHandshake)
        << smtp::ClientStageName(d.recipient.stage) << ": "
        << d.recipient.detail;
    ASSERT_TRUE(d.client_failure.has_value());
    EXPECT_EQ(d.server_tls_sessions, 0u);
    EXPECT_TRUE(d.accepted.empty());
    EXPECT_FALSE(absl::StrContains(d.client_clear, "MAIL FROM"));
  }
}

}  // namespace
}  // namespace starling::sim
