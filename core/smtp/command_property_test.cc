// Properties of the command codec:
// - every valid command of every verb survives Serialize -> Parse unchanged;
// - verbs and the FROM:/TO: keywords parse the same in any case;
// - arbitrary lines never crash the parser: an accepted line is a command that
//   round-trips, a rejected one carries a 5xx reply.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/smtp/command.h"
#include "core/smtp/reply.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace starling::smtp {
namespace {

constexpr absl::string_view kAlnum =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr absl::string_view kAtextSpecials = "!#$%&'*+-/=?^_`{|}~";
constexpr absl::string_view kHexUpper = "0123456789ABCDEF";

char CharFrom(absl::string_view set) {
  return set[*rc::gen::inRange<size_t>(0, set.size())];
}

std::string StringFrom(absl::string_view set, size_t min, size_t max) {
  const size_t n = *rc::gen::inRange<size_t>(min, max + 1);
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(CharFrom(set));
  return s;
}

// One well-formed UTF-8 encoded non-ASCII code point (no surrogates).
std::string Utf8Char() {
  const uint32_t cp =
      *rc::gen::oneOf(rc::gen::inRange<uint32_t>(0x80, 0x800),
                      rc::gen::inRange<uint32_t>(0x800, 0xD800),
                      rc::gen::inRange<uint32_t>(0xE000, 0x10000),
                      rc::gen::inRange<uint32_t>(0x10000, 0x110000));
  std::string out;
  if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
  }
  out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  return out;
}

// A DNS label: let-dig, then let-dig-hyphen, ending in let-dig. With `utf8`,
// some characters are non-ASCII (U-label-like).
std::string Label(bool utf8) {
  const size_t n = *rc::gen::inRange<size_t>(1, 12);
  std::string label;
  for (size_t i = 0; i < n; ++i) {
    const bool edge = i == 0 || i + 1 == n;
    if (utf8 && *rc::gen::inRange(0, 4) == 0) {
      label += Utf8Char();
    } else if (!edge && *rc::gen::inRange(0, 5) == 0) {
      label.push_back('-');
    } else {
      label.push_back(CharFrom(kAlnum));
    }
  }
  return label;
}

std::string Domain(bool utf8) {
  const size_t n = *rc::gen::inRange<size_t>(1, 5);
  std::string domain = Label(utf8);
  for (size_t i = 1; i < n; ++i) absl::StrAppend(&domain, ".", Label(utf8));
  return domain;
}

std::string Ipv4() {
  return absl::StrCat(*rc::gen::inRange(0, 256), ".", *rc::gen::inRange(0, 256),
                      ".", *rc::gen::inRange(0, 256), ".",
                      *rc::gen::inRange(0, 256));
}

std::string HexGroup() { return StringFrom("0123456789abcdefABCDEF", 1, 4); }

std::string JoinGroups(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out.push_back(':');
    out += HexGroup();
  }
  return out;
}

// RFC 5321 IPv6-addr in each of its four shapes.
std::string Ipv6() {
  switch (*rc::gen::inRange(0, 4)) {
    case 0:  // IPv6-full
      return JoinGroups(8);
    case 1: {  // IPv6-comp: at most 6 groups around "::"
      const size_t left = *rc::gen::inRange<size_t>(0, 7);
      const size_t right = *rc::gen::inRange<size_t>(0, 7 - left);
      return absl::StrCat(JoinGroups(left), "::", JoinGroups(right));
    }
    case 2:  // IPv6v4-full
      return absl::StrCat(JoinGroups(6), ":", Ipv4());
    default: {  // IPv6v4-comp: at most 4 groups around "::"
      const size_t left = *rc::gen::inRange<size_t>(0, 5);
      const size_t right = *rc::gen::inRange<size_t>(0, 5 - left);
      return absl::StrCat(JoinGroups(left), "::", JoinGroups(right),
                          right > 0 ? ":" : "", Ipv4());
    }
  }
}

std::string AddressLiteral() {
  switch (*rc::gen::inRange(0, 3)) {
    case 0:
      return absl::StrCat("[", Ipv4(), "]");
    case 1:
      return absl::StrCat(
          "[", *rc::gen::element<std::string>("IPv6", "ipv6", "IPV6"), ":",
          Ipv6(), "]");
    default: {
      // Standardized-tag ":" 1*dcontent
      std::string tag = Label(false);
      if (absl::EqualsIgnoreCase(tag, "IPv6")) tag += "x";  // not an IPv6 tag
      std::string content;
      const size_t n = *rc::gen::inRange<size_t>(1, 10);
      for (size_t i = 0; i < n; ++i) {
        char c;
        do {
          c = static_cast<char>(*rc::gen::inRange(33, 127));
        } while (c == '[' || c == '\\' || c == ']');
        content.push_back(c);
      }
      return absl::StrCat("[", tag, ":", content, "]");
    }
  }
}

