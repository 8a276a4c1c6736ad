#include "tools/cli.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace starling::tools {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Join(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  AcceptDashedFlags(static_cast<int>(argv.size()), argv.data());
  return JoinRepeatedFlags(static_cast<int>(argv.size()), argv.data(),
                           {"to", "listen"});
}

TEST(CliTest, RepeatedListFlagsAccumulate) {
  EXPECT_THAT(Join({"prog", "--to=a@x", "--policy=may", "--to", "b@x",
                    "--to=c@x,d@x"}),
              ElementsAre("prog", "--to=a@x,b@x,c@x,d@x", "--policy=may"));
}

TEST(CliTest, OtherFlagsAndPositionalsAreKept) {
  EXPECT_THAT(Join({"prog", "--helo", "h", "file", "--", "--to=x"}),
              ElementsAre("prog", "--helo", "h", "file", "--", "--to=x"));
}

TEST(CliTest, DashesInFlagNamesBecomeUnderscores) {
  EXPECT_THAT(Join({"prog", "--max-size=1-2", "--listen", "[::1]:25",
                    "--ports-file", "a-b"}),
              ElementsAre("prog", "--max_size=1-2", "--listen=[::1]:25",
                          "--ports_file", "a-b"));
}

}  // namespace
}  // namespace starling::tools
