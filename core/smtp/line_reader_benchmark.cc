// Line framing throughput next to a plain memchr scan for LF over the same
// buffer: the reader should cost little more than finding the line ends.
#include <cstring>
#include <string>

#include "benchmark/benchmark.h"
#include "core/smtp/line_reader.h"
#include "core/testing/benchmark_ratio.h"

namespace starling::smtp {
namespace {

// ~1 MiB of typical SMTP lines: commands and 76-column body text.
std::string MakeBuffer() {
  std::string buffer;
  while (buffer.size() < (1 << 20)) {
    buffer += "RCPT TO:<someone@example.com> NOTIFY=SUCCESS,FAILURE\r\n";
    buffer += std::string(76, 'q') + "\r\n";
  }
  return buffer;
}

const std::string& Buffer() {
  static const std::string* buffer = new std::string(MakeBuffer());
  return *buffer;
}

void BM_MemchrScan(benchmark::State& state) {
  const std::string& buffer = Buffer();
  for (auto _ : state) {
    size_t lines = 0;
    const char* p = buffer.data();
    const char* end = p + buffer.size();
    while (const void* lf = std::memchr(p, '\n', end - p)) {
      ++lines;
      p = static_cast<const char*>(lf) + 1;
    }
    benchmark::DoNotOptimize(lines);
  }
  state.SetBytesProcessed(state.iterations() * buffer.size());
}
BENCHMARK(BM_MemchrScan);

void BM_LineReader(benchmark::State& state) {
  const std::string& buffer = Buffer();
  const size_t piece = state.range(0);
  LineReader reader(1000);
  for (auto _ : state) {
    size_t lines = 0;
    for (size_t pos = 0; pos < buffer.size(); pos += piece) {
      absl::string_view input = absl::string_view(buffer).substr(pos, piece);
      while (auto line = reader.Next(&input)) {
        lines += line->status == LineStatus::kOk;
      }
    }
    benchmark::DoNotOptimize(lines);
  }
  state.SetBytesProcessed(state.iterations() * buffer.size());
}
// Whole buffer at once, and in 1460-byte pieces like TCP segments.
BENCHMARK(BM_LineReader)->Arg(1 << 20)->Arg(1460);

STARLING_BENCHMARK_RATIO("BM_LineReader/1048576", "BM_MemchrScan");
STARLING_BENCHMARK_RATIO("BM_LineReader/1460", "BM_MemchrScan");

}  // namespace
}  // namespace starling::smtp