std::string LocalPart(bool utf8) {
  if (*rc::gen::inRange(0, 3) == 0) {
    // Quoted-string: qtextSMTP, quoted pairs, and UTF-8 when allowed.
    std::string q = "\"";
    const size_t n = *rc::gen::inRange<size_t>(0, 10);
    for (size_t i = 0; i < n; ++i) {
      const int kind = *rc::gen::inRange(0, 4);
      if (kind == 0) {
        q.push_back('\\');
        q.push_back(static_cast<char>(*rc::gen::inRange(32, 127)));
      } else if (kind == 1 && utf8) {
        q += Utf8Char();
      } else {
        char c;
        do {
          c = static_cast<char>(*rc::gen::inRange(32, 127));
        } while (c == '"' || c == '\\');
        q.push_back(c);
      }
    }
    q.push_back('"');
    return q;
  }
  // Dot-string.
  const size_t atoms = *rc::gen::inRange<size_t>(1, 4);
  std::string local;
  for (size_t a = 0; a < atoms; ++a) {
    if (a > 0) local.push_back('.');
    const size_t n = *rc::gen::inRange<size_t>(1, 8);
    for (size_t i = 0; i < n; ++i) {
      const int kind = *rc::gen::inRange(0, 6);
      if (kind == 0) {
        local.push_back(CharFrom(kAtextSpecials));
      } else if (kind == 1 && utf8) {
        local += Utf8Char();
      } else {
        local.push_back(CharFrom(kAlnum));
      }
    }
  }
  return local;
}

// A mailbox within the default limits (RFC 5321 §4.5.3.1).
Mailbox GenMailbox(bool utf8, bool allow_postmaster) {
  if (allow_postmaster && *rc::gen::inRange(0, 8) == 0) {
    std::string postmaster = "postmaster";
    for (char& c : postmaster) {
      if (*rc::gen::arbitrary<bool>()) c = static_cast<char>(c - 'a' + 'A');
    }
    return Mailbox{postmaster, ""};
  }
  const CommandParseOptions limits;
  Mailbox box;
  do {
    box.local_part = LocalPart(utf8);
    box.domain = *rc::gen::inRange(0, 5) == 0 ? AddressLiteral() : Domain(utf8);
  } while (box.local_part.size() > limits.max_local_part ||
           box.domain.size() > limits.max_domain ||
           box.local_part.size() + box.domain.size() + 3 > limits.max_path);
  return box;
}

std::string Xtext(size_t min, size_t max) {
  const size_t n = *rc::gen::inRange<size_t>(min, max + 1);
  std::string out;
  while (out.size() < n) {
    if (*rc::gen::inRange(0, 6) == 0 && out.size() + 3 <= n) {
      out.push_back('+');
      out.push_back(CharFrom(kHexUpper));
      out.push_back(CharFrom(kHexUpper));
    } else {
      char c;
      do {
        c = static_cast<char>(*rc::gen::inRange(33, 127));
      } while (c == '+' || c == '=');
      out.push_back(c);
    }
  }
  return out;
}

// Free text for NOOP/HELP/VRFY/EXPN: printable, no leading or trailing SP.
std::string FreeText(bool allow_empty) {
  std::string text;
  const size_t n = *rc::gen::inRange<size_t>(allow_empty ? 0 : 1, 30);
  for (size_t i = 0; i < n; ++i) {
    const int kind = *rc::gen::inRange(0, 10);
    if (kind == 0) {
      text += Utf8Char();
    } else if (kind == 1 && i > 0 && i + 1 < n) {
      text.push_back(' ');
    } else {
      text.push_back(static_cast<char>(*rc::gen::inRange(33, 127)));
    }
  }
  return text;
}

std::string Base64(size_t quads) {
  constexpr absl::string_view kB64 =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = StringFrom(kB64, quads * 4, quads * 4);
  const int pad = *rc::gen::inRange(0, 3);
  if (!out.empty()) out.replace(out.size() - pad, pad, std::string(pad, '='));
  return out;
}

