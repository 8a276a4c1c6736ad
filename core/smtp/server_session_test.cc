#include "core/smtp/server_session.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/smtp/testing/scripted_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

std::shared_ptr<ServerOptions> Options() {
  auto options = std::make_shared<ServerOptions>();
  options->hostname = "mx.example.org";
  options->offer_starttls = true;
  options->auth_mechanisms = {"PLAIN", "LOGIN"};
  return options;
}

// The S: lines only, without the greeting.
std::vector<std::string> Replies(const ScriptedServer& server) {
  std::vector<std::string> out;
  for (const std::string& line : server.transcript()) {
    if (line.rfind("S: ", 0) == 0) out.push_back(line.substr(3));
  }
  if (!out.empty()) out.erase(out.begin());
  return out;
}

std::vector<std::string> Events(const ScriptedServer& server) {
  std::vector<std::string> out;
  for (const std::string& line : server.transcript()) {
    if (line.rfind("E: ", 0) == 0) out.push_back(line.substr(3));
  }
  return out;
}

struct Conversation {
  explicit Conversation(std::shared_ptr<ServerOptions> options = Options(),
               ServerScript script = {})
      : server(std::move(options), std::move(script), kStart) {}
  absl::Status Polite(absl::string_view bytes) {
    return server.FeedPolitely(bytes);
  }
  absl::Status Pipelined(absl::string_view bytes) { return server.Feed(bytes); }
  std::vector<std::string> replies() const { return Replies(server); }
  std::vector<std::string> events() const { return Events(server); }
  ScriptedServer server;
};

TEST(ServerSessionTest, GreetsWithHostname) {
  Conversation run;
  EXPECT_EQ(run.server.transcript().front(), "S: 220 mx.example.org ESMTP Starling");
}

TEST(ServerSessionTest, EhloAdvertisesExtensionsButNotAuthBeforeTls) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO client.example\r\n").ok());
  EXPECT_THAT(run.replies(),
              ElementsAre("250-mx.example.org greets client.example",
                          "250-PIPELINING", "250-SIZE 36700160",
                          "250-8BITMIME", "250-SMTPUTF8",
                          "250-ENHANCEDSTATUSCODES", "250-CHUNKING",
                          "250-BINARYMIME", "250-STARTTLS", "250 DSN"));
}

// RFC 5321 Appendix D.1, with one recipient refused.
TEST(ServerSessionTest, AppendixD1TypicalTransaction) {
  ServerScript script;
  script.reject_recipients = {"Green@foo.com"};
  Conversation run(Options(), script);
  ASSERT_TRUE(run.Polite("EHLO bar.com\r\n"
                         "MAIL FROM:<Smith@bar.com>\r\n"
                         "RCPT TO:<Jones@foo.com>\r\n"
                         "RCPT TO:<Green@foo.com>\r\n"
                         "RCPT TO:<Brown@foo.com>\r\n"
                         "DATA\r\n"
                         "Blah blah blah...\r\n"
                         "...etc. etc. etc.\r\n"
                         ".\r\n"
                         "QUIT\r\n")
                  .ok());
  const auto replies = run.replies();
  EXPECT_THAT(replies, Contains("250 2.1.0 Sender OK"));
  EXPECT_THAT(replies, Contains("550 5.1.1 Recipient address rejected"));
  EXPECT_THAT(replies, Contains("354 End data with <CR><LF>.<CR><LF>"));
  EXPECT_THAT(replies, Contains("250 2.0.0 Message accepted for delivery"));
  EXPECT_EQ(replies.back(), "221 2.0.0 mx.example.org Bye");
  EXPECT_THAT(run.events(), Contains("message-complete 37 octets via DATA"));
  EXPECT_EQ(run.server.messages_accepted(), 1u);
  EXPECT_TRUE(run.server.session().closed());
}

// RFC 5321 Appendix D.2: an aborted transaction.
TEST(ServerSessionTest, AppendixD2AbortedTransaction) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO bar.com\r\nMAIL FROM:<Smith@bar.com>\r\n"
                         "RCPT TO:<Jones@foo.com>\r\nRSET\r\n"
                         "DATA\r\nQUIT\r\n")
                  .ok());
  EXPECT_THAT(run.replies(), Contains("250 2.0.0 OK"));
  EXPECT_THAT(run.replies(),
              Contains("503 5.5.1 Need MAIL and RCPT before DATA"));
}

// RFC 5321 Appendix D.4 and §7.3: a server that does not verify answers 252,
// neither confirming nor denying the address (as Postfix does for VRFY).
TEST(ServerSessionTest, VrfyAndExpnAnswer252) {
  Conversation c;
  ASSERT_TRUE(c.Polite("EHLO a.example\r\nVRFY Crispin\r\nEXPN list\r\n").ok());
  const std::vector<std::string> replies = c.replies();
  ASSERT_GE(replies.size(), 3u);
  EXPECT_THAT(replies[replies.size() - 2], HasSubstr("252 2.5.0"));
  EXPECT_THAT(replies.back(), HasSubstr("252 2.5.0"));
}

TEST(ServerSessionTest, HeloSessionHasNoEnhancedCodesOrParameters) {
  Conversation run;
  ASSERT_TRUE(run.Polite("HELO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RSET\r\nMAIL FROM:<a@a.example> SIZE=10\r\n")
                  .ok());
  EXPECT_THAT(run.replies(), ElementsAre("250 mx.example.org", "250 2.1.0 Sender OK",
                                         "250 2.0.0 OK",
                                         "555 5.5.4 MAIL parameters require EHLO"));
}

