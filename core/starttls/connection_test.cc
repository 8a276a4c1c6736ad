#include "core/starttls/connection.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"
#include "core/smtp/server_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tls/rng.h"
#include "core/tls/testing/test_pki.h"
#include "gtest/gtest.h"

namespace starling::starttls {
namespace {

using ::starling::tls::testing::CertKind;
using ::starling::tls::testing::TestPki;

const absl::Time kReference = absl::FromUnixSeconds(1700000000);

const TestPki& Pki() {
  static const std::shared_ptr<const TestPki> pki = TestPki::Get(7, kReference);
  return *pki;
}

tls::ChannelOptions ServerTls(CertKind kind = CertKind::kGood) {
  tls::ChannelOptions options;
  options.role = tls::Role::kServer;
  options.identities = {Pki().identity(kind)};
  options.trust = Pki().trust_store();
  options.rng = tls::SeededRng(1, "server");
  return options;
}

tls::ChannelOptions ClientTls() {
  tls::ChannelOptions options;
  options.role = tls::Role::kClient;
  options.trust = Pki().trust_store();
  options.rng = tls::SeededRng(1, "client");
  return options;
}

std::vector<smtp::OutboundMessage> OneMessage(std::string body) {
  smtp::OutboundMessage message;
  message.sender = smtp::Mailbox{"alice", "a.example"};
  message.recipients.push_back({smtp::Mailbox{"bob", "b.example"}, {}});
  message.body = std::make_shared<smtp::StringBodySource>(std::move(body));
  std::vector<smtp::OutboundMessage> messages;
  messages.push_back(std::move(message));
  return messages;
}

// A server connection answering every decision with "yes", and a client
// connection delivering one message, joined by an in-memory wire that moves
// at most `chunk` octets at a time.
struct Pair {
  explicit Pair(std::shared_ptr<smtp::ServerOptions> server_options,
                std::optional<tls::ChannelOptions> server_tls = ServerTls(),
                std::string body = "Subject: hi\r\n\r\nHello.\r\n") {
    server = std::make_unique<ServerConnection>(
        ServerConnection::Options{std::move(server_options), std::move(server_tls)});
    auto client_options = std::make_shared<smtp::ClientOptions>();
    client_options->helo_name = "relay.a.example";
    ClientConnection::Options options{client_options,
                                      {"b.example", Pki().host_name()},
                                      ClientTls()};
    client = *ClientConnection::Create(std::move(options), &policy,
                                       OneMessage(std::move(body)), kReference);
    EXPECT_TRUE(server->AcceptConnection(kReference).ok());
  }

  // Moves bytes both ways (`to_server` octets of the client's output at most
  // per round, everything the other way) until nothing moves.
  void Run(size_t to_server = SIZE_MAX, absl::Time now = kReference) {
    for (int round = 0; round < 100000; ++round) {
      bool moved = false;
      while (auto event = server->NextEvent()) {
        moved = true;
        server_events.push_back(event->type);
        switch (event->type) {
          case smtp::ServerEventType::kMessageData:
            body += event->data;
            break;
          case smtp::ServerEventType::kHelo:
          case smtp::ServerEventType::kMailFrom:
          case smtp::ServerEventType::kRcptTo:
          case smtp::ServerEventType::kMessageComplete:
            EXPECT_TRUE(server->Accept(now).ok());
            break;
          default:
            break;
        }
      }
      while (client->NextEvent()) moved = true;
      const std::string up(client->PendingWire().substr(0, to_server));
      if (!up.empty()) {
        moved = true;
        client->ConsumeWire(up.size(), now);
        if (!server->finished()) (void)server->ReceiveWire(up, now);
      }
      const std::string down(server->PendingWire());
      if (!down.empty()) {
        moved = true;
        server->ConsumeWire(down.size());
        if (!client->finished()) (void)client->ReceiveWire(down, now);
      }
      if (!moved) return;
    }
  }

