#include "core/starttls/tls_pipe.h"

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
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

tls::ChannelOptions Client() {
  tls::ChannelOptions options;
  options.role = tls::Role::kClient;
  options.server_name = Pki().host_name();
  options.trust = Pki().trust_store();
  options.rng = tls::SeededRng(1, "client");
  return options;
}

tls::ChannelOptions Server() {
  tls::ChannelOptions options;
  options.role = tls::Role::kServer;
  options.identities = {Pki().identity(CertKind::kGood)};
  options.rng = tls::SeededRng(1, "server");
  return options;
}

// Moves network output both ways until nothing moves; collects events.
void Shuttle(TlsPipe& a, TlsPipe& b, std::vector<tls::ChannelEvent>* a_events,
             std::vector<tls::ChannelEvent>* b_events) {
  for (int round = 0; round < 20; ++round) {
    bool moved = false;
    for (auto [from, to, events] :
         {std::tuple(&a, &b, b_events), std::tuple(&b, &a, a_events)}) {
      const std::string out(from->NetworkOutput());
      from->ConsumeNetworkOutput(out.size());
      if (out.empty()) continue;
      moved = true;
      (void)to->ReceiveFromNetwork(out, kReference);
      while (auto event = to->NextEvent()) events->push_back(*std::move(event));
    }
    if (!moved) return;
  }
}

TEST(TlsPipeTest, ClearBytesPassAsTheyAre) {
  TlsPipe pipe;
  EXPECT_EQ(pipe.mode(), TlsPipe::Mode::kClear);
  EXPECT_EQ(pipe.channel(), nullptr);
  ASSERT_TRUE(pipe.ReceiveFromNetwork("EHLO a\r\n", kReference).ok());
  EXPECT_EQ(pipe.Plaintext(), "EHLO a\r\n");
  pipe.ConsumePlaintext(4);
  EXPECT_EQ(pipe.Plaintext(), " a\r\n");
  ASSERT_TRUE(pipe.Send("250 ok\r\n").ok());
  EXPECT_EQ(pipe.NetworkOutput(), "250 ok\r\n");
  EXPECT_FALSE(pipe.NextEvent().has_value());
  EXPECT_TRUE(pipe.CloseTls().ok());
}

TEST(TlsPipeTest, UnreadCleartextBlocksStartTls) {
  TlsPipe pipe;
  ASSERT_TRUE(
      pipe.ReceiveFromNetwork("MAIL FROM:<injected>\r\n", kReference).ok());
  EXPECT_EQ(pipe.StartTls(Server()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pipe.mode(), TlsPipe::Mode::kClear);
  pipe.ConsumePlaintext(pipe.Plaintext().size());
  EXPECT_TRUE(pipe.StartTls(Server()).ok());
  EXPECT_EQ(pipe.StartTls(Server()).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(TlsPipeTest, BadOptionsAreRefused) {
  TlsPipe pipe;
  tls::ChannelOptions options = Server();
  options.identities.clear();
  EXPECT_EQ(pipe.StartTls(std::move(options)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pipe.mode(), TlsPipe::Mode::kClear);
}

TEST(TlsPipeTest, HandshakeThenEncryptedBothWays) {
  TlsPipe client;
  TlsPipe server;
  // The server's 220 to STARTTLS is queued in the clear, then TLS starts:
  // the 220 still leaves first.
  ASSERT_TRUE(server.Send("220 2.0.0 Ready to start TLS\r\n").ok());
  ASSERT_TRUE(server.StartTls(Server()).ok());
  EXPECT_EQ(server.NetworkOutput(), "220 2.0.0 Ready to start TLS\r\n");
  const std::string ready(server.NetworkOutput());
  server.ConsumeNetworkOutput(ready.size());
  ASSERT_TRUE(client.ReceiveFromNetwork(ready, kReference).ok());
  client.ConsumePlaintext(client.Plaintext().size());

  ASSERT_TRUE(client.StartTls(Client()).ok());
  EXPECT_EQ(client.mode(), TlsPipe::Mode::kHandshaking);
  EXPECT_FALSE(client.NetworkOutput().empty());  // the ClientHello
  EXPECT_EQ(client.Send("EHLO too early\r\n").code(),
            absl::StatusCode::kFailedPrecondition);

  std::vector<tls::ChannelEvent> client_events;
  std::vector<tls::ChannelEvent> server_events;
  Shuttle(client, server, &client_events, &server_events);
  ASSERT_EQ(client.mode(), TlsPipe::Mode::kEstablished);
  ASSERT_EQ(server.mode(), TlsPipe::Mode::kEstablished);
  ASSERT_EQ(client_events.size(), 1u);
  EXPECT_EQ(client_events[0].type, tls::ChannelEventType::kHandshakeComplete);
  EXPECT_EQ(client_events[0].facts.chain_verdict, ChainVerdict::kTrusted);
  ASSERT_EQ(server_events.size(), 1u);
  EXPECT_EQ(server_events[0].type, tls::ChannelEventType::kHandshakeComplete);

  ASSERT_TRUE(client.Send("EHLO client.example\r\n").ok());
  EXPECT_FALSE(client.NetworkOutput().empty());
  EXPECT_FALSE(absl::StrContains(client.NetworkOutput(), "EHLO"));
  Shuttle(client, server, &client_events, &server_events);
  EXPECT_EQ(server.Plaintext(), "EHLO client.example\r\n");
  server.ConsumePlaintext(server.Plaintext().size());
  ASSERT_TRUE(server.Send("250 hi\r\n").ok());
  Shuttle(client, server, &client_events, &server_events);
  EXPECT_EQ(client.Plaintext(), "250 hi\r\n");

  ASSERT_TRUE(client.CloseTls().ok());
  EXPECT_EQ(client.mode(), TlsPipe::Mode::kClosed);
  Shuttle(client, server, &client_events, &server_events);
  EXPECT_EQ(server.mode(), TlsPipe::Mode::kClosed);
  ASSERT_FALSE(server_events.empty());
  EXPECT_EQ(server_events.back().type, tls::ChannelEventType::kClosed);
}

TEST(TlsPipeTest, GarbageInsteadOfAHandshakeFails) {
  TlsPipe server;
  ASSERT_TRUE(server.StartTls(Server()).ok());
  const absl::Status status =
      server.ReceiveFromNetwork("MAIL FROM:<x@example.com>\r\n", kReference);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_EQ(server.mode(), TlsPipe::Mode::kFailed);
  std::optional<tls::ChannelEvent> event = server.NextEvent();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->type, tls::ChannelEventType::kFailed);
  EXPECT_TRUE(server.Plaintext().empty());
  EXPECT_EQ(server.Send("250 no\r\n").code(), absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace starling::starttls
