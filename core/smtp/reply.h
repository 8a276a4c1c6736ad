#ifndef STARLING_CORE_SMTP_REPLY_H_
#define STARLING_CORE_SMTP_REPLY_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/smtp/line_reader.h"

namespace starling::smtp {

// RFC 3463 enhanced status code "class.subject.detail", e.g. 5.7.1.
struct EnhancedStatus {
  int klass = 0;    // 2, 4 or 5
  int subject = 0;  // 0..999
  int detail = 0;   // 0..999

  std::string ToString() const;
  // Parses exactly "c.s.d" (class 2/4/5, 1-3 digit subject and detail).
  static std::optional<EnhancedStatus> Parse(absl::string_view text);
  friend bool operator==(const EnhancedStatus&, const EnhancedStatus&) = default;
};

// One SMTP reply (RFC 5321 §4.2): a code and one or more lines of text. When
// `enhanced` is set, it prefixes the text of every line on the wire.
struct Reply {
  int code = 0;  // 3 digits: first 2..5, second 0..5
  std::optional<EnhancedStatus> enhanced;
  // Text after "code[-| ]" and the enhanced code. Most replies are one line,
  // kept inline (no allocation for the list itself).
  absl::InlinedVector<std::string, 1> lines;

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }

  // Convenience: a single-line reply; `enhanced` may be "" for none. Control
  // characters in `text` become SP: a reply line can never carry them.
  static Reply Make(int code, absl::string_view enhanced, absl::string_view text);
  friend bool operator==(const Reply&, const Reply&) = default;
};

// The exact bytes of `reply`: "250-a\r\n250 b\r\n"; a line of empty text is
// sent as "code\r\n" (final) or "code-\r\n" (continuation).
std::string SerializeReply(const Reply& reply);
// The same bytes, appended to `out`.
void AppendReply(const Reply& reply, std::string* out);

// The bytes of Reply::Make(code, enhanced, text), appended to `out` without
// building the Reply (a server's own one-line replies). With `last` false,
// the line is a continuation line ("250-...") of a reply that goes on.
void AppendReplyLine(int code, absl::string_view enhanced,
                     absl::string_view text, std::string* out,
                     bool last = true);

// A protocol error that should be answered with a specific reply. The status
// code is kInvalidArgument and the reply travels as a payload, so a parser can
// say exactly which reply (e.g. 501 5.5.4) a server should send.
absl::Status ReplyError(int code, absl::string_view enhanced,
                        absl::string_view text);
// The reply carried by a ReplyError status, if any.
std::optional<Reply> ReplyOf(const absl::Status& status);

struct ReplyParserOptions {
  size_t max_line_length = 512;  // RFC 5321 §4.5.3.1.5, CRLF included
  size_t max_lines = 128;        // bounds a multi-line reply (e.g. EHLO)
  // Reply text is RFC 5321 textstring (HT, SP..'~'); with utf8 (the server
  // offered SMTPUTF8, RFC 6531 §3.7.4) well-formed UTF-8 too.
  bool utf8 = false;
};

// Incremental reply parser for the client side. Consumes input up to and
// including the final line of one reply and never further, so bytes after a
// reply (e.g. injected after a 220 to STARTTLS) stay in the caller's input.
// Any malformed reply is an error and the parser is then unusable (sticky):
// a code that is not 3 digits with first 2..5 and second 0..5, a separator
// other than SP, '-' or end of line, continuation lines with a different code,
// text that is not a textstring (control characters; 8-bit octets unless
// options.utf8), bare CR or LF, an over-long line, too many lines.
class ReplyParser {
 public:
  explicit ReplyParser(ReplyParserOptions options = {});

  // Returns a complete reply, nullopt when more input is needed, or an error.
  absl::StatusOr<std::optional<Reply>> Next(absl::string_view* input);

  // True when part of a reply has been read (bytes are buffered).
  bool in_reply() const;
  void Reset();
  // Whether UTF-8 reply text is allowed from now on.
  void set_utf8(bool utf8) { options_.utf8 = utf8; }

 private:
  ReplyParserOptions options_;
  LineReader lines_;
  Reply partial_;
  absl::Status error_;
};

// Parses a complete reply given as bytes (all lines, with CRLFs). Fails when
// the bytes hold anything after the final line.
absl::StatusOr<Reply> ParseReply(absl::string_view bytes,
                                 ReplyParserOptions options = {});

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_REPLY_H_
