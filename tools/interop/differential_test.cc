// Differential server behaviour: every client session of
// tools/interop/differential_sessions.txt is sent, command by command, to a
// Postfix smtpd of the test's own and to starling-sink, and the class of
// every reply (2, 3, 4, 5, closed, none) is compared. A disagreement must
// be listed in tools/interop/differential_known.txt with its cause (each
// cause is explained, with the RFC section, in docs/interop.md); any other
// disagreement fails the test, and so does a listed one that no longer
// happens. The test prints the counts: sessions, steps compared,
// agreements, disagreements by cause.
//
// Sessions file format (one session after another):
//   session NAME      starts a session; its first step is the greeting
//   > TEXT            sends TEXT CRLF, and everything pending; reads the
//                     replies owed (a step each)
//   + TEXT            TEXT CRLF, a reply owed, sent with the next > or <
//   | TEXT            TEXT CRLF (message content), no reply owed
//   ~ TEXT            TEXT as is (no CRLF), no reply owed
//   <                 sends what is pending, reads the replies owed plus one
// In TEXT: \r \n \t \0 \\ \xHH, and {C*N} for N copies of the character C.
// "#" starts a comment line.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tools/interop/peers.h"
#include "tools/interop/report.h"
#include "tools/testing/sink_process.h"
#include "tools/testing/subprocess.h"

namespace starling::interop {
namespace {

using tools::testing::ReadWholeFile;
using tools::testing::SinkProcess;

constexpr char kArea[] = "differential";
// How long a reply may take before it counts as "none" (the server waits
// for more input). Both servers answer within milliseconds otherwise.
constexpr absl::Duration kReplyTimeout = absl::Seconds(2);
constexpr size_t kMaxSize = 100000;

// --- the sessions file ------------------------------------------------------

struct Action {
  char kind;         // '>', '+', '|', '~', '<'
  std::string data;  // the octets to send (CRLF added for > + |)
};

struct Session {
  std::string name;
  int line = 0;
  std::vector<Action> actions;
};

absl::StatusOr<std::string> Unescape(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{') {
      const size_t close = text.find('}', i);
      const size_t star = text.find('*', i);
      int n = 0;
      if (close == absl::string_view::npos || star != i + 2 || star > close ||
          !absl::SimpleAtoi(text.substr(star + 1, close - star - 1), &n)) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad repeat at ", text.substr(i)));
      }
      out.append(n, text[i + 1]);
      i = close;
      continue;
    }
    if (c != '\\' || i + 1 == text.size()) {
      out.push_back(c);
      continue;
    }
    const char e = text[++i];
    switch (e) {
      case 'r':
        out.push_back('\r');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case '0':
        out.push_back('\0');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '{':
        out.push_back('{');
        break;
      case 'x': {
        int value = 0;
        if (i + 2 >= text.size() ||
            !absl::SimpleHexAtoi(text.substr(i + 1, 2), &value)) {
          return absl::InvalidArgumentError(
              absl::StrCat("bad \\x at ", text.substr(i)));
        }
        out.push_back(static_cast<char>(value));
        i += 2;
        break;
      }
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("bad escape \\", std::string(1, e)));
    }
  }
  return out;
}

absl::StatusOr<std::vector<Session>> ParseSessions(const std::string& text) {
  std::vector<Session> sessions;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    if (absl::ConsumePrefix(&line, "session ")) {
      sessions.push_back(
          {std::string(absl::StripAsciiWhitespace(line)), number, {}});
      continue;
    }
    if (sessions.empty() ||
        std::string("><+|~").find(line[0]) == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", number, ": cannot parse: ", line));
    }
    const char kind = line[0];
    line.remove_prefix(1);
    if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
    absl::StatusOr<std::string> data = Unescape(line);
    if (!data.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", number, ": ", data.status().message()));
    }
    if (kind == '>' || kind == '+' || kind == '|') data->append("\r\n");
    sessions.back().actions.push_back({kind, *std::move(data)});
  }
  return sessions;
}

// --- one connection ----------------------------------------------------------

// A reply's class: "2".."5", "closed" (the server closed the connection
// before replying), "none" (no reply within kReplyTimeout), "garbage".
struct Reply {
  std::string klass;
  std::string text;  // the first line
};