// A command as ParseCommand returns it (canonical fields), for `options`.
Command GenCommand(const CommandParseOptions& options) {
  Command c;
  c.verb = static_cast<Verb>(*rc::gen::inRange<int>(0, 14));
  switch (c.verb) {
    case Verb::kEhlo:
    case Verb::kHelo:
      c.domain = *rc::gen::arbitrary<bool>() ? Domain(false) : AddressLiteral();
      break;
    case Verb::kMail: {
      MailParameters& m = c.mail;
      m.smtputf8 = *rc::gen::arbitrary<bool>();
      if (*rc::gen::inRange(0, 5) > 0) c.path = GenMailbox(m.smtputf8, false);
      if (*rc::gen::arbitrary<bool>()) m.size = *rc::gen::arbitrary<uint64_t>();
      if (*rc::gen::arbitrary<bool>()) {
        m.body = *rc::gen::element(BodyType::k7Bit, BodyType::k8BitMime,
                                   BodyType::kBinaryMime);
      }
      m.requiretls = *rc::gen::arbitrary<bool>();
      if (*rc::gen::arbitrary<bool>()) {
        m.ret = *rc::gen::element(DsnReturn::kFull, DsnReturn::kHeaders);
      }
      if (*rc::gen::arbitrary<bool>()) m.envid = Xtext(1, 100);
      if (*rc::gen::arbitrary<bool>()) {
        m.auth = *rc::gen::arbitrary<bool>() ? std::string("<>") : Xtext(1, 60);
      }
      break;
    }
    case Verb::kRcpt: {
      c.path = GenMailbox(options.utf8_addresses, true);
      RcptParameters& r = c.rcpt;
      if (*rc::gen::arbitrary<bool>()) {
        DsnNotify n;
        if (*rc::gen::inRange(0, 4) == 0) {
          n.never = true;
        } else {
          do {
            n.success = *rc::gen::arbitrary<bool>();
            n.failure = *rc::gen::arbitrary<bool>();
            n.delay = *rc::gen::arbitrary<bool>();
          } while (!n.success && !n.failure && !n.delay);
        }
        r.notify = n;
      }
      if (*rc::gen::arbitrary<bool>()) {
        r.orcpt = absl::StrCat(
            *rc::gen::element<std::string>("rfc822", "RFC822", "utf-8", "x400"),
            ";", Xtext(1, 60));
      }
      break;
    }
    case Verb::kBdat:
      c.chunk_size = *rc::gen::arbitrary<uint64_t>();
      c.last_chunk = *rc::gen::arbitrary<bool>();
      break;
    case Verb::kNoop:
    case Verb::kHelp:
      c.argument = FreeText(true);
      break;
    case Verb::kVrfy:
    case Verb::kExpn:
      c.argument = FreeText(false);
      break;
    case Verb::kAuth:
      c.argument = StringFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", 1, 20);
      if (*rc::gen::arbitrary<bool>()) {
        c.initial_response = *rc::gen::inRange(0, 5) == 0
                                 ? std::string("=")
                                 : Base64(*rc::gen::inRange<size_t>(1, 20));
      }
      break;
    case Verb::kData:
    case Verb::kRset:
    case Verb::kQuit:
    case Verb::kStartTls:
      break;
  }
  return c;
}

std::string WithoutCrlf(std::string wire) {
  RC_ASSERT(wire.size() >= 2);
  RC_ASSERT(wire.substr(wire.size() - 2) == "\r\n");
  wire.resize(wire.size() - 2);
  return wire;
}

RC_GTEST_PROP(CommandProperty, ValidCommandsRoundTrip, ()) {
  CommandParseOptions options;
  options.utf8_addresses = *rc::gen::arbitrary<bool>();
  const Command command = GenCommand(options);
  const std::string wire = SerializeCommand(command);
  RC_LOG() << wire;
  const absl::StatusOr<Command> parsed =
      ParseCommand(WithoutCrlf(wire), options);
  RC_ASSERT(parsed.ok());
  RC_ASSERT(*parsed == command);
}

RC_GTEST_PROP(CommandProperty, VerbAndKeywordCaseDoesNotMatter, ()) {
  CommandParseOptions options;
  options.utf8_addresses = *rc::gen::arbitrary<bool>();
  const Command command = GenCommand(options);
  std::string line = WithoutCrlf(SerializeCommand(command));
  // The verb, and "FROM:" / "TO:" of MAIL and RCPT.
  size_t fold = VerbName(command.verb).size();
  if (command.verb == Verb::kMail) fold += 6;
  if (command.verb == Verb::kRcpt) fold += 4;
  for (size_t i = 0; i < fold; ++i) {
    if (*rc::gen::arbitrary<bool>()) line[i] = absl::ascii_tolower(line[i]);
  }
  const absl::StatusOr<Command> parsed = ParseCommand(line, options);
  RC_ASSERT(parsed.ok());
  RC_ASSERT(*parsed == command);
}

