#include "tools/testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace starling::tools::testing {
namespace {

using Clock = std::chrono::steady_clock;

int MillisecondsLeft(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

Clock::time_point DeadlineAfter(absl::Duration d) {
  return Clock::now() + absl::ToChronoMilliseconds(d);
}

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

// fork + exec with the child in its own process group, killed when this
// process dies. `stdout_fd` / `stderr_fd` become the child's 1 and 2.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                            const std::string& cwd, int stdout_fd,
                            int stderr_fd, int stdin_fd = -1) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to run");
  // Everything the child touches is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    if (chdir(cwd.c_str()) != 0) _exit(127);
    if (stdin_fd >= 0) {
      dup2(stdin_fd, 0);
    } else {
      const int null_fd = open("/dev/null", O_RDONLY);
      if (null_fd >= 0) dup2(null_fd, 0);
    }
    dup2(stdout_fd, 1);
    dup2(stderr_fd, 2);
    execv(args[0], args.data());
    const char message[] = "exec failed\n";
    (void)!write(2, message, sizeof(message) - 1);
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so that a group kill cannot miss it
  return pid;
}

// Waits for `pid` to exit without reaping it (it stays a zombie, so its
// process group id cannot be reused while we still signal the group).
bool WaitExited(pid_t pid, Clock::time_point deadline) {
  while (true) {
    siginfo_t info = {};
    if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      return errno == ECHILD;
    }
    if (info.si_pid == pid) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

std::string FindProgram(absl::string_view program) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin",
                          "/usr/local/sbin", "/usr/local/bin"}) {
    std::string path = absl::StrCat(dir, "/", program);
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

absl::StatusOr<std::string> MakeTestDirectory(absl::string_view name) {
  const char* root = getenv("TEST_TMPDIR");
  std::string path =
      absl::StrCat(root != nullptr ? root : "/tmp", "/", name, ".XXXXXX");
  if (mkdtemp(path.data()) == nullptr) return Errno(absl::StrCat("mkdtemp ", path));
  return path;
}

absl::StatusOr<ProgramResult> RunProgramForResult(
    const std::vector<std::string>& argv, const std::string& cwd,
    absl::Duration timeout, const std::string& input) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Errno("pipe");
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    return Errno("pipe");
  }
  absl::StatusOr<pid_t> pid = Spawn(argv, cwd, out[1], err[1], in[0]);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!pid.ok()) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return pid.status();
  }
  const Clock::time_point deadline = DeadlineAfter(timeout);
  std::string output[2];
  size_t written = 0;
  if (input.empty()) {
    close(in[1]);
    in[1] = -1;
  } else {
    fcntl(in[1], F_SETFL, O_NONBLOCK);
  }
  pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
  int open_fds = 2;
  while (open_fds > 0 && Clock::now() < deadline) {
    if (poll(fds, 3, MillisecondsLeft(deadline)) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        output[i].append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
    if (fds[2].fd >= 0 && fds[2].revents != 0) {
      const ssize_t n =
          write(fds[2].fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
        close(fds[2].fd);
        fds[2].fd = -1;
      }
    }
  }
  for (pollfd& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  const bool exited = WaitExited(*pid, deadline);
  if (!exited) kill(-*pid, SIGKILL);
  int status = 0;
  waitpid(*pid, &status, 0);
  if (!exited) {
    return absl::DeadlineExceededError(absl::StrCat(
        absl::StrJoin(argv, " "), ": still running after ",
        absl::FormatDuration(timeout), ", killed; stderr: ", output[1]));
  }
  ProgramResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = std::move(output[0]);
  result.err = std::move(output[1]);
  return result;
}

absl::StatusOr<std::string> RunProgram(const std::vector<std::string>& argv,
                                       const std::string& cwd,
                                       absl::Duration timeout) {
  absl::StatusOr<ProgramResult> result = RunProgramForResult(argv, cwd, timeout);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat(
        absl::StrJoin(argv, " "), ": ",
        result->exit_code < 0 ? std::string("killed by a signal")
                              : absl::StrCat("exit status ", result->exit_code),
        "; stderr: ", result->err));
  }
  return std::move(result->out);
}

absl::StatusOr<std::string> RunfilePath(absl::string_view path) {
  const char* runfiles = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  if (runfiles == nullptr || workspace == nullptr) {
    return absl::FailedPreconditionError(
        "TEST_SRCDIR/TEST_WORKSPACE not set: run under bazel test");
  }
  return absl::StrCat(runfiles, "/", workspace, "/", path);
}

absl::StatusOr<ChildProcess> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& cwd,
    const std::string& log_file, bool pipe_stdout) {
  const int log_fd =
      open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Errno(absl::StrCat("open ", log_file));
  int out[2] = {-1, -1};
  if (pipe_stdout && pipe2(out, O_CLOEXEC) != 0) {
    close(log_fd);
    return Errno("pipe");
  }
  absl::StatusOr<pid_t> pid =
      Spawn(argv, cwd, pipe_stdout ? out[1] : log_fd, log_fd);
  close(log_fd);
  if (pipe_stdout) close(out[1]);
  if (!pid.ok()) {
    if (pipe_stdout) close(out[0]);
    return pid.status();
  }
  return ChildProcess(*pid, out[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other)
    : pid_(std::exchange(other.pid_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      buffered_(std::move(other.buffered_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) {
  if (this != &other) {
    Stop();
    pid_ = std::exchange(other.pid_, -1);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    buffered_ = std::move(other.buffered_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { Stop(); }

bool ChildProcess::Running() {
  if (pid_ < 0) return false;
  return !WaitExited(pid_, Clock::now());
}

absl::StatusOr<std::string> ChildProcess::ReadLine(absl::Duration timeout) {
  if (stdout_fd_ < 0) return absl::FailedPreconditionError("no stdout pipe");
  const Clock::time_point deadline = DeadlineAfter(timeout);
  while (true) {
    const size_t newline = buffered_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffered_.substr(0, newline);
      buffered_.erase(0, newline + 1);
      return line;
    }
    pollfd fd = {stdout_fd_, POLLIN, 0};
    const int ready = poll(&fd, 1, MillisecondsLeft(deadline));
    if (ready < 0 && errno != EINTR) return Errno("poll");
    if (ready == 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no line from process ", pid_, " within ",
          absl::FormatDuration(timeout)));
    }
    char buffer[1024];
    const ssize_t n = read(stdout_fd_, buffer, sizeof(buffer));
    if (n == 0) {
      return absl::UnavailableError(
          absl::StrCat("process ", pid_, " closed its output"));
    }
    if (n > 0) buffered_.append(buffer, static_cast<size_t>(n));
  }
}

void ChildProcess::Stop(absl::Duration grace) {
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
  if (pid_ < 0) return;
  kill(-pid_, SIGTERM);
  WaitExited(pid_, DeadlineAfter(grace));
  // Whatever is left of the group (a server's worker processes, or all of
  // it after the grace period) goes now, while the unreaped leader still
  // holds the group id.
  kill(-pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

absl::Status ChildProcess::Signal(int signal) {
  if (pid_ < 0) return absl::FailedPreconditionError("process not running");
  if (kill(pid_, signal) != 0) return Errno("kill");
  return absl::OkStatus();
}

}  // namespace starling::tools::testing
