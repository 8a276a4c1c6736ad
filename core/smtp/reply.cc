#include "core/smtp/reply.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/smtp/text.h"

namespace starling::smtp {
namespace {

// Type URL of the payload that carries a ReplyError's reply (wire bytes).
constexpr absl::string_view kReplyPayloadUrl = "starling.smtp/reply";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Parses 1..3 digits from the front of *text into *value.
bool ConsumeNumber(absl::string_view* text, int* value) {
  size_t n = 0;
  int v = 0;
  while (n < text->size() && n < 3 && IsDigit((*text)[n])) {
    v = v * 10 + ((*text)[n] - '0');
    ++n;
  }
  if (n == 0) return false;
  text->remove_prefix(n);
  *value = v;
  return true;
}

// Text with control characters (HT aside) replaced by SP: a reply line can
// never carry them, and CR or LF would let a caller's text inject lines.
std::string OneLine(absl::string_view text) {
  std::string out(text.data(), text.size());
  for (char& c : out) {
    const auto u = static_cast<uint8_t>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) c = ' ';
  }
  return out;
}

bool ValidCode(absl::string_view text) {
  return text.size() >= 3 && text[0] >= '2' && text[0] <= '5' &&
         text[1] >= '0' && text[1] <= '5' && IsDigit(text[2]);
}

// When `text` starts with an enhanced code followed by SP or its end, returns
// the code and the length of the prefix to strip (SP included).
std::optional<EnhancedStatus> LeadingEnhanced(absl::string_view text,
                                              size_t* prefix_len) {
  const size_t end = std::min(text.find(' '), text.size());
  std::optional<EnhancedStatus> status =
      EnhancedStatus::Parse(text.substr(0, end));
  if (status.has_value()) *prefix_len = std::min(end + 1, text.size());
  return status;
}

}  // namespace

// ---- EnhancedStatus ---------------------------------------------------------

std::string EnhancedStatus::ToString() const {
  return absl::StrCat(klass, ".", subject, ".", detail);
}

std::optional<EnhancedStatus> EnhancedStatus::Parse(absl::string_view text) {
  EnhancedStatus status;
  if (text.size() < 5) return std::nullopt;
  if (text[0] != '2' && text[0] != '4' && text[0] != '5') return std::nullopt;
  if (text[1] != '.') return std::nullopt;
  status.klass = text[0] - '0';
  text.remove_prefix(2);
  if (!ConsumeNumber(&text, &status.subject)) return std::nullopt;
  if (text.empty() || text[0] != '.') return std::nullopt;
  text.remove_prefix(1);
  if (!ConsumeNumber(&text, &status.detail)) return std::nullopt;
  if (!text.empty()) return std::nullopt;
  return status;
}

// ---- Reply ------------------------------------------------------------------

Reply Reply::Make(int code, absl::string_view enhanced,
                  absl::string_view text) {
  Reply reply;
  reply.code = code;
  if (!enhanced.empty()) {
    // An invalid code, or one whose class disagrees with `code`, is a
    // programming error: drop it rather than send something malformed.
    std::optional<EnhancedStatus> status = EnhancedStatus::Parse(enhanced);
    if (status.has_value() && status->klass == code / 100) {
      reply.enhanced = status;
    }
  }
  reply.lines.push_back(OneLine(text));
  return reply;
}

