// starling-sink and starling-send against each other on loopback, and
// starling-sink against a raw client that misbehaves on purpose.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/testing/sink_process.h"
#include "tools/testing/subprocess.h"

namespace starling::sink {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using tools::testing::ProgramResult;
using tools::testing::ReadWholeFile;
using tools::testing::RunSend;
using tools::testing::SinkProcess;

std::string Testdata(absl::string_view name) {
  return *tools::testing::RunfilePath(absl::StrCat("core/tls/testdata/", name));
}

std::vector<std::string> TlsFlags() {
  return {"--cert=" + Testdata("ec_selfsigned.crt"),
          "--key=" + Testdata("ec_pkcs8.pem")};
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    files.push_back(entry.path().string());
  }
  return files;
}

std::unique_ptr<SinkProcess> StartSink(std::vector<std::string> flags) {
  absl::StatusOr<std::unique_ptr<SinkProcess>> sink = SinkProcess::Start(flags);
  EXPECT_TRUE(sink.ok()) << sink.status();
  return sink.ok() ? *std::move(sink) : nullptr;
}

ProgramResult Send(const SinkProcess& sink, std::vector<std::string> flags) {
  flags.insert(flags.begin(), "--server=" + sink.address());
  absl::StatusOr<ProgramResult> result = RunSend(flags);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : ProgramResult{};
}

// A raw SMTP client: bytes as written, replies as read.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address),
                           sizeof address) == 0;
  }
  ~RawClient() { Close(); }
  bool connected() const { return connected_; }
  void Write(absl::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Reads until `text` has been seen (true) or EOF / `timeout` (false).
  bool ReadUntil(absl::string_view text, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!absl::StrContains(received_, text)) {
      if (!ReadSome(deadline)) return false;
    }
    return true;
  }
  // True when the server closes within `timeout`.
  bool ReadToEof(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!eof_) {
      if (!ReadSome(deadline) && !eof_) return false;
    }
    return true;
  }
  const std::string& received() const { return received_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool ReadSome(absl::Time deadline) {
    pollfd p = {fd_, POLLIN, 0};
    const int ms = static_cast<int>(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    if (::poll(&p, 1, ms) <= 0) return false;
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    received_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string received_;
};

TEST(SinkSendTest, PlaintextIntoMaildirWithATraceHeader) {
  auto sink = StartSink({"--deliver=maildir:md", "--hostname=sink.test"});
  ASSERT_NE(sink, nullptr);
  const ProgramResult sent =
      Send(*sink, {"--to=rcpt@example.org", "--from=s@example.net",
                   "--helo=client.test"});
  EXPECT_EQ(sent.exit_code, 0) << sent.out << sent.err;
  EXPECT_THAT(sent.out, HasSubstr("<rcpt@example.org>: delivered: 250 2.0.0"));
  EXPECT_THAT(sent.out, HasSubstr("TLS: none"));
  const std::vector<std::string> files = Files(sink->dir() + "/md/new");
  ASSERT_EQ(files.size(), 1u);
  const std::string stored = ReadWholeFile(files[0]);
  EXPECT_TRUE(absl::StartsWith(
      stored, "Received: from client.test ([127.0.0.1])\r\n\tby sink.test "
              "(Starling) with ESMTP id "))
      << stored;
  EXPECT_THAT(stored, HasSubstr("for <rcpt@example.org>;"));
  EXPECT_THAT(stored, HasSubstr("\r\n\r\nA test message from starling-send.\r\n"));
  EXPECT_THAT(sink->log(), HasSubstr("from=<s@example.net> nrcpt=1"));
  EXPECT_THAT(sink->log(), HasSubstr("disconnect from 127.0.0.1:"));
}

TEST(SinkSendTest, StartTlsFactsReachTheHeaderAndTheSender) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--deliver=eml:mail");
  auto sink = StartSink(flags);
  ASSERT_NE(sink, nullptr);
  const ProgramResult sent =
      Send(*sink, {"--to=rcpt@example.org", "--policy=encrypt", "--explain"});
  EXPECT_EQ(sent.exit_code, 0) << sent.out << sent.err;
  EXPECT_THAT(sent.out, HasSubstr("TLS: TLSv1.2 ECDHE_ECDSA_WITH_"));
  EXPECT_THAT(sent.out, HasSubstr("CN=\"mx.selfsigned.test\""));
  EXPECT_THAT(sent.out, HasSubstr("connection policy: proceed-tls (encrypt"));
  EXPECT_THAT(sent.out, HasSubstr("  - table: '*' (line 1) level encrypt"));
  const std::vector<std::string> files = Files(sink->dir() + "/mail");
  ASSERT_EQ(files.size(), 1u);
  const std::string stored = ReadWholeFile(files[0]);
  EXPECT_THAT(stored, HasSubstr("\t(using TLSv1.2 with cipher ECDHE_ECDSA_WITH_"));
  EXPECT_THAT(stored, HasSubstr("(No client certificate requested)"));
  EXPECT_THAT(stored, HasSubstr(") with ESMTPS id "));
}

TEST(SinkSendTest, VerifyNeedsTheNameAndTheAnchor) {
  auto sink = StartSink(TlsFlags());
  ASSERT_NE(sink, nullptr);
  const std::vector<std::string> base = {
      "--to=rcpt@example.org", "--policy=verify",
      "--trust=" + Testdata("ec_selfsigned.crt")};
  std::vector<std::string> named = base;
  named.push_back("--mx=mx.selfsigned.test");
  EXPECT_EQ(Send(*sink, named).exit_code, 0);
  const ProgramResult wrong_name = Send(*sink, base);  // mx 127.0.0.1
  EXPECT_EQ(wrong_name.exit_code, 75);
  EXPECT_THAT(wrong_name.out, HasSubstr("TLS-RPT result certificate-host-mismatch"));
  std::vector<std::string> untrusted = {
      "--to=rcpt@example.org", "--policy=verify", "--mx=mx.selfsigned.test",
      "--trust=" + Testdata("rsa_selfsigned.crt")};
  const ProgramResult not_trusted = Send(*sink, untrusted);
  EXPECT_EQ(not_trusted.exit_code, 75);
  EXPECT_THAT(not_trusted.out, HasSubstr("certificate-not-trusted"));
}

TEST(SinkSendTest, RequireTlsRefusesMailInTheClear) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--require_tls");
  auto sink = StartSink(flags);
  ASSERT_NE(sink, nullptr);
  const ProgramResult clear =
      Send(*sink, {"--to=rcpt@example.org", "--policy=none"});
  EXPECT_EQ(clear.exit_code, 69) << clear.out;
  EXPECT_THAT(clear.out, HasSubstr("530 5.7.0"));
  EXPECT_EQ(Send(*sink, {"--to=rcpt@example.org"}).exit_code, 0);
}