TEST(ServerSessionTest, SequenceErrors) {
  Conversation run;
  ASSERT_TRUE(run.Polite("MAIL FROM:<a@b.example>\r\nEHLO a.example\r\n"
                         "RCPT TO:<x@y.example>\r\nDATA\r\n"
                         "MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\n")
                  .ok());
  EXPECT_THAT(run.replies(), Contains("503 5.5.1 Send HELO/EHLO first"));
  EXPECT_THAT(run.replies(), Contains("503 5.5.1 Need MAIL before RCPT"));
  EXPECT_THAT(run.replies(), Contains("503 5.5.1 Need MAIL and RCPT before DATA"));
  EXPECT_THAT(run.replies(), Contains("503 5.5.1 Nested MAIL command"));
}

TEST(ServerSessionTest, SyntaxErrorsGetTheParsersReply) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nFOO bar\r\nMAIL FROM:<a@b.example> BOGUS=1\r\n"
                         "MAIL FROM:<>\r\nRCPT TO:<>\r\n")
                  .ok());
  const auto replies = run.replies();
  const size_t n = replies.size();
  EXPECT_THAT(replies[n - 4], HasSubstr("500 5.5.1"));
  EXPECT_THAT(replies[n - 3], HasSubstr("555 5.5.4"));
  EXPECT_EQ(replies[n - 2], "250 2.1.0 Sender OK");
  EXPECT_THAT(replies[n - 1], HasSubstr("501 "));
}

TEST(ServerSessionTest, TooManyErrorsCloses) {
  auto options = Options();
  options->max_errors = 3;
  Conversation run(options);
  ASSERT_TRUE(run.Polite("FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n").ok());
  EXPECT_THAT(run.replies().back(),
              "421 4.7.0 mx.example.org Too many errors, closing connection");
  EXPECT_TRUE(run.server.session().closed());
}

TEST(ServerSessionTest, TooManyRecipients) {
  auto options = Options();
  options->max_recipients = 2;
  Conversation run(options);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<1@b.example>\r\nRCPT TO:<2@b.example>\r\n"
                         "RCPT TO:<3@b.example>\r\n")
                  .ok());
  EXPECT_EQ(run.replies().back(), "452 4.5.3 Too many recipients");
  EXPECT_EQ(run.server.session().accepted_recipients(), 2u);
}

TEST(ServerSessionTest, DeclaredSizeOverLimitIsRefused) {
  auto options = Options();
  options->max_message_size = 100;
  Conversation run(options);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example> SIZE=101\r\n").ok());
  EXPECT_EQ(run.replies().back(),
            "552 5.3.4 Message size exceeds fixed maximum message size");
}

TEST(ServerSessionTest, BodyOverLimitIsRefusedAtEndOfData) {
  auto options = Options();
  options->max_message_size = 10;
  Conversation run(options);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<b@b.example>\r\nDATA\r\n"
                         "0123456789abcdef\r\n.\r\nNOOP\r\n")
                  .ok());
  const auto replies = run.replies();
  EXPECT_EQ(replies[replies.size() - 2],
            "552 5.3.4 Message size exceeds fixed maximum message size");
  EXPECT_EQ(replies.back(), "250 2.0.0 OK");
  EXPECT_EQ(run.server.messages_accepted(), 0u);
}

TEST(ServerSessionTest, DotUnstuffingAndBodyEvents) {
  ServerScript script;
  script.describe_body = [](absl::string_view body) {
    return absl::StrCat(" body=[", EscapeBytes(body), "]");
  };
  Conversation run(Options(), script);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<b@b.example>\r\nDATA\r\n"
                         "..leading dot\r\n.\r\n")
                  .ok());
  EXPECT_THAT(run.events(),
              Contains("message-complete 14 octets via DATA body=[.leading dot\\r\\n]"));
}

TEST(ServerSessionTest, EmptyBody) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<b@b.example>\r\nDATA\r\n.\r\n")
                  .ok());
  EXPECT_THAT(run.events(), Contains("message-complete 0 octets via DATA"));
}

TEST(ServerSessionTest, DataLineTooLongRefusesMessageButKeepsSession) {
  auto options = Options();
  options->max_data_line = 20;
  options->long_data_lines = LongDataLines::kReject;
  Conversation run(options);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<b@b.example>\r\nDATA\r\n" +
                         std::string(50, 'x') + "\r\n.\r\nNOOP\r\n")
                  .ok());
  const auto replies = run.replies();
  EXPECT_EQ(replies[replies.size() - 2],
            "554 5.6.0 Message has a line longer than 20 octets");
  EXPECT_EQ(replies.back(), "250 2.0.0 OK");
}

// SMTP smuggling (SEC Consult 2023): every end-of-data look-alike with a bare
// CR or LF closes the session; the smuggled command is never executed.
class SmugglingTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SmugglingTest, BareLineEndingInDataClosesWithoutExecutingTail) {
  Conversation run;
  const std::string input = "EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                            "RCPT TO:<b@b.example>\r\nDATA\r\n"
                            "Subject: hi\r\n\r\nbody" +
                            GetParam() +
                            "MAIL FROM:<evil@a.example>\r\n"
                            "RCPT TO:<victim@b.example>\r\nDATA\r\n"
                            "smuggled\r\n.\r\n";
  const absl::Status status = run.Polite(input);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(run.replies().back(),
            "554 5.5.2 Bare CR or LF in message data, closing connection");
  EXPECT_THAT(run.events(), Not(Contains("mail-from <evil@a.example>")));
  EXPECT_EQ(run.server.messages_accepted(), 0u);
  EXPECT_EQ(run.server.session().Receive("NOOP\r\n", kStart).code(),
            absl::StatusCode::kAborted);
}

INSTANTIATE_TEST_SUITE_P(EndOfDataVariants, SmugglingTest,
                         ::testing::Values("\n.\n", "\r\n.\n", "\n.\r\n",
                                           "\r.\r", "\r\n.\r", "\r.\r\n"));

