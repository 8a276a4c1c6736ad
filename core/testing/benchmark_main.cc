#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/testing/benchmark_ratio.h"

namespace starling::testing {
namespace {

std::vector<std::pair<std::string, std::string>>& Ratios() {
  static auto* ratios = new std::vector<std::pair<std::string, std::string>>;
  return *ratios;
}

// Prints as the console reporter does and remembers each run's time.
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.iterations == 0) continue;
      ns_per_iteration_[run.benchmark_name()] =
          run.real_accumulated_time * 1e9 / static_cast<double>(run.iterations);
    }
  }

  void PrintRatios() const {
    for (const auto& [subject, baseline] : Ratios()) {
      auto s = ns_per_iteration_.find(subject);
      auto b = ns_per_iteration_.find(baseline);
      if (s == ns_per_iteration_.end() || b == ns_per_iteration_.end()) {
        std::printf("ratio %s / %s: not measured (filtered out)\n",
                    subject.c_str(), baseline.c_str());
        continue;
      }
      std::printf("ratio %s / %s: %.2fx the baseline's time\n", subject.c_str(),
                  baseline.c_str(), s->second / b->second);
    }
  }

 private:
  std::map<std::string, double> ns_per_iteration_;
};

}  // namespace

bool RegisterRatio(std::string subject, std::string baseline) {
  Ratios().emplace_back(std::move(subject), std::move(baseline));
  return true;
}

}  // namespace starling::testing

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  starling::testing::RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
