#include "core/smtp/capabilities.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace starling::smtp {
namespace {

// RFC 5321 §4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
bool IsKeyword(absl::string_view word) {
  if (word.empty() || !absl::ascii_isalnum(word[0])) return false;
  return std::all_of(word.begin(), word.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '-'; });
}

// RFC 1870: SIZE [number]; no number (or 0) means no fixed maximum.
// RFC 1870 SIZE's value. A value that is not a number (or too large) is
// read as "no fixed maximum", as Postfix's client does: the server then
// decides at MAIL.
uint64_t ParseSize(absl::string_view params) {
  params = absl::StripAsciiWhitespace(params);
  uint64_t value = 0;
  for (char c : params) {
    const uint64_t digit = c - '0';
    if (!absl::ascii_isdigit(c) || value > (UINT64_MAX - digit) / 10) return 0;
    value = value * 10 + digit;
  }
  return value;
}

// RFC 4954: AUTH mech...; names are upper-cased and kept once, in order.
void AddMechanisms(absl::string_view params, std::vector<std::string>* out) {
  for (absl::string_view mech :
       absl::StrSplit(params, ' ', absl::SkipEmpty())) {
    std::string name = absl::AsciiStrToUpper(mech);
    if (std::find(out->begin(), out->end(), name) == out->end()) {
      out->push_back(std::move(name));
    }
  }
}

}  // namespace

absl::StatusOr<EhloCapabilities> ParseEhloReply(const Reply& reply) {
  if (reply.code != 250) {
    return absl::InvalidArgumentError(
        absl::StrCat("EHLO reply code is ", reply.code, ", not 250"));
  }
  if (reply.lines.empty()) {
    return absl::InvalidArgumentError("EHLO reply has no lines");
  }
  EhloCapabilities caps;
  {
    const absl::string_view first = reply.lines[0];
    const size_t sp = std::min(first.find(' '), first.size());
    caps.domain = std::string(first.substr(0, sp));
    if (sp < first.size()) caps.greeting = std::string(first.substr(sp + 1));
    if (caps.domain.empty()) {
      return absl::InvalidArgumentError("EHLO reply: no domain on first line");
    }
  }
  for (size_t i = 1; i < reply.lines.size(); ++i) {
    const absl::string_view line = reply.lines[i];
    const size_t sp = std::min(line.find(' '), line.size());
    const absl::string_view keyword = line.substr(0, sp);
    const absl::string_view params =
        sp < line.size() ? line.substr(sp + 1) : absl::string_view();
    // Legacy "AUTH=PLAIN LOGIN" (pre-RFC 4954 servers and Outlook clients).
    if (absl::StartsWithIgnoreCase(keyword, "AUTH=")) {
      AddMechanisms(keyword.substr(5), &caps.auth_mechanisms);
      AddMechanisms(params, &caps.auth_mechanisms);
      continue;
    }
    // A line that is no ehlo-keyword (an empty "250 " last line, as
    // Postfix's smtp-sink sends) names no extension: skipped, as real
    // clients do, rather than failing the session.
    if (!IsKeyword(keyword)) continue;
    auto is = [keyword](absl::string_view name) {
      return absl::EqualsIgnoreCase(keyword, name);
    };
    if (is("PIPELINING")) {
      caps.pipelining = true;
    } else if (is("8BITMIME")) {
      caps.eight_bit_mime = true;
    } else if (is("SMTPUTF8")) {
      caps.smtputf8 = true;
    } else if (is("ENHANCEDSTATUSCODES")) {
      caps.enhanced_status_codes = true;
    } else if (is("CHUNKING")) {
      caps.chunking = true;
    } else if (is("BINARYMIME")) {
      caps.binary_mime = true;
    } else if (is("STARTTLS")) {
      caps.starttls = true;
    } else if (is("REQUIRETLS")) {
      caps.requiretls = true;
    } else if (is("DSN")) {
      caps.dsn = true;
    } else if (is("SIZE")) {
      caps.size = ParseSize(params);
    } else if (is("AUTH")) {
      AddMechanisms(params, &caps.auth_mechanisms);
    } else {
      caps.other.emplace_back(line);
    }
  }
  return caps;
}

namespace {

// Calls line(a, b, c) for each line of the EHLO reply that advertises `caps`,
// in order; the line's text is a, b and c together.
template <typename LineFn>
void ForEachEhloLine(const EhloCapabilities& caps, LineFn line) {
  if (caps.greeting.empty()) {
    line(caps.domain, "", "");
  } else {
    line(caps.domain, " ", caps.greeting);
  }
  auto add_if = [&line](bool on, absl::string_view keyword) {
    if (on) line(keyword, "", "");
  };
  add_if(caps.pipelining, "PIPELINING");
  if (caps.size.has_value()) {
    if (*caps.size == 0) {
      line("SIZE", "", "");
    } else {
      line("SIZE ", absl::AlphaNum(*caps.size).Piece(), "");
    }
  }
  add_if(caps.eight_bit_mime, "8BITMIME");
  add_if(caps.smtputf8, "SMTPUTF8");
  add_if(caps.enhanced_status_codes, "ENHANCEDSTATUSCODES");
  add_if(caps.chunking, "CHUNKING");
  add_if(caps.binary_mime, "BINARYMIME");
  add_if(caps.starttls, "STARTTLS");
  add_if(caps.requiretls, "REQUIRETLS");
  add_if(caps.dsn, "DSN");
  if (!caps.auth_mechanisms.empty()) {
    line("AUTH ", absl::StrJoin(caps.auth_mechanisms, " "), "");
  }
  for (const std::string& other : caps.other) line(other, "", "");
}

}  // namespace

Reply EhloReply(const EhloCapabilities& caps) {
  Reply reply;
  reply.code = 250;
  ForEachEhloLine(caps, [&reply](absl::string_view a, absl::string_view b,
                                 absl::string_view c) {
    reply.lines.push_back(absl::StrCat(a, b, c));
  });
  return reply;
}

void AppendEhloReply(const EhloCapabilities& caps, std::string* out) {
  // A first walk counts the lines (the last one's separator differs) and
  // sizes them, so that `out` and `text` grow once.
  size_t count = 0;
  size_t total = 0;
  size_t longest = 0;
  ForEachEhloLine(
      caps, [&](absl::string_view a, absl::string_view b, absl::string_view c) {
        ++count;
        const size_t size = a.size() + b.size() + c.size();
        total += 4 + size + 2;  // "250-" text CRLF
        longest = std::max(longest, size);
      });
  out->reserve(out->size() + total);
  std::string text;  // one buffer for every line
  text.reserve(longest);
  size_t written = 0;
  ForEachEhloLine(
      caps, [&](absl::string_view a, absl::string_view b, absl::string_view c) {
        text.clear();
        absl::StrAppend(&text, a, b, c);
        AppendReplyLine(250, "", text, out, /*last=*/++written == count);
      });
}

}  // namespace starling::smtp