// Postfix 3.9's smtpd_forbid_bare_newline = normalize: bare CR and LF are
// stored as CRLF, but only CRLF "." CRLF ends the data. A "." line ended by a
// bare LF, or after one, is content.
TEST(ServerSessionTest, NormalizeModeTreatsBareLineEndingsAsCrlf) {
  auto options = Options();
  options->bare_line_endings = BareLineEndings::kNormalize;
  ServerScript script;
  script.describe_body = [](absl::string_view body) {
    return absl::StrCat(" body=[", EscapeBytes(body), "]");
  };
  Conversation run(options, script);
  ASSERT_TRUE(run.Pipelined("EHLO a.example\r\n").ok());
  ASSERT_TRUE(run.Pipelined("MAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\nDATA\r\n").ok());
  ASSERT_TRUE(run.Pipelined("a\nb\rc\r\n..d\n.\n.\r\nMAIL FROM:<x@y.example>\r\n").ok());
  EXPECT_THAT(run.events(), Not(Contains(HasSubstr("message-complete"))));
  ASSERT_TRUE(run.Pipelined("end\r\n.\r\n").ok());
  EXPECT_THAT(run.events(),
              Contains("message-complete 47 octets via DATA "
                       "body=[a\\r\\nb\\r\\nc\\r\\n.d\\r\\n\\r\\n\\r\\n"
                       "MAIL FROM:<x@y.example>\\r\\nend\\r\\n]"));
  // The smuggled MAIL stayed content: one transaction, not two.
  const std::vector<std::string> events = run.events();
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const std::string& e) {
                            return absl::StartsWith(e, "mail-from");
                          }),
            1);
}

TEST(ServerSessionTest, PipelinedTransactionRepliesInOrder) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\n").ok());
  ASSERT_TRUE(run.Pipelined("MAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\n"
                            "RCPT TO:<c@b.example>\r\nDATA\r\n")
                  .ok());
  EXPECT_THAT(run.replies(),
              ElementsAre(HasSubstr("250-mx.example.org"), "250-PIPELINING",
                          "250-SIZE 36700160", "250-8BITMIME", "250-SMTPUTF8",
                          "250-ENHANCEDSTATUSCODES", "250-CHUNKING",
                          "250-BINARYMIME", "250-STARTTLS", "250 DSN",
                          "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK",
                          "250 2.1.5 Recipient OK",
                          "354 End data with <CR><LF>.<CR><LF>"));
}

TEST(ServerSessionTest, ContentBeforeThe354IsASynchronisationError) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\n").ok());
  const absl::Status status =
      run.Pipelined("MAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\n"
                    "DATA\r\nSubject: early\r\n\r\n.\r\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(run.replies().back(), "554 5.5.0 Protocol synchronization error");
  EXPECT_TRUE(run.server.session().closed());
}

TEST(ServerSessionTest, PregreetIsASynchronisationError) {
  ServerSession session(Options());
  EXPECT_EQ(session.Receive("EHLO early\r\n", kStart).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(std::string(session.PendingOutput()),
            "554 5.5.0 Protocol synchronization error\r\n");
  EXPECT_TRUE(session.closed());
}

TEST(ServerSessionTest, PipeliningWithoutPipeliningOfferedIsRefused) {
  Conversation run;
  ASSERT_TRUE(run.Polite("HELO a.example\r\n").ok());
  EXPECT_EQ(run.Pipelined("MAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\n").code(),
            absl::StatusCode::kAborted);
  EXPECT_THAT(run.events(), Not(Contains("rcpt-to <b@b.example>")));
}

TEST(ServerSessionTest, EhloMustEndItsPipelineGroup) {
  Conversation run;
  EXPECT_EQ(run.Pipelined("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n").code(),
            absl::StatusCode::kAborted);
}

TEST(ServerSessionTest, StartTlsResetsEverything) {
  ServerScript script;
  script.users = {{"alice", "secret"}};
  Conversation run(Options(), script);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nSTARTTLS\r\nMAIL FROM:<a@a.example>\r\n"
                         "EHLO a.example\r\nSTARTTLS\r\n")
                  .ok());
  const auto replies = run.replies();
  EXPECT_THAT(replies, Contains("220 2.0.0 Ready to start TLS"));
  // No greeting after the handshake; the HELO name is forgotten.
  EXPECT_THAT(replies, Contains("503 5.5.1 Send HELO/EHLO first"));
  // STARTTLS is not offered again; REQUIRETLS and AUTH now are.
  EXPECT_THAT(replies, Contains("250-REQUIRETLS"));
  EXPECT_THAT(replies, Contains("250 AUTH PLAIN LOGIN"));
  const auto after_tls =
      std::vector<std::string>(std::find(replies.begin(), replies.end(),
                                         "220 2.0.0 Ready to start TLS"),
                               replies.end());
  EXPECT_THAT(after_tls, Not(Contains("250-STARTTLS")));
  EXPECT_EQ(replies.back(), "503 5.5.1 TLS already active");
  ASSERT_NE(run.server.session().tls(), nullptr);
}

TEST(ServerSessionTest, StartTlsInjectionClosesByDefault) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\n").ok());
  const absl::Status status =
      run.Pipelined("STARTTLS\r\nMAIL FROM:<evil@a.example>\r\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(run.replies().back(), "554 5.5.0 Protocol synchronization error");
  EXPECT_THAT(run.events(), Not(Contains(HasSubstr("starttls"))));
  EXPECT_THAT(run.events(), Not(Contains(HasSubstr("evil"))));
}