TEST(SinkSendTest, AuthOnlyWithTheRightPassword) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--auth=alice:s3cret");
  flags.push_back("--deliver=eml:mail");
  auto sink = StartSink(flags);
  ASSERT_NE(sink, nullptr);
  const ProgramResult good = Send(
      *sink, {"--to=rcpt@example.org", "--policy=encrypt", "--auth=alice:s3cret"});
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
  const std::vector<std::string> files = Files(sink->dir() + "/mail");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_THAT(ReadWholeFile(files[0]), HasSubstr(" with ESMTPSA id "));
  const ProgramResult bad = Send(
      *sink, {"--to=rcpt@example.org", "--policy=encrypt", "--auth=alice:guess"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.out, HasSubstr("535 5.7.8"));
  EXPECT_EQ(Files(sink->dir() + "/mail").size(), 1u);
  EXPECT_THAT(sink->log(), HasSubstr("authentication failed for \"alice\""));
}

TEST(SinkSendTest, SizeAndRecipientLimits) {
  auto sink = StartSink({"--max_size=2000", "--max_recipients=2",
                         "--deliver=maildir:md"});
  ASSERT_NE(sink, nullptr);
  const ProgramResult big =
      Send(*sink, {"--to=rcpt@example.org", "--size=5000"});
  EXPECT_EQ(big.exit_code, 69) << big.out;
  EXPECT_THAT(big.out, HasSubstr("552 5.3.4"));
  const ProgramResult many = Send(
      *sink, {"--to=a@example.org,b@example.org,c@example.org", "--size=500"});
  EXPECT_EQ(many.exit_code, 75) << many.out;
  EXPECT_THAT(many.out, HasSubstr("<a@example.org>: delivered"));
  EXPECT_THAT(many.out, HasSubstr("<b@example.org>: delivered"));
  EXPECT_THAT(many.out, HasSubstr("<c@example.org>: deferred at RCPT: 452"));
  EXPECT_EQ(Files(sink->dir() + "/md/new").size(), 1u);
}

