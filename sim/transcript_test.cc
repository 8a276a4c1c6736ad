#include "sim/transcript.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sim/capture.h"
#include "sim/link.h"

namespace starling::sim {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01

class Dialogue {
 public:
  Dialogue() {
    connection_.index = 7;
    connection_.domain = "good.example";
    connection_.mx_host = "mx.good.example";
    connection_.start = kStart;
  }
  Dialogue& C(int ms, std::string text, bool tls = false) {
    connection_.transcript.push_back(
        {kStart + absl::Milliseconds(ms), true, tls, std::move(text)});
    return *this;
  }
  Dialogue& S(int ms, std::string text, bool tls = false) {
    connection_.transcript.push_back(
        {kStart + absl::Milliseconds(ms), false, tls, std::move(text)});
    return *this;
  }
  const CapturedConnection& connection() const { return connection_; }

 private:
  CapturedConnection connection_;
};

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(TranscriptTest, FullDialogueWithStartTlsAndBody) {
  Dialogue d;
  d.S(31, "220 mx.good.example ESMTP\r\n")
      .C(32, "EHLO relay.example.org\r\n")
      .S(60, "250-mx.good.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
      .C(61, "STARTTLS\r\n")
      .S(90, "220 2.0.0 go ahead\r\n")
      .C(150, "EHLO relay.example.org\r\n", true)
      .S(180, "250-mx.good.example\r\n250 PIPELINING\r\n", true)
      .C(181, "MAIL FROM:<a@relay.example.org>\r\nRCPT TO:<b@good.example>\r\nDATA\r\n",
         true)
      .S(210, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n", true)
      .S(211, "354 go ahead\r\n", true)
      .C(212, "Subject: hi\r\n\r\nline 1\r\nline 2\r\nline 3\r\n", true)
      .C(213, "line 4\r\n.\r\n", true)
      .S(240, "250 2.0.0 queued\r\n", true)
      .C(241, "QUIT\r\n", true)
      .S(270, "221 bye\r\n", true);
  const std::string text = FormatTranscript(d.connection());
  EXPECT_EQ(text,
            "attempt 7: good.example via mx.good.example at "
            "2026-01-01T00:00:00.000Z\n"
            "+0.031s S: 220 mx.good.example ESMTP\n"
            "+0.032s C: EHLO relay.example.org\n"
            "+0.060s S: 250-mx.good.example\n"
            "+0.060s S: 250-PIPELINING\n"
            "+0.060s S: 250 STARTTLS\n"
            "+0.061s C: STARTTLS\n"
            "+0.090s S: 220 2.0.0 go ahead\n"
            "+0.150s C[tls]: EHLO relay.example.org\n"
            "+0.180s S[tls]: 250-mx.good.example\n"
            "+0.180s S[tls]: 250 PIPELINING\n"
            "+0.181s C[tls]: MAIL FROM:<a@relay.example.org>\n"
            "+0.181s C[tls]: RCPT TO:<b@good.example>\n"
            "+0.181s C[tls]: DATA\n"
            "+0.210s S[tls]: 250 2.1.0 ok\n"
            "+0.210s S[tls]: 250 2.1.5 ok\n"
            "+0.211s S[tls]: 354 go ahead\n"
            "+0.212s C[tls]: Subject: hi\n"
            "+0.212s C[tls]: \n"
            "+0.212s C[tls]: line 1\n"
            "+0.212s C[tls]: ... 3 body lines ...\n"
            "+0.213s C[tls]: .\n"
            "+0.240s S[tls]: 250 2.0.0 queued\n"
            "+0.241s C[tls]: QUIT\n"
            "+0.270s S[tls]: 221 bye\n");
}

TEST(TranscriptTest, PartialLinesJoinAndKeepTheFirstTime) {
  Dialogue d;
  d.S(10, "220 mx").S(20, ".good.example ESMTP\r").S(30, "\n250").C(40, "QUIT");
  const std::vector<std::string> lines =
      Lines(FormatTranscript(d.connection()));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1], "+0.010s S: 220 mx.good.example ESMTP");
  // Unterminated at the end of the transcript.
  EXPECT_EQ(lines[2], "+0.030s S: 250 [no CRLF]");
  EXPECT_EQ(lines[3], "+0.040s C: QUIT [no CRLF]");
}

TEST(TranscriptTest, TlsChangeFlushesAPartialLine) {
  Dialogue d;
  d.C(10, "STARTTLS\r\nEHLO inj").C(20, "ected\r\n", true);
  const std::vector<std::string> lines =
      Lines(FormatTranscript(d.connection()));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1], "+0.010s C: STARTTLS");
  EXPECT_EQ(lines[2], "+0.010s C: EHLO inj [no CRLF]");
  EXPECT_EQ(lines[3], "+0.020s C[tls]: ected");
}

