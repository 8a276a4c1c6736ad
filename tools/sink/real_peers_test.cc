// starling-sink with real clients (swaks, Python's smtplib, openssl
// s_client) and starling-send into real servers (Postfix's smtp-sink,
// aiosmtpd), all on loopback. A peer that is not installed skips its test
// with the package to install (tools/bootstrap or tools/install-test-peers).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/testing/loopback.h"
#include "tools/testing/sink_process.h"
#include "tools/testing/subprocess.h"

namespace starling::sink {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using tools::testing::ChildProcess;
using tools::testing::FindProgram;
using tools::testing::ProgramResult;
using tools::testing::ReadWholeFile;
using tools::testing::RunSend;
using tools::testing::SinkProcess;

constexpr absl::Duration kTimeout = absl::Seconds(60);

std::string Testdata(absl::string_view name) {
  return *tools::testing::RunfilePath(absl::StrCat("core/tls/testdata/", name));
}

std::string TempDir() { return getenv("TEST_TMPDIR"); }

std::vector<std::string> StoredMessages(const SinkProcess& sink) {
  std::vector<std::string> messages;
  const std::string dir = sink.dir() + "/mail";
  if (!fs::exists(dir)) return messages;
  for (const auto& entry : fs::directory_iterator(dir)) {
    messages.push_back(ReadWholeFile(entry.path().string()));
  }
  return messages;
}

std::unique_ptr<SinkProcess> StartTlsSink(std::vector<std::string> extra = {}) {
  std::vector<std::string> flags = {"--cert=" + Testdata("ec_selfsigned.crt"),
                                    "--key=" + Testdata("ec_pkcs8.pem"),
                                    "--deliver=eml:mail"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<SinkProcess>> sink = SinkProcess::Start(flags);
  EXPECT_TRUE(sink.ok()) << sink.status();
  return sink.ok() ? *std::move(sink) : nullptr;
}

ProgramResult RunTool(const std::vector<std::string>& argv,
                  const std::string& input = "") {
  absl::StatusOr<ProgramResult> result =
      tools::testing::RunProgramForResult(argv, TempDir(), kTimeout, input);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : ProgramResult{};
}

// Until something accepts connections on 127.0.0.1:`port`.
bool WaitForListener(uint16_t port, ChildProcess& server) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline && server.Running()) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool up =
        ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    if (up) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

uint16_t UnusedPort() {
  absl::StatusOr<tools::testing::LoopbackSocket> socket =
      tools::testing::LoopbackSocket::Bind(
          tools::testing::LoopbackSocket::Kind::kTcpListening);
  EXPECT_TRUE(socket.ok());
  return socket.ok() ? socket->port() : 0;  // closed when it goes
}

class SwaksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    swaks_ = FindProgram("swaks");
    if (swaks_.empty()) GTEST_SKIP() << "swaks is not installed (tools/bootstrap)";
  }
  ProgramResult Swaks(const SinkProcess& sink, std::vector<std::string> flags) {
    std::vector<std::string> argv = {swaks_, "--server", sink.address(),
                                     "--from", "sender@client.test", "--to",
                                     "rcpt@example.org", "--helo", "client.test"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunTool(argv);
  }
  std::string swaks_;
};

TEST_F(SwaksTest, Plain) {
  auto sink = StartTlsSink();
  ASSERT_NE(sink, nullptr);
  const ProgramResult result = Swaks(*sink, {});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("<-  250 2.0.0 Ok: queued as "));
  const std::vector<std::string> stored = StoredMessages(*sink);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_THAT(stored[0], HasSubstr("X-Mailer: swaks"));
  EXPECT_THAT(stored[0], HasSubstr(" with ESMTP id "));
}

TEST_F(SwaksTest, StartTlsAndAuth) {
  auto sink = StartTlsSink({"--auth=alice:s3cret"});
  ASSERT_NE(sink, nullptr);
  const ProgramResult result =
      Swaks(*sink, {"--tls", "--auth", "PLAIN", "--auth-user", "alice",
                    "--auth-password", "s3cret"});
  if (absl::StrContains(result.out + result.err, "Net::SSLeay")) {
    GTEST_SKIP() << "swaks has no TLS: install libnet-ssleay-perl (tools/bootstrap)";
  }
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("=== TLS started with cipher TLSv1.2"));
  EXPECT_THAT(result.out, HasSubstr("<~  235 2.7.0 "));
  const std::vector<std::string> stored = StoredMessages(*sink);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_THAT(stored[0], HasSubstr("\t(using TLSv1.2 with cipher "));
  EXPECT_THAT(stored[0], HasSubstr(" with ESMTPSA id "));
}