TEST(ServerSessionTest, StartTlsInjectionDiscardModeDropsTheTail) {
  auto options = Options();
  options->starttls_tail = StartTlsTail::kDiscard;
  Conversation run(options);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\n").ok());
  ASSERT_TRUE(run.Pipelined("STARTTLS\r\nMAIL FROM:<evil@a.example>\r\n").ok());
  ASSERT_TRUE(run.Polite("MAIL FROM:<a@a.example>\r\n").ok());
  EXPECT_THAT(run.events(), Not(Contains(HasSubstr("evil"))));
  EXPECT_EQ(run.replies().back(), "503 5.5.1 Send HELO/EHLO first");
}

TEST(ServerSessionTest, PlaintextDuringHandshakeCloses) {
  auto options = Options();
  ServerSession session(options);
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  ASSERT_NE(session.NextEvent(), nullptr);
  ASSERT_TRUE(session.Accept(kStart).ok());
  ASSERT_TRUE(session.Receive("STARTTLS\r\n", kStart).ok());
  ASSERT_EQ(session.state(), ServerState::kTlsHandshake);
  EXPECT_EQ(session.Receive("MAIL FROM:<x@y.example>\r\n", kStart).code(),
            absl::StatusCode::kAborted);
  EXPECT_TRUE(session.closed());
  // Sticky: every later call returns the same error.
  EXPECT_EQ(session.TlsEstablished({}, kStart).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(session.fatal_reason(), SessionError::kPlaintextAfterStartTls);
}

TEST(ServerSessionTest, StartTlsRefusals) {
  auto options = Options();
  options->offer_starttls = false;
  Conversation off(options);
  ASSERT_TRUE(off.Polite("EHLO a.example\r\nSTARTTLS\r\nSTARTTLS now\r\n").ok());
  EXPECT_THAT(off.replies(), Contains("502 5.5.1 STARTTLS not supported"));
  EXPECT_THAT(off.replies().back(), HasSubstr("501 5.5.4"));

  Conversation unavailable;
  unavailable.server.session().set_tls_available(false);
  ASSERT_TRUE(unavailable.Polite("EHLO a.example\r\nSTARTTLS\r\n").ok());
  EXPECT_THAT(unavailable.replies(), Not(Contains("250 STARTTLS")));
  EXPECT_EQ(unavailable.replies().back(),
            "454 4.7.0 TLS not available due to temporary reason");

  Conversation in_transaction;
  ASSERT_TRUE(in_transaction
                  .Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\nSTARTTLS\r\n")
                  .ok());
  EXPECT_EQ(in_transaction.replies().back(),
            "503 5.5.1 STARTTLS not allowed during a mail transaction");
}

TEST(ServerSessionTest, FailedHandshakeCloses) {
  ServerScript script;
  script.tls_handshake_succeeds = false;
  Conversation run(Options(), script);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nSTARTTLS\r\n").ok());
  EXPECT_TRUE(run.server.session().closed());
  EXPECT_THAT(run.events().back(), HasSubstr("TLS handshake failed"));
}

TEST(ServerSessionTest, RequireTlsRefusesMailInPlaintext) {
  auto options = Options();
  options->require_tls = true;
  Conversation run(options);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\nSTARTTLS\r\n"
                         "EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n")
                  .ok());
  EXPECT_THAT(run.replies(), Contains("530 5.7.0 Must issue a STARTTLS command first"));
  EXPECT_EQ(run.replies().back(), "250 2.1.0 Sender OK");
}

TEST(ServerSessionTest, AuthOnlyInsideTls) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n").ok());
  EXPECT_EQ(run.replies().back(),
            "538 5.7.11 Encryption required for requested authentication mechanism");
}

TEST(ServerSessionTest, AuthPlainAndLogin) {
  ServerScript script;
  script.users = {{"alice", "secret"}};
  const std::string tls = "EHLO a.example\r\nSTARTTLS\r\nEHLO a.example\r\n";
  Conversation plain(Options(), script);
  // base64("\0alice\0secret")
  ASSERT_TRUE(plain.Polite(tls + "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nAUTH PLAIN\r\n").ok());
  EXPECT_THAT(plain.replies(), Contains("235 2.7.0 Authentication successful"));
  EXPECT_EQ(plain.replies().back(), "503 5.5.1 Already authenticated");
  EXPECT_EQ(plain.server.session().authenticated_user(), "alice");

  Conversation login(Options(), script);
  ASSERT_TRUE(login.Polite(tls + "AUTH LOGIN\r\nYWxpY2U=\r\nd3Jvbmc=\r\n").ok());
  const auto replies = login.replies();
  EXPECT_THAT(replies, Contains("334 VXNlcm5hbWU6"));
  EXPECT_THAT(replies, Contains("334 UGFzc3dvcmQ6"));
  EXPECT_EQ(replies.back(), "535 5.7.8 Authentication credentials invalid");

  Conversation cancel(Options(), script);
  ASSERT_TRUE(cancel.Polite(tls + "AUTH PLAIN\r\n*\r\nAUTH PLAIN\r\n!!!\r\n"
                            "AUTH CRAM-MD5\r\n")
                  .ok());
  EXPECT_THAT(cancel.replies(), Contains("334 "));  // RFC 4954 keeps the SP
  EXPECT_THAT(cancel.replies(), Contains("501 5.7.0 Authentication cancelled"));
  EXPECT_THAT(cancel.replies(),
              Contains("501 5.5.2 Invalid base64 in authentication exchange"));
  EXPECT_EQ(cancel.replies().back(), "504 5.5.4 Unrecognized authentication type");
}

TEST(ServerSessionTest, AuthInPlaintextWhenConfigured) {
  auto options = Options();
  options->auth_requires_tls = false;
  ServerScript script;
  script.users = {{"alice", "secret"}};
  Conversation run(options, script);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n").ok());
  EXPECT_EQ(run.replies().back(), "235 2.7.0 Authentication successful");
}