TEST(SinkSendTest, BdatAndEightBitBodiesArriveIntact) {
  auto sink = StartSink({"--deliver=eml:mail"});
  ASSERT_NE(sink, nullptr);
  const std::string message_file =
      std::string(getenv("TEST_TMPDIR")) + "/eight-bit.eml";
  const std::string body =
      "Subject: caf\xc3\xa9\r\n\r\n.leading dot\r\nna\xc3\xafve\r\n";
  std::ofstream(message_file, std::ios::binary) << body;
  const ProgramResult sent =
      Send(*sink, {"--to=rcpt@example.org", "--bdat", "--message=" + message_file});
  EXPECT_EQ(sent.exit_code, 0) << sent.out << sent.err;
  EXPECT_THAT(sink->log(), HasSubstr(" bdat -> "));
  const ProgramResult data =
      Send(*sink, {"--to=rcpt@example.org", "--message=" + message_file});
  EXPECT_EQ(data.exit_code, 0) << data.out << data.err;
  const std::vector<std::string> files = Files(sink->dir() + "/mail");
  ASSERT_EQ(files.size(), 2u);
  for (const std::string& file : files) {
    const std::string stored = ReadWholeFile(file);
    EXPECT_TRUE(absl::EndsWith(stored, body)) << stored;
  }
}

TEST(SinkSendTest, SeveralMessagesPerConnectionInLoadMode) {
  auto sink = StartSink({"--deliver=maildir:md"});
  ASSERT_NE(sink, nullptr);
  const ProgramResult load =
      Send(*sink, {"--to=rcpt@example.org", "--sessions=2", "--messages=10",
                   "--per_connection=5", "--size=2000", "--recipients=3"});
  EXPECT_EQ(load.exit_code, 0) << load.out << load.err;
  EXPECT_THAT(load.out, HasSubstr("messages: 10 delivered, 0 deferred, 0 refused"));
  EXPECT_THAT(load.out, HasSubstr("latency per message (ms): p50 "));
  EXPECT_EQ(Files(sink->dir() + "/md/new").size(), 10u);
  const std::string log = sink->log();
  size_t connections = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, "messages=5 (finished)")) ++connections;
  }
  EXPECT_EQ(connections, 2u) << log;
  EXPECT_THAT(log, HasSubstr("nrcpt=3"));
}

TEST(SinkSendTest, PipelinedCommandsAreAnsweredInOrder) {
  auto sink = StartSink({});
  ASSERT_NE(sink, nullptr);
  RawClient client(sink->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.ReadUntil("220 ", absl::Seconds(5)));
  client.Write("EHLO raw.test\r\n");
  ASSERT_TRUE(client.ReadUntil("250 ", absl::Seconds(5)));
  EXPECT_THAT(client.received(), HasSubstr("250-PIPELINING"));
  client.Write(
      "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
      "RCPT TO:<c@example.org>\r\nDATA\r\n");
  ASSERT_TRUE(client.ReadUntil("354 ", absl::Seconds(5)));
  client.Write("Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n");
  ASSERT_TRUE(client.ReadToEof(absl::Seconds(5)));
  EXPECT_THAT(client.received(),
              HasSubstr("250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"
                        "250 2.1.5 Recipient OK\r\n354 "));
  EXPECT_THAT(client.received(), HasSubstr("250 2.0.0 Ok: queued as "));
  EXPECT_THAT(client.received(), HasSubstr("221 2.0.0 "));
}

