#include "core/smtp/client_transitions.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <tuple>

#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

using S = ClientState;
using I = ClientInput;

TEST(ClientTransitionsTest, CheckedInDiagramIsCurrent) {
  std::ifstream file("docs/smtp-client.dot");
  ASSERT_TRUE(file) << "docs/smtp-client.dot missing";
  std::stringstream contents;
  contents << file.rdbuf();
  EXPECT_EQ(contents.str(), ClientTransitionsDot())
      << "docs/smtp-client.dot is stale: run "
         "`bazel run //tools:smtp_state_diagram -- client > docs/smtp-client.dot`";
}

TEST(ClientTransitionsTest, RowsAreUniqueAndEveryOpenStateCanClose) {
  std::set<std::tuple<S, I, S>> seen;
  for (const ClientTransition& t : ClientTransitions()) {
    EXPECT_TRUE(seen.insert({t.from, t.input, t.to}).second)
        << ClientStateName(t.from) << " + " << ClientInputName(t.input);
    EXPECT_TRUE(ClientTransitionAllowed(t.from, t.input, t.to));
    EXPECT_TRUE(ClientInputExpected(t.from, t.input));
    EXPECT_NE(t.from, S::kClosed) << "Closed is final";
  }
  for (int s = 0; s < static_cast<int>(S::kClosed); ++s) {
    EXPECT_TRUE(ClientTransitionAllowed(static_cast<S>(s), I::kClose, S::kClosed))
        << ClientStateName(static_cast<S>(s));
  }
  EXPECT_FALSE(ClientTransitionAllowed(S::kGreeting, I::kEhloOk, S::kReady));
  EXPECT_FALSE(ClientInputExpected(S::kBody, I::kEndOfDataReply));
}

TEST(ClientTransitionsTest, MailOnlyFromReadyAndTheBodyOnlyAfterAnEnvelope) {
  for (const ClientTransition& t : ClientTransitions()) {
    if (t.to == S::kEnvelope && t.from != S::kEnvelope) {
      EXPECT_EQ(t.from, S::kReady);
      EXPECT_EQ(t.input, I::kMailSent);
    }
    if ((t.to == S::kBody || t.to == S::kBdat) && t.from != t.to) {
      EXPECT_EQ(t.from, S::kEnvelope) << ClientInputName(t.input);
    }
  }
  // A 354 can only answer DATA, which is only ever sent from the envelope.
  for (int s = 0; s <= static_cast<int>(S::kClosed); ++s) {
    EXPECT_EQ(ClientInputExpected(static_cast<S>(s), I::kDataGo),
              static_cast<S>(s) == S::kEnvelope);
  }
}

TEST(ClientTransitionsTest, TlsEstablishedOnlyAfterThe220ToStartTls) {
  for (const ClientTransition& t : ClientTransitions()) {
    if (t.to == S::kTlsHandshake) {
      EXPECT_EQ(t.from, S::kStartTls);
      EXPECT_EQ(t.input, I::kStartTlsOk);
    }
    if (t.input == I::kTlsEstablished) {
      EXPECT_EQ(t.from, S::kTlsHandshake);
    }
  }
}

}  // namespace
}  // namespace starling::smtp
