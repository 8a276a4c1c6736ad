#ifndef STARLING_TOOLS_TESTING_SUBPROCESS_H_
#define STARLING_TOOLS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace starling::tools::testing {

// Child processes for test fixtures (servers and key/zone/certificate tools).
// Every child gets its own process group and dies with the test process
// (PR_SET_PDEATHSIG), so a crashed or killed test leaves no server behind;
// every wait is bounded.

// The absolute path of `program` in the usual system directories (test
// environments often have a minimal PATH and servers live in /usr/sbin), or
// "" when it is not installed.
std::string FindProgram(absl::string_view program);

// A new directory under $TEST_TMPDIR (or /tmp), named after `name`.
absl::StatusOr<std::string> MakeTestDirectory(absl::string_view name);

// Runs argv (argv[0] an absolute path) in `cwd` to completion and returns its
// standard output. Non-zero exit, a signal or running past `timeout` (the
// child is killed) is an error carrying the standard error output.
absl::StatusOr<std::string> RunProgram(const std::vector<std::string>& argv,
                                       const std::string& cwd,
                                       absl::Duration timeout);

// How a program ended, with everything it printed.
struct ProgramResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

// Runs argv in `cwd` to completion, whatever its exit status; `input` is its
// standard input. Running past `timeout` (the child is killed) is an error.
absl::StatusOr<ProgramResult> RunProgramForResult(
    const std::vector<std::string>& argv, const std::string& cwd,
    absl::Duration timeout, const std::string& input = "");

// The absolute path of a data dependency under bazel test ("tools/
// starling-sink"); kFailedPrecondition outside it.
absl::StatusOr<std::string> RunfilePath(absl::string_view path);

// A long-running child (a server). Stop() or the destructor ends it.
class ChildProcess {
 public:
  // Starts argv in `cwd`; standard error (and standard output unless
  // `pipe_stdout`) go to `log_file`.
  static absl::StatusOr<ChildProcess> Start(
      const std::vector<std::string>& argv, const std::string& cwd,
      const std::string& log_file, bool pipe_stdout);

  ChildProcess() = default;  // no process
  ChildProcess(ChildProcess&& other);
  ChildProcess& operator=(ChildProcess&& other);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }

  // False once the child has exited (Stop() reaps it).
  bool Running();

  // One line of the child's standard output (without the newline), waiting
  // at most `timeout`. Only with `pipe_stdout`.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);

  // SIGTERM to the child's process group, SIGKILL after `grace`, then reaps
  // it. Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(5));

  // Sends `signal` to the child alone (e.g. SIGHUP: reload).
  absl::Status Signal(int signal);

 private:
  ChildProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
};

}  // namespace starling::tools::testing

#endif  // STARLING_TOOLS_TESTING_SUBPROCESS_H_
