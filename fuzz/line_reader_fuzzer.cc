// Frames the input whole and split at fuzzer-chosen points and checks the
// reader's contract: same lines either way, every line within the limit, no
// CR or LF where its status says there is none, memory bounded.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/smtp/line_reader.h"

namespace {

using starling::smtp::LineReader;
using starling::smtp::LineStatus;
// The framed lines, each as its status, its length and its text, back to
// back: equal encodings are equal line sequences, at one allocation per run
// instead of one per line (the fuzzer runs much faster under ASan).
using Framed = std::string;

void Check(bool ok) {
  if (!ok) std::abort();
}

void Feed(LineReader& reader, absl::string_view piece, Framed& out) {
  while (auto line = reader.Next(&piece)) {
    const absl::string_view text = line->text;
    Check(text.size() + 1 <= reader.max_line_length());
    Check(text.find('\n') == absl::string_view::npos);
    if (line->status == LineStatus::kOk) {
      Check(text.find('\r') == absl::string_view::npos);
    }
    if (line->status == LineStatus::kTooLong) Check(text.empty());
    const uint32_t size = static_cast<uint32_t>(text.size());
    out.push_back(static_cast<char>(line->status));
    out.append(reinterpret_cast<const char*>(&size), sizeof(size));
    out.append(text.data(), text.size());
  }
  Check(piece.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // First byte: line limit; second: split stride seed.
  const size_t max_line_length = 1 + data[0] % 64;
  const size_t stride = 1 + data[1] % 17;
  const absl::string_view bytes(reinterpret_cast<const char*>(data) + 2,
                                size - 2);

  // Kept from run to run: no allocation (and no ASan fill) per run.
  static Framed& whole = *new Framed;
  static Framed& split = *new Framed;
  whole.clear();
  split.clear();

  LineReader whole_reader(max_line_length);
  Feed(whole_reader, bytes, whole);

  LineReader split_reader(max_line_length);
  size_t step = stride;
  for (size_t pos = 0; pos < bytes.size();) {
    Feed(split_reader, bytes.substr(pos, step), split);
    pos += step;
    step = 1 + (step * 7 + pos) % 23;
  }
  Check(whole == split);
  Check(whole_reader.has_partial_line() == split_reader.has_partial_line());
  return 0;
}