TEST_F(SwaksTest, Pipelined) {
  auto sink = StartTlsSink();
  ASSERT_NE(sink, nullptr);
  const ProgramResult result = Swaks(*sink, {"--pipeline"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(StoredMessages(*sink).size(), 1u);
}

TEST(SmtplibTest, StartTlsThenSendmail) {
  const std::string python = FindProgram("python3");
  if (python.empty()) GTEST_SKIP() << "python3 is not installed";
  auto sink = StartTlsSink();
  ASSERT_NE(sink, nullptr);
  const std::string script = absl::StrCat(
      "import smtplib, ssl\n"
      "s = smtplib.SMTP('127.0.0.1', ", sink->port(), ", timeout=30)\n"
      "s.ehlo('client.test')\n"
      "code, _ = s.starttls(context=ssl._create_unverified_context())\n"
      "assert code == 220, code\n"
      "s.ehlo('client.test')\n"
      "refused = s.sendmail('a@client.test', ['b@example.org', 'c@example.org'],\n"
      "    'Subject: smtplib\\r\\n\\r\\nfrom python\\r\\n')\n"
      "assert not refused, refused\n"
      "print(s.sock.version())\n"
      "s.quit()\n");
  const ProgramResult result = RunTool({python, "-c", script});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out, "TLSv1.2\n");
  const std::vector<std::string> stored = StoredMessages(*sink);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_THAT(stored[0], HasSubstr("from python"));
  EXPECT_THAT(stored[0], HasSubstr("(using TLSv1.2 with cipher "));
}

TEST(OpensslTest, SClientStartTls) {
  const std::string openssl = FindProgram("openssl");
  if (openssl.empty()) GTEST_SKIP() << "openssl is not installed (tools/bootstrap)";
  auto sink = StartTlsSink();
  ASSERT_NE(sink, nullptr);
  // Typed as a person would: EHLO ends a pipelined group (RFC 2920), so
  // QUIT follows its reply, not the line before it.
  const ProgramResult result = RunTool(
      {"/bin/sh", "-c",
       absl::StrCat("(printf 'EHLO client.test\\n'; sleep 1; printf 'QUIT\\n') | ",
                    openssl, " s_client -starttls smtp -connect ", sink->address(),
                    " -crlf -brief -ign_eof -servername mx.selfsigned.test")});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.err, HasSubstr("Protocol version: TLSv1.2"));
  EXPECT_THAT(result.err, HasSubstr("CN = mx.selfsigned.test"));
  EXPECT_THAT(result.out, HasSubstr("250-"));
  EXPECT_THAT(result.out, HasSubstr("221 2.0.0 "));
}

TEST(PostfixSmtpSinkTest, StarlingSendDelivers) {
  const std::string smtp_sink = FindProgram("smtp-sink");
  if (smtp_sink.empty()) {
    GTEST_SKIP() << "Postfix's smtp-sink is not installed (tools/install-test-peers)";
  }
  const uint16_t port = UnusedPort();
  std::vector<std::string> argv = {smtp_sink, "-c"};
  // smtp-sink will not run as root without a user to switch to (it calls
  // initgroups, which the test sandbox forbids: see the BUILD's tags).
  if (::geteuid() == 0) {
    argv.push_back("-u");
    argv.push_back("nobody");
  }
  argv.push_back(absl::StrCat("127.0.0.1:", port));
  argv.push_back("10");
  absl::StatusOr<ChildProcess> server = ChildProcess::Start(
      argv, TempDir(), TempDir() + "/smtp-sink.log", false);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(WaitForListener(port, *server));
  for (const std::vector<std::string>& extra :
       std::vector<std::vector<std::string>>{{}, {"--size=200000"}, {"--bdat"}}) {
    std::vector<std::string> flags = {absl::StrCat("--server=127.0.0.1:", port),
                                      "--to=a@example.org,b@example.org"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    absl::StatusOr<ProgramResult> result = RunSend(flags);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->exit_code, 0)
        << result->out << result->err
        << ReadWholeFile(TempDir() + "/smtp-sink.log");
    EXPECT_THAT(result->out, HasSubstr("<b@example.org>: delivered: 250 2.0.0"));
  }
  absl::StatusOr<ProgramResult> load =
      RunSend({absl::StrCat("--server=127.0.0.1:", port), "--to=a@example.org",
               "--sessions=4", "--messages=200", "--per_connection=10"});
  ASSERT_TRUE(load.ok());
  EXPECT_EQ(load->exit_code, 0) << load->out;
  EXPECT_THAT(load->out, HasSubstr("messages: 200 delivered"));
}

TEST(AiosmtpdTest, StarlingSendDelivers) {
  const std::string python = FindProgram("python3");
  if (python.empty() ||
      RunTool({python, "-c", "import aiosmtpd"}).exit_code != 0) {
    GTEST_SKIP() << "aiosmtpd is not installed (python3-aiosmtpd, "
                    "tools/install-test-peers)";
  }
  const uint16_t port = UnusedPort();
  // Unbuffered (-u): what it prints reaches the log before it is stopped.
  absl::StatusOr<ChildProcess> server = ChildProcess::Start(
      {python, "-u", "-m", "aiosmtpd", "-n", "--smtputf8", "-l",
       absl::StrCat("127.0.0.1:", port), "--tlscert",
       Testdata("ec_selfsigned.crt"), "--tlskey", Testdata("ec_pkcs8.pem"),
       "--no-requiretls"},
      TempDir(), TempDir() + "/aiosmtpd.log", false);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(WaitForListener(port, *server));
  for (const std::vector<std::string>& extra :
       std::vector<std::vector<std::string>>{
           {"--policy=none"},
           {"--smtputf8", "--to=j\xc3\xb8rn@example.org"},
           {"--policy=verify", "--mx=mx.selfsigned.test",
            "--trust=" + Testdata("ec_selfsigned.crt")},
           {"--bdat", "--size=100000"}}) {
    std::vector<std::string> flags = {absl::StrCat("--server=127.0.0.1:", port),
                                      "--to=a@example.org"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    absl::StatusOr<ProgramResult> result = RunSend(flags);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->exit_code, 0) << result->out << result->err;
    EXPECT_THAT(result->out, HasSubstr("<a@example.org>: delivered: 250"));
    if (extra[0] == "--policy=verify") {
      EXPECT_THAT(result->out, HasSubstr("connection policy: proceed-tls (verify:verified)"));
    }
  }
  server->Stop();
  EXPECT_THAT(ReadWholeFile(TempDir() + "/aiosmtpd.log"),
              HasSubstr("A test message from starling-send."));
}

}  // namespace
}  // namespace starling::sink
