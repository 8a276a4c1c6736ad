// Properties of the server session:
//  - the replies and events do not depend on how the client's bytes are cut
//    into Receive() calls, as long as the client waits where SMTP says it
//    must (after EHLO, DATA, STARTTLS, AUTH: the synchronisation points);
//  - any body, dot-stuffed by DotStuff(), reaches the embedder unstuffed;
//  - in every line-ending mode the data ends exactly where CRLF "." CRLF is,
//    whatever smuggling shapes the content holds and however it is cut, and
//    no more messages are accepted than were intended.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/smtp/dot_stuffing.h"
#include "core/smtp/testing/scripted_server.h"
#include "core/smtp/server_session.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace starling::smtp {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

std::shared_ptr<ServerOptions> Options() {
  auto options = std::make_shared<ServerOptions>();
  options->hostname = "mx.example.org";
  options->offer_starttls = true;
  options->max_errors = 1000;
  options->max_message_size = 4000;
  return options;
}

// One piece of a conversation that ends where the client must wait.
using Segment = std::string;

rc::Gen<std::string> Body() {
  return rc::gen::container<std::string>(rc::gen::weightedOneOf<char>(
      {{3, rc::gen::element('.', '\r', '\n')},
       {5, rc::gen::element('a', ' ', 'Z')},
       {1, rc::gen::arbitrary<char>()}}));
}

rc::Gen<std::string> Mailbox() {
  return rc::gen::map(rc::gen::inRange(0, 6), [](int i) {
    return absl::StrCat("<u", i, "@d", i % 2, ".example>");
  });
}

// A pipelinable run of commands followed by one synchronising command.
rc::Gen<std::vector<Segment>> Transaction() {
  return rc::gen::exec([] {
    std::vector<Segment> segments;
    std::string group = absl::StrCat("MAIL FROM:", *Mailbox(),
                                     *rc::gen::element<std::string>(
                                         "", " SIZE=100", " BODY=8BITMIME"),
                                     "\r\n");
    const int recipients = *rc::gen::inRange(0, 4);
    for (int i = 0; i < recipients; ++i) {
      group += absl::StrCat("RCPT TO:", *Mailbox(), "\r\n");
    }
    group += *rc::gen::element<std::string>("", "NOOP\r\n", "RSET\r\n",
                                            "BOGUS\r\n", "RCPT TO:<>\r\n");
    switch (*rc::gen::inRange(0, 3)) {
      case 0:  // DATA: the body is its own segment after the 354.
        segments.push_back(group + "DATA\r\n");
        segments.push_back(DotStuff(*Body()));
        break;
      case 1: {  // BDAT chunks may be pipelined with the commands.
        const std::string body = *Body();
        const size_t cut = *rc::gen::inRange<size_t>(0, body.size() + 1);
        group += absl::StrCat("BDAT ", cut, "\r\n", body.substr(0, cut),
                              "BDAT ", body.size() - cut, " LAST\r\n",
                              body.substr(cut));
        segments.push_back(group);
        break;
      }
      default:
        segments.push_back(group + "RSET\r\n");
        break;
    }
    return segments;
  });
}

rc::Gen<std::vector<Segment>> Conversation() {
  return rc::gen::exec([] {
    std::vector<Segment> segments = {"EHLO client.example\r\n"};
    if (*rc::gen::arbitrary<bool>()) {
      segments.push_back("STARTTLS\r\n");
      segments.push_back("EHLO client.example\r\n");
    }
    const int transactions = *rc::gen::inRange(0, 4);
    for (int i = 0; i < transactions; ++i) {
      for (Segment& s : *Transaction()) segments.push_back(std::move(s));
    }
    segments.push_back("QUIT\r\n");
    return segments;
  });
}

ServerScript Script() {
  ServerScript script;
  script.reject_recipients = {"u3@d1.example"};
  script.defer_recipients = {"u4@d0.example"};
  script.reject_senders = {"u5@d1.example"};
  script.describe_body = [](absl::string_view body) {
    return absl::StrCat(" body=", EscapeBytes(body));
  };
  return script;
}

