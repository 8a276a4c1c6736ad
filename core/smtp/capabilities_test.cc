#include "core/smtp/capabilities.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

EhloCapabilities ParseWire(absl::string_view wire) {
  absl::StatusOr<Reply> reply = ParseReply(wire);
  EXPECT_TRUE(reply.ok()) << reply.status();
  if (!reply.ok()) return {};
  absl::StatusOr<EhloCapabilities> caps = ParseEhloReply(*reply);
  EXPECT_TRUE(caps.ok()) << caps.status();
  if (!caps.ok()) return {};
  // Every successful parse round-trips through EhloReply, and the server's
  // direct form is the same bytes.
  EXPECT_EQ(ParseEhloReply(EhloReply(*caps)).value(), *caps);
  std::string direct;
  AppendEhloReply(*caps, &direct);
  EXPECT_EQ(direct, SerializeReply(EhloReply(*caps)));
  return *caps;
}

Reply Ehlo(std::vector<std::string> lines) {
  Reply reply;
  reply.code = 250;
  reply.lines.assign(lines.begin(), lines.end());
  return reply;
}

absl::Status ParseError(std::vector<std::string> lines) {
  return ParseEhloReply(Ehlo(std::move(lines))).status();
}

TEST(EhloTest, Postfix) {
  const EhloCapabilities caps = ParseWire(
      "250-mail.example.com\r\n"
      "250-PIPELINING\r\n"
      "250-SIZE 10240000\r\n"
      "250-VRFY\r\n"
      "250-ETRN\r\n"
      "250-STARTTLS\r\n"
      "250-ENHANCEDSTATUSCODES\r\n"
      "250-8BITMIME\r\n"
      "250-DSN\r\n"
      "250-SMTPUTF8\r\n"
      "250 CHUNKING\r\n");
  EXPECT_EQ(caps.domain, "mail.example.com");
  EXPECT_EQ(caps.greeting, "");
  EXPECT_TRUE(caps.pipelining);
  EXPECT_EQ(caps.size, 10240000u);
  EXPECT_TRUE(caps.starttls);
  EXPECT_TRUE(caps.enhanced_status_codes);
  EXPECT_TRUE(caps.eight_bit_mime);
  EXPECT_TRUE(caps.dsn);
  EXPECT_TRUE(caps.smtputf8);
  EXPECT_TRUE(caps.chunking);
  EXPECT_FALSE(caps.binary_mime);
  EXPECT_FALSE(caps.requiretls);
  EXPECT_TRUE(caps.auth_mechanisms.empty());
  EXPECT_EQ(caps.other, (std::vector<std::string>{"VRFY", "ETRN"}));
}

TEST(EhloTest, ExchangeOnline) {
  const EhloCapabilities caps = ParseWire(
      "250-BN8NAM11FT066.mail.protection.outlook.com Hello [192.0.2.1]\r\n"
      "250-SIZE 157286400\r\n"
      "250-PIPELINING\r\n"
      "250-DSN\r\n"
      "250-ENHANCEDSTATUSCODES\r\n"
      "250-STARTTLS\r\n"
      "250-8BITMIME\r\n"
      "250-BINARYMIME\r\n"
      "250-CHUNKING\r\n"
      "250 SMTPUTF8\r\n");
  EXPECT_EQ(caps.domain, "BN8NAM11FT066.mail.protection.outlook.com");
  EXPECT_EQ(caps.greeting, "Hello [192.0.2.1]");
  EXPECT_EQ(caps.size, 157286400u);
  EXPECT_TRUE(caps.binary_mime);
  EXPECT_TRUE(caps.chunking);
  EXPECT_TRUE(caps.other.empty());
}

