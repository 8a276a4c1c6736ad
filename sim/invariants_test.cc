#include "sim/invariants.h"

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

// CheckClearText as it was written before the watch: one pass over all
// of the clear text, kept here as the oracle for the streaming version.
std::optional<std::string> WholeTextOracle(absl::string_view sent_clear,
                                           bool mandatory) {
  auto excerpt = [](absl::string_view bytes) {
    std::string out;
    for (const char c : bytes.substr(0, 60)) {
      out += c == '\r' ? "\\r" : c == '\n' ? "\\n" : std::string(1, c);
    }
    if (bytes.size() > 60) out += "...";
    return out;
  };
  absl::string_view rest = sent_clear;
  while (!rest.empty()) {
    const size_t lf = rest.find('\n');
    const absl::string_view line =
        lf == absl::string_view::npos ? rest : rest.substr(0, lf + 1);
    rest.remove_prefix(line.size());
    if (!mandatory) {
      if (absl::StartsWithIgnoreCase(line, "MAIL ") &&
          absl::StrContains(absl::AsciiStrToUpper(line), " REQUIRETLS")) {
        return absl::StrCat("a REQUIRETLS message in the clear: '",
                            excerpt(line), "'");
      }
      continue;
    }
    size_t verb_end = 0;
    while (verb_end < line.size() && line[verb_end] != ' ' &&
           line[verb_end] != '\r' && line[verb_end] != '\n') {
      ++verb_end;
    }
    bool allowed = false;
    for (absl::string_view ok :
         {"EHLO", "HELO", "STARTTLS", "RSET", "NOOP", "QUIT"}) {
      allowed |= absl::EqualsIgnoreCase(line.substr(0, verb_end), ok) ||
                 (lf == absl::string_view::npos &&
                  absl::StartsWithIgnoreCase(ok, line));
    }
    if (!allowed) {
      return absl::StrCat("in the clear under mandatory TLS: '", excerpt(line),
                          "'");
    }
  }
  return std::nullopt;
}

// The watch, fed in pieces cut anywhere, says what the oracle says of the
// whole text, under both verdicts.
TEST(InvariantsTest, ClearTextWatchInPiecesAgreesWithTheWholeText) {
  const std::string kLong(150, 'q');
  const std::vector<std::string> lines = {
      "EHLO a",
      "ehlo mx.example",
      "STARTTLS",
      "STAR",
      "QUIT",
      "RSET",
      "NOOP",
      "MAIL FROM:<a@b>",
      "mail from:<a@b> requiretls",
      "MAIL FROM:<a@b> SIZE=9 REQUIRETLS " + kLong,
      "MAIL " + kLong,
      "RCPT TO:<c@d>",
      "DATA",
      "Subject: x",
      kLong,
      "",
      ".",
      "HELO"};
  std::mt19937 random(11);
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const int count = 1 + static_cast<int>(random() % 6);
    for (int i = 0; i < count; ++i) {
      text += lines[random() % lines.size()];
      text += random() % 4 == 0 ? "\n" : "\r\n";
    }
    if (random() % 2 == 0) {  // cut short inside a line
      text.resize(text.size() -
                  std::min<size_t>(text.size(), 1 + random() % 8));
    }
    ClearTextWatch watch;
    for (size_t at = 0; at < text.size();) {
      const size_t n = 1 + random() % 70;
      watch.Feed(absl::string_view(text).substr(at, n));
      at += n;
    }
    for (const bool mandatory : {true, false}) {
      EXPECT_EQ(watch.Check(mandatory), WholeTextOracle(text, mandatory))
          << "mandatory=" << mandatory << " text: " << text;
    }
  }
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
