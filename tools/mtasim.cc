// mtasim: runs a simulator scenario (docs/simulator.md, "Scenario files")
// and prints the seed, a one-line configuration summary, the outcome per
// destination domain and the trace hash.
// Exit status: 0; 1 when the world fails to run; 2 for bad usage or a bad
// scenario file; 3 when --check-determinism finds two runs differing.
//
//   mtasim [--seed=N] [--check-determinism] SCENARIO.toml
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "sim/scenario.h"
#include "sim/world.h"

ABSL_FLAG(std::string, seed, "",
          "the world's seed (default: the scenario's world.seed, else 1)");
ABSL_FLAG(bool, check_determinism, false,
          "run the world twice and exit 3 if the trace hashes differ");

namespace {

using ::starling::sim::DomainSummary;
using ::starling::sim::Scenario;
using ::starling::sim::WorldResult;

int Fail(int code, const std::string& message) {
  std::cerr << "mtasim: " << message << "\n";
  return code;
}

absl::string_view PolicySourceName(starling::sim::PolicySource source) {
  switch (source) {
    case starling::sim::PolicySource::kNone:
      return "none (every domain may)";
    case starling::sim::PolicySource::kTable:
      return "table";
    case starling::sim::PolicySource::kPostfix:
      return "postfix";
  }
  return "?";
}

std::string Summary(const Scenario& scenario, absl::string_view path) {
  size_t hosts = 0;
  for (const auto& domain : scenario.domains) hosts += domain.mx.size();
  int64_t messages = 0;
  int64_t recipients = 0;
  for (const auto& load : scenario.loads) {
    messages += load.messages;
    recipients += load.messages * load.recipients;
  }
  return absl::StrCat(
      "config: ", path, ": start ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", scenario.world.start,
                       absl::UTCTimeZone()),
      ", duration ", absl::FormatDuration(scenario.world.duration), ", sender ",
      scenario.sender.hostname, ", policy ",
      PolicySourceName(scenario.sender.policy_source), ", ",
      scenario.domains.size(), " domains, ", hosts, " MX hosts, ", messages,
      " messages (", recipients, " recipients), ", scenario.faults.size(),
      " faults");
}

std::string Row(absl::string_view domain, absl::string_view profile,
                absl::string_view tls, absl::string_view plaintext,
                absl::string_view deferred, absl::string_view bounced,
                absl::string_view types) {
  return absl::StrFormat("%-20s %-12s %-24s %9s %8s %7s  %s\n", domain,
                         profile, tls, plaintext, deferred, bounced, types);
}

void PrintTable(const WorldResult& result) {
  std::cout << Row("domain", "profile", "tls (label)", "plaintext",
                   "deferred", "bounced", "tlsrpt result types");
  for (const DomainSummary& d : result.domains) {
    std::string tls = absl::StrCat(d.tls);
    if (!d.tls_by_label.empty()) {
      std::vector<std::string> labels;
      for (const auto& [label, count] : d.tls_by_label) {
        labels.push_back(absl::StrCat(label, " ", count));
      }
      absl::StrAppend(&tls, " (", absl::StrJoin(labels, ", "), ")");
    }
    const std::string types =
        d.tlsrpt_result_types.empty()
            ? "-"
            : absl::StrJoin(d.tlsrpt_result_types, ",");
    std::cout << Row(d.domain, d.profiles, tls, absl::StrCat(d.plaintext),
                     absl::StrCat(d.deferred), absl::StrCat(d.bounced),
                     types);
  }
  for (const std::string& fault : result.faults_applied) {
    std::cout << "fault applied: " << fault << "\n";
  }
  for (const std::string& fault : result.faults_not_applied) {
    std::cout << "fault not applied: " << fault << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs a simulator scenario and prints its outcome.\n"
      "usage: mtasim [--seed=N] [--check-determinism] SCENARIO.toml");
  // Abseil flag names use underscores; accept --check-determinism too.
  std::vector<std::string> storage(argv, argv + argc);
  std::vector<char*> argv_fixed;
  for (std::string& arg : storage) {
    if (arg == "--") break;
    if (arg.rfind("--", 0) == 0) {
      const size_t end = std::min(arg.find('='), arg.size());
      for (size_t i = 2; i < end; ++i) {
        if (arg[i] == '-') arg[i] = '_';
      }
    }
  }
  for (std::string& arg : storage) argv_fixed.push_back(arg.data());
  std::vector<char*> args = absl::ParseCommandLine(
      static_cast<int>(argv_fixed.size()), argv_fixed.data());
  if (args.size() != 2) return Fail(2, "expected one scenario file");

  // Under `bazel run`, relative paths are meant from the user's directory.
  std::string path = args[1];
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (cwd != nullptr && !path.empty() && path[0] != '/') {
    path = absl::StrCat(cwd, "/", path);
  }
  absl::StatusOr<Scenario> scenario =
      starling::sim::LoadScenarioFile(path);
  if (!scenario.ok()) return Fail(2, std::string(scenario.status().message()));

  uint64_t seed = scenario->world.seed.value_or(1);
  const std::string seed_flag = absl::GetFlag(FLAGS_seed);
  if (!seed_flag.empty() && !absl::SimpleAtoi(seed_flag, &seed)) {
    return Fail(2, absl::StrCat("--seed: not an unsigned integer: '",
                                seed_flag, "'"));
  }

  std::cout << "seed: " << seed << "\n" << Summary(*scenario, args[1]) << "\n";
  absl::StatusOr<WorldResult> result =
      starling::sim::RunScenario(*scenario, seed);
  if (!result.ok()) {
    return Fail(1, absl::StrCat("run failed: ", result.status().ToString()));
  }
  PrintTable(*result);
  std::cout << absl::StrFormat("trace hash: %016x (%d attempts)\n",
                               result->trace_hash, result->attempts.size());

  if (absl::GetFlag(FLAGS_check_determinism)) {
    absl::StatusOr<WorldResult> again =
        starling::sim::RunScenario(*scenario, seed);
    if (!again.ok()) {
      return Fail(1, absl::StrCat("second run failed: ",
                                  again.status().ToString()));
    }
    if (again->trace_hash != result->trace_hash) {
      std::cout << absl::StrFormat(
          "determinism: FAILED, second run's trace hash %016x\n",
          again->trace_hash);
      return 3;
    }
    std::cout << "determinism: ok (two runs, same trace hash)\n";
  }
  return 0;
}