TEST(SinkSendTest, ShutdownTellsOpenSessions421AndExitsCleanly) {
  auto sink = StartSink({});
  ASSERT_NE(sink, nullptr);
  RawClient client(sink->port());
  ASSERT_TRUE(client.ReadUntil("220 ", absl::Seconds(5)));
  client.Write("EHLO raw.test\r\n");
  ASSERT_TRUE(client.ReadUntil("250 ", absl::Seconds(5)));
  ASSERT_TRUE(sink->child().Signal(SIGTERM).ok());
  EXPECT_TRUE(client.ReadUntil("421 4.3.2 ", absl::Seconds(5)))
      << client.received();
  EXPECT_TRUE(client.ReadToEof(absl::Seconds(5)));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (sink->child().Running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_FALSE(sink->child().Running());
  EXPECT_THAT(sink->log(), HasSubstr("starling-sink: stopped"));
}

TEST(SinkSendTest, AClientThatStallsAfterStartTlsIsClosedByTheDeadline) {
  std::vector<std::string> flags = TlsFlags();
  flags.push_back("--timeout=1");
  auto sink = StartSink(flags);
  ASSERT_NE(sink, nullptr);
  RawClient client(sink->port());
  ASSERT_TRUE(client.ReadUntil("220 ", absl::Seconds(5)));
  // EHLO ends a pipelined group (RFC 2920): its reply comes first.
  client.Write("EHLO raw.test\r\n");
  ASSERT_TRUE(client.ReadUntil("250 ", absl::Seconds(5)));
  client.Write("STARTTLS\r\n");
  ASSERT_TRUE(client.ReadUntil("220 2.0.0 ", absl::Seconds(5)));
  const absl::Time start = absl::Now();
  EXPECT_TRUE(client.ReadToEof(absl::Seconds(10)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));
}

TEST(SinkSendTest, DisconnectMidDataStoresNothing) {
  auto sink = StartSink({"--deliver=maildir:md"});
  ASSERT_NE(sink, nullptr);
  {
    RawClient client(sink->port());
    ASSERT_TRUE(client.ReadUntil("220 ", absl::Seconds(5)));
    client.Write("EHLO raw.test\r\n");
    ASSERT_TRUE(client.ReadUntil("250 ", absl::Seconds(5)));
    client.Write("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
                 "DATA\r\n");
    ASSERT_TRUE(client.ReadUntil("354 ", absl::Seconds(5)));
    client.Write("Subject: half\r\n\r\nthe first half of a");
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!absl::StrContains(sink->log(), "disconnect from") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(sink->log(), HasSubstr("messages=0"));
  EXPECT_TRUE(Files(sink->dir() + "/md/new").empty());
  EXPECT_TRUE(Files(sink->dir() + "/md/tmp").empty());
}

TEST(SinkSendTest, BadCredentialFilesAreOneLineAndExitTwo) {
  absl::StatusOr<std::string> binary =
      tools::testing::RunfilePath("tools/starling-sink");
  ASSERT_TRUE(binary.ok());
  const std::vector<std::vector<std::string>> cases = {
      {"--cert=/nonexistent/cert.pem", "--key=/nonexistent/key.pem"},
      {"--cert=" + Testdata("ec_selfsigned.crt"),
       "--key=" + Testdata("rsa_pkcs1.pem")},  // not this certificate's key
      {"--cert=" + Testdata("ec_selfsigned.crt"),
       "--key=" + Testdata("ec_pkcs8_encrypted.pem")},  // no passphrase
      {"--cert=" + Testdata("ec_selfsigned.crt")},     // no key
      {"--auth=alice:x"},                              // AUTH without TLS
      {"--deliver=tape:/dev/st0"},
  };
  for (const std::vector<std::string>& flags : cases) {
    std::vector<std::string> argv = {*binary, "--listen=127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<ProgramResult> result = tools::testing::RunProgramForResult(
        argv, getenv("TEST_TMPDIR"), absl::Seconds(30));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->exit_code, 2) << flags[0];
    EXPECT_TRUE(absl::StartsWith(result->err, "starling-sink: ")) << result->err;
    EXPECT_EQ(std::count(result->err.begin(), result->err.end(), '\n'), 1)
        << result->err;
  }
}

TEST(SinkSendTest, SendUsageErrorsExitTwo) {
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{
           {"--server=127.0.0.1:25"},                               // no --to
           {"--server=127.0.0.1:25", "--to=a@example.org", "--policy=bogus"},
           {"--server=127.0.0.1", "--to=a@example.org"},
           {"--server=127.0.0.1:25", "--to=not an address"},
           {"--server=127.0.0.1:25", "--to=a@example.org", "--tlsa=3 1 1 zz"},
       }) {
    absl::StatusOr<ProgramResult> result = RunSend(flags);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->exit_code, 2) << flags.back() << ": " << result->err;
    EXPECT_TRUE(absl::StartsWith(result->err, "starling-send: ")) << result->err;
  }
}

TEST(SinkSendTest, NothingListeningIsDeferred) {
  auto sink = StartSink({});
  ASSERT_NE(sink, nullptr);
  const std::string address = sink->address();
  sink->child().Stop();
  absl::StatusOr<ProgramResult> result =
      RunSend({"--server=" + address, "--to=a@example.org", "--connect_timeout=5"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->exit_code, 75);
  EXPECT_THAT(result->out, HasSubstr("could not connect to 127.0.0.1:"));
  EXPECT_THAT(result->out, HasSubstr("Connection refused"));
}

}  // namespace
}  // namespace starling::sink
