#include "core/smtp/reply.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

Reply R(int code, std::vector<std::string> lines,
        std::optional<EnhancedStatus> enhanced = std::nullopt) {
  Reply r;
  r.code = code;
  r.enhanced = enhanced;
  r.lines.assign(lines.begin(), lines.end());
  return r;
}

EnhancedStatus E(int klass, int subject, int detail) {
  return EnhancedStatus{klass, subject, detail};
}

// Feeds `bytes` to a fresh parser and returns everything it produced: the
// replies, then the error if any. Bytes left over are returned in *rest.
struct Parsed {
  std::vector<Reply> replies;
  absl::Status error;
  std::string rest;
};

Parsed ParseAll(absl::string_view bytes, ReplyParserOptions options = {}) {
  ReplyParser parser(options);
  Parsed out;
  while (true) {
    auto next = parser.Next(&bytes);
    if (!next.ok()) {
      out.error = next.status();
      break;
    }
    if (!next->has_value()) break;
    out.replies.push_back(**next);
  }
  out.rest = std::string(bytes);
  return out;
}

// ---- EnhancedStatus ---------------------------------------------------------

TEST(EnhancedStatusTest, ParsesValidCodes) {
  EXPECT_EQ(EnhancedStatus::Parse("2.0.0"), E(2, 0, 0));
  EXPECT_EQ(EnhancedStatus::Parse("5.7.1"), E(5, 7, 1));
  EXPECT_EQ(EnhancedStatus::Parse("4.999.999"), E(4, 999, 999));
  EXPECT_EQ(EnhancedStatus::Parse("5.10.12"), E(5, 10, 12));
}

TEST(EnhancedStatusTest, RejectsInvalidCodes) {
  for (absl::string_view bad :
       {"", "2", "2.0", "2.0.", "3.0.0", "1.0.0", "6.0.0", "0.0.0", "2.1000.0",
        "2.0.1000", " 2.0.0", "2.0.0 ", "x2.0.0", "2.0.0x", "2..0", "2.a.0",
        "25.0.0", "2.0.0.0", "2-0-0"}) {
    EXPECT_EQ(EnhancedStatus::Parse(bad), std::nullopt) << bad;
  }
}

TEST(EnhancedStatusTest, ToString) {
  EXPECT_EQ(E(5, 7, 1).ToString(), "5.7.1");
  EXPECT_EQ(E(4, 999, 10).ToString(), "4.999.10");
}

// ---- Reply::Make and SerializeReply -----------------------------------------

TEST(ReplyTest, MakeWithAndWithoutEnhanced) {
  EXPECT_EQ(Reply::Make(250, "", "OK"), R(250, {"OK"}));
  EXPECT_EQ(Reply::Make(550, "5.1.1", "no such user"),
            R(550, {"no such user"}, E(5, 1, 1)));
  // Invalid or class-mismatched enhanced codes are dropped.
  EXPECT_EQ(Reply::Make(550, "5.1", "x"), R(550, {"x"}));
  EXPECT_EQ(Reply::Make(250, "5.1.1", "x"), R(250, {"x"}));
}

TEST(ReplyTest, MakeNeverCarriesLineBreaks) {
  EXPECT_EQ(Reply::Make(501, "5.5.4", "a\r\n250 b\rc\nd"),
            R(501, {"a  250 b c d"}, E(5, 5, 4)));
}

TEST(ReplyTest, Classification) {
  EXPECT_TRUE(Reply::Make(250, "", "").positive());
  EXPECT_TRUE(Reply::Make(354, "", "").positive());
  EXPECT_TRUE(Reply::Make(421, "", "").transient());
  EXPECT_TRUE(Reply::Make(554, "", "").permanent());
  EXPECT_FALSE(Reply::Make(554, "", "").positive());
}

TEST(SerializeReplyTest, SingleLine) {
  EXPECT_EQ(SerializeReply(R(250, {"OK"})), "250 OK\r\n");
  EXPECT_EQ(SerializeReply(R(250, {""})), "250\r\n");
  EXPECT_EQ(SerializeReply(R(250, {})), "250\r\n");
}

TEST(SerializeReplyTest, MultiLine) {
  EXPECT_EQ(SerializeReply(R(250, {"mx.example.com", "", "PIPELINING"})),
            "250-mx.example.com\r\n250-\r\n250 PIPELINING\r\n");
}

