// A consumer's test of its own inbound decisions (refuse unknown users,
// accept the rest), driven through Starling's sans-I/O server session.
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "core/smtp/server_session.h"
#include "gtest/gtest.h"

namespace {

namespace smtp = starling::smtp;

// The relay under test: its recipient check.
bool KnownUser(const smtp::Mailbox& mailbox) {
  return mailbox.domain == "consumer.example" && mailbox.local_part != "nobody";
}

class Relay {
 public:
  Relay() : session_(Options()) {}

  // Feeds one client line, answers every decision, returns the replies.
  std::string Say(const std::string& line) {
    EXPECT_TRUE(session_.Receive(line, now_).ok());
    return Answer();
  }
  std::string Answer() {
    while (auto event = session_.NextEvent()) {
      if (event->type == smtp::ServerEventType::kRcptTo &&
          !KnownUser(*event->command.path)) {
        EXPECT_TRUE(session_.Reject(smtp::Reply::Make(550, "5.1.1", "No such user"), now_).ok());
      } else if (session_.pending_decision()) {
        EXPECT_TRUE(session_.Accept(now_).ok());
      }
    }
    const absl::string_view out = session_.PendingOutput();
    std::string replies(out.data(), out.size());
    session_.ConsumeOutput(out.size());
    return replies;
  }
  smtp::ServerSession& session() { return session_; }
  absl::Time now() const { return now_; }

 private:
  static std::shared_ptr<const smtp::ServerOptions> Options() {
    auto options = std::make_shared<smtp::ServerOptions>();
    options->hostname = "mx.consumer.example";
    return options;
  }

  smtp::ServerSession session_;
  absl::Time now_ = absl::FromUnixSeconds(1798761600);
};

TEST(ConsumerServerSession, RefusesUnknownUsersAndTakesTheMessage) {
  Relay relay;
  ASSERT_TRUE(relay.session().AcceptConnection(relay.now()).ok());
  EXPECT_TRUE(absl::StartsWith(relay.Answer(), "220 mx.consumer.example"));
  EXPECT_TRUE(absl::StartsWith(relay.Say("EHLO c.example\r\n"), "250-mx.consumer.example"));
  EXPECT_EQ(relay.Say("MAIL FROM:<a@c.example>\r\n"), "250 2.1.0 Sender OK\r\n");
  EXPECT_EQ(relay.Say("RCPT TO:<nobody@consumer.example>\r\n"), "550 5.1.1 No such user\r\n");
  EXPECT_EQ(relay.Say("RCPT TO:<ann@consumer.example>\r\n"), "250 2.1.5 Recipient OK\r\n");
  EXPECT_TRUE(absl::StartsWith(relay.Say("DATA\r\n"), "354 "));
  EXPECT_TRUE(absl::StartsWith(relay.Say("Subject: hi\r\n\r\nhello\r\n.\r\n"), "250 2.0.0"));
  EXPECT_TRUE(absl::StartsWith(relay.Say("QUIT\r\n"), "221 "));
  EXPECT_TRUE(relay.session().closed());
}

}  // namespace
