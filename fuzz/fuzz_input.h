#ifndef STARLING_FUZZ_FUZZ_INPUT_H_
#define STARLING_FUZZ_FUZZ_INPUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/string_view.h"

namespace starling::fuzz {

// Draws decisions from the fuzzer's bytes (a minimal FuzzedDataProvider that
// also builds with g++ in the corpus-replay configuration). Reads past the
// end yield zeros, so every input is a valid program.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size)
      : data_(reinterpret_cast<const char*>(data)), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? static_cast<uint8_t>(data_[pos_++]) : 0; }
  bool Bool() { return Byte() & 1; }
  // A value in [0, n).
  size_t Below(size_t n) { return n == 0 ? 0 : (Byte() | (Byte() << 8)) % n; }
  // Up to `n` raw bytes.
  absl::string_view Bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    absl::string_view out(data_ + pos_, n);
    pos_ += n;
    return out;
  }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Invariant check that survives NDEBUG: a violation is a crash for libFuzzer.
// Aborts (the fuzzer's finding) when an invariant does not hold, saying
// which one.
inline void Require(bool ok, const char* file = __builtin_FILE(),
                    int line = __builtin_LINE()) {
  if (ok) return;
  std::fprintf(stderr, "invariant violated at %s:%d\n", file, line);
  std::abort();
}

}  // namespace starling::fuzz

#endif  // STARLING_FUZZ_FUZZ_INPUT_H_