TEST(EhloTest, ExchangeOnPremisesWithAuth) {
  const EhloCapabilities caps = ParseWire(
      "250-exch.example.com Hello [192.0.2.1]\r\n"
      "250-SIZE\r\n"
      "250-PIPELINING\r\n"
      "250-DSN\r\n"
      "250-ENHANCEDSTATUSCODES\r\n"
      "250-AUTH NTLM LOGIN\r\n"
      "250-X-EXPS GSSAPI NTLM\r\n"
      "250-8BITMIME\r\n"
      "250-BINARYMIME\r\n"
      "250-CHUNKING\r\n"
      "250-XEXCH50\r\n"
      "250-XRDST\r\n"
      "250 XSHADOWREQUEST\r\n");
  EXPECT_EQ(caps.size, 0u);
  EXPECT_EQ(caps.auth_mechanisms, (std::vector<std::string>{"NTLM", "LOGIN"}));
  EXPECT_EQ(caps.other,
            (std::vector<std::string>{"X-EXPS GSSAPI NTLM", "XEXCH50", "XRDST",
                                      "XSHADOWREQUEST"}));
}

TEST(EhloTest, Gmail) {
  const EhloCapabilities caps = ParseWire(
      "250-smtp.gmail.com at your service, [192.0.2.1]\r\n"
      "250-SIZE 35882577\r\n"
      "250-8BITMIME\r\n"
      "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n"
      "250-ENHANCEDSTATUSCODES\r\n"
      "250-PIPELINING\r\n"
      "250-CHUNKING\r\n"
      "250 SMTPUTF8\r\n");
  EXPECT_EQ(caps.domain, "smtp.gmail.com");
  EXPECT_EQ(caps.greeting, "at your service, [192.0.2.1]");
  EXPECT_EQ(caps.size, 35882577u);
  EXPECT_EQ(
      caps.auth_mechanisms,
      (std::vector<std::string>{"LOGIN", "PLAIN", "XOAUTH2",
                                "PLAIN-CLIENTTOKEN", "OAUTHBEARER", "XOAUTH"}));
  EXPECT_FALSE(caps.starttls);
}

TEST(EhloTest, SingleLineReply) {
  const EhloCapabilities caps = ParseWire("250 tiny.example\r\n");
  EXPECT_EQ(caps.domain, "tiny.example");
  EhloCapabilities expected;
  expected.domain = "tiny.example";
  EXPECT_EQ(caps, expected);
}

TEST(EhloTest, KeywordsAreCaseInsensitive) {
  const EhloCapabilities caps = ParseWire(
      "250-mx\r\n250-pipelining\r\n250-StartTLS\r\n250-size 100\r\n"
      "250 auth plain Login\r\n");
  EXPECT_TRUE(caps.pipelining);
  EXPECT_TRUE(caps.starttls);
  EXPECT_EQ(caps.size, 100u);
  EXPECT_EQ(caps.auth_mechanisms, (std::vector<std::string>{"PLAIN", "LOGIN"}));
}

