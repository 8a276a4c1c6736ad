#ifndef STARLING_TOOLS_TESTING_MAIL_WORLD_FIXTURE_H_
#define STARLING_TOOLS_TESTING_MAIL_WORLD_FIXTURE_H_

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tools/testing/mail_world.h"

namespace starling::tools::testing {

// A test suite sharing one mail world: started once, stopped after the last
// test; every test skips with the reason when a program is missing.
class MailWorldTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // gtest 1.12 runs the tests of a suite whose SetUpTestSuite skipped or
    // failed, so SetUp skips or fails each one (errors are printed once).
    missing_tool_ = MailWorld::MissingTool();
    if (!missing_tool_.empty()) return;
    absl::StatusOr<std::unique_ptr<MailWorld>> world = MailWorld::Start();
    ASSERT_TRUE(world.ok()) << world.status();
    world_ = *std::move(world);
  }
  static void TearDownTestSuite() { world_.reset(); }
  void SetUp() override {
    if (!missing_tool_.empty()) {
      GTEST_SKIP() << missing_tool_ << " is not installed: run tools/install-test-peers";
    }
    ASSERT_NE(world_, nullptr) << "the mail world did not start (the error is above)";
  }

  static MailWorld& world() { return *world_; }

 private:
  inline static std::unique_ptr<MailWorld> world_;
  inline static std::string missing_tool_;
};

}  // namespace starling::tools::testing

#endif  // STARLING_TOOLS_TESTING_MAIL_WORLD_FIXTURE_H_