TEST(ServerSessionTest, BdatTransaction) {
  ServerScript script;
  script.describe_body = [](absl::string_view body) {
    return absl::StrCat(" body=[", EscapeBytes(body), "]");
  };
  Conversation run(Options(), script);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example> BODY=BINARYMIME\r\n"
                         "RCPT TO:<b@b.example>\r\nBDAT 8\r\nab\nc\r.\r\nBDAT 0 LAST\r\n")
                  .ok());
  EXPECT_THAT(run.replies(), Contains("250 2.0.0 Chunk accepted, 8 octets so far"));
  EXPECT_THAT(run.events(),
              Contains("message-complete 8 octets via BDAT body=[ab\\nc\\r.\\r\\n]"));
}

TEST(ServerSessionTest, PipelinedBdatChunks) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\n").ok());
  ASSERT_TRUE(run.Pipelined("MAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\n"
                            "BDAT 3\r\nabcBDAT 3 LAST\r\ndef")
                  .ok());
  EXPECT_THAT(run.events(), Contains("message-complete 6 octets via BDAT"));
}

TEST(ServerSessionTest, RefusedBdatChunkIsDiscardedNotExecuted) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\n").ok());
  ASSERT_TRUE(run.Pipelined("BDAT 6\r\nQUIT\r\nNOOP\r\n").ok());
  const auto replies = run.replies();
  EXPECT_EQ(replies[replies.size() - 2], "503 5.5.1 Need MAIL and RCPT before BDAT");
  EXPECT_EQ(replies.back(), "250 2.0.0 OK");
  EXPECT_FALSE(run.server.session().closed());
}

TEST(ServerSessionTest, BdatThenDataIsRefused) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<b@b.example>\r\nBDAT 2\r\nabDATA\r\nRSET\r\n")
                  .ok());
  EXPECT_THAT(run.replies(), Contains("503 5.5.1 DATA not allowed after BDAT"));
  EXPECT_THAT(run.events(), Contains("message-aborted (transaction reset)"));
}

TEST(ServerSessionTest, HugeAndMalformedBdatSizes) {
  auto options = Options();
  options->max_message_size = 1000;
  Conversation huge(options);
  ASSERT_TRUE(huge.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                          "RCPT TO:<b@b.example>\r\n").ok());
  ASSERT_TRUE(huge.Pipelined("BDAT 18446744073709551615 LAST\r\n" +
                             std::string(2000, 'x')).ok());
  EXPECT_EQ(huge.server.session().chunk_octets_expected(),
            18446744073709551615ull - 2000);
  EXPECT_EQ(huge.server.messages_accepted(), 0u);

  Conversation overflow;
  ASSERT_TRUE(overflow.Polite("EHLO a.example\r\n").ok());
  EXPECT_EQ(overflow.Pipelined("BDAT 18446744073709551616\r\nxx").code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(overflow.replies().back(),
            "554 5.5.4 Malformed BDAT command, closing connection");
}

TEST(ServerSessionTest, DataWithBinaryMimeIsRefused) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example> BODY=BINARYMIME\r\n"
                         "RCPT TO:<b@b.example>\r\nDATA\r\n")
                  .ok());
  EXPECT_EQ(run.replies().back(), "503 5.5.1 BODY=BINARYMIME requires BDAT");
}

TEST(ServerSessionTest, Utf8AddressesNeedSmtputf8) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<j\xC3\xB6rg@b.example>\r\nRSET\r\n"
                         "MAIL FROM:<a@a.example> SMTPUTF8\r\n"
                         "RCPT TO:<j\xC3\xB6rg@b.example>\r\n")
                  .ok());
  const auto replies = run.replies();
  EXPECT_THAT(replies, Contains(HasSubstr("553 5.6.7")));
  EXPECT_EQ(replies.back(), "250 2.1.5 Recipient OK");
}

TEST(ServerSessionTest, TimeoutClosesWith421) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\n").ok());
  EXPECT_EQ(run.server.session().NextDeadline(), kStart + absl::Minutes(5));
  run.server.AdvanceTo(kStart + absl::Minutes(4));
  EXPECT_FALSE(run.server.session().closed());
  run.server.AdvanceTo(kStart + absl::Minutes(5));
  EXPECT_EQ(run.replies().back(),
            "421 4.4.2 mx.example.org Timeout exceeded, closing connection");
  EXPECT_TRUE(run.server.session().closed());
}

TEST(ServerSessionTest, NoDeadlineWhileADecisionIsPending) {
  ServerSession session(Options());
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  EXPECT_TRUE(session.pending_decision());
  EXPECT_EQ(session.NextDeadline(), absl::InfiniteFuture());
}

TEST(ServerSessionTest, ShutdownSends421AndAbortsMessage) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<b@b.example>\r\nDATA\r\npartial\r\n")
                  .ok());
  run.server.Shutdown();
  EXPECT_EQ(run.replies().back(),
            "421 4.3.2 mx.example.org Service shutting down, closing connection");
  EXPECT_THAT(run.events(), Contains("message-aborted (shutdown)"));
}

