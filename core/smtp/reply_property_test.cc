// Properties of the reply codec: serialize/parse are inverse on valid replies
// and parsing does not depend on how the byte stream is split. (EHLO
// capability round trips live in capabilities_test.cc, which is where the
// capabilities library is a dependency.)
#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/smtp/reply.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace starling::smtp {

// Lets RapidCheck print counterexamples (found by argument-dependent lookup).
void showValue(const Reply& r, std::ostream& os) {
  os << absl::CEscape(SerializeReply(r))
     << (r.enhanced.has_value() ? " (enhanced)" : "")
     << " lines=" << r.lines.size();
}

namespace {

// A valid reply code: first digit 2..5, second 0..5.
rc::Gen<int> Code() {
  return rc::gen::apply(
      [](int a, int b, int c) { return a * 100 + b * 10 + c; },
      rc::gen::inRange(2, 6), rc::gen::inRange(0, 6), rc::gen::inRange(0, 10));
}

rc::Gen<EnhancedStatus> Enhanced(int klass) {
  return rc::gen::apply(
      [klass](int subject, int detail) {
        return EnhancedStatus{klass, subject, detail};
      },
      rc::gen::weightedOneOf<int>(
          {{3, rc::gen::inRange(0, 10)}, {1, rc::gen::inRange(0, 1000)}}),
      rc::gen::weightedOneOf<int>(
          {{3, rc::gen::inRange(0, 10)}, {1, rc::gen::inRange(0, 1000)}}));
}

// Reply text: RFC 5321 textstring (HT, SP..'~'), biased towards SP, digits
// and dots so that texts that look like codes or enhanced codes come up.
rc::Gen<std::string> Text() {
  return rc::gen::container<std::string>(rc::gen::weightedOneOf<char>(
      {{3, rc::gen::element(' ', '.', '-', '2', '4', '5', '0', '1', '\t')},
       {2, rc::gen::inRange('a', static_cast<char>('z' + 1))},
       {1, rc::gen::inRange(' ', '\x7f')}}));
}

// A character that may never be in reply text: a control other than HT.
rc::Gen<char> Control() {
  return rc::gen::weightedOneOf<char>(
      {{4, rc::gen::distinctFrom(rc::gen::inRange('\0', ' '), '\t')},
       {1, rc::gen::just('\x7f')}});
}

// A text that starts with an enhanced code some of the time.
rc::Gen<std::string> LineText(int klass) {
  return rc::gen::weightedOneOf<std::string>(
      {{4, Text()},
       {1, rc::gen::apply(
               [](EnhancedStatus e, bool space, std::string rest) {
                 return absl::StrCat(e.ToString(), space ? " " : "", rest);
               },
               Enhanced(klass), rc::gen::arbitrary<bool>(), Text())}});
}

// A reply that parse(serialize(r)) must give back: 1..20 lines, each short
// enough for the default line limit, and (without an enhanced code) a first
// line that does not itself begin with one of the reply's class.
rc::Gen<Reply> ValidReply() {
  return rc::gen::exec([] {
    Reply r;
    r.code = *Code();
    const int klass = r.code / 100;
    // RFC 3463 classes are 2, 4 and 5: a 3xx reply has no enhanced code.
    if (klass != 3 && *rc::gen::arbitrary<bool>()) {
      r.enhanced = *Enhanced(klass);
    }
    const size_t n = *rc::gen::inRange<size_t>(1, 21);
    const auto lines = *rc::gen::container<std::vector<std::string>>(
        n, rc::gen::resize(100, LineText(klass)));
    r.lines.assign(lines.begin(), lines.end());
    if (!r.enhanced.has_value()) {
      const std::string& first = r.lines[0];
      const absl::string_view word =
          absl::string_view(first).substr(0, first.find(' '));
      auto e = EnhancedStatus::Parse(word);
      if (e.has_value() && e->klass == klass) r.lines[0].insert(0, "x");
    }
    return r;
  });
}

std::vector<size_t> Cuts(size_t size) {
  auto cuts = *rc::gen::container<std::vector<size_t>>(
      rc::gen::inRange<size_t>(0, size + 1));
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

RC_GTEST_PROP(ReplyProperty, ParseInvertsSerialize, ()) {
  const Reply r = *ValidReply();
  const std::string bytes = SerializeReply(r);
  absl::StatusOr<Reply> parsed = ParseReply(bytes);
  RC_ASSERT(parsed.ok());
  RC_ASSERT(*parsed == r);
}

RC_GTEST_PROP(ReplyProperty, ReplyErrorRoundTrips, ()) {
  const int code = *Code();
  const std::string enhanced =
      *rc::gen::arbitrary<bool>() ? (*Enhanced(code / 100)).ToString() : "";
  const std::string text = *Text();
  const absl::Status status = ReplyError(code, enhanced, text);
  const Reply made = Reply::Make(code, enhanced, text);
  auto back = ReplyOf(status);
  // The only text that cannot come back is one that itself begins with an
  // enhanced code of the reply's class while no enhanced code was given.
  auto reparsed = ParseReply(SerializeReply(made));
  if (enhanced.empty() && !(reparsed.ok() && *reparsed == made)) {
    RC_DISCARD("text looks like an enhanced code");
  }
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == made);
  RC_ASSERT(status.message() == text);
}

// RFC 5321 textstring: a control character anywhere in the text of any line
// makes the reply an error (UTF-8 allowed or not); CR and LF are line ends and
// take their own error paths.
RC_GTEST_PROP(ReplyProperty, ControlCharactersInTextAreErrors, ()) {
  Reply r = *ValidReply();
  const size_t line = *rc::gen::inRange<size_t>(0, r.lines.size());
  const char control = *rc::gen::distinctFrom(
      rc::gen::distinctFrom(Control(), '\r'), '\n');
  std::string& text = r.lines[line];
  text.insert(*rc::gen::inRange<size_t>(0, text.size() + 1), 1, control);
  // Serialize by hand: AppendReply would not write a control character.
  std::string bytes;
  for (size_t i = 0; i < r.lines.size(); ++i) {
    absl::StrAppend(&bytes, r.code, i + 1 == r.lines.size() ? " " : "-",
                    r.lines[i], "\r\n");
  }
  ReplyParserOptions options;
  options.utf8 = *rc::gen::arbitrary<bool>();
  RC_ASSERT(!ParseReply(bytes, options).ok());
}

// 8-bit text is an error unless UTF-8 is allowed, and then only well-formed.
RC_GTEST_PROP(ReplyProperty, EightBitTextNeedsUtf8, ()) {
  const std::string utf8 = *rc::gen::element<std::string>(
      "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x93\xa7", "\xe4\xb8\xad");
  const std::string text = absl::StrCat(*Text(), utf8, *Text());
  const std::string bytes = absl::StrCat("250 ", text, "\r\n");
  RC_ASSERT(!ParseReply(bytes).ok());
  ReplyParserOptions options;
  options.utf8 = true;
  RC_ASSERT(ParseReply(bytes, options).ok());
  // A lone continuation byte or a truncated sequence is never text.
  const std::string broken = absl::StrCat("250 ", text, "\x80\r\n");
  RC_ASSERT(!ParseReply(broken, options).ok());
}

RC_GTEST_PROP(ReplyProperty, MakeNeverLetsAControlCharacterThrough, ()) {
  std::string text = *Text();
  text.insert(*rc::gen::inRange<size_t>(0, text.size() + 1), 1, *Control());
  const Reply made = Reply::Make(550, "", text);
  RC_ASSERT(ParseReply(SerializeReply(made)).ok());
}

// The server's one-line replies skip building a Reply: same bytes, for any
// code, enhanced code text (valid, of another class, or not one at all),
// text (control characters included) and position in a reply.
RC_GTEST_PROP(ReplyProperty, AppendReplyLineIsMakeThenSerialize, ()) {
  const int code = *Code();
  const std::string enhanced = *rc::gen::weightedOneOf<std::string>(
      {{1, rc::gen::just(std::string())},
       {3, rc::gen::map(Enhanced(*rc::gen::inRange(2, 6)),
                        [](EnhancedStatus e) { return e.ToString(); })},
       {1, Text()}});
  std::string text = *Text();
  if (*rc::gen::arbitrary<bool>()) {
    text.insert(*rc::gen::inRange<size_t>(0, text.size() + 1), 1, *Control());
  }
  const bool last = *rc::gen::arbitrary<bool>();
  Reply made = Reply::Make(code, enhanced, text);
  std::string expected = SerializeReply(made);
  if (!last) {  // the same line as the first of two
    made.lines.push_back("next");
    expected = SerializeReply(made);
    expected.resize(expected.find("\r\n") + 2);
  }
  std::string out = "prefix";
  AppendReplyLine(code, enhanced, text, &out, last);
  RC_ASSERT(out == "prefix" + expected);
}

RC_GTEST_PROP(ReplyProperty, AnySplitYieldsSameReplies, ()) {
  const auto replies = *rc::gen::container<std::vector<Reply>>(
      *rc::gen::inRange<size_t>(1, 6), ValidReply());
  std::string bytes;
  for (const Reply& r : replies) bytes += SerializeReply(r);
  const std::vector<size_t> cuts = Cuts(bytes.size());

  ReplyParser parser;
  std::vector<Reply> got;
  size_t pos = 0;
  auto feed = [&](absl::string_view piece) {
    while (true) {
      auto next = parser.Next(&piece);
      RC_ASSERT(next.ok());
      if (!next->has_value()) break;
      got.push_back(**next);
    }
    RC_ASSERT(piece.empty());
  };
  for (size_t cut : cuts) {
    feed(absl::string_view(bytes).substr(pos, cut - pos));
    pos = cut;
  }
  feed(absl::string_view(bytes).substr(pos));
  RC_ASSERT(got == replies);
  RC_ASSERT(!parser.in_reply());
}

RC_GTEST_PROP(ReplyProperty, ArbitraryBytesSplitAgrees, ()) {
  // Any bytes (mostly reply-shaped), split anywhere: same replies and error.
  const std::string bytes =
      *rc::gen::container<std::string>(rc::gen::weightedOneOf<char>(
          {{4, rc::gen::element('2', '5', '0', ' ', '-', '\r', '\n', '.')},
           {1, rc::gen::arbitrary<char>()}}));
  ReplyParserOptions options;
  options.max_line_length = *rc::gen::inRange<size_t>(3, 40);
  options.max_lines = *rc::gen::inRange<size_t>(1, 6);
  auto run = [&](const std::vector<size_t>& cuts) {
    ReplyParser parser(options);
    std::vector<Reply> out;
    absl::Status error;
    size_t pos = 0;
    auto feed = [&](absl::string_view piece) {
      while (error.ok()) {
        auto next = parser.Next(&piece);
        if (!next.ok()) {
          error = next.status();
          return;
        }
        if (!next->has_value()) return;
        out.push_back(**next);
      }
    };
    for (size_t cut : cuts) {
      feed(absl::string_view(bytes).substr(pos, cut - pos));
      pos = cut;
    }
    feed(absl::string_view(bytes).substr(pos));
    return std::make_pair(out, error);
  };
  RC_ASSERT(run(Cuts(bytes.size())) == run({}));
}

}  // namespace
}  // namespace starling::smtp