namespace {

// "c.sss.ddd" written by hand into `buffer` (at least 12 octets); returns its
// length. This runs for every reply a server sends.
size_t FormatEnhanced(const EnhancedStatus& status, char* buffer) {
  char* p = buffer;
  auto put = [&p](int value) {
    value = value < 0 ? 0 : value % 1000;
    if (value >= 100) *p++ = static_cast<char>('0' + value / 100);
    if (value >= 10) *p++ = static_cast<char>('0' + value / 10 % 10);
    *p++ = static_cast<char>('0' + value % 10);
  };
  put(status.klass);
  *p++ = '.';
  put(status.subject);
  *p++ = '.';
  put(status.detail);
  return p - buffer;
}

// One reply line: code, separator, enhanced code, text, CRLF. The callers
// rewrite what the text may not carry (Sanitize) after it.
void AppendLine(int code, bool last, absl::string_view enhanced,
                absl::string_view text, std::string* out) {
  // The pieces go to a buffer on the stack and then to `out` at once: a
  // reply line is a few short pieces, and each append checks capacity.
  char head[3 + 1 + 16 + 1];
  char* p = head;
  *p++ = static_cast<char>('0' + code / 100 % 10);
  *p++ = static_cast<char>('0' + code / 10 % 10);
  *p++ = static_cast<char>('0' + code % 10);
  if (enhanced.empty() && text.empty()) {
    if (!last) *p++ = '-';
  } else {
    *p++ = last ? ' ' : '-';
    if (!enhanced.empty()) {
      std::memcpy(p, enhanced.data(), enhanced.size());
      p += enhanced.size();
      if (!text.empty()) *p++ = ' ';
    }
  }
  const size_t head_size = p - head;
  const size_t at = out->size();
  out->resize(at + head_size + text.size() + 2);
  char* q = out->data() + at;
  std::memcpy(q, head, head_size);
  q += head_size;
  if (!text.empty()) std::memcpy(q, text.data(), text.size());
  q += text.size();
  q[0] = '\r';
  q[1] = '\n';
}

// Replaces every octet of `text` that no reply line may carry: with
// kControl all control characters but HT (what Reply::Make does), otherwise
// CR and LF only (a CR or LF would start a new reply line).
template <bool kControl>
void Sanitize(char* begin, char* end) {
  auto bad = [](char c) {
    const auto u = static_cast<uint8_t>(c);
    return kControl ? (u < 0x20 && u != '\t') || u == 0x7f
                    : u == '\r' || u == '\n';
  };
  // Texts almost never hold one: a word-at-a-time look first.
  if (!ScanBytes(absl::string_view(begin, end - begin)).control) return;
  for (char* c = begin; c != end; ++c) {
    if (bad(*c)) *c = ' ';
  }
}

}  // namespace

void AppendReply(const Reply& reply, std::string* out) {
  char enhanced_buffer[16];
  absl::string_view enhanced;
  if (reply.enhanced.has_value()) {
    enhanced = absl::string_view(
        enhanced_buffer, FormatEnhanced(*reply.enhanced, enhanced_buffer));
  }
  const size_t count = std::max<size_t>(reply.lines.size(), 1);
  for (size_t i = 0; i < count; ++i) {
    const absl::string_view text =
        i < reply.lines.size() ? absl::string_view(reply.lines[i]) : "";
    const size_t at = out->size();
    AppendLine(reply.code, i + 1 == count, enhanced, text, out);
    Sanitize<false>(out->data() + at, out->data() + out->size() - 2);
  }
}

void AppendReplyLine(int code, absl::string_view enhanced,
                     absl::string_view text, std::string* out, bool last) {
  char enhanced_buffer[16];
  size_t enhanced_size = 0;
  if (!enhanced.empty()) {
    // As Reply::Make: an invalid code or one of another class is dropped.
    std::optional<EnhancedStatus> status = EnhancedStatus::Parse(enhanced);
    if (status.has_value() && status->klass == code / 100) {
      enhanced_size = FormatEnhanced(*status, enhanced_buffer);
    }
  }
  const size_t at = out->size();
  AppendLine(code, last, absl::string_view(enhanced_buffer, enhanced_size),
             text, out);
  // The code and the enhanced code hold no control characters.
  Sanitize<true>(out->data() + at, out->data() + out->size() - 2);
}

std::string SerializeReply(const Reply& reply) {
  std::string out;
  AppendReply(reply, &out);
  return out;
}

absl::Status ReplyError(int code, absl::string_view enhanced,
                        absl::string_view text) {
  absl::Status status = absl::InvalidArgumentError(text);
  status.SetPayload(
      kReplyPayloadUrl,
      absl::Cord(SerializeReply(Reply::Make(code, enhanced, text))));
  return status;
}