TEST(EhloTest, SizeVariants) {
  auto size_of =
      [](std::string line) -> absl::StatusOr<std::optional<uint64_t>> {
    auto caps = ParseEhloReply(Ehlo({"mx", line}));
    if (!caps.ok()) return caps.status();
    return caps->size;
  };
  EXPECT_EQ(*size_of("SIZE"), 0u);
  EXPECT_EQ(*size_of("SIZE 0"), 0u);
  EXPECT_EQ(*size_of("SIZE "), 0u);
  EXPECT_EQ(*size_of("SIZE 52428800"), 52428800u);
  EXPECT_EQ(*size_of("SIZE 18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(*size_of("SIZE 00012"), 12u);
  EXPECT_EQ(*size_of("PIPELINING"), std::nullopt);
  // Not a number: SIZE is offered, its maximum unknown (Postfix reads it so).
  for (const char* bad :
       {"SIZE 18446744073709551616", "SIZE 99999999999999999999999", "SIZE -1",
        "SIZE +1", "SIZE 12k", "SIZE 1 2", "SIZE abc", "SIZE 0x10"}) {
    EXPECT_EQ(*size_of(bad), 0u) << bad;
  }
}

TEST(EhloTest, SizeLastOneWins) {
  auto caps = ParseEhloReply(Ehlo({"mx", "SIZE 10", "SIZE 20"}));
  ASSERT_TRUE(caps.ok());
  EXPECT_EQ(caps->size, 20u);
}

TEST(EhloTest, AuthVariants) {
  auto mechs_of = [](std::vector<std::string> lines) {
    lines.insert(lines.begin(), "mx");
    auto caps = ParseEhloReply(Ehlo(lines));
    EXPECT_TRUE(caps.ok()) << caps.status();
    return caps.ok() ? caps->auth_mechanisms : std::vector<std::string>{};
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(mechs_of({"AUTH PLAIN LOGIN"}), (V{"PLAIN", "LOGIN"}));
  EXPECT_EQ(mechs_of({"AUTH"}), V{});
  EXPECT_EQ(mechs_of({"AUTH  PLAIN   LOGIN "}), (V{"PLAIN", "LOGIN"}));
  EXPECT_EQ(mechs_of({"AUTH=PLAIN LOGIN"}), (V{"PLAIN", "LOGIN"}));
  EXPECT_EQ(mechs_of({"auth=login"}), (V{"LOGIN"}));
  EXPECT_EQ(mechs_of({"AUTH="}), V{});
  // The usual legacy pair (Exim, older Postfix) merges into one list.
  EXPECT_EQ(
      mechs_of({"AUTH PLAIN LOGIN CRAM-MD5", "AUTH=PLAIN LOGIN CRAM-MD5"}),
      (V{"PLAIN", "LOGIN", "CRAM-MD5"}));
  EXPECT_EQ(mechs_of({"AUTH plain PLAIN Plain", "AUTH SCRAM-SHA-256"}),
            (V{"PLAIN", "SCRAM-SHA-256"}));
}

TEST(EhloTest, LegacyAuthRoundTripsAsModernForm) {
  auto caps = ParseEhloReply(Ehlo({"mx", "AUTH=LOGIN PLAIN"}));
  ASSERT_TRUE(caps.ok());
  EXPECT_TRUE(caps->other.empty());
  EXPECT_EQ(EhloReply(*caps).lines,
            (absl::InlinedVector<std::string, 1>{"mx", "AUTH LOGIN PLAIN"}));
}

TEST(EhloTest, UnknownKeywordsAreKeptVerbatim) {
  const EhloCapabilities caps = ParseWire(
      "250-mx\r\n250-VRFY\r\n250-X-Custom-Ext some Params\r\n250-ETRN\r\n"
      "250-MT-PRIORITY MIXER\r\n250 FUTURE-1 \r\n");
  EXPECT_EQ(caps.other, (std::vector<std::string>{
                            "VRFY", "X-Custom-Ext some Params", "ETRN",
                            "MT-PRIORITY MIXER", "FUTURE-1 "}));
}

TEST(EhloTest, DuplicatesAreHarmless) {
  auto caps = ParseEhloReply(
      Ehlo({"mx", "PIPELINING", "pipelining", "STARTTLS", "STARTTLS"}));
  ASSERT_TRUE(caps.ok());
  EXPECT_TRUE(caps->pipelining);
  EXPECT_TRUE(caps->starttls);
  EXPECT_EQ(ParseEhloReply(EhloReply(*caps)).value(), *caps);
}

TEST(EhloTest, AllKnownKeywords) {
  auto caps = ParseEhloReply(
      Ehlo({"mx greets you", "PIPELINING", "8BITMIME", "SMTPUTF8",
            "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "STARTTLS",
            "REQUIRETLS", "DSN", "SIZE 1000", "AUTH PLAIN"}));
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_TRUE(caps->pipelining && caps->eight_bit_mime && caps->smtputf8 &&
              caps->enhanced_status_codes && caps->chunking &&
              caps->binary_mime && caps->starttls && caps->requiretls &&
              caps->dsn);
  EXPECT_EQ(caps->size, 1000u);
  EXPECT_TRUE(caps->other.empty());
}

TEST(EhloTest, SkipsLinesThatAreNoKeyword) {
  const absl::StatusOr<EhloCapabilities> plain =
      ParseEhloReply(Ehlo({"mx", "PIPELINING", "DSN"}));
  ASSERT_TRUE(plain.ok());
  for (const char* bad :
       {"", " PIPELINING", "-PIPELINING", "PIPE_LINING", "PIPELINING\t",
        "SIZE=100", "X-EXT=1", "\xc3\xa9T\xc3\xa9", "8BIT.MIME", "=AUTH"}) {
    absl::StatusOr<EhloCapabilities> caps =
        ParseEhloReply(Ehlo({"mx", "PIPELINING", bad, "DSN"}));
    ASSERT_TRUE(caps.ok()) << bad;
    EXPECT_EQ(*caps, *plain) << bad;
  }
}

// Postfix's smtp-sink ends its EHLO reply with an empty "250 " line.
TEST(EhloTest, PostfixSmtpSink) {
  const EhloCapabilities caps = ParseWire(
      "250-smtp-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
      "250-AUTH PLAIN LOGIN\r\n250-XCLIENT NAME HELO\r\n"
      "250-XFORWARD NAME ADDR PROTO HELO\r\n250-ENHANCEDSTATUSCODES\r\n"
      "250-DSN\r\n250 \r\n");
  EXPECT_TRUE(caps.pipelining && caps.eight_bit_mime && caps.dsn &&
              caps.enhanced_status_codes);
  EXPECT_EQ(caps.other.size(), 2u);
}

TEST(EhloTest, RejectsEmptyDomain) {
  EXPECT_FALSE(ParseError({""}).ok());
  EXPECT_FALSE(ParseError({" greeting only"}).ok());
  EXPECT_FALSE(ParseError({}).ok());
}

TEST(EhloTest, RejectsNon250) {
  for (absl::string_view wire :
       {"502 5.5.1 EHLO not implemented\r\n", "550 go away\r\n",
        "421 4.3.2 shutting down\r\n", "220 mx ESMTP\r\n",
        "251-mx\r\n251 PIPELINING\r\n"}) {
    auto reply = ParseReply(wire);
    ASSERT_TRUE(reply.ok()) << wire;
    EXPECT_FALSE(ParseEhloReply(*reply).ok()) << wire;
  }
}

TEST(EhloTest, EhloReplyCanonicalForm) {
  EhloCapabilities caps;
  caps.domain = "mx.example";
  caps.greeting = "at your service";
  caps.pipelining = true;
  caps.size = 0;
  caps.starttls = true;
  caps.auth_mechanisms = {"PLAIN", "LOGIN"};
  caps.other = {"VRFY"};
  const Reply reply = EhloReply(caps);
  EXPECT_EQ(SerializeReply(reply),
            "250-mx.example at your service\r\n"
            "250-PIPELINING\r\n"
            "250-SIZE\r\n"
            "250-STARTTLS\r\n"
            "250-AUTH PLAIN LOGIN\r\n"
            "250 VRFY\r\n");
  EXPECT_EQ(ParseEhloReply(reply).value(), caps);
}

TEST(EhloTest, EhloReplyRoundTripsThroughTheWire) {
  EhloCapabilities caps;
  caps.domain = "mx";
  caps.size = 1234;
  caps.dsn = true;
  caps.requiretls = true;
  auto reply = ParseReply(SerializeReply(EhloReply(caps)));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(ParseEhloReply(*reply).value(), caps);
}

// ---- Randomised round trips ------------------------------------------------
// Seeded std::mt19937 loops: this target does not depend on RapidCheck.

class Random {
 public:
  explicit Random(uint32_t seed) : rng_(seed) {}
  size_t Below(size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }
  bool Coin() { return Below(2) == 1; }
  std::string Word(absl::string_view chars, size_t max_len) {
    std::string out;
    const size_t n = Below(max_len + 1);
    for (size_t i = 0; i < n; ++i) out.push_back(chars[Below(chars.size())]);
    return out;
  }
  // Reply text: any byte but CR and LF.
  std::string Text(size_t max_len) {
    std::string out;
    const size_t n = Below(max_len + 1);
    for (size_t i = 0; i < n; ++i) {
      // RFC 5321 textstring: HT and SP..'~'.
      const size_t pick = Below(96);
      out.push_back(pick == 95 ? '\t' : static_cast<char>(' ' + pick));
    }
    return out;
  }
  uint64_t U64() { return std::uniform_int_distribution<uint64_t>()(rng_); }

 private:
  std::mt19937_64 rng_;
};

constexpr absl::string_view kAlnum =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

EhloCapabilities RandomCapabilities(Random& rnd) {
  EhloCapabilities caps;
  caps.domain = "m" + rnd.Word(absl::StrCat(kAlnum, ".-[]:"), 30);
  caps.greeting = rnd.Coin() ? rnd.Text(40) : "";
  caps.pipelining = rnd.Coin();
  caps.eight_bit_mime = rnd.Coin();
  caps.smtputf8 = rnd.Coin();
  caps.enhanced_status_codes = rnd.Coin();
  caps.chunking = rnd.Coin();
  caps.binary_mime = rnd.Coin();
  caps.starttls = rnd.Coin();
  caps.requiretls = rnd.Coin();
  caps.dsn = rnd.Coin();
  if (rnd.Coin()) caps.size = rnd.Coin() ? rnd.U64() : rnd.Below(3);
  for (size_t n = rnd.Below(6); n > 0; --n) {
    std::string mech =
        "M" + rnd.Word("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", 19);
    if (std::find(caps.auth_mechanisms.begin(), caps.auth_mechanisms.end(),
                  mech) == caps.auth_mechanisms.end()) {
      caps.auth_mechanisms.push_back(std::move(mech));
    }
  }
  for (size_t n = rnd.Below(6); n > 0; --n) {
    std::string line = "X-" + rnd.Word(absl::StrCat(kAlnum, "-"), 12);
    if (rnd.Coin()) absl::StrAppend(&line, " ", rnd.Text(30));
    caps.other.push_back(std::move(line));
  }
  return caps;
}

TEST(EhloPropertyTest, CapabilitiesRoundTrip) {
  Random rnd(20240601);
  ReplyParserOptions wide;
  wide.max_line_length = 1 << 16;
  wide.max_lines = 1 << 10;
  for (int i = 0; i < 5000; ++i) {
    const EhloCapabilities caps = RandomCapabilities(rnd);
    const Reply reply = EhloReply(caps);
    auto parsed = ParseEhloReply(reply);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    ASSERT_EQ(*parsed, caps) << SerializeReply(reply);
    // And through the wire.
    auto wire = ParseReply(SerializeReply(reply), wide);
    ASSERT_TRUE(wire.ok()) << wire.status();
    ASSERT_EQ(*wire, reply);
  }
}

TEST(EhloPropertyTest, WhateverParsesRoundTrips) {
  // Keyword lines in random case and order, known and not, some malformed:
  // whatever ParseEhloReply accepts comes back unchanged from EhloReply.
  const std::vector<std::string> words = {"PIPELINING",
                                          "8bitmime",
                                          "SmtpUtf8",
                                          "ENHANCEDSTATUSCODES",
                                          "chunking",
                                          "BINARYMIME",
                                          "starttls",
                                          "REQUIRETLS",
                                          "dsn",
                                          "SIZE",
                                          "size 100",
                                          "SIZE 0",
                                          "SIZE 18446744073709551615",
                                          "AUTH",
                                          "auth plain login",
                                          "AUTH=LOGIN PLAIN",
                                          "AUTH= CRAM-MD5",
                                          "VRFY",
                                          "X-EXPS GSSAPI",
                                          "ETRN",
                                          "XCLIENT NAME ADDR",
                                          "SIZE x",
                                          "BAD_KEY",
                                          "",
                                          "AUTH=",
                                          "auth Plain",
                                          "Pipelining extra",
                                          "AUTH=plain\tlogin"};
  Random rnd(7);
  int accepted = 0;
  for (int i = 0; i < 5000; ++i) {
    Reply reply;
    reply.code = 250;
    reply.lines.push_back("mx" + (rnd.Coin() ? " " + rnd.Text(20) : ""));
    for (size_t n = rnd.Below(8); n > 0; --n) {
      reply.lines.push_back(words[rnd.Below(words.size())]);
    }
    auto caps = ParseEhloReply(reply);
    if (!caps.ok()) continue;
    ++accepted;
    auto again = ParseEhloReply(EhloReply(*caps));
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_EQ(*again, *caps);
  }
  EXPECT_GT(accepted, 500);
}

}  // namespace
}  // namespace starling::smtp