// Lines close to the grammar: mutated valid commands and token soups.
rc::Gen<std::string> NearlyValidLines(const CommandParseOptions& options) {
  return rc::gen::exec([options] {
    std::string line;
    if (*rc::gen::arbitrary<bool>()) {
      line = WithoutCrlf(SerializeCommand(GenCommand(options)));
      const int edits = *rc::gen::inRange(0, 4);
      for (int e = 0; e < edits && !line.empty(); ++e) {
        const size_t at = *rc::gen::inRange<size_t>(0, line.size());
        const char c =
            *rc::gen::oneOf(rc::gen::element(' ', '<', '>', '@', ':', ',', '.',
                                             '"', '\\', '=', '+', '[', ']', '-',
                                             ';', '\t', '\0', '\x80', '\xff'),
                            rc::gen::arbitrary<char>());
        switch (*rc::gen::inRange(0, 3)) {
          case 0:
            line[at] = c;
            break;
          case 1:
            line.insert(line.begin() + at, c);
            break;
          default:
            line.erase(at, 1);
            break;
        }
      }
    } else {
      const auto tokens = *rc::gen::container<std::vector<std::string>>(
          rc::gen::element<std::string>(
              "MAIL", "RCPT", "EHLO", "BDAT", "AUTH", "NOOP",
              "FROM:", "TO:", " ", "<", ">", "@", "a", "b.example", "[", "]",
              "IPv6:", "::", "1.2.3.4", "\"", "\\",
              "SIZE=", "NOTIFY=", "ORCPT=", "rfc822;", "SMTPUTF8",
              "BODY=", "8BITMIME", "99999999999999999999", "LAST", ",", ":",
              "+2B", "=", "\xc3\xa9", "postmaster", "0"));
      for (const std::string& t : tokens) line += t;
    }
    return line;
  });
}

void CheckAnyLine(const std::string& line, const CommandParseOptions& options) {
  const absl::StatusOr<Command> parsed = ParseCommand(line, options);
  RC_CLASSIFY(parsed.ok(), "accepted");
  if (parsed.ok()) {
    const std::string wire = SerializeCommand(*parsed);
    RC_ASSERT(wire.size() - 2 <= line.size());  // canonical is never longer
    const absl::StatusOr<Command> again =
        ParseCommand(WithoutCrlf(wire), options);
    RC_ASSERT(again.ok());
    RC_ASSERT(*again == *parsed);
  } else {
    const std::optional<Reply> reply = ReplyOf(parsed.status());
    RC_ASSERT(reply.has_value());
    RC_ASSERT(reply->code >= 500 && reply->code <= 559);
    RC_ASSERT(reply->enhanced.has_value());
    RC_ASSERT(reply->enhanced->klass == 5);
  }
}

RC_GTEST_PROP(CommandProperty, NearlyValidLinesAreHandled, ()) {
  CommandParseOptions options;
  options.utf8_addresses = *rc::gen::arbitrary<bool>();
  const std::string line = *NearlyValidLines(options);
  RC_LOG() << line;
  CheckAnyLine(line, options);
}

RC_GTEST_PROP(CommandProperty, ArbitraryLinesAreHandled,
              (const std::string& line, bool utf8)) {
  CommandParseOptions options;
  options.utf8_addresses = utf8;
  CheckAnyLine(line, options);
}

// One view reused line after line: whatever the earlier lines left in it,
// each line gives what ParseCommand gives, and the text of the verb's fields
// lies inside that line.
RC_GTEST_PROP(CommandProperty, ReusedViewMatchesParseCommand, ()) {
  CommandParseOptions options;
  options.utf8_addresses = *rc::gen::arbitrary<bool>();
  const auto lines =
      *rc::gen::container<std::vector<std::string>>(rc::gen::oneOf(
          NearlyValidLines(options), rc::gen::exec([options] {
            return WithoutCrlf(SerializeCommand(GenCommand(options)));
          })));
  CommandView view;
  for (const std::string& line : lines) {
    RC_LOG() << line << "\n";
    const absl::Status status = ParseCommandView(line, options, view);
    const absl::StatusOr<Command> parsed = ParseCommand(line, options);
    RC_ASSERT(status == parsed.status());
    if (!status.ok()) continue;
    RC_ASSERT(ToCommand(view) == *parsed);
    const auto inside = [&line](absl::string_view text) {
      return text.empty() ||
             (text.data() >= line.data() &&
              text.data() + text.size() <= line.data() + line.size());
    };
    // Only the verb's fields: the others may still hold earlier lines'.
    switch (view.verb) {
      case Verb::kEhlo:
      case Verb::kHelo:
        RC_ASSERT(inside(view.domain));
        break;
      case Verb::kMail:
      case Verb::kRcpt:
        if (view.path.has_value()) {
          RC_ASSERT(inside(view.path->local_part));
          RC_ASSERT(inside(view.path->domain));
        }
        break;
      case Verb::kNoop:
      case Verb::kHelp:
      case Verb::kVrfy:
      case Verb::kExpn:
      case Verb::kAuth:
        RC_ASSERT(inside(view.argument));
        break;
      default:
        break;
    }
  }
}

}  // namespace
}  // namespace starling::smtp
