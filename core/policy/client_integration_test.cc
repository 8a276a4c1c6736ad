// The policy engine behind a real client session talking to a real server
// session (core/smtp loopback, fake TLS handshake): what the table says is
// what happens on the wire.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "core/policy/hook.h"
#include "core/policy/table.h"
#include "core/policy/test_facts.h"
#include "core/smtp/testing/loopback.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace starling::policy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

smtp::OutboundMessage Message(const std::string& to) {
  smtp::OutboundMessage message;
  message.sender = smtp::Mailbox{"alice", "a.example"};
  message.recipients.push_back({smtp::Mailbox{to, "example.com"}, {}});
  message.body = std::make_shared<smtp::StringBodySource>("Subject: x\r\n\r\nhi\r\n");
  return message;
}

smtp::LoopbackOutcome Deliver(absl::string_view table_text, bool server_tls,
                              TlsFacts facts,
                              std::vector<smtp::OutboundMessage> messages) {
  absl::StatusOr<PolicyTable> table = ParsePolicyTable(table_text);
  EXPECT_TRUE(table.ok()) << table.status();
  DestinationState state;
  state.now = testing::TestNow();
  PolicyEngineHook hook(&*table, state);
  smtp::LoopbackConfig config;
  auto server = std::make_shared<smtp::ServerOptions>();
  server->hostname = "mx.example.com";
  server->offer_starttls = server_tls;
  config.server_options = server;
  config.client_options = std::make_shared<smtp::ClientOptions>();
  config.destination = {"example.com", "mx.example.com", 10, true};
  config.server_facts = std::move(facts);
  absl::StatusOr<smtp::LoopbackOutcome> outcome =
      smtp::RunLoopback(config, &hook, std::move(messages),
                        testing::TestNow());
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  return *std::move(outcome);
}

TEST(ClientIntegrationTest, SecureDestinationDeliversOverVerifiedTls) {
  smtp::LoopbackOutcome outcome =
      Deliver("example.com secure match=nexthop:dot-nexthop\n", true,
              testing::GoodFacts({"mx.example.com"}), {Message("bob")});
  const smtp::RecipientResult& r = outcome.results[0].recipients[0];
  EXPECT_EQ(r.status, smtp::RecipientStatus::kDelivered) << r.detail;
  EXPECT_TRUE(absl::StartsWith(outcome.results[0].policy.label, "secure"))
      << outcome.results[0].policy.label;
  EXPECT_THAT(outcome.client_plaintext, Not(HasSubstr("MAIL FROM")));
}

TEST(ClientIntegrationTest, EncryptDestinationWithoutStartTlsDefersAndSendsNothing) {
  smtp::LoopbackOutcome outcome =
      Deliver("example.com encrypt\n", false, TlsFacts{}, {Message("bob")});
  const smtp::RecipientResult& r = outcome.results[0].recipients[0];
  EXPECT_EQ(r.status, smtp::RecipientStatus::kTempFailed);
  EXPECT_EQ(outcome.results[0].policy.tlsrpt_result_type, "starttls-not-supported");
  EXPECT_THAT(outcome.client_plaintext, Not(HasSubstr("MAIL FROM")));
  EXPECT_EQ(outcome.server_messages_accepted, 0u);
}

TEST(ClientIntegrationTest, WrongNameUnderSecureIsRefusedAfterTheHandshake) {
  smtp::LoopbackOutcome outcome =
      Deliver("example.com secure match=nexthop:dot-nexthop\n", true,
              testing::GoodFacts({"mx.other.example"}), {Message("bob")});
  const smtp::RecipientResult& r = outcome.results[0].recipients[0];
  EXPECT_NE(r.status, smtp::RecipientStatus::kDelivered);
  EXPECT_EQ(r.stage, smtp::ClientStage::kTlsHandshake);
  EXPECT_EQ(outcome.results[0].policy.tlsrpt_result_type,
            "certificate-host-mismatch");
  EXPECT_EQ(outcome.server_messages_accepted, 0u);
}

TEST(ClientIntegrationTest, OpportunisticDefaultDeliversInPlaintext) {
  smtp::LoopbackOutcome outcome =
      Deliver("* may\n", false, TlsFacts{}, {Message("bob")});
  EXPECT_EQ(outcome.results[0].recipients[0].status,
            smtp::RecipientStatus::kDelivered);
  EXPECT_EQ(outcome.server_messages_accepted, 1u);
}

TEST(ClientIntegrationTest, RequireTlsBouncesWithoutAnAuthenticatedHop) {
  smtp::OutboundMessage flagged = Message("bob");
  flagged.tls_flags.requiretls = true;
  smtp::LoopbackOutcome outcome =
      Deliver("* may\n", false, TlsFacts{}, {std::move(flagged), Message("carol")});
  EXPECT_EQ(outcome.results[0].recipients[0].status,
            smtp::RecipientStatus::kPermFailed);
  EXPECT_EQ(outcome.results[1].recipients[0].status,
            smtp::RecipientStatus::kDelivered);
  EXPECT_THAT(outcome.client_plaintext, Not(HasSubstr("<bob@example.com>")));
}

}  // namespace
}  // namespace starling::policy
