#include "tools/testing/sink_process.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace starling::tools::testing {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::unique_ptr<SinkProcess>> SinkProcess::Start(
    const std::vector<std::string>& flags) {
  absl::StatusOr<std::string> dir = MakeTestDirectory("sink");
  if (!dir.ok()) return dir.status();
  absl::StatusOr<std::string> binary = RunfilePath("tools/starling-sink");
  if (!binary.ok()) return binary.status();
  auto sink = std::make_unique<SinkProcess>();
  sink->dir_ = *dir;
  const std::string ports = *dir + "/ports.json";
  std::vector<std::string> argv = {*binary, "--listen=127.0.0.1:0",
                                   "--ports_file=" + ports,
                                   "--log=" + *dir + "/sink.log"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Start(argv, *dir, *dir + "/sink.err", false);
  if (!child.ok()) return child.status();
  sink->child_ = *std::move(child);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (ReadWholeFile(ports).empty()) {
    if (!sink->child_.Running() || absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat(
          "starling-sink did not start: ", ReadWholeFile(*dir + "/sink.err")));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  const nlohmann::json bound =
      nlohmann::json::parse(ReadWholeFile(ports), nullptr, false);
  if (bound.is_discarded() || bound["listen"].empty()) {
    return absl::InternalError("unreadable ports file");
  }
  sink->address_ = bound["listen"][0].get<std::string>();
  uint32_t port = 0;
  (void)absl::SimpleAtoi(sink->address_.substr(sink->address_.rfind(':') + 1), &port);
  sink->port_ = static_cast<uint16_t>(port);
  return sink;
}

std::string SinkProcess::log() const { return ReadWholeFile(dir_ + "/sink.log"); }

absl::StatusOr<ProgramResult> RunSend(const std::vector<std::string>& flags,
                                      absl::Duration timeout) {
  absl::StatusOr<std::string> binary = RunfilePath("tools/starling-send");
  if (!binary.ok()) return binary.status();
  std::vector<std::string> argv = {*binary};
  argv.insert(argv.end(), flags.begin(), flags.end());
  const char* tmp = getenv("TEST_TMPDIR");
  return RunProgramForResult(argv, tmp != nullptr ? tmp : "/tmp", timeout);
}

}  // namespace starling::tools::testing
