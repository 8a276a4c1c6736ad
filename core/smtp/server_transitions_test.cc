#include "core/smtp/server_transitions.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

TEST(ServerTransitionsTest, CheckedInDiagramIsCurrent) {
  std::ifstream file("docs/smtp-server.dot");
  ASSERT_TRUE(file) << "docs/smtp-server.dot missing";
  std::stringstream contents;
  contents << file.rdbuf();
  EXPECT_EQ(contents.str(), ServerTransitionsDot())
      << "docs/smtp-server.dot is stale: run "
         "`bazel run //tools:smtp_state_diagram -- server > docs/smtp-server.dot`";
}

TEST(ServerTransitionsTest, TableIsDeterministic) {
  std::set<std::pair<ServerState, ServerInput>> seen;
  for (const ServerTransition& t : ServerTransitions()) {
    EXPECT_TRUE(seen.insert({t.from, t.input}).second)
        << ServerStateName(t.from) << " has two rows for "
        << ServerInputName(t.input);
    EXPECT_EQ(NextServerState(t.from, t.input), t.to);
  }
}

TEST(ServerTransitionsTest, EveryOpenStateCanCloseAndClosedIsFinal) {
  for (int s = 0; s <= static_cast<int>(ServerState::kClosed); ++s) {
    const auto state = static_cast<ServerState>(s);
    for (int i = 0; i <= static_cast<int>(ServerInput::kClose); ++i) {
      const auto next = NextServerState(state, static_cast<ServerInput>(i));
      if (state == ServerState::kClosed) {
        EXPECT_FALSE(next.has_value());
      }
    }
    if (state != ServerState::kClosed) {
      EXPECT_EQ(NextServerState(state, ServerInput::kClose), ServerState::kClosed)
          << ServerStateName(state);
    }
  }
}

TEST(ServerTransitionsTest, EveryStateIsReachableFromAwaitConnect) {
  std::set<ServerState> reached = {ServerState::kAwaitConnect};
  bool grew = true;
  while (grew) {
    grew = false;
    for (const ServerTransition& t : ServerTransitions()) {
      if (reached.count(t.from) && reached.insert(t.to).second) grew = true;
    }
  }
  EXPECT_EQ(reached.size(), static_cast<size_t>(ServerState::kClosed) + 1);
}

TEST(ServerTransitionsTest, MailNeedsIdentificationAndTlsResetsToGreeted) {
  EXPECT_FALSE(NextServerState(ServerState::kGreeted, ServerInput::kMail));
  EXPECT_FALSE(NextServerState(ServerState::kTransaction, ServerInput::kStartTls));
  EXPECT_EQ(NextServerState(ServerState::kTlsHandshake, ServerInput::kTlsEstablished),
            ServerState::kGreeted);
  EXPECT_FALSE(NextServerState(ServerState::kBdatIdle, ServerInput::kData));
}

}  // namespace
}  // namespace starling::smtp
