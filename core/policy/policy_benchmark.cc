// Verdicts per second with a 1,000,000-entry policy table, next to the bare
// table lookup, and the time to load (parse) that table from text.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "core/policy/engine.h"
#include "core/policy/table.h"
#include "core/policy/test_facts.h"
#include "core/testing/benchmark_ratio.h"

namespace starling::policy {
namespace {

constexpr int kEntries = 1000000;

// Exact and parent entries over a mix of levels, like a large relay's table.
std::string TableText() {
  static constexpr const char* kLevels[] = {
      "may", "encrypt", "verify", "secure match=nexthop:dot-nexthop", "dane",
      "pkix min-protocol=TLSv1.3", "encrypt exclude=3DES:RC4"};
  std::string text = "* dane\n";
  text.reserve(kEntries * 40);
  for (int i = 0; i < kEntries; ++i) {
    absl::StrAppend(&text, (i % 10 == 0) ? "." : "", "d", i, ".example ",
                    kLevels[i % 7], "\n");
  }
  return text;
}

const std::string& Text() {
  static const std::string* text = new std::string(TableText());
  return *text;
}

const PolicyTable& Table() {
  static const PolicyTable* table = new PolicyTable(*ParsePolicyTable(Text()));
  return *table;
}

// Destinations: exact hits, hits through a parent entry, and misses.
std::vector<smtp::Destination> Destinations() {
  std::vector<smtp::Destination> out;
  for (int i = 0; i < 4096; ++i) {
    const int n = (i * 7919) % kEntries;
    std::string domain = (i % 3 == 0)   ? absl::StrCat("mail.d", n - n % 10, ".example")
                         : (i % 3 == 1) ? absl::StrCat("d", n, ".example")
                                        : absl::StrCat("nowhere", i, ".example");
    out.push_back({domain, "mx.example.com", 10, false});
  }
  return out;
}

void BM_LoadTable(benchmark::State& state) {
  const std::string& text = Text();
  for (auto _ : state) {
    absl::StatusOr<PolicyTable> table = ParsePolicyTable(text);
    benchmark::DoNotOptimize(table.ok());
  }
  state.counters["entries"] = kEntries;
  state.SetBytesProcessed(state.iterations() * text.size());
}
BENCHMARK(BM_LoadTable)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_Lookup(benchmark::State& state) {
  const PolicyTable& table = Table();
  const std::vector<smtp::Destination> destinations = Destinations();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.Find(destinations[i++ & 4095].next_hop_domain));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Lookup);

// Table lookup + the full handshake decision with its trace.
void BM_Verdict(benchmark::State& state) {
  const PolicyTable& table = Table();
  const std::vector<smtp::Destination> destinations = Destinations();
  const TlsFacts facts = testing::GoodFacts();
  size_t i = 0;
  for (auto _ : state) {
    const smtp::Destination& d = destinations[i++ & 4095];
    const PolicyTable::Match match = table.Find(d.next_hop_domain);
    PolicyInputs in;
    in.entry = match.entry;
    in.entry_key = match.key;
    in.entry_line = match.line;
    in.now = testing::TestNow();
    ConnectionEvaluation eval = EvaluateHandshake(in, d, facts);
    benchmark::DoNotOptimize(eval.decision.verdict);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Verdict);

STARLING_BENCHMARK_RATIO("BM_Verdict", "BM_Lookup");

}  // namespace
}  // namespace starling::policy
