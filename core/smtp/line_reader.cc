#include "core/smtp/line_reader.h"

#include <cstring>
#include <utility>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace starling::smtp {
namespace internal {

// SSE2 checks 16 bytes per step: text lines are long runs without CR or LF,
// so this is the hot loop of both the reader and the body encoder.
const char* FindCrOrLf(const char* p, const char* end) {
#ifdef __SSE2__
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int mask = _mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(block, cr), _mm_cmpeq_epi8(block, lf)));
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end && *p != '\r' && *p != '\n') ++p;
  return p;
}

}  // namespace internal

namespace {
using internal::FindCrOrLf;
}  // namespace

absl::string_view LineStatusName(LineStatus status) {
  switch (status) {
    case LineStatus::kOk:
      return "ok";
    case LineStatus::kTooLong:
      return "line too long";
    case LineStatus::kBareLf:
      return "bare LF";
    case LineStatus::kBareCr:
      return "bare CR";
    case LineStatus::kSegment:
      return "segment of a long line";
  }
  return "unknown";
}

LineReader::LineReader(size_t max_line_length)
    : max_line_length_(max_line_length) {}

void LineReader::Reset() {
  partial_.clear();
  discarding_ = false;
  discarded_cr_ = false;
  release_partial_ = false;
  continued_ = false;
  carry_cr_ = false;
}

void LineReader::Append(absl::string_view bytes) {
  if (discarding_) {
    if (!bytes.empty()) discarded_cr_ = bytes.back() == '\r';
    return;
  }
  if (!split_long_lines_ && partial_.size() + bytes.size() > max_line_length_) {
    discarding_ = true;
    discarded_cr_ = !bytes.empty() && bytes.back() == '\r';
    partial_.clear();
    return;
  }
  partial_.append(bytes.data(), bytes.size());
}

Line LineReader::Frame(absl::string_view with_lf) const {
  const size_t n = with_lf.size();
  const bool crlf = n >= 2 && with_lf[n - 2] == '\r';
  if (n > max_line_length_ && !split_long_lines_) {
    return {{}, LineStatus::kTooLong, false, crlf};
  }
  if (!crlf) return {with_lf.substr(0, n - 1), LineStatus::kBareLf};
  absl::string_view text = with_lf.substr(0, n - 2);
  const bool bare_cr =
      !text.empty() && std::memchr(text.data(), '\r', text.size()) != nullptr;
  return {text, bare_cr ? LineStatus::kBareCr : LineStatus::kOk, false, true};
}

std::optional<Line> LineReader::Next(absl::string_view* input) {
  if (release_partial_) {
    partial_.clear();
    release_partial_ = false;
    if (carry_cr_) {
      partial_.push_back('\r');
      carry_cr_ = false;
    }
  }
  if (input->empty()) return std::nullopt;

  if (partial_.empty() && !discarding_) {
    // Fast path: classify the line in the same scan that finds its end.
    const char* begin = input->data();
    const char* end = begin + input->size();
    bool bare_cr = false;
    const char* lf = nullptr;
    for (const char* hit = FindCrOrLf(begin, end); hit != end;
         hit = FindCrOrLf(hit + 1, end)) {
      if (*hit == '\n') {
        lf = hit;
        break;
      }
      if (hit + 1 == end) break;  // a CR whose successor has not arrived
      if (hit[1] == '\n') {
        lf = hit + 1;
        break;
      }
      bare_cr = true;
    }
    if (lf != nullptr) {
      const size_t n = lf + 1 - begin;
      input->remove_prefix(n);
      const bool crlf = n >= 2 && lf[-1] == '\r';
      if (n > max_line_length_ && !split_long_lines_) {
        return Line{{}, LineStatus::kTooLong, false, crlf};
      }
      const bool continued = std::exchange(continued_, false);
      if (!crlf) {
        return Line{absl::string_view(begin, n - 1), LineStatus::kBareLf,
                    continued};
      }
      return Line{absl::string_view(begin, n - 2),
                  bare_cr ? LineStatus::kBareCr : LineStatus::kOk, continued,
                  true};
    }
    if (split_long_lines_ && input->size() > max_line_length_) {
      // A long piece without LF goes out as it is, less a trailing CR that
      // may yet pair with an LF.
      absl::string_view segment = *input;
      input->remove_prefix(input->size());
      if (segment.back() == '\r') {
        segment.remove_suffix(1);
        partial_.push_back('\r');
      }
      continued_ = true;
      return Line{segment, LineStatus::kSegment, false};
    }
    Append(*input);
    input->remove_prefix(input->size());
    return std::nullopt;
  }

  const void* lf = std::memchr(input->data(), '\n', input->size());
  if (lf == nullptr) {
    if (split_long_lines_ && partial_.size() + input->size() > max_line_length_) {
      partial_.append(input->data(), input->size());
      input->remove_prefix(input->size());
      absl::string_view segment = partial_;
      if (segment.back() == '\r') {
        segment.remove_suffix(1);
        carry_cr_ = true;
      }
      release_partial_ = true;
      continued_ = true;
      return Line{segment, LineStatus::kSegment, false};
    }
    Append(*input);
    input->remove_prefix(input->size());
    return std::nullopt;
  }
  const size_t take = static_cast<const char*>(lf) - input->data() + 1;
  // Whether the LF has a CR before it, when the line is being discarded.
  const bool discarded_crlf =
      take >= 2    ? (*input)[take - 2] == '\r'
      : discarding_ ? discarded_cr_
                    : !partial_.empty() && partial_.back() == '\r';
  Append(input->substr(0, take));
  input->remove_prefix(take);
  if (discarding_) {
    discarding_ = false;
    discarded_cr_ = false;
    return Line{{}, LineStatus::kTooLong, false, discarded_crlf};
  }
  release_partial_ = true;
  Line line = Frame(partial_);
  line.continued = std::exchange(continued_, false);
  return line;
}

}  // namespace starling::smtp