TEST(ServerSessionTest, RefusedConnectionOnlyAcceptsQuit) {
  ServerSession session(Options());
  ASSERT_TRUE(session.RefuseConnection(Reply::Make(554, "", "No SMTP service here"),
                                       kStart)
                  .ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  ASSERT_TRUE(session.Receive("QUIT\r\n", kStart).ok());
  EXPECT_EQ(session.PendingOutput(),
            "554 No SMTP service here\r\n503 5.5.1 Bad sequence of commands\r\n"
            "221 2.0.0 mx.example.org Bye\r\n");
  EXPECT_TRUE(session.closed());
}

TEST(ServerSessionTest, EmbedderMisuseIsDistinctAndHarmless) {
  ServerSession session(Options());
  EXPECT_EQ(session.Accept(kStart).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  EXPECT_EQ(session.AcceptConnection(kStart).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  EXPECT_EQ(session.Reject(Reply::Make(250, "", "no"), kStart).code(),
            absl::StatusCode::kInvalidArgument);
  Reply with_crlf;
  with_crlf.code = 550;
  with_crlf.lines = {"bad\r\nMAIL FROM:<injected@example>"};
  EXPECT_EQ(session.Reject(with_crlf, kStart).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(session.TlsEstablished({}, kStart).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(session.pending_decision());
  EXPECT_TRUE(session.Accept(kStart).ok());
}

TEST(ServerSessionTest, RejectWith421Closes) {
  auto options = Options();
  ServerSession session(options);
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  ASSERT_TRUE(session.Reject(Reply::Make(421, "4.3.2", "Going away"), kStart).ok());
  EXPECT_TRUE(session.closed());
}

TEST(ServerSessionTest, AsyncDecisionsProcessBufferedPipelinedCommands) {
  ServerSession session(Options());
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  ASSERT_TRUE(session.Accept(kStart).ok());
  session.ConsumeOutput(session.PendingOutput().size());
  ASSERT_TRUE(session.Receive("MAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\n", kStart).ok());
  // The RCPT waits behind the pending sender decision.
  ASSERT_EQ(session.state(), ServerState::kMailPending);
  ASSERT_TRUE(session.Accept(kStart).ok());
  ASSERT_EQ(session.state(), ServerState::kRcptPending);
  ASSERT_TRUE(session.Reject(Reply::Make(450, "4.2.1", "Later"), kStart).ok());
  EXPECT_EQ(session.PendingOutput(), "250 2.1.0 Sender OK\r\n450 4.2.1 Later\r\n");
  EXPECT_EQ(session.state(), ServerState::kTransaction);
}

TEST(ServerSessionTest, TooMuchPipelinedInputWhileBlockedCloses) {
  auto options = Options();
  options->max_buffered_input = 64;
  ServerSession session(options);
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  EXPECT_EQ(session.Receive(std::string(100, 'x'), kStart).code(),
            absl::StatusCode::kAborted);
}

TEST(ServerSessionTest, BareLfInCommandIsAnError) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\nNOOP\r\n").ok());
  EXPECT_THAT(run.replies(), ElementsAre("500 5.5.2 Bare CR or LF in command line", "250 2.0.0 OK"));
}

TEST(ServerSessionTest, OverlongCommandLine) {
  Conversation run;
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nNOOP " + std::string(600, 'x') + "\r\nNOOP\r\n").ok());
  const auto replies = run.replies();
  EXPECT_EQ(replies[replies.size() - 2], "500 5.5.2 Line too long");
  EXPECT_EQ(replies.back(), "250 2.0.0 OK");
}

TEST(ServerSessionTest, IdleSessionIsSmall) {
  ServerSession session(Options());
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  session.ConsumeOutput(session.PendingOutput().size());
  // Not a performance target, a shape check: no buffer is held at rest.
  EXPECT_LE(session.buffered_bytes(), 64u);
}

}  // namespace
}  // namespace starling::smtp

namespace starling::smtp {
namespace {

TEST(ServerSessionLimitsTest, AuthLineLimit) {
  auto options = Options();
  options->auth_requires_tls = false;
  options->max_auth_line = 64;
  ServerScript script;
  script.users = {{"alice", "secret"}};
  Conversation run(options, script);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nAUTH PLAIN\r\n" + std::string(100, 'A') +
                         "\r\nNOOP\r\n")
                  .ok());
  const auto replies = run.replies();
  EXPECT_EQ(replies[replies.size() - 2],
            "500 5.5.6 Authentication exchange line is too long");
  EXPECT_EQ(replies.back(), "250 2.0.0 OK");
}

TEST(ServerSessionLimitsTest, BodyChunkSizeBoundsDataEvents) {
  auto options = Options();
  options->body_chunk_size = 10;
  ServerSession session(options);
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  ASSERT_TRUE(session.Accept(kStart).ok());
  ASSERT_TRUE(session.Receive("MAIL FROM:<a@a.example>\r\n", kStart).ok());
  ASSERT_TRUE(session.Accept(kStart).ok());
  ASSERT_TRUE(session.Receive("RCPT TO:<b@b.example>\r\n", kStart).ok());
  ASSERT_TRUE(session.Accept(kStart).ok());
  ASSERT_TRUE(session.Receive("DATA\r\n", kStart).ok());
  ASSERT_TRUE(session.Receive("0123456789012345678901234\r\n.\r\n", kStart).ok());
  std::string body;
  size_t chunks = 0;
  while (auto event = session.NextEvent()) {
    if (event->type != ServerEventType::kMessageData) continue;
    EXPECT_LE(event->data.size(), 10u);
    body += event->data;
    ++chunks;
  }
  EXPECT_EQ(body, "0123456789012345678901234\r\n");
  EXPECT_EQ(chunks, 3u);
}

TEST(ServerSessionTest, ClientTlsFactsReachDecisions) {
  ServerScript script;
  CertificateFacts cert;
  cert.subject_dn = "CN=partner.example";
  script.tls_facts.version = TlsVersion::kTls12;
  script.tls_facts.peer_chain = {cert};
  Conversation run(Options(), script);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nSTARTTLS\r\n").ok());
  const TlsFacts* facts = run.server.session().tls();
  ASSERT_NE(facts, nullptr);
  EXPECT_EQ(facts->version, TlsVersion::kTls12);
  EXPECT_EQ(facts->peer_chain.front().subject_dn, "CN=partner.example");
}

}  // namespace
}  // namespace starling::smtp

