#include "sim/invariants.h"

#include "gtest/gtest.h"

namespace starling::sim {
namespace {

const absl::Time kT = absl::FromUnixSeconds(1767225600);

TEST(InvariantsTest, KindsHaveDistinctExitCodes) {
  EXPECT_EQ(InvariantExitCode(InvariantKind::kStartTlsBoundary), 10);
  EXPECT_EQ(InvariantExitCode(InvariantKind::kBufferBound), 14);
  EXPECT_EQ(InvariantKindName(InvariantKind::kExactlyOnce), "exactly-once");
  EXPECT_EQ(FormatViolation({InvariantKind::kPartnerOverAccept, kT, "x"}),
            "partner-over-accept at 2026-01-01T00:00:00Z: x");
}

TEST(InvariantsTest, ClientBoundaryHolds) {
  EXPECT_EQ(CheckClientBoundary("EHLO a\r\nSTARTTLS\r\n",
                                "220-hi\r\n220 ok\r\n250-x\r\n250 STARTTLS\r\n"
                                "220 2.0.0 go ahead\r\n"),
            std::nullopt);
  EXPECT_EQ(CheckClientBoundary("EHLO a\r\nstarttls\r\n", "220 go\r\n"),
            std::nullopt);
}

TEST(InvariantsTest, ClientWroteAfterStartTls) {
  const auto v = CheckClientBoundary("EHLO a\r\nSTARTTLS\r\nMAIL FROM:<>\r\n",
                                     "220 go\r\n");
  ASSERT_TRUE(v.has_value());
  EXPECT_NE(v->find("does not end with STARTTLS"), std::string::npos) << *v;
}

TEST(InvariantsTest, InjectedReplyAfterThe220) {
  auto v = CheckClientBoundary("STARTTLS\r\n", "220 go\r\n250 injected\r\n");
  ASSERT_TRUE(v.has_value());
  EXPECT_NE(v->find("final 220"), std::string::npos) << *v;
  v = CheckClientBoundary("STARTTLS\r\n", "220 go\r\n250 inj");
  ASSERT_TRUE(v.has_value());
  EXPECT_NE(v->find("cleartext after"), std::string::npos) << *v;
}

TEST(InvariantsTest, ServerBoundary) {
  EXPECT_EQ(CheckServerBoundary("250 STARTTLS\r\n220 2.0.0 Ready\r\n",
                                "EHLO a\r\nSTARTTLS\r\n"),
            std::nullopt);
  auto v = CheckServerBoundary("220 2.0.0 Ready\r\n",
                               "STARTTLS\r\nMAIL FROM:<evil@x>\r\n");
  ASSERT_TRUE(v.has_value());
  EXPECT_NE(v->find("MAIL FROM"), std::string::npos) << *v;
  v = CheckServerBoundary("220 2.0.0 Ready\r\n250 extra\r\n", "STARTTLS\r\n");
  ASSERT_TRUE(v.has_value());
}

TEST(InvariantsTest, ClearTextUnderMandatoryTls) {
  EXPECT_EQ(CheckClearText("EHLO a\r\nSTARTTLS\r\nQUIT\r\nRSET\r\nNOOP\r\n",
                           true),
            std::nullopt);
  EXPECT_EQ(CheckClearText("EHLO a\r\nSTAR", true), std::nullopt);  // cut
  EXPECT_TRUE(CheckClearText("EHLO a\r\nMAIL FROM:<a@b>\r\n", true));
  EXPECT_TRUE(CheckClearText("EHLO a\r\nMAIL FR", true));
  EXPECT_TRUE(CheckClearText("Subject: x\r\n", true));
  // Optional TLS: the clear is fine unless a message demanded REQUIRETLS.
  EXPECT_EQ(CheckClearText("MAIL FROM:<a@b>\r\nDATA\r\n", false),
            std::nullopt);
  EXPECT_TRUE(CheckClearText("MAIL FROM:<a@b> REQUIRETLS\r\n", false));
}

TEST(InvariantsTest, MessageKeys) {
  const std::string body = MessageIdHeader("m17") + "\r\nSubject: x\r\n\r\nhi\r\n";
  EXPECT_EQ(MessageKeyOf(body), "m17");
  EXPECT_EQ(MessageKeyOf("Subject: none\r\n"), "");
}

TEST(InvariantsTest, LedgerCountsTheWindowAndCatchesTheRest) {
  DeliveryLedger ledger;
  ledger.Sent("m1", {"a@x.example", "b@x.example"});
  const std::string body = MessageIdHeader("m1") + "\r\n\r\nbody\r\n";
  EXPECT_EQ(ledger.Accepted(kT, "mx", body, {"A@x.example"}), std::nullopt);
  EXPECT_TRUE(ledger.WasAccepted("m1", "a@X.example"));
  EXPECT_FALSE(ledger.WasAccepted("m1", "b@x.example"));

  // Twice: only allowed after a connection ended inside the window.
  auto v = ledger.Accepted(kT, "mx", body, {"a@x.example"});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->kind, InvariantKind::kExactlyOnce);
  DeliveryLedger windowed;
  windowed.Sent("m1", {"a@x.example"});
  windowed.OpenedWindow("m1", "a@x.example");
  EXPECT_EQ(windowed.Accepted(kT, "mx", body, {"a@x.example"}), std::nullopt);
  EXPECT_EQ(windowed.Accepted(kT, "mx", body, {"a@x.example"}), std::nullopt);
  EXPECT_EQ(windowed.duplicates_in_window(), 1);
  EXPECT_TRUE(windowed.Accepted(kT, "mx", body, {"a@x.example"}));

  // Never sent, or not to this recipient.
  v = ledger.Accepted(kT, "mx", "Subject: forged\r\n\r\n", {"a@x.example"});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->kind, InvariantKind::kPartnerOverAccept);
  v = ledger.Accepted(kT, "mx", body, {"c@x.example"});
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->kind, InvariantKind::kPartnerOverAccept);
}

}  // namespace
}  // namespace starling::sim