std::optional<Reply> ReplyOf(const absl::Status& status) {
  auto payload = status.GetPayload(kReplyPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  const std::string bytes(*payload);
  ReplyParserOptions options;
  options.max_line_length = std::max<size_t>(bytes.size(), 1);
  options.max_lines = std::max<size_t>(bytes.size(), 1);
  absl::StatusOr<Reply> reply = ParseReply(bytes, options);
  if (!reply.ok()) return std::nullopt;
  return *std::move(reply);
}

// ---- ReplyParser ------------------------------------------------------------

ReplyParser::ReplyParser(ReplyParserOptions options)
    : options_(options), lines_(options.max_line_length) {}

bool ReplyParser::in_reply() const {
  return !partial_.lines.empty() || lines_.has_partial_line();
}

void ReplyParser::Reset() {
  lines_.Reset();
  partial_ = Reply();
  error_ = absl::OkStatus();
}

absl::StatusOr<std::optional<Reply>> ReplyParser::Next(
    absl::string_view* input) {
  if (!error_.ok()) return error_;
  auto fail = [this](absl::string_view message) {
    error_ = absl::InvalidArgumentError(
        absl::StrCat("reply line ", partial_.lines.size() + 1, ": ", message));
    partial_ = Reply();
    lines_.Reset();
    return error_;
  };
  while (true) {
    std::optional<Line> line = lines_.Next(input);
    if (!line.has_value()) return std::nullopt;
    switch (line->status) {
      case LineStatus::kOk:
        break;
      case LineStatus::kTooLong:
      case LineStatus::kSegment:  // split mode is never on here
        return fail(
            absl::StrCat("longer than ", options_.max_line_length, " octets"));
      case LineStatus::kBareLf:
      case LineStatus::kBareCr:
        return fail(LineStatusName(line->status));
    }
    if (partial_.lines.size() >= options_.max_lines) {
      return fail(absl::StrCat("more than ", options_.max_lines, " lines"));
    }
    absl::string_view text = line->text;
    if (!ValidCode(text)) {
      return fail(absl::StrCat(
          "malformed reply code \"",
          absl::CHexEscape(text.substr(0, std::min<size_t>(text.size(), 8))),
          "\""));
    }
    const int code =
        (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
    bool final = true;
    if (text.size() > 3) {
      if (text[3] == '-') {
        final = false;
      } else if (text[3] != ' ') {
        return fail(absl::StrCat("bad separator \"",
                                 absl::CHexEscape(text.substr(3, 1)),
                                 "\" after reply code"));
      }
      text.remove_prefix(4);
    } else {
      text.remove_prefix(3);
    }
    if (partial_.lines.empty()) {
      partial_.code = code;
      size_t prefix = 0;
      std::optional<EnhancedStatus> enhanced = LeadingEnhanced(text, &prefix);
      if (enhanced.has_value() && enhanced->klass == code / 100) {
        partial_.enhanced = enhanced;
        text.remove_prefix(prefix);
      }
    } else {
      if (code != partial_.code) {
        return fail(
            absl::StrCat("code ", code, " differs from ", partial_.code));
      }
      size_t prefix = 0;
      if (partial_.enhanced.has_value() &&
          LeadingEnhanced(text, &prefix) == partial_.enhanced) {
        text.remove_prefix(prefix);
      }
    }
    if (!IsTextString(text, options_.utf8)) {
      return fail(options_.utf8 ? "control character or malformed UTF-8 in text"
                                : "control character or 8-bit octet in text "
                                  "(no SMTPUTF8)");
    }
    // A multi-line reply (EHLO's, typically ten lines) gets room for sixteen
    // at once instead of growing one doubling at a time.
    if (!final && partial_.lines.empty()) {
      partial_.lines.reserve(std::min<size_t>(16, options_.max_lines));
    }
    partial_.lines.emplace_back(text.data(), text.size());
    // The line is copied and the reader holds no unfinished line now; drop
    // its buffer so has_partial_line() (and in_reply()) is exact.
    lines_.Reset();
    if (final) {
      Reply reply = std::move(partial_);
      partial_ = Reply();
      return std::optional<Reply>(std::move(reply));
    }
  }
}

absl::StatusOr<Reply> ParseReply(absl::string_view bytes,
                                 ReplyParserOptions options) {
  ReplyParser parser(options);
  absl::string_view input = bytes;
  absl::StatusOr<std::optional<Reply>> reply = parser.Next(&input);
  if (!reply.ok()) return reply.status();
  if (!reply->has_value()) {
    return absl::InvalidArgumentError("incomplete reply: no final line");
  }
  if (!input.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(input.size(), " bytes after the final line of the reply"));
  }
  return **std::move(reply);
}

}  // namespace starling::smtp