std::vector<std::string> Outcome(const ScriptedServer& server) {
  std::vector<std::string> out;
  for (const std::string& line : server.RepliesAndEvents()) {
    if (line.find("not sent: the session is closed") == std::string::npos) {
      out.push_back(line);
    }
  }
  return out;
}

RC_GTEST_PROP(ServerSessionProperty, AnySplitGivesSameRepliesAndEvents, ()) {
  const std::vector<Segment> segments = *Conversation();

  ScriptedServer polite(Options(), Script(), kStart);
  for (const Segment& segment : segments) {
    if (polite.session().closed()) break;
    (void)polite.FeedPolitely(segment);
  }

  // Half the time the split run takes the body through a MessageDataSink:
  // the same bodies (in the accepted-message lines), replies and events.
  ServerScript split_script = Script();
  split_script.data_sink = *rc::gen::arbitrary<bool>();
  ScriptedServer split(Options(), split_script, kStart);
  for (const Segment& segment : segments) {
    std::vector<size_t> cuts = *rc::gen::container<std::vector<size_t>>(
        rc::gen::inRange<size_t>(0, segment.size() + 1));
    std::sort(cuts.begin(), cuts.end());
    cuts.push_back(segment.size());
    size_t pos = 0;
    for (size_t cut : cuts) {
      if (split.session().closed()) break;
      (void)split.Feed(absl::string_view(segment).substr(pos, cut - pos));
      pos = cut;
    }
  }
  RC_ASSERT(Outcome(split) == Outcome(polite));
}

RC_GTEST_PROP(ServerSessionProperty, DotStuffedBodyArrivesUnstuffed, ()) {
  const std::string body = *Body();
  std::string received;
  ServerScript script;
  script.describe_body = [&](absl::string_view data) {
    received = std::string(data);
    return std::string();
  };
  auto options = Options();
  options->max_message_size = 0;
  ScriptedServer server(options, script, kStart);
  RC_ASSERT(server
                .FeedPolitely("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                              "RCPT TO:<b@b.example>\r\nDATA\r\n" +
                              DotStuff(body))
                .ok());
  RC_ASSERT(server.messages_accepted() == 1u);
  RC_ASSERT(received == NormalizeLineEndings(body));
}

// Content made of what SMTP smuggling uses: bare CR and LF next to dots,
// lone dots, and commands that must stay content.
rc::Gen<std::string> SmugglingContent() {
  return rc::gen::map(
      rc::gen::container<std::vector<std::string>>(
          rc::gen::element<std::string>(
              "x", "hello ", ".", "..", "\r\n", "\n", "\r", "\n.\n",
              "\r\n.\n", "\n.\r\n", "\r.\r", "\r.\r\n", "\r\n.\r",
              ".\r\n", "MAIL FROM:<evil@a.example>\r\n",
              "RCPT TO:<evil@b.example>\r\n", "DATA\r\n", "QUIT\r\n")),
      [](const std::vector<std::string>& parts) {
        std::string out;
        for (const std::string& p : parts) out += p;
        return out;
      });
}