TEST(TranscriptTest, NonPrintableOctetsAreEscaped) {
  Dialogue d;
  d.S(1, std::string("250 a\tb\x01\xff\nc\r\n", 13));
  const std::vector<std::string> lines =
      Lines(FormatTranscript(d.connection()));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "+0.001s S: 250 a\\x09b\\x01\\xff\\x0ac");
}

TEST(TranscriptTest, DataRefusedDoesNotStartABody) {
  Dialogue d;
  d.C(1, "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n")
      .S(2, "250 ok\r\n550 no such user\r\n554 no valid recipients\r\n")
      .C(3, "RSET\r\n")
      .S(4, "250 ok\r\n")
      .C(5, "QUIT\r\n");
  const std::string text = FormatTranscript(d.connection());
  EXPECT_NE(text.find("+0.003s C: RSET\n"), std::string::npos) << text;
  EXPECT_NE(text.find("+0.005s C: QUIT\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("body line"), std::string::npos) << text;
}

TEST(TranscriptTest, BodyLinesOptionAndDotStuffing) {
  Dialogue d;
  d.C(1, "DATA\r\n").S(2, "354 go\r\n").C(3, "a\r\n..b\r\nc\r\n.\r\n").S(4, "250 ok\r\n");
  TranscriptOptions options;
  options.body_lines = 1;
  const std::vector<std::string> lines =
      Lines(FormatTranscript(d.connection(), options));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[3], "+0.003s C: a");
  EXPECT_EQ(lines[4], "+0.003s C: ... 2 body lines ...");
  EXPECT_EQ(lines[5], "+0.003s C: .");
  EXPECT_EQ(lines[6], "+0.004s S: 250 ok");

  options.body_lines = 10;
  const std::string all = FormatTranscript(d.connection(), options);
  EXPECT_NE(all.find("C: ..b\n"), std::string::npos);
  EXPECT_EQ(all.find("body line"), std::string::npos);
}

TEST(TranscriptTest, OneBodyLineElidedIsSingular) {
  Dialogue d;
  d.C(1, "DATA\r\n").S(2, "354 go\r\n").C(3, "1\r\n2\r\n3\r\n4\r\n.\r\n");
  const std::string text = FormatTranscript(d.connection());
  EXPECT_NE(text.find("C: ... 1 body line ...\n"), std::string::npos) << text;
}

TEST(TranscriptTest, BdatChunksAreCountedNotParsed) {
  Dialogue d;
  d.C(1, "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n")
      .S(2, "250 ok\r\n250 ok\r\n")
      .C(3, "BDAT 10\r\nab\r\nQUIT\r\n")  // the chunk contains "QUIT"
      .C(4, "BDAT 3 LAST\r\n")
      .C(5, "\r\n.")
      .S(6, "250 ok\r\n250 queued\r\n")
      .C(7, "QUIT\r\n");
  const std::vector<std::string> lines =
      Lines(FormatTranscript(d.connection()));
  ASSERT_EQ(lines.size(), 12u) << FormatTranscript(d.connection());
  EXPECT_EQ(lines[5], "+0.003s C: BDAT 10");
  EXPECT_EQ(lines[6], "+0.003s C: ... BDAT chunk, 10 octets ...");
  EXPECT_EQ(lines[7], "+0.004s C: BDAT 3 LAST");
  EXPECT_EQ(lines[8], "+0.005s C: ... BDAT chunk, 3 octets ...");
  EXPECT_EQ(lines[11], "+0.007s C: QUIT");
}

TEST(TranscriptTest, UnfinishedBdatChunk) {
  Dialogue d;
  d.C(1, "BDAT 100 LAST\r\n", true).C(2, "0123456789", true);
  const std::vector<std::string> lines =
      Lines(FormatTranscript(d.connection()));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], "+0.002s C[tls]: ... BDAT chunk, 10 of 100 octets ...");
}