namespace starling::smtp {
namespace {

// By default long lines pass unchanged, read in bounded pieces, however the
// bytes are cut, and their continuations are never taken for line starts.
TEST(ServerSessionLongLinesTest, PassThroughUnchangedAtAnySplit) {
  auto options = Options();
  options->max_data_line = 16;
  const std::string long_line = std::string(40, 'x') + ".\r" + "y\r\n";
  const std::string body = "short\r\n" + std::string(50, 'z') + "\r\n" +
                           std::string(20, 'w') + "\r\n..dot\r\n";
  for (size_t piece : {1, 3, 7, 16, 17, 1000}) {
    ServerScript script;
    script.describe_body = [](absl::string_view data) {
      return absl::StrCat(" body=", EscapeBytes(data));
    };
    Conversation run(options, script);
    ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                           "RCPT TO:<b@b.example>\r\nDATA\r\n").ok());
    const std::string data = body + ".\r\n";
    for (size_t pos = 0; pos < data.size(); pos += piece) {
      ASSERT_TRUE(run.Pipelined(data.substr(pos, piece)).ok()) << piece;
    }
    EXPECT_THAT(run.events(),
                Contains(absl::StrCat("message-complete ", body.size() - 1,
                                      " octets via DATA body=",
                                      EscapeBytes("short\r\n" + std::string(50, 'z') +
                                                  "\r\n" + std::string(20, 'w') +
                                                  "\r\n.dot\r\n"))))
        << piece;
  }
  // A bare CR inside a long line is still refused.
  Conversation bad(options);
  ASSERT_TRUE(bad.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<b@b.example>\r\nDATA\r\n").ok());
  EXPECT_EQ(bad.Pipelined(long_line + ".\r\n").code(), absl::StatusCode::kAborted);
}

TEST(ServerSessionLongLinesTest, ContinuationIsNotEndOfData) {
  auto options = Options();
  options->max_data_line = 8;
  Conversation run(options);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<b@b.example>\r\nDATA\r\n").ok());
  // The segment boundary falls right before ".": the "." is not a line start.
  ASSERT_TRUE(run.Pipelined("0123456789").ok());
  ASSERT_TRUE(run.Pipelined(".\r\nQUIT\r\n").ok());
  EXPECT_THAT(run.events(), Not(Contains(HasSubstr("message-complete"))));
  EXPECT_FALSE(run.server.session().closed());
  ASSERT_TRUE(run.Pipelined(".\r\n").ok());
  EXPECT_THAT(run.events(), Contains(HasSubstr("message-complete 19 octets")));
}

// ---- line limits follow the extensions offered ------------------------------------

// 615 octets with CRLF, as a real client sent it: a 73-octet address, NOTIFY
// and a 500-octet ORCPT (the most RFC 3461 allows).
std::string LongRcpt() {
  const std::string address = std::string(63, 'b') + "@b.example";
  const std::string orcpt =
      "rfc822;" + std::string(500 - 7 - address.size(), 'o') + address;
  return absl::StrCat("RCPT TO:<", address, "> NOTIFY=SUCCESS,FAILURE ORCPT=",
                      orcpt, "\r\n");
}

TEST(ServerLineLimitTest, DsnRcptLongerThan512IsAcceptedWhenDsnIsOffered) {
  const std::string rcpt = LongRcpt();
  ASSERT_EQ(rcpt.size(), 615u);
  Conversation run;
  ASSERT_TRUE(run.Polite(absl::StrCat("EHLO a.example\r\nMAIL FROM:<a@a.example> "
                                      "RET=HDRS ENVID=x", std::string(90, 'e'),
                                      " SIZE=100 BODY=8BITMIME\r\n", rcpt))
                  .ok());
  EXPECT_THAT(run.events(), Contains(HasSubstr("rcpt-to <bbbb")));

  auto no_dsn = Options();
  no_dsn->offer_dsn = false;
  Conversation refused(no_dsn);
  ASSERT_TRUE(refused.Polite(absl::StrCat(
      "EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n", rcpt)).ok());
  EXPECT_THAT(refused.replies().back(), HasSubstr("500 5.5.2 Line too long"));
  // Other commands keep the 512-octet limit.
  Conversation noop;
  ASSERT_TRUE(noop.Polite(absl::StrCat("EHLO a.example\r\nNOOP ",
                                       std::string(600, 'n'), "\r\n")).ok());
  EXPECT_THAT(noop.replies().back(), HasSubstr("500 5.5.2 Line too long"));
}

// ---- the embedder's side of the boundary ------------------------------------------

TEST(ServerBoundaryTest, EmbedderRepliesMustBeTextstring) {
  ServerSession session(Options());
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  for (char control : {'\0', '\x07', '\x1b', '\x7f'}) {
    Reply reply = Reply::Make(550, "5.7.1", "no");
    reply.lines[0].push_back(control);
    EXPECT_EQ(session.Reject(reply, kStart).code(),
              absl::StatusCode::kInvalidArgument);
  }
  Reply eight_bit = Reply::Make(550, "5.7.1", "d\xc3\xa9j\xc3\xa0");
  EXPECT_EQ(session.Reject(eight_bit, kStart).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(session.pending_decision());
  EXPECT_TRUE(session.Reject(Reply::Make(550, "5.7.1", "no\tthanks"), kStart).ok());
}

// A decision that takes longer than the command timeout (a slow database)
// is not followed by "421 Timeout" behind its own reply: the client's timer
// starts when the decision is answered.
TEST(ServerBoundaryTest, SlowDecisionIsNotFollowedByATimeout) {
  ServerSession session(Options());
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  EXPECT_EQ(session.NextDeadline(), absl::InfiniteFuture());
  const absl::Time late = kStart + absl::Minutes(7);
  ASSERT_TRUE(session.Accept(late).ok());
  EXPECT_EQ(session.NextDeadline(), late + absl::Minutes(5));
  ASSERT_TRUE(session.OnTimeout(late).ok());
  EXPECT_FALSE(session.closed());
  EXPECT_THAT(std::string(session.PendingOutput()), Not(HasSubstr("421")));
}

TEST(ServerBoundaryTest, StallAfterStartTlsIsClosedAtTheHandshakeDeadline) {
  ServerSession session(Options());
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  ASSERT_TRUE(session.Accept(kStart).ok());
  const absl::Time starttls = kStart + absl::Seconds(2);
  ASSERT_TRUE(session.Receive("STARTTLS\r\n", starttls).ok());
  ASSERT_EQ(session.state(), ServerState::kTlsHandshake);
  session.ConsumeOutput(session.PendingOutput().size());
  EXPECT_EQ(session.NextDeadline(), starttls + absl::Minutes(5));
  ASSERT_TRUE(session.OnTimeout(starttls + absl::Minutes(5)).ok());
  EXPECT_TRUE(session.closed());
  // Nothing in plaintext goes into the middle of a handshake.
  EXPECT_TRUE(session.PendingOutput().empty());
}

TEST(ServerBoundaryTest, ConnectionLostMidDataAbortsTheMessage) {
  ServerSession session(Options());
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  ASSERT_TRUE(session.Receive("EHLO a.example\r\n", kStart).ok());
  ASSERT_TRUE(session.Accept(kStart).ok());
  ASSERT_TRUE(session.Receive("MAIL FROM:<a@a.example>\r\n", kStart).ok());
  ASSERT_TRUE(session.Accept(kStart).ok());
  ASSERT_TRUE(session.Receive("RCPT TO:<b@b.example>\r\n", kStart).ok());
  ASSERT_TRUE(session.Accept(kStart).ok());
  ASSERT_TRUE(session.Receive("DATA\r\n", kStart).ok());
  ASSERT_TRUE(session.Receive("Subject: half\r\n", kStart).ok());
  while (session.NextEvent()) {
  }
  session.ConnectionLost(kStart + absl::Seconds(1));
  std::vector<ServerEventType> events;
  while (auto event = session.NextEvent()) events.push_back(event->type);
  EXPECT_THAT(events, ElementsAre(ServerEventType::kMessageAborted,
                                  ServerEventType::kClosed));
  EXPECT_TRUE(session.closed());
  EXPECT_TRUE(session.PendingOutput().empty());
}

TEST(ServerBoundaryTest, ShutdownAfterAFatalErrorAndEveryCallReturnsIt) {
  ServerSession session(Options());
  ASSERT_TRUE(session.Receive("EHLO early\r\n", kStart).code() ==
              absl::StatusCode::kAborted);  // pregreet
  EXPECT_EQ(session.fatal_reason(), SessionError::kPregreet);
  EXPECT_EQ(session.Accept(kStart).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(session.Reject(Reply::Make(550, "", "x"), kStart).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(session.AcceptConnection(kStart).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(session.TlsFailed("x", kStart).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(session.OnTimeout(kStart).code(), absl::StatusCode::kAborted);
}

}  // namespace

// Reaches a transition the table does not have (only a bug could).
class ServerSessionTestPeer {
 public:
  static bool Transit(ServerSession& session, ServerInput input) {
    return session.Transit(input);
  }
};

namespace {

TEST(ServerBoundaryTest, MissingTableRowIsAStickyInternalErrorNotACrash) {
  ServerSession session(Options());
  ASSERT_TRUE(session.AcceptConnection(kStart).ok());
  EXPECT_FALSE(ServerSessionTestPeer::Transit(session, ServerInput::kEndOfData));
  EXPECT_TRUE(session.closed());
  EXPECT_EQ(session.fatal_error().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(session.fatal_reason(), SessionError::kInternal);
  EXPECT_EQ(session.Receive("EHLO a.example\r\n", kStart).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(session.Accept(kStart).code(), absl::StatusCode::kInternal);
}

// ---- end of data is CRLF "." CRLF in every mode -------------------------------------

class EndOfDataModeTest : public ::testing::TestWithParam<BareLineEndings> {};

TEST_P(EndOfDataModeTest, LfDotCrlfIsNeverTheEnd) {
  auto options = Options();
  options->bare_line_endings = GetParam();
  Conversation run(options);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<b@b.example>\r\nDATA\r\n").ok());
  (void)run.Pipelined("x\n.\r\nMAIL FROM:<evil@a.example>\r\n");
  EXPECT_THAT(run.events(), Not(Contains(HasSubstr("message-complete"))));
  EXPECT_THAT(run.events(), Not(Contains(HasSubstr("evil"))));
}

// A line over max_data_line whose LF has no CR before it is as ambiguous as
// any bare LF: refused in reject mode, never an end of data in any mode.
TEST_P(EndOfDataModeTest, OverlongLineEndedByABareLfHidesNoEnd) {
  auto options = Options();
  options->bare_line_endings = GetParam();
  options->long_data_lines = LongDataLines::kReject;
  options->max_data_line = 20;
  Conversation run(options);
  ASSERT_TRUE(run.Polite("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                         "RCPT TO:<b@b.example>\r\nDATA\r\n").ok());
  const absl::Status status = run.Pipelined(
      absl::StrCat(std::string(40, 'l'), "\n.\r\nMAIL FROM:<evil@a.example>\r\n"));
  EXPECT_THAT(run.events(), Not(Contains(HasSubstr("message-complete"))));
  EXPECT_THAT(run.events(), Not(Contains(HasSubstr("evil"))));
  if (GetParam() == BareLineEndings::kReject) {
    EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, EndOfDataModeTest,
                         ::testing::Values(BareLineEndings::kReject,
                                           BareLineEndings::kNormalize));

}  // namespace
}  // namespace starling::smtp
