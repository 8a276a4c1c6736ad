// Runs the test mail world (mail_world.h) until interrupted and prints the
// flags that point starling-probe and starling-send --to at it: the way to
// try them, and to reproduce docs/probe.md's examples.
//   bazel run //tools/testing:mail-world
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>

#include "tools/testing/mail_world.h"

int main() {
  // The world finds starling-sink among the runfiles as a test does.
  if (getenv("TEST_SRCDIR") == nullptr) {
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    setenv("TEST_SRCDIR", (std::string(self, n) + ".runfiles").c_str(), 1);
    setenv("TEST_WORKSPACE", "starling", 1);
  }
  using starling::tools::testing::MailWorld;
  if (std::string missing = MailWorld::MissingTool(); !missing.empty()) {
    std::cerr << "mail-world: " << missing
              << " is not installed: run tools/install-test-peers\n";
    return 1;
  }
  // Every file of the world in one directory, removed at the end.
  char dir[] = "/tmp/mail-world.XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  setenv("TEST_TMPDIR", dir, 1);
  absl::StatusOr<std::unique_ptr<MailWorld>> world = MailWorld::Start();
  if (!world.ok()) {
    std::cerr << "mail-world: " << world.status().message() << "\n";
    std::filesystem::remove_all(dir);
    return 1;
  }
  // Blocked only now: the servers must not inherit a mask that ignores the
  // SIGTERM that stops them. (A signal before this kills the servers with
  // this process: they die with their parent.)
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  std::cout << "flags for starling-probe and starling-send --to:\n";
  for (const std::string& flag : (*world)->Flags()) std::cout << "  " << flag << " \\\n";
  std::cout << "domains: dane.example badtlsa.example unusable.example "
               "tampered.example multi.example plain.example nullmx.example "
               "missing.example expired.example broken.example "
               "insecure.example.net enforce.example testing.example "
               "none.example mismatch.example\n"
               "Ctrl-C stops it.\n"
            << std::flush;
  int signal = 0;
  sigwait(&stop, &signal);
  world->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