TEST(SerializeReplyTest, EnhancedPrefixesEveryLine) {
  EXPECT_EQ(SerializeReply(R(550, {"no such", "", "user"}, E(5, 1, 1))),
            "550-5.1.1 no such\r\n550-5.1.1\r\n550 5.1.1 user\r\n");
  EXPECT_EQ(SerializeReply(R(250, {}, E(2, 0, 0))), "250 2.0.0\r\n");
}

TEST(SerializeReplyTest, LineBreaksInTextCannotInjectLines) {
  EXPECT_EQ(SerializeReply(R(250, {"a\r\n250 b"})), "250 a  250 b\r\n");
}

// ---- ReplyError / ReplyOf ---------------------------------------------------

TEST(ReplyErrorTest, CarriesTheReply) {
  absl::Status status = ReplyError(501, "5.5.4", "Syntax error in parameters");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Syntax error in parameters");
  EXPECT_EQ(ReplyOf(status),
            R(501, {"Syntax error in parameters"}, E(5, 5, 4)));
}

TEST(ReplyErrorTest, NoEnhancedAndEmptyText) {
  EXPECT_EQ(ReplyOf(ReplyError(500, "", "")), R(500, {""}));
  EXPECT_EQ(ReplyOf(ReplyError(421, "4.4.2", "")), R(421, {""}, E(4, 4, 2)));
}

TEST(ReplyErrorTest, LongTextSurvives) {
  const std::string text(2000, 'x');
  EXPECT_EQ(ReplyOf(ReplyError(552, "5.3.4", text)),
            R(552, {text}, E(5, 3, 4)));
}

TEST(ReplyErrorTest, PlainStatusHasNoReply) {
  EXPECT_EQ(ReplyOf(absl::InvalidArgumentError("x")), std::nullopt);
  EXPECT_EQ(ReplyOf(absl::OkStatus()), std::nullopt);
}

// ---- ReplyParser: well-formed replies ---------------------------------------

TEST(ReplyParserTest, SingleLine) {
  EXPECT_EQ(*ParseReply("250 OK\r\n"), R(250, {"OK"}));
  EXPECT_EQ(*ParseReply("220 mx.example.com ESMTP ready\r\n"),
            R(220, {"mx.example.com ESMTP ready"}));
}

TEST(ReplyParserTest, BareCodeAndEmptyContinuation) {
  EXPECT_EQ(*ParseReply("250\r\n"), R(250, {""}));
  EXPECT_EQ(*ParseReply("250 \r\n"), R(250, {""}));
  EXPECT_EQ(*ParseReply("250-\r\n250-\r\n250\r\n"), R(250, {"", "", ""}));
}

TEST(ReplyParserTest, TextIsKeptVerbatim) {
  EXPECT_EQ(*ParseReply("250  two spaces \r\n"), R(250, {" two spaces "}));
  EXPECT_EQ(*ParseReply("250 a-b 250 c\r\n"), R(250, {"a-b 250 c"}));
}

TEST(ReplyParserTest, MultiLine) {
  EXPECT_EQ(*ParseReply("250-mx.example.com Hello\r\n"
                        "250-SIZE 10240000\r\n"
                        "250 PIPELINING\r\n"),
            R(250, {"mx.example.com Hello", "SIZE 10240000", "PIPELINING"}));
}

TEST(ReplyParserTest, AllCodeRanges) {
  for (int code :
       {200, 211, 220, 250, 259, 334, 354, 421, 451, 500, 554, 559}) {
    EXPECT_EQ(*ParseReply(absl::StrCat(code, " x\r\n")), R(code, {"x"}));
  }
}

// ---- Enhanced status codes --------------------------------------------------

TEST(ReplyParserTest, ExtractsEnhancedCode) {
  EXPECT_EQ(*ParseReply("250 2.1.0 Sender OK\r\n"),
            R(250, {"Sender OK"}, E(2, 1, 0)));
  EXPECT_EQ(*ParseReply("550 5.7.1\r\n"), R(550, {""}, E(5, 7, 1)));
  EXPECT_EQ(*ParseReply("451 4.3.0 \r\n"), R(451, {""}, E(4, 3, 0)));
}

