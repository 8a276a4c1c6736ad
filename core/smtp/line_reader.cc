#include "core/smtp/line_reader.h"

#include <cstring>
#include <utility>

#ifdef __SSE2__
#include <immintrin.h>
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

#if defined(__x86_64__) && defined(__GNUC__)
namespace {

// The CR, LF and '.' octets of one 64-octet block: bit i is block[i].
struct BlockMasks {
  uint64_t cr;
  uint64_t lf;
  uint64_t dot;
};

inline BlockMasks MasksSse2(const char* block) {
  BlockMasks m = {0, 0, 0};
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i dot = _mm_set1_epi8('.');
  for (int i = 0; i < 4; ++i) {
    const __m128i v =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * i));
    auto bits = [&v](__m128i c) {
      return static_cast<uint64_t>(
          static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, c))));
    };
    m.cr |= bits(cr) << (16 * i);
    m.lf |= bits(lf) << (16 * i);
    m.dot |= bits(dot) << (16 * i);
  }
  return m;
}

__attribute__((target("avx2"))) inline BlockMasks MasksAvx2(
    const char* block) {
  BlockMasks m = {0, 0, 0};
  const __m256i cr = _mm256_set1_epi8('\r');
  const __m256i lf = _mm256_set1_epi8('\n');
  const __m256i dot = _mm256_set1_epi8('.');
  for (int i = 0; i < 2; ++i) {
    const __m256i v =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * i));
    auto bits = [&v](__m256i c) __attribute__((target("avx2"))) {
      return static_cast<uint64_t>(
          static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, c))));
    };
    m.cr |= bits(cr) << (32 * i);
    m.lf |= bits(lf) << (32 * i);
    m.dot |= bits(dot) << (32 * i);
  }
  return m;
}

__attribute__((target("avx512f,avx512bw"))) inline BlockMasks MasksAvx512(const char* block) {
  const __m512i v = _mm512_loadu_si512(block);
  return {_mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\r')),
          _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\n')),
          _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('.'))};
}

// The scan, written once; each instruction set gets its own copy with its
// masks inlined (flatten: into the entry point that has the target).
template <BlockMasks (*Masks)(const char*)>
inline size_t PlainLinesLoop(
    const char* p, const char* end, size_t max_line) {
  const char* const begin = p;
  const char* line_start = p;  // every line before it qualified
  uint64_t carry_cr = 0;       // the octet before the block was a CR
  uint64_t carry_lf = 1;       // ... an LF (p starts a line)
  while (end - p >= 64) {
    const BlockMasks m = Masks(p);
    // Every LF right after a CR and every CR right before an LF.
    const uint64_t wrong = m.lf ^ ((m.cr << 1) | carry_cr);
    // Lines that start with '.' (stuffed, or the end of the data).
    const uint64_t dots = m.dot & ((m.lf << 1) | carry_lf);
    const uint64_t stop = wrong | dots;  // the first failing line holds it
    if (max_line != 0) {
      for (uint64_t ends = m.lf; ends != 0; ends &= ends - 1) {
        const int at = __builtin_ctzll(ends);
        // Up to and including this LF (all ones when it is bit 63).
        const uint64_t through = (uint64_t{2} << at) - 1;
        if ((stop & through) != 0) break;  // this line or an earlier one fails
        const char* next = p + at + 1;
        if (static_cast<size_t>(next - line_start) > max_line) {
          return line_start - begin;
        }
        line_start = next;
      }
    }
    if (stop != 0) {
      // The line holding the first stop position fails: back to its start.
      const uint64_t ends = m.lf & ((uint64_t{1} << __builtin_ctzll(stop)) - 1);
      if (ends != 0) line_start = p + (63 - __builtin_clzll(ends)) + 1;
      return line_start - begin;
    }
    if (m.lf != 0) line_start = p + (63 - __builtin_clzll(m.lf)) + 1;
    carry_cr = m.cr >> 63;
    carry_lf = m.lf >> 63;
    p += 64;
  }
  return line_start - begin;
}

__attribute__((flatten)) size_t PlainLinesSse2(const char* p, const char* end,
                                               size_t max_line) {
  return PlainLinesLoop<MasksSse2>(p, end, max_line);
}
__attribute__((target("avx2"), flatten)) size_t PlainLinesAvx2(const char* p,
                                                       const char* end,
                                                       size_t max_line) {
  return PlainLinesLoop<MasksAvx2>(p, end, max_line);
}
__attribute__((target("avx512f,avx512bw"), flatten)) size_t PlainLinesAvx512(
    const char* p, const char* end, size_t max_line) {
  return PlainLinesLoop<MasksAvx512>(p, end, max_line);
}

using PlainLinesFn = size_t (*)(const char*, const char*, size_t);

PlainLinesFn PlainLinesFor(Simd simd) {
  switch (simd) {
    case Simd::kAvx512:
      return PlainLinesAvx512;
    case Simd::kAvx2:
      return PlainLinesAvx2;
    case Simd::kSse2:
      break;
  }
  return PlainLinesSse2;
}

// The widest the CPU has, chosen once.
PlainLinesFn ChoosePlainLines() {
  for (Simd simd : {Simd::kAvx512, Simd::kAvx2}) {
    if (SimdSupported(simd)) return PlainLinesFor(simd);
  }
  return PlainLinesSse2;
}

}  // namespace

bool SimdSupported(Simd simd) {
  __builtin_cpu_init();
  switch (simd) {
    case Simd::kAvx512:
      return __builtin_cpu_supports("avx512bw");
    case Simd::kAvx2:
      return __builtin_cpu_supports("avx2");
    case Simd::kSse2:
      return true;
  }
  return false;
}

size_t PlainCrlfLinesWith(Simd simd, const char* p, const char* end,
                          size_t max_line) {
  return PlainLinesFor(simd)(p, end, max_line);
}

size_t PlainCrlfLines(const char* p, const char* end, size_t max_line) {
  static const PlainLinesFn fn = ChoosePlainLines();
  return fn(p, end, max_line);
}
#else
bool SimdSupported(Simd) { return false; }
size_t PlainCrlfLinesWith(Simd, const char*, const char*, size_t) { return 0; }
size_t PlainCrlfLines(const char*, const char*, size_t) { return 0; }
#endif

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
