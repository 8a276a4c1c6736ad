#ifndef STARLING_CORE_TESTING_BENCHMARK_RATIO_H_
#define STARLING_CORE_TESTING_BENCHMARK_RATIO_H_

#include <string>

namespace starling::testing {

// Asks benchmark_main to print, after the run, how many times slower the
// benchmark `subject` was than `baseline` (time per iteration; both must
// process the same bytes per iteration). Names are Google Benchmark run names,
// e.g. "BM_LineReader/512".
bool RegisterRatio(std::string subject, std::string baseline);

}  // namespace starling::testing

#define STARLING_BENCHMARK_RATIO_CONCAT2(a, b) a##b
#define STARLING_BENCHMARK_RATIO_CONCAT(a, b) STARLING_BENCHMARK_RATIO_CONCAT2(a, b)
#define STARLING_BENCHMARK_RATIO(subject, baseline)                     \
  static const bool STARLING_BENCHMARK_RATIO_CONCAT(kRatio, __LINE__) = \
      ::starling::testing::RegisterRatio(subject, baseline)

#endif  // STARLING_CORE_TESTING_BENCHMARK_RATIO_H_