TEST(ReplyParserTest, StripsEnhancedCodeFromEveryLine) {
  EXPECT_EQ(*ParseReply("550-5.7.1 Rejected\r\n"
                        "550-5.7.1\r\n"
                        "550 5.7.1 see https://example.com\r\n"),
            R(550, {"Rejected", "", "see https://example.com"}, E(5, 7, 1)));
}

TEST(ReplyParserTest, KeepsLinesWithoutTheSameEnhancedCode) {
  EXPECT_EQ(
      *ParseReply("550-5.7.1 Rejected\r\n"
                  "550-no code here\r\n"
                  "550 5.7.2 other code\r\n"),
      R(550, {"Rejected", "no code here", "5.7.2 other code"}, E(5, 7, 1)));
}

TEST(ReplyParserTest, EnhancedCodeOnlyFromFirstLine) {
  EXPECT_EQ(*ParseReply("250-first\r\n250 2.0.0 second\r\n"),
            R(250, {"first", "2.0.0 second"}));
}

TEST(ReplyParserTest, EnhancedCodeClassMustMatchReplyCode) {
  EXPECT_EQ(*ParseReply("250 5.0.0 odd\r\n"), R(250, {"5.0.0 odd"}));
  EXPECT_EQ(*ParseReply("550 2.0.0 odd\r\n"), R(550, {"2.0.0 odd"}));
}

TEST(ReplyParserTest, EnhancedCodeNeedsSpaceOrEnd) {
  EXPECT_EQ(*ParseReply("250 2.0.0x\r\n"), R(250, {"2.0.0x"}));
  EXPECT_EQ(*ParseReply("250 2.0.0.1 x\r\n"), R(250, {"2.0.0.1 x"}));
  EXPECT_EQ(*ParseReply("250 2.0\r\n"), R(250, {"2.0"}));
}

TEST(ReplyParserTest, EnhancedCodeStrippedOnceOnly) {
  const Reply r = R(250, {"2.0.0 a", "2.0.0"}, E(2, 0, 0));
  EXPECT_EQ(SerializeReply(r), "250-2.0.0 2.0.0 a\r\n250 2.0.0 2.0.0\r\n");
  EXPECT_EQ(*ParseReply(SerializeReply(r)), r);
}

// ---- Malformed replies ------------------------------------------------------

TEST(ReplyParserTest, RejectsBadCodes) {
  for (absl::string_view bad :
       {"199 x\r\n", "100 x\r\n", "600 x\r\n", "699 x\r\n", "260 x\r\n",
        "290 x\r\n", "2x0 x\r\n", "25\r\n", "25 x\r\n", "2\r\n", "\r\n",
        " 250 x\r\n", "abc\r\n", "-250 x\r\n", "0250 x\r\n"}) {
    auto r = ParseReply(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ReplyParserTest, RejectsBadSeparator) {
  for (absl::string_view bad :
       {"2500\r\n", "250_x\r\n", "250\tx\r\n", "250=x\r\n", "2501 x\r\n"}) {
    EXPECT_FALSE(ParseReply(bad).ok()) << bad;
  }
}

TEST(ReplyParserTest, RejectsInconsistentCodes) {
  auto r = ParseReply("250-a\r\n250-b\r\n251 c\r\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "reply line 3: code 251 differs from 250");
  EXPECT_FALSE(ParseReply("250-a\r\n550 b\r\n").ok());
}

TEST(ReplyParserTest, RejectsBadCodeOnContinuation) {
  auto r = ParseReply("250-a\r\n25x b\r\n");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "reply line 2"))
      << r.status();
}

TEST(ReplyParserTest, RejectsBareLfAndBareCr) {
  EXPECT_FALSE(ParseReply("250 OK\n").ok());
  EXPECT_FALSE(ParseReply("250-a\n250 b\r\n").ok());
  EXPECT_FALSE(ParseReply("250 O\rK\r\n").ok());
  EXPECT_FALSE(ParseReply("250-a\r250 b\r\n").ok());
  auto r = ParseReply("250 OK\n");
  EXPECT_TRUE(absl::StrContains(r.status().message(), "bare LF"));
}

TEST(ReplyParserTest, RejectsOverLongLine) {
  // 512 octets including CRLF is fine; 513 is not.
  const std::string ok = "250 " + std::string(512 - 6, 'x') + "\r\n";
  ASSERT_EQ(ok.size(), 512u);
  EXPECT_TRUE(ParseReply(ok).ok());
  const std::string bad = "250 " + std::string(512 - 5, 'x') + "\r\n";
  auto r = ParseReply(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "longer than 512"));
}

