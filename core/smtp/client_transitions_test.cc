#include "core/smtp/client_transitions.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

TEST(ClientTransitionsTest, CheckedInDiagramIsCurrent) {
  std::ifstream file("docs/smtp-client.dot");
  ASSERT_TRUE(file) << "docs/smtp-client.dot missing";
  std::stringstream contents;
  contents << file.rdbuf();
  EXPECT_EQ(contents.str(), ClientTransitionsDot())
      << "docs/smtp-client.dot is stale: run "
         "`bazel run //tools:smtp_state_diagram -- client > docs/smtp-client.dot`";
}

TEST(ClientTransitionsTest, TableIsDeterministicAndEveryStateCanClose) {
  std::set<std::pair<ClientState, ClientInput>> seen;
  for (const ClientTransition& t : ClientTransitions()) {
    EXPECT_TRUE(seen.insert({t.from, t.input}).second);
    EXPECT_EQ(NextClientState(t.from, t.input), t.to);
  }
  for (int s = 0; s < static_cast<int>(ClientState::kClosed); ++s) {
    EXPECT_EQ(NextClientState(static_cast<ClientState>(s), ClientInput::kClose),
              ClientState::kClosed);
  }
}

TEST(ClientTransitionsTest, EnvelopeOnlyAfterAProceedDecision) {
  // MAIL leaves only from Ready, and Ready is entered only by a policy
  // "proceed" or the end of a previous transaction.
  for (const ClientTransition& t : ClientTransitions()) {
    if (t.input == ClientInput::kMailSent) {
      EXPECT_EQ(t.from, ClientState::kReady);
    }
    if (t.to == ClientState::kReady) {
      EXPECT_TRUE(t.input == ClientInput::kProceed ||
                  t.input == ClientInput::kTransactionEnd);
    }
  }
  EXPECT_FALSE(NextClientState(ClientState::kTlsHandshake, ClientInput::kProceed));
}

}  // namespace
}  // namespace starling::smtp