// The reference model of what the server stores: lines end at CRLF, bare LF
// or bare CR; each loses one leading dot; each is stored with CRLF.
std::string Unstuffed(absl::string_view data) {
  std::string out;
  std::string line;
  auto end_line = [&] {
    absl::StrAppend(&out,
                    absl::string_view(line).substr(!line.empty() && line[0] == '.'),
                    "\r\n");
    line.clear();
  };
  for (size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (c == '\r') {
      end_line();
      if (i + 1 < data.size() && data[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      end_line();
    } else {
      line.push_back(c);
    }
  }
  return out;
}

RC_GTEST_PROP(ServerSessionProperty, EndOfDataIsExactlyCrlfDotCrlfInEveryMode,
              ()) {
  const std::string content = *SmugglingContent();
  // The DATA line's CRLF starts the stream; the only CRLF "." CRLF in it is
  // the terminator (content that would end earlier is the next property's).
  const std::string full = "\r\n" + content + "\r\n.\r\n";
  RC_PRE(full.find("\r\n.\r\n") == 2 + content.size());
  const bool normalize = *rc::gen::arbitrary<bool>();
  auto options = Options();
  options->bare_line_endings =
      normalize ? BareLineEndings::kNormalize : BareLineEndings::kReject;
  options->max_message_size = 0;
  options->max_data_line = 1 << 20;
  std::vector<std::string> bodies;
  ServerScript script;
  script.data_sink = *rc::gen::arbitrary<bool>();  // events or a sink: same
  script.describe_body = [&](absl::string_view body) {
    bodies.emplace_back(body);
    return std::string();
  };
  ScriptedServer server(options, script, kStart);
  RC_ASSERT(server
                .FeedPolitely("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                              "RCPT TO:<b@b.example>\r\nDATA\r\n")
                .ok());
  // The message, then a second, honest one and QUIT, cut anywhere.
  const std::string stream = content +
                             "\r\n.\r\nMAIL FROM:<t@a.example>\r\n"
                             "RCPT TO:<u@b.example>\r\nDATA\r\n";
  std::vector<size_t> cuts = *rc::gen::container<std::vector<size_t>>(
      rc::gen::inRange<size_t>(0, stream.size() + 1));
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(stream.size());
  size_t pos = 0;
  for (size_t cut : cuts) {
    if (server.session().closed()) break;
    (void)server.Feed(absl::string_view(stream).substr(pos, cut - pos));
    pos = cut;
  }
  if (!server.session().closed()) {
    (void)server.FeedPolitely("tail\r\n.\r\nQUIT\r\n");
  }
  const bool bare = [&] {
                      for (size_t i = 0; i < content.size(); ++i) {
                        const bool cr = content[i] == '\r';
                        const bool lf = content[i] == '\n';
                        if (cr && (i + 1 == content.size() ||
                                   content[i + 1] != '\n')) {
                          return true;
                        }
                        if (lf && (i == 0 || content[i - 1] != '\r')) return true;
                      }
                      return false;
                    }();
  size_t mails = 0;
  for (const std::string& line : server.transcript()) {
    if (line.rfind("E: mail-from", 0) == 0) ++mails;
  }
  // Never more transactions or messages than the client meant: two.
  RC_ASSERT(mails <= 2u);
  RC_ASSERT(server.messages_accepted() <= 2u);
  if (!normalize && bare) {
    // Reject mode: the session closes; nothing of this message is taken.
    RC_ASSERT(server.session().fatal_reason() == SessionError::kBareLineEnding);
    RC_ASSERT(server.messages_accepted() == 0u);
    return;
  }
  RC_ASSERT(server.messages_accepted() == 2u);
  RC_ASSERT(bodies.size() == 2u);
  RC_ASSERT(bodies[0] == Unstuffed(content + "\r\n"));
  RC_ASSERT(bodies[1] == "tail\r\n");
}

// Content that holds CRLF "." CRLF ends there, in every mode: what follows
// is commands (here a second transaction), never more of the message.
RC_GTEST_PROP(ServerSessionProperty, TheFirstCrlfDotCrlfEndsTheData, ()) {
  const bool normalize = *rc::gen::arbitrary<bool>();
  auto options = Options();
  options->bare_line_endings =
      normalize ? BareLineEndings::kNormalize : BareLineEndings::kReject;
  std::string head = *rc::gen::container<std::string>(
      rc::gen::element('a', 'b', ' ', '.'));
  ScriptedServer server(options, Script(), kStart);
  RC_ASSERT(server
                .FeedPolitely("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\n"
                              "RCPT TO:<b@b.example>\r\nDATA\r\n")
                .ok());
  const std::string stream = head + "\r\n.\r\nMAIL FROM:<second@a.example>\r\n";
  for (size_t i = 0; i < stream.size() && !server.session().closed(); ++i) {
    (void)server.Feed(absl::string_view(stream).substr(i, 1));
  }
  RC_ASSERT(server.messages_accepted() == 1u);
  RC_ASSERT(server.session().state() == ServerState::kTransaction);
}

}  // namespace
}  // namespace starling::smtp