TEST(ReplyParserTest, OverLongLineUsesConfiguredLimit) {
  ReplyParserOptions options;
  options.max_line_length = 10;
  EXPECT_TRUE(ParseReply("250 abcd\r\n", options).ok());
  EXPECT_FALSE(ParseReply("250 abcde\r\n", options).ok());
}

TEST(ReplyParserTest, OverLongLineWithoutEndNeedsMoreInput) {
  // Memory stays bounded while the line goes on; the error comes at its LF.
  ReplyParser parser;
  const std::string chunk(4096, 'x');
  absl::string_view input = "250-";
  ASSERT_EQ(*parser.Next(&input), std::nullopt);
  for (int i = 0; i < 100; ++i) {
    absl::string_view in = chunk;
    ASSERT_EQ(*parser.Next(&in), std::nullopt);
    EXPECT_TRUE(in.empty());
  }
  EXPECT_TRUE(parser.in_reply());
  input = "\r\n";
  EXPECT_FALSE(parser.Next(&input).ok());
}

TEST(ReplyParserTest, RejectsTooManyLines) {
  // A huge EHLO list (Exim CVE-2019-16928 style) is bounded by max_lines.
  std::string huge;
  for (int i = 0; i < 10000; ++i) huge += absl::StrCat("250-X-EXT", i, "\r\n");
  huge += "250 END\r\n";
  auto r = ParseReply(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "more than 128 lines"))
      << r.status();
}

TEST(ReplyParserTest, MaxLinesIsInclusive) {
  ReplyParserOptions options;
  options.max_lines = 3;
  EXPECT_TRUE(ParseReply("250-a\r\n250-b\r\n250 c\r\n", options).ok());
  EXPECT_FALSE(
      ParseReply("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", options).ok());
}

// ---- Incremental behaviour --------------------------------------------------

TEST(ReplyParserTest, IncompleteNeedsMoreInput) {
  ReplyParser parser;
  absl::string_view input = "250-a\r\n250 b";  // final line has no CRLF yet
  EXPECT_EQ(*parser.Next(&input), std::nullopt);
  EXPECT_TRUE(input.empty());
  EXPECT_TRUE(parser.in_reply());
  input = "\r\n";
  EXPECT_EQ(*parser.Next(&input), R(250, {"a", "b"}));
  EXPECT_FALSE(parser.in_reply());
}

TEST(ReplyParserTest, MissingCrLfIsIncomplete) {
  auto r = ParseReply("250 OK");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "incomplete"));
  EXPECT_FALSE(ParseReply("250-a\r\n").ok());
  EXPECT_FALSE(ParseReply("").ok());
}

TEST(ReplyParserTest, InReplyTracksPartialLines) {
  ReplyParser parser;
  EXPECT_FALSE(parser.in_reply());
  absl::string_view input = "2";
  EXPECT_EQ(*parser.Next(&input), std::nullopt);
  EXPECT_TRUE(parser.in_reply());
  input = "50-a\r\n";
  EXPECT_EQ(*parser.Next(&input), std::nullopt);
  EXPECT_TRUE(parser.in_reply());
  input = "250 b\r\n";
  EXPECT_TRUE(parser.Next(&input)->has_value());
  EXPECT_FALSE(parser.in_reply());
}

TEST(ReplyParserTest, StopsAfterOneReply) {
  // STARTTLS response injection (cf. CVE-2011-0411 and later): bytes after
  // the 220 must stay in the input so the caller can see and reject them
  // instead of reading them as a reply after the TLS handshake.
  ReplyParser parser;
  absl::string_view input = "220 go ahead\r\n250 injected\r\n";
  auto r = parser.Next(&input);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(**r, R(220, {"go ahead"}));
  EXPECT_EQ(input, "250 injected\r\n");
  EXPECT_FALSE(parser.in_reply());
}

TEST(ReplyParserTest, ParseReplyRejectsTrailingBytes) {
  auto r = ParseReply("220 go ahead\r\n250 injected\r\n");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "after the final line"));
  EXPECT_FALSE(ParseReply("250 OK\r\nx").ok());
}

