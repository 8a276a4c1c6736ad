#ifndef STARLING_TOOLS_TESTING_SINK_PROCESS_H_
#define STARLING_TOOLS_TESTING_SINK_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/testing/subprocess.h"

namespace starling::tools::testing {

// starling-sink (a data dependency of the test) run as a child on a port
// the kernel chose, with its log and ports file in a directory of its own.
class SinkProcess {
 public:
  // `flags` are added to --listen=127.0.0.1:0 --ports_file --log.
  static absl::StatusOr<std::unique_ptr<SinkProcess>> Start(
      const std::vector<std::string>& flags);

  const std::string& dir() const { return dir_; }
  const std::string& address() const { return address_; }  // "127.0.0.1:N"
  uint16_t port() const { return port_; }
  std::string log() const;  // what it logged so far
  ChildProcess& child() { return child_; }

 private:
  std::string dir_;
  std::string address_;
  uint16_t port_ = 0;
  ChildProcess child_;
};

// Runs starling-send (a data dependency) with `flags`.
absl::StatusOr<ProgramResult> RunSend(const std::vector<std::string>& flags,
                                      absl::Duration timeout = absl::Seconds(60));

// A file's contents ("" when it cannot be read).
std::string ReadWholeFile(const std::string& path);

}  // namespace starling::tools::testing

#endif  // STARLING_TOOLS_TESTING_SINK_PROCESS_H_
