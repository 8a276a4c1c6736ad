// Command parsing throughput on a realistic transaction mix, next to a plain
// memchr scan for LF over the same buffer (the floor for any line protocol),
// and serialization of the same commands.
#include <cstring>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/smtp/command.h"
#include "core/testing/benchmark_ratio.h"

namespace starling::smtp {
namespace {

// One transaction as a typical relay sends it.
constexpr const char* kTransaction[] = {
    "EHLO mail-out.example.net",
    "MAIL FROM:<bounces+123@lists.example.net> SIZE=48213 BODY=8BITMIME",
    ("RCPT TO:<alice@example.com> NOTIFY=SUCCESS,FAILURE "
     "ORCPT=rfc822;alice@example.com"),
    "RCPT TO:<bob.smith@mx.example.org> NOTIFY=FAILURE,DELAY",
    "RCPT TO:<carol@example.com>",
    "DATA",
    "QUIT",
};

// ~1 MiB of CRLF-terminated command lines.
std::string MakeBuffer() {
  std::string buffer;
  while (buffer.size() < (1 << 20)) {
    for (const char* line : kTransaction) {
      buffer += line;
      buffer += "\r\n";
    }
  }
  return buffer;
}

const std::string& Buffer() {
  static const std::string* buffer = new std::string(MakeBuffer());
  return *buffer;
}

size_t LineCount() {
  static const size_t count = [] {
    size_t n = 0;
    for (char c : Buffer()) n += c == '\n';
    return n;
  }();
  return count;
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
  state.SetItemsProcessed(state.iterations() * LineCount());
}
BENCHMARK(BM_MemchrScan);

// Finds each line with memchr (as the framing does) and hands it, without
// its CRLF, to `parse`, which says whether it was accepted.
template <typename Parse>
void ParseEachLine(benchmark::State& state, Parse parse) {
  const std::string& buffer = Buffer();
  for (auto _ : state) {
    size_t ok = 0;
    const char* p = buffer.data();
    const char* end = p + buffer.size();
    while (const void* lf = std::memchr(p, '\n', end - p)) {
      const char* eol = static_cast<const char*>(lf);
      ok += parse(absl::string_view(p, eol - 1 - p));
      p = eol + 1;
    }
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(state.iterations() * buffer.size());
  state.SetItemsProcessed(state.iterations() * LineCount());
}

// Into a view of the line, as the server session parses.
void BM_ParseCommandView(benchmark::State& state) {
  const CommandParseOptions options;
  CommandView command;
  ParseEachLine(state, [&](absl::string_view line) {
    const bool ok = ParseCommandView(line, options, command).ok();
    benchmark::DoNotOptimize(command);
    return ok;
  });
}
BENCHMARK(BM_ParseCommandView);

// Into an owning Command (each path, domain and value copied).
void BM_ParseCommand(benchmark::State& state) {
  const CommandParseOptions options;
  ParseEachLine(state, [&](absl::string_view line) {
    return ParseCommand(line, options).ok();
  });
}
BENCHMARK(BM_ParseCommand);

// Each line of the transaction alone, in a loop (ns per command).
void BM_ParseOne(benchmark::State& state) {
  const absl::string_view line = kTransaction[state.range(0)];
  state.SetLabel(std::string(line.substr(0, 4)));
  CommandView command;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParseCommandView(line, {}, command).ok());
    benchmark::DoNotOptimize(command);
  }
  state.SetBytesProcessed(state.iterations() * (line.size() + 2));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseOne)->DenseRange(0, std::size(kTransaction) - 1);

// What the API costs before any parsing: per line, a Command built as
// ParseCommand builds it, moved into a StatusOr and destroyed.
void BM_CommandObjectOnly(benchmark::State& state) {
  const std::string& buffer = Buffer();
  for (auto _ : state) {
    const char* p = buffer.data();
    const char* end = p + buffer.size();
    while (const void* lf = std::memchr(p, '\n', end - p)) {
      Command command;
      benchmark::DoNotOptimize(command);
      absl::StatusOr<Command> result = std::move(command);
      benchmark::DoNotOptimize(result);
      p = static_cast<const char*>(lf) + 1;
    }
  }
  state.SetBytesProcessed(state.iterations() * buffer.size());
  state.SetItemsProcessed(state.iterations() * LineCount());
}
BENCHMARK(BM_CommandObjectOnly);

void BM_SerializeCommand(benchmark::State& state) {
  std::vector<Command> commands;
  size_t bytes = 0;
  for (const char* line : kTransaction) {
    commands.push_back(*ParseCommand(line));
    bytes += std::strlen(line) + 2;
  }
  for (auto _ : state) {
    for (const Command& command : commands) {
      std::string wire = SerializeCommand(command);
      benchmark::DoNotOptimize(wire);
    }
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.SetItemsProcessed(state.iterations() * commands.size());
}
BENCHMARK(BM_SerializeCommand);

STARLING_BENCHMARK_RATIO("BM_ParseCommandView", "BM_MemchrScan");

}  // namespace
}  // namespace starling::smtp
