#ifndef STARLING_CORE_SMTP_LINE_READER_H_
#define STARLING_CORE_SMTP_LINE_READER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace starling::smtp {

// How a framed line ended. Exactly one status per line; when several apply,
// the first in this order wins: kTooLong, kBareLf, kBareCr.
enum class LineStatus : uint8_t {
  kOk,       // Ended by CRLF, no bare CR inside, within the length limit.
  kTooLong,  // Longer than the limit (terminator included); text is empty.
  kBareLf,   // Ended by an LF that has no CR before it.
  kBareCr,   // Ended by CRLF, but holds a CR that is not followed by LF.
  // Only with set_split_long_lines(true): a piece of a line longer than the
  // limit; the line goes on. Holds no LF, and a CR that might pair with a
  // coming LF is held back, so any CR in a segment is bare.
  kSegment,
};

absl::string_view LineStatusName(LineStatus status);

struct Line {
  absl::string_view text;  // The line without its terminator (CRLF or bare LF).
  LineStatus status = LineStatus::kOk;
  // The rest of a line whose earlier part came as kSegment lines (so it does
  // not start a line: no end-of-data check, no dot-unstuffing).
  bool continued = false;
  // Ended by CRLF (kOk, kBareCr, and a kTooLong line whose LF had a CR
  // before it). False for kBareLf and kSegment. End of data is CRLF "." CRLF:
  // a "." line counts only after a line that ended this way.
  bool crlf = false;
};

// Frames a byte stream into lines ending in LF, bounded by a maximum length.
//
// Input may be split at any byte: the sequence of lines (text and status) is
// the same however the stream is cut. A line longer than the limit is not
// kept: its bytes are dropped up to the next LF, where one kTooLong line is
// reported and framing resumes, so memory stays bounded by the limit.
//
// Zero-copy when a whole line sits in the input given to Next(); only the
// unfinished tail of an input is copied. A returned Line stays valid until the
// next call to Next() or Reset(), and as long as the input it points into.
class LineReader {
 public:
  // RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with CRLF.
  static constexpr size_t kDefaultMaxLineLength = 512;

  explicit LineReader(size_t max_line_length = kDefaultMaxLineLength);

  // Returns the next complete line, consuming its bytes from `input`. Returns
  // nullopt once `input` is exhausted without completing a line; the partial
  // line is kept for the next call.
  std::optional<Line> Next(absl::string_view* input);

  // Forgets any partial line (e.g. at the STARTTLS boundary).
  void Reset();

  // True when bytes of an unfinished line are held (or being discarded).
  bool has_partial_line() const {
    return (!partial_.empty() && !release_partial_) || discarding_ ||
           carry_cr_;
  }
  // The next byte starts a line (nothing of the current one was read).
  bool at_line_start() const { return !has_partial_line() && !continued_; }

  size_t max_line_length() const { return max_line_length_; }
  // Split mode: instead of dropping a line longer than the limit, hand it out
  // in kSegment pieces (memory stays bounded by the limit). For message
  // bodies, whose lines may legally be passed on whatever their length.
  void set_split_long_lines(bool split) { split_long_lines_ = split; }
  // Heap bytes held by the partial-line buffer.
  size_t buffer_capacity() const { return partial_.capacity(); }
  void set_max_line_length(size_t n) { max_line_length_ = n; }

 private:
  // Adds bytes of the unfinished line; switches to discarding past the limit.
  void Append(absl::string_view bytes);
  Line Frame(absl::string_view with_lf) const;

  size_t max_line_length_;
  std::string partial_;
  bool discarding_ = false;
  bool release_partial_ = false;  // partial_ was returned; clear on next call.
  bool split_long_lines_ = false;
  bool continued_ = false;  // kSegment pieces of the current line went out
  bool carry_cr_ = false;   // a CR held back from a returned segment
  bool discarded_cr_ = false;  // while discarding: the last octet was a CR
};

namespace internal {
// First CR or LF in [p, end), or end (16 bytes per step where SSE2 exists).
const char* FindCrOrLf(const char* p, const char* end);

// `p` is at the start of a line. The length of the longest prefix of
// [p, end) made of whole lines that each end in CRLF, hold no other CR or LF,
// do not start with '.' and (when `max_line` is not 0) are at most
// `max_line` octets with their CRLF: the body lines DATA passes on as they
// are. It is checked 64 octets at a time; a final piece shorter than that is
// left to the caller, so the result may stop short of such lines (0 without
// SSE2).
size_t PlainCrlfLines(const char* p, const char* end, size_t max_line);

// The instruction sets PlainCrlfLines picks from at run time (x86-64), and
// each one on its own for tests.
enum class Simd { kSse2, kAvx2, kAvx512 };
bool SimdSupported(Simd simd);
size_t PlainCrlfLinesWith(Simd simd, const char* p, const char* end,
                          size_t max_line);
}  // namespace internal

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_LINE_READER_H_