TEST(ReplyParserTest, ParsesASequence) {
  Parsed p = ParseAll(
      "250-a\r\n250 b\r\n354 go\r\n550-5.1.1 x\r\n550 5.1.1 y\r\n221 "
      "bye\r\n25");
  ASSERT_TRUE(p.error.ok()) << p.error;
  EXPECT_EQ(p.replies, (std::vector<Reply>{R(250, {"a", "b"}), R(354, {"go"}),
                                           R(550, {"x", "y"}, E(5, 1, 1)),
                                           R(221, {"bye"})}));
  EXPECT_EQ(p.rest, "");
}

TEST(ReplyParserTest, MultiLineSplitFinalLineIsNotTheEnd) {
  // OpenSMTPD CVE-2020-8794: a reply must end only at a line with SP after
  // the code, never at a continuation line that happens to be split.
  ReplyParser parser;
  absl::string_view input = "250-first\r\n250";
  EXPECT_EQ(*parser.Next(&input), std::nullopt);
  input = "-second\r\n250 third\r\n";
  EXPECT_EQ(*parser.Next(&input), R(250, {"first", "second", "third"}));
}

TEST(ReplyParserTest, SplitAtEveryPositionGivesSameResult) {
  const std::vector<std::string> streams = {
      "250-mx.example.com Hello\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n"
      "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n"
      "550-5.7.1 a\r\n550 5.7.1 b\r\n250\r\n220 x\r\n",
      "250-a\r\n251 b\r\n250 c\r\n",
      "250-a\n250 b\r\n",
      "250 a\rb\r\n",
      "220 go ahead\r\n250 injected\r\n25",
  };
  for (const std::string& bytes : streams) {
    const Parsed whole = ParseAll(bytes);
    for (size_t cut = 0; cut <= bytes.size(); ++cut) {
      for (size_t cut2 = cut; cut2 <= bytes.size(); cut2 += 3) {
        ReplyParser parser;
        Parsed split;
        const absl::string_view pieces[] = {
            absl::string_view(bytes).substr(0, cut),
            absl::string_view(bytes).substr(cut, cut2 - cut),
            absl::string_view(bytes).substr(cut2)};
        for (absl::string_view piece : pieces) {
          while (split.error.ok()) {
            auto next = parser.Next(&piece);
            if (!next.ok()) {
              split.error = next.status();
              break;
            }
            if (!next->has_value()) break;
            split.replies.push_back(**next);
          }
          if (!split.error.ok()) break;
        }
        EXPECT_EQ(split.replies, whole.replies) << cut << "," << cut2;
        EXPECT_EQ(split.error, whole.error) << cut << "," << cut2;
      }
    }
  }
}

// ---- Sticky errors and Reset ------------------------------------------------

TEST(ReplyParserTest, ErrorsAreSticky) {
  ReplyParser parser;
  absl::string_view input = "250-a\r\n251 b\r\n";
  auto first = parser.Next(&input);
  ASSERT_FALSE(first.ok());
  for (absl::string_view more : {"250 ok\r\n", "", "garbage"}) {
    absl::string_view in = more;
    auto again = parser.Next(&in);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.status(), first.status());
  }
  EXPECT_FALSE(parser.in_reply());
}

TEST(ReplyParserTest, ResetClearsErrorAndPartialReply) {
  ReplyParser parser;
  absl::string_view input = "199 x\r\n";
  ASSERT_FALSE(parser.Next(&input).ok());
  parser.Reset();
  input = "250-a\r\n25";
  EXPECT_EQ(*parser.Next(&input), std::nullopt);
  EXPECT_TRUE(parser.in_reply());
  parser.Reset();
  EXPECT_FALSE(parser.in_reply());
  input = "220 fresh\r\n";
  EXPECT_EQ(*parser.Next(&input), R(220, {"fresh"}));
}

// ---- Round trip -------------------------------------------------------------

TEST(ReplyRoundTripTest, SerializeThenParse) {
  const std::vector<Reply> replies = {
      R(250, {"OK"}),           R(250, {""}),
      R(250, {"", "", ""}),     R(550, {"a", "", " b "}, E(5, 7, 1)),
      R(421, {""}, E(4, 4, 2)), R(250, {"5.0.0 not enhanced"}),
      R(220, {"2.0.0x"}),
  };
  for (const Reply& r : replies) {
    auto parsed = ParseReply(SerializeReply(r));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, r) << SerializeReply(r);
  }
}

}  // namespace
}  // namespace starling::smtp