TEST(TranscriptTest, TruncatedBodyAtTheEnd) {
  Dialogue d;
  d.C(1, "DATA\r\n").S(2, "354 go\r\n").C(3, "1\r\n2\r\n3\r\n4\r\n5\r\n6");
  const std::vector<std::string> lines =
      Lines(FormatTranscript(d.connection()));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[6], "+0.003s C: ... 3 body lines ...");
}

TEST(TranscriptTest, LinkEventsAreMergedByTime) {
  Dialogue d;
  d.S(20, "220 hi\r\n").C(25, "QUIT\r\n").S(40, "221 bye\r\n");
  CapturedConnection c = d.connection();
  auto event = [&c](int ms, Side to, LinkEventType type) {
    c.events.push_back({kStart + absl::Milliseconds(ms), to, type, ""});
  };
  event(10, Side::kB, LinkEventType::kConnected);  // not shown: the server's
  event(20, Side::kA, LinkEventType::kConnected);
  event(20, Side::kA, LinkEventType::kData);
  event(30, Side::kB, LinkEventType::kData);
  event(40, Side::kA, LinkEventType::kFin);  // after the data of its time
  event(41, Side::kB, LinkEventType::kFin);
  event(50, Side::kA, LinkEventType::kReset);
  event(50, Side::kB, LinkEventType::kReset);
  EXPECT_EQ(FormatTranscript(c),
            "attempt 7: good.example via mx.good.example at "
            "2026-01-01T00:00:00.000Z\n"
            "+0.020s -- connected\n"
            "+0.020s S: 220 hi\n"
            "+0.025s C: QUIT\n"
            "+0.040s S: 221 bye\n"
            "+0.040s -- server closed (FIN)\n"
            "+0.041s -- client closed (FIN)\n"
            "+0.050s -- connection reset\n");

  Dialogue refused;
  CapturedConnection r = refused.connection();
  r.events.push_back(
      {kStart + absl::Milliseconds(30), Side::kA, LinkEventType::kRefused, ""});
  EXPECT_EQ(Lines(FormatTranscript(r)).back(), "+0.030s -- connection refused");
}

TEST(TranscriptTest, EmptyTranscriptHasTheHeaderOnly) {
  Dialogue d;
  EXPECT_EQ(FormatTranscript(d.connection()),
            "attempt 7: good.example via mx.good.example at "
            "2026-01-01T00:00:00.000Z\n");
}

TEST(TranscriptTest, WritesOneFilePerConnection) {
  Dialogue d;
  d.S(1, "220 hi\r\n");
  std::vector<CapturedConnection> connections = {d.connection(), d.connection()};
  connections[1].index = 12;
  connections[1].mx_host = "mx/odd";
  const std::string dir =
      absl::StrCat(testing::TempDir(), "/transcripts/nested");
  ASSERT_TRUE(WriteTranscriptFiles(dir, connections).ok());
  std::ifstream a(dir + "/0007-mx.good.example.txt");
  std::stringstream contents;
  contents << a.rdbuf();
  EXPECT_EQ(contents.str(), FormatTranscript(connections[0]));
  EXPECT_TRUE(std::filesystem::exists(dir + "/0012-mx_odd.txt"));
  EXPECT_EQ(FormatTranscripts(connections),
            absl::StrCat(FormatTranscript(connections[0]), "\n",
                         FormatTranscript(connections[1])));

  // A file where the directory should be.
  const std::string blocked = absl::StrCat(dir, "/0007-mx.good.example.txt/x");
  const absl::Status status = WriteTranscriptFiles(blocked, connections);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find(blocked), std::string::npos) << status;
}

}  // namespace
}  // namespace starling::sim