class Connection {
 public:
  explicit Connection(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) !=
        0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Writes all of `data` (a closed peer: ignored, the next read says so).
  void Send(const std::string& data) {
    size_t done = 0;
    while (fd_ >= 0 && done < data.size()) {
      const ssize_t n =
          send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

  Reply Read() {
    std::string first;
    for (;;) {
      std::string line;
      if (!ReadLine(&line)) {
        if (!line.empty() || !first.empty()) return {"garbage", first + line};
        return {closed_ ? "closed" : "none", ""};
      }
      if (first.empty()) first = line;
      if (line.size() < 3 || !absl::ascii_isdigit(line[0])) {
        return {"garbage", line};
      }
      if (line.size() == 3 || line[3] == ' ') {
        return {std::string(1, first[0]), first};
      }
    }
  }

 private:
  // One line without its CRLF; false on close or timeout.
  bool ReadLine(std::string* line) {
    const absl::Time deadline = absl::Now() + kReplyTimeout;
    for (;;) {
      const size_t end = buffer_.find('\n');
      if (end != std::string::npos) {
        *line = buffer_.substr(0, end);
        if (!line->empty() && line->back() == '\r') line->pop_back();
        buffer_.erase(0, end + 1);
        return true;
      }
      if (fd_ < 0 || closed_) return false;
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd p = {fd_, POLLIN, 0};
      if (poll(&p, 1, absl::ToInt64Milliseconds(left) + 1) <= 0) continue;
      char chunk[4096];
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        closed_ = true;
        *line = buffer_;
        buffer_.clear();
        return false;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  int fd_ = -1;
  bool closed_ = false;
  std::string buffer_;
};

// Runs a session against the server on `port`: the replies, one per step.
std::vector<Reply> Play(const Session& session, uint16_t port) {
  std::vector<Reply> replies;
  Connection connection(port);
  replies.push_back(connection.Read());  // the greeting
  std::string pending;
  int owed = 0;
  const auto flush = [&] {
    connection.Send(pending);
    pending.clear();
    for (; owed > 0; --owed) replies.push_back(connection.Read());
  };
  for (const Action& action : session.actions) {
    switch (action.kind) {
      case '>':
        pending += action.data;
        ++owed;
        flush();
        break;
      case '+':
        pending += action.data;
        ++owed;
        break;
      case '|':
      case '~':
        pending += action.data;
        break;
      case '<':
        ++owed;
        flush();
        break;
    }
  }
  if (!pending.empty() || owed > 0) flush();
  return replies;
}

// --- known differences
// ----------------------------------------------------------

struct Known {
  std::string postfix, starling, cause;
};

// "SESSION STEP POSTFIX STARLING CAUSE" per line.
absl::StatusOr<std::map<std::pair<std::string, int>, Known>> ParseKnown(
    const std::string& text) {
  std::map<std::pair<std::string, int>, Known> known;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> f =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    int step = 0;
    if (f.size() != 5 || !absl::SimpleAtoi(f[1], &step)) {
      return absl::InvalidArgumentError(
          absl::StrCat("differential_known.txt:", number, ": ", line));
    }
    known[{f[0], step}] = {f[2], f[3], f[4]};
  }
  return known;
}

std::string Printable(absl::string_view text) {
  std::string out;
  for (char c : text.substr(0, 100)) {
    if (absl::ascii_isprint(static_cast<unsigned char>(c))) {
      out.push_back(c);
    } else {
      absl::StrAppend(
          &out, "\\x",
          absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  return out;
}

TEST(DifferentialTest, PostfixSmtpdAndStarlingSinkAgreeOnReplyClasses) {
  PrintTableAtExit();
  absl::StatusOr<std::string> sessions_file =
      tools::testing::RunfilePath("tools/interop/differential_sessions.txt");
  ASSERT_TRUE(sessions_file.ok()) << sessions_file.status();
  absl::StatusOr<std::vector<Session>> sessions =
      ParseSessions(ReadWholeFile(*sessions_file));
  ASSERT_TRUE(sessions.ok()) << sessions.status();
  absl::StatusOr<std::string> known_file =
      tools::testing::RunfilePath("tools/interop/differential_known.txt");
  ASSERT_TRUE(known_file.ok()) << known_file.status();
  absl::StatusOr<std::map<std::pair<std::string, int>, Known>> known =
      ParseKnown(ReadWholeFile(*known_file));
  ASSERT_TRUE(known.ok()) << known.status();
  std::set<std::string> names;
  for (const Session& s : *sessions) {
    EXPECT_TRUE(names.insert(s.name).second) << "duplicate session " << s.name;
  }
  EXPECT_GE(sessions->size(), 150u);

  absl::StatusOr<PeerDirectory> dir = PeerDirectory::Create("differential");
  ASSERT_TRUE(dir.ok()) << dir.status();
  absl::StatusOr<Certificates> certs =
      MakeCertificates(dir->path(), {"mx.interop.test"});
  ASSERT_TRUE(certs.ok()) << certs.status();

  // Postfix with the defaults of Postfix 3.9 where 3.7 differs (its
  // smuggling defences), the sink's limits, and everything accepted from
  // loopback into the discard transport.
  PostfixInstance::Options options;
  options.main_cf = {
      "myhostname = mx.interop.test",
      "smtpd_tls_cert_file = " + certs->chain,
      "smtpd_tls_key_file = " + certs->key,
      "smtpd_tls_security_level = may",
      absl::StrCat("message_size_limit = ", kMaxSize),
      "smtpd_recipient_limit = 100",
      "smtpd_forbid_unauth_pipelining = yes",
      "smtpd_forbid_bare_newline = yes",
      "smtpd_forbid_bare_newline_exclusions =",
      "smtpd_soft_error_limit = 1000",
      "smtpd_hard_error_limit = 1000",
      "smtpd_junk_command_limit = 1000",
      "smtpd_peername_lookup = no",
  };
  absl::StatusOr<std::unique_ptr<PostfixInstance>> postfix =
      PostfixInstance::Start(options);
  if (absl::IsNotFound(postfix.status())) {
    Skip(kArea, "Postfix smtpd", "all",
         std::string(postfix.status().message()));
    GTEST_SKIP() << postfix.status();
  }
  ASSERT_TRUE(postfix.ok()) << postfix.status();
  absl::StatusOr<std::unique_ptr<SinkProcess>> sink = SinkProcess::Start(
      {"--cert=" + certs->chain, "--key=" + certs->key,
       "--hostname=mx.interop.test", absl::StrCat("--max_size=", kMaxSize),
       "--max_recipients=100", "--deliver=discard", "--log=none"});
  ASSERT_TRUE(sink.ok()) << sink.status();
  const std::string version = VersionLine(
      {tools::testing::FindProgram("postconf"), "-d", "-h", "mail_version"});

  size_t steps = 0, agreements = 0;
  std::map<std::string, size_t> by_cause;
  std::vector<std::string> unexplained;
  std::set<std::pair<std::string, int>> seen_known;
  for (const Session& session : *sessions) {
    const std::vector<Reply> p = Play(session, (*postfix)->port());
    const std::vector<Reply> s = Play(session, (*sink)->port());
    ASSERT_EQ(p.size(), s.size()) << session.name;
    for (size_t i = 0; i < p.size(); ++i) {
      ++steps;
      const int step = static_cast<int>(i);
      const auto it = known->find({session.name, step});
      if (p[i].klass == s[i].klass) {
        ++agreements;
        if (it != known->end()) {
          ADD_FAILURE() << "listed in differential_known.txt but now agrees: "
                        << session.name << " " << step << " (both "
                        << p[i].klass << ")";
        }
        continue;
      }
      if (it != known->end() && it->second.postfix == p[i].klass &&
          it->second.starling == s[i].klass) {
        seen_known.insert(it->first);
        ++by_cause[it->second.cause];
        continue;
      }
      ++by_cause["unexplained"];
      unexplained.push_back(absl::StrCat(
          session.name, " ", step, " ", p[i].klass, " ", s[i].klass,
          " ?    # line ", session.line, ": postfix \"", Printable(p[i].text),
          "\" starling \"", Printable(s[i].text), "\""));
    }
  }
  for (const auto& [key, k] : *known) {
    if (!names.contains(key.first)) {
      ADD_FAILURE() << "differential_known.txt names no session: " << key.first;
    }
  }

  size_t disagreements = 0;
  std::string causes;
  for (const auto& [cause, n] : by_cause) {
    disagreements += n;
    absl::StrAppend(&causes, causes.empty() ? "" : ", ", cause, " ", n);
  }
  const std::string counts =
      absl::StrCat(sessions->size(), " sessions, ", steps, " steps compared, ",
                   agreements, " agreements, ", disagreements, " disagreements",
                   causes.empty() ? "" : " (" + causes + ")");
  std::printf("differential: Postfix %s smtpd vs starling-sink: %s\n",
              version.c_str(), counts.c_str());
  Record({kArea, "Postfix " + version + " smtpd",
          "reply classes of every step of every session",
          unexplained.empty() ? "ok" : "FAIL", counts});
  EXPECT_TRUE(unexplained.empty())
      << unexplained.size()
      << " disagreements not in differential_known.txt (SESSION STEP "
         "POSTFIX STARLING CAUSE):\n"
      << absl::StrJoin(unexplained, "\n");
}

}  // namespace
}  // namespace starling::interop