  smtp::OpportunisticTlsPolicy policy;
  std::unique_ptr<ServerConnection> server;
  std::unique_ptr<ClientConnection> client;
  std::vector<smtp::ServerEventType> server_events;
  std::string body;
};

std::shared_ptr<smtp::ServerOptions> WithStartTls() {
  auto options = std::make_shared<smtp::ServerOptions>();
  options->hostname = Pki().host_name();
  options->offer_starttls = true;
  return options;
}

TEST(ConnectionTest, DeliversOverStartTlsAndEndsWithCloseNotify) {
  Pair pair(WithStartTls());
  pair.Run();
  const smtp::RecipientResult& r = pair.client->session().results()[0].recipients[0];
  EXPECT_EQ(r.status, smtp::RecipientStatus::kDelivered);
  ASSERT_NE(pair.client->session().tls(), nullptr);
  EXPECT_EQ(pair.client->session().tls()->version, TlsVersion::kTls12);
  ASSERT_NE(pair.server->session().tls(), nullptr);
  EXPECT_EQ(pair.body, "Subject: hi\r\n\r\nHello.\r\n");
  EXPECT_TRUE(pair.client->finished());
  EXPECT_TRUE(pair.server->finished());
  EXPECT_TRUE(pair.client->status().ok()) << pair.client->status();
  EXPECT_TRUE(pair.server->status().ok()) << pair.server->status();
  // Both ends said goodbye in TLS: close_notify went after the last reply.
  EXPECT_EQ(pair.client->pipe().mode(), TlsPipe::Mode::kClosed);
  // The plaintext part of the wire ended at the 220 to STARTTLS.
  EXPECT_LT(pair.server->pipe().tls_start(), UINT64_MAX);
}

TEST(ConnectionTest, PlaintextWhenTheServerHasNoTls) {
  Pair pair(WithStartTls(), std::nullopt);
  pair.Run();
  const smtp::RecipientResult& r = pair.client->session().results()[0].recipients[0];
  EXPECT_EQ(r.status, smtp::RecipientStatus::kDelivered);
  EXPECT_EQ(pair.client->session().tls(), nullptr);
  EXPECT_EQ(pair.server->pipe().tls_start(), UINT64_MAX);
}

TEST(ConnectionTest, ByteByByteGivesTheSameResult) {
  Pair pair(WithStartTls());
  pair.Run(/*to_server=*/1);
  EXPECT_EQ(pair.client->session().results()[0].recipients[0].status,
            smtp::RecipientStatus::kDelivered);
  EXPECT_EQ(pair.body, "Subject: hi\r\n\r\nHello.\r\n");
}

// A slow peer holds the session back: the body is read as the wire drains,
// never all at once.
TEST(ConnectionTest, BackpressureBoundsTheWireOutput) {
  std::string big;
  while (big.size() < 4 * 1024 * 1024) big += std::string(70, 'x') + "\r\n";
  Pair pair(WithStartTls(), ServerTls(), big);
  size_t max_pending = 0;
  for (int round = 0; round < 1000000 && !pair.client->finished(); ++round) {
    max_pending = std::max(max_pending, pair.client->PendingWire().size());
    pair.Run(/*to_server=*/64 * 1024);
    if (pair.client->PendingWire().empty() && pair.server->PendingWire().empty()) break;
  }
  EXPECT_EQ(pair.client->session().results()[0].recipients[0].status,
            smtp::RecipientStatus::kDelivered);
  EXPECT_EQ(pair.body.size(), big.size());
  EXPECT_LT(max_pending, 1024u * 1024u);
}

// CVE-2011-0411 class: a command pipelined behind STARTTLS in the same
// write never runs, in the clear or inside TLS.
TEST(ConnectionTest, CommandBehindStartTlsIsNeverExecuted) {
  ServerConnection server({WithStartTls(), ServerTls()});
  ASSERT_TRUE(server.AcceptConnection(kReference).ok());
  ASSERT_TRUE(server.ReceiveWire("EHLO a.example\r\n", kReference).ok());
  while (server.NextEvent()) {
  }
  ASSERT_TRUE(server.Accept(kReference).ok());
  server.ConsumeWire(server.PendingWire().size());
  EXPECT_EQ(server.ReceiveWire("STARTTLS\r\nMAIL FROM:<evil@a.example>\r\n",
                               kReference)
                .code(),
            absl::StatusCode::kAborted);
  std::vector<smtp::ServerEventType> events;
  while (auto event = server.NextEvent()) events.push_back(event->type);
  for (smtp::ServerEventType type : events) {
    EXPECT_NE(type, smtp::ServerEventType::kMailFrom);
  }
  EXPECT_TRUE(server.finished());
}

// CVE-2021-22947 class: bytes behind the server's 220 to STARTTLS are never
// parsed and the handshake never starts.
TEST(ConnectionTest, ReplyBehindThe220IsResponseInjection) {
  auto client_options = std::make_shared<smtp::ClientOptions>();
  smtp::OpportunisticTlsPolicy policy;
  auto client = *ClientConnection::Create(
      {client_options, {"b.example", Pki().host_name()}, ClientTls()}, &policy,
      OneMessage("x\r\n"), kReference);
  ASSERT_TRUE(client->ReceiveWire("220 mx ESMTP\r\n", kReference).ok());
  client->ConsumeWire(client->PendingWire().size(), kReference);
  ASSERT_TRUE(client->ReceiveWire("250-mx\r\n250 STARTTLS\r\n", kReference).ok());
  client->ConsumeWire(client->PendingWire().size(), kReference);
  EXPECT_EQ(client->ReceiveWire("220 go\r\n250 AUTH PLAIN\r\n", kReference).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(client->session().fatal_reason(), smtp::SessionError::kResponseInjection);
  EXPECT_EQ(client->pipe().mode(), TlsPipe::Mode::kClear);
  EXPECT_TRUE(client->finished());
}

// The server's certificate fails the handshake (here: the client trusts
// nothing the server has, under a policy that needs TLS): a failed
// handshake judged by the policy, nothing sent over the failed channel.
TEST(ConnectionTest, ServerRequiringAClientCertificateFailsTheHandshake) {
  tls::ChannelOptions server_tls = ServerTls();
  server_tls.policy.client_auth = tls::ClientAuth::kRequire;
  Pair pair(WithStartTls(), std::move(server_tls));
  pair.Run();
  const smtp::RecipientResult& r = pair.client->session().results()[0].recipients[0];
  EXPECT_EQ(r.status, smtp::RecipientStatus::kTempFailed);
  EXPECT_EQ(r.stage, smtp::ClientStage::kTlsHandshake);
  EXPECT_TRUE(pair.client->tls_failure().has_value());
  EXPECT_TRUE(pair.server->tls_failure().has_value());
  EXPECT_TRUE(pair.client->finished());
  EXPECT_TRUE(pair.server->finished());
}

// A client that stalls after STARTTLS is closed at the handshake deadline.
TEST(ConnectionTest, StallInTheHandshakeEndsAtTheDeadline) {
  ServerConnection server({WithStartTls(), ServerTls()});
  ASSERT_TRUE(server.AcceptConnection(kReference).ok());
  ASSERT_TRUE(server.ReceiveWire("EHLO a.example\r\n", kReference).ok());
  while (server.NextEvent()) {
  }
  ASSERT_TRUE(server.Accept(kReference).ok());
  ASSERT_TRUE(server.ReceiveWire("STARTTLS\r\n", kReference).ok());
  EXPECT_TRUE(absl::EndsWith(server.PendingWire(), "220 2.0.0 Ready to start TLS\r\n"));
  EXPECT_EQ(server.NextDeadline(), kReference + absl::Minutes(5));
  ASSERT_TRUE(server.OnTimeout(kReference + absl::Minutes(5)).ok());
  EXPECT_TRUE(server.finished());
}

TEST(ConnectionTest, LostConnectionMidDataAbortsTheMessage) {
  auto options = WithStartTls();
  options->offer_starttls = false;
  ServerConnection server({options, std::nullopt});
  ASSERT_TRUE(server.AcceptConnection(kReference).ok());
  for (absl::string_view line :
       {"EHLO a.example\r\n", "MAIL FROM:<a@a.example>\r\n", "RCPT TO:<b@b.example>\r\n"}) {
    ASSERT_TRUE(server.ReceiveWire(line, kReference).ok());
    while (server.NextEvent()) {
    }
    ASSERT_TRUE(server.Accept(kReference).ok());
  }
  ASSERT_TRUE(server.ReceiveWire("DATA\r\n", kReference).ok());
  ASSERT_TRUE(server.ReceiveWire("Subject: half\r\n", kReference).ok());
  while (server.NextEvent()) {
  }
  server.ConnectionLost(kReference);
  std::vector<smtp::ServerEventType> events;
  while (auto event = server.NextEvent()) events.push_back(event->type);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], smtp::ServerEventType::kMessageAborted);
  EXPECT_EQ(events[1], smtp::ServerEventType::kClosed);
  EXPECT_TRUE(server.finished());
}

}  // namespace
}  // namespace starling::starttls
