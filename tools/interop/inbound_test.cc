// Inbound interoperability: real clients and real MTAs deliver to
// starling-sink on loopback — swaks, Python's smtplib, openssl s_client,
// gnutls-cli, testssl.sh, and Postfix, Exim and OpenSMTPD relaying to it
// over STARTTLS. Every check is a row of the suite's table; a peer that is
// not installed skips its checks with the package to install.
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/interop/peers.h"
#include "tools/interop/report.h"
#include "tools/testing/sink_process.h"
#include "tools/testing/subprocess.h"

namespace starling::interop {
namespace {

namespace fs = std::filesystem;
using tools::testing::FindProgram;
using tools::testing::ProgramResult;
using tools::testing::ReadWholeFile;
using tools::testing::SinkProcess;

constexpr char kArea[] = "inbound";
constexpr char kUser[] = "alice";
constexpr char kPassword[] = "s3cret";

ProgramResult RunTool(const std::vector<std::string>& argv,
                      const std::string& input = "",
                      absl::Duration timeout = absl::Seconds(90)) {
  absl::StatusOr<ProgramResult> result =
      tools::testing::RunProgramForResult(argv, "/tmp", timeout, input);
  if (!result.ok()) {
    ProgramResult failed;
    failed.err = std::string(result.status().message());
    return failed;
  }
  return *result;
}

// The first line of `text` matching `pattern` (ECMAScript), or "".
// One starling-sink with STARTTLS (a certificate from a test CA), AUTH and
// eml delivery, shared by every test here.
class InboundTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PrintTableAtExit();
    absl::StatusOr<PeerDirectory> dir = PeerDirectory::Create("inbound");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = new PeerDirectory(*std::move(dir));
    absl::StatusOr<Certificates> certs =
        MakeCertificates(dir_->path(), {"sink.interop.test", "localhost"});
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = new Certificates(*certs);
    absl::StatusOr<std::unique_ptr<SinkProcess>> sink = SinkProcess::Start(
        {"--cert=" + certs_->chain, "--key=" + certs_->key,
         absl::StrCat("--auth=", kUser, ":", kPassword), "--deliver=eml:mail",
         "--hostname=sink.interop.test"});
    ASSERT_TRUE(sink.ok()) << sink.status();
    sink_ = sink->release();
  }
  static void TearDownTestSuite() {
    delete sink_;
    sink_ = nullptr;
    delete certs_;
    delete dir_;
  }
  void SetUp() override {
    if (sink_ == nullptr) GTEST_SKIP() << "the sink did not start";
  }

  // The stored message that contains `marker` ("" when none).
  static std::string Stored(const std::string& marker) {
    const std::string dir = sink_->dir() + "/mail";
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir, error)) {
      std::string text = ReadWholeFile(entry.path().string());
      if (absl::StrContains(text, marker)) return text;
    }
    return "";
  }
  // Until a message with `marker` is stored (relays deliver asynchronously).
  static std::string WaitStored(const std::string& marker,
                                absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      std::string text = Stored(marker);
      if (!text.empty()) return text;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return "";
  }
  // The Received header the sink put on a stored message.
  static std::string OurReceived(const std::string& message) {
    const size_t by = message.find("(Starling) with ");
    if (by == std::string::npos) return "";
    const size_t start = message.rfind("Received: from ", by);
    return message.substr(start, message.find(';', by) - start);
  }

  static PeerDirectory* dir_;
  static Certificates* certs_;
  static SinkProcess* sink_;
};

PeerDirectory* InboundTest::dir_ = nullptr;
Certificates* InboundTest::certs_ = nullptr;
SinkProcess* InboundTest::sink_ = nullptr;

// --- swaks
// ---------------------------------------------------------------------

class SwaksTest : public InboundTest {
 protected:
  void SetUp() override {
    InboundTest::SetUp();
    swaks_ = FindProgram("swaks");
    if (swaks_.empty()) {
      Skip(kArea, "swaks", "all", "swaks is not installed (tools/bootstrap)");
      GTEST_SKIP() << "swaks is not installed (tools/bootstrap)";
    }
    peer_ =
        "swaks " +
        VersionLine({swaks_, "--version"})
            .substr(VersionLine({swaks_, "--version"}).find_last_of(' ') + 1);
  }
  ProgramResult Swaks(const std::string& marker,
                      std::vector<std::string> flags) {
    std::vector<std::string> argv = {swaks_,
                                     "--server",
                                     sink_->address(),
                                     "--from",
                                     "sender@client.interop.test",
                                     "--to",
                                     "rcpt@example.org",
                                     "--helo",
                                     "client.interop.test",
                                     "--header",
                                     "Subject: " + marker,
                                     "--timeout",
                                     "30"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunTool(argv);
  }
  std::string swaks_, peer_;
};

TEST_F(SwaksTest, Plain) {
  const ProgramResult r = Swaks("swaks-plain", {});
  const std::string stored = Stored("Subject: swaks-plain");
  EXPECT_TRUE(Check(r.exit_code == 0 && absl::StrContains(OurReceived(stored),
                                                          " with ESMTP id"),
                    kArea, peer_, "plaintext transaction",
                    Grep(r.out, "<-  250 2.0.0") + " / " + OurReceived(stored)))
      << r.out << r.err;
}

TEST_F(SwaksTest, StartTls) {
  const ProgramResult r = Swaks("swaks-tls", {"--tls"});
  const std::string stored = Stored("Subject: swaks-tls");
  EXPECT_TRUE(
      Check(r.exit_code == 0 &&
                absl::StrContains(r.out, "TLS started with cipher TLSv1.2") &&
                absl::StrContains(OurReceived(stored), " with ESMTPS id"),
            kArea, peer_, "STARTTLS", Grep(r.out, "TLS started")))
      << r.out << r.err;
}

TEST_F(SwaksTest, Pipelining) {
  const ProgramResult r = Swaks("swaks-pipe", {"--pipeline"});
  // swaks prints the pipelined group's commands before any of their replies.
  const bool grouped = std::regex_search(
      r.out,
      std::regex(" -> MAIL FROM:<[^\n]*>\n -> RCPT TO:<[^\n]*>\n -> DATA\n"));
  EXPECT_TRUE(Check(
      r.exit_code == 0 && grouped && !Stored("Subject: swaks-pipe").empty(),
      kArea, peer_, "PIPELINING (MAIL, RCPT, DATA in one group)",
      grouped ? "MAIL/RCPT/DATA sent as one group, 250 to each"
              : "no pipelined group seen"))
      << r.out << r.err;
}

TEST_F(SwaksTest, AuthPlainAndLoginInsideTls) {
  for (const char* mechanism : {"PLAIN", "LOGIN"}) {
    const std::string marker = absl::StrCat("swaks-auth-", mechanism);
    const ProgramResult r =
        Swaks(marker, {"--tls", "--auth", mechanism, "--auth-user", kUser,
                       "--auth-password", kPassword});
    const std::string stored = Stored("Subject: " + marker);
    EXPECT_TRUE(
        Check(r.exit_code == 0 && absl::StrContains(r.out, "<~  235 ") &&
                  absl::StrContains(OurReceived(stored), " with ESMTPSA id"),
              kArea, peer_, absl::StrCat("AUTH ", mechanism, " after STARTTLS"),
              Grep(r.out, "<~  235")))
        << r.out << r.err;
  }
}

TEST_F(SwaksTest, AuthRefusedInPlaintextAndWithWrongPassword) {
  const ProgramResult plain = Swaks(
      "swaks-auth-plaintext",
      {"--auth", "PLAIN", "--auth-user", kUser, "--auth-password", kPassword});
  EXPECT_TRUE(Check(
      plain.exit_code != 0 && Stored("Subject: swaks-auth-plaintext").empty(),
      kArea, peer_, "AUTH without TLS is not offered (RFC 4954 §4)",
      Grep(plain.out, "\\*\\*\\*")))
      << plain.out;
  const ProgramResult wrong =
      Swaks("swaks-auth-wrong", {"--tls", "--auth", "PLAIN", "--auth-user",
                                 kUser, "--auth-password", "wrong"});
  EXPECT_TRUE(Check(
      wrong.exit_code != 0 && absl::StrContains(wrong.out, "<~* 535"), kArea,
      peer_, "AUTH with a wrong password: 535", Grep(wrong.out, "535")))
      << wrong.out;
}

TEST_F(SwaksTest, Bdat) {
  const std::string help = RunTool({swaks_, "--help"}).out;
  if (!absl::StrContains(help, "BDAT") &&
      !absl::StrContains(help, "CHUNKING")) {
    Skip(kArea, peer_, "BDAT",
         "swaks 20201014 has no BDAT/CHUNKING option (Exim's client covers "
         "BDAT below)");
    GTEST_SKIP() << "swaks has no BDAT";
  }
  ADD_FAILURE() << "this swaks knows BDAT: add the check";
}

// --- smtplib
// -------------------------------------------------------------------

class SmtplibTest : public InboundTest {
 protected:
  void SetUp() override {
    InboundTest::SetUp();
    python_ = DebianPython();
    if (python_.empty()) {
      Skip(kArea, "smtplib", "all", "/usr/bin/python3 is not installed");
      GTEST_SKIP() << "no /usr/bin/python3";
    }
    peer_ = "Python " +
            absl::StrReplaceAll(VersionLine({python_, "--version"}),
                                {{"Python ", ""}}) +
            " smtplib";
  }
  // submit.py against the sink; its JSON output.
  nlohmann::json Submit(std::vector<std::string> flags, int* exit_code) {
    std::vector<std::string> argv = {
        python_, *tools::testing::RunfilePath("tools/interop/submit.py"),
        "--port", absl::StrCat(sink_->port())};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const ProgramResult r = RunTool(argv);
    *exit_code = r.exit_code;
    nlohmann::json out = nlohmann::json::parse(r.out, nullptr, false);
    if (out.is_discarded()) out = {{"stderr", r.err}};
    return out;
  }
  std::string python_, peer_;
};

TEST_F(SmtplibTest, StartTlsAuthSeveralMessages) {
  int exit_code = 0;
  const nlohmann::json out =
      Submit({"--starttls", "--auth", absl::StrCat(kUser, ":", kPassword),
              "--count", "3", "--subject", "smtplib-three", "--to",
              "a@example.org", "--to", "b@example.org"},
             &exit_code);
  bool stored = true;
  for (int n = 1; n <= 3; ++n) {
    stored =
        stored && !Stored(absl::StrCat("Subject: smtplib-three ", n)).empty();
  }
  EXPECT_TRUE(Check(
      exit_code == 0 && out.value("tls", "") == "TLSv1.2" &&
          out.value("auth", 0) == 235 && stored,
      kArea, peer_,
      "starttls(), login(), three messages to two recipients on one connection",
      out.dump()))
      << out.dump();
  // STARTTLS is not offered again, AUTH only inside TLS (RFC 3207 §4.2, RFC
  // 4954 §4).
  const auto has = [](const nlohmann::json& list, const std::string& what) {
    for (const auto& item : list) {
      if (item.get<std::string>() == what) return true;
    }
    return false;
  };
  EXPECT_TRUE(Check(has(out["ehlo"], "starttls") && !has(out["ehlo"], "auth") &&
                        has(out["ehlo_tls"], "auth") &&
                        !has(out["ehlo_tls"], "starttls"),
                    kArea, peer_, "EHLO before/after TLS: STARTTLS then AUTH",
                    absl::StrCat("before: ", out["ehlo"].dump(),
                                 " after: ", out["ehlo_tls"].dump())));
}

TEST_F(SmtplibTest, SendMessageWithSmtpUtf8) {
  int exit_code = 0;
  const nlohmann::json out =
      Submit({"--starttls", "--utf8-message", "--from",
              "j\u00f8rn@client.interop.test", "--to", "p\u00e5l@example.org",
              "--subject", "smtplib-utf8"},
             &exit_code);
  const std::string stored = Stored("smtplib-utf8");
  EXPECT_TRUE(Check(
      exit_code == 0 && absl::StrContains(stored, "To: p\u00e5l@example.org") &&
          absl::StrContains(stored, "Bl\u00e5b\u00e6rsyltet\u00f8y") &&
          absl::StrContains(sink_->log(),
                            "from=<j\u00f8rn@client.interop.test>"),
      kArea, peer_,
      "send_message() with UTF-8 addresses (SMTPUTF8, BODY=8BITMIME)",
      Grep(sink_->log(), "j\u00f8rn")))
      << out.dump() << sink_->log();
  // RFC 6531 §3.7.3: the trace's protocol is UTF8SMTP[S][A] when SMTPUTF8
  // was used (Postfix writes "with UTF8SMTPS").
  const std::string received = OurReceived(stored);
  EXPECT_TRUE(Check(absl::StrContains(received, " with UTF8SMTP"), kArea, peer_,
                    "Received: protocol for an SMTPUTF8 message (RFC 6531 §3.7.3)",
                    received));
}

TEST_F(SmtplibTest, EightBitMimeAndDsnParameters) {
  int exit_code = 0;
  nlohmann::json out = Submit({"--eight-bit", "--mail-option", "BODY=8BITMIME",
                               "--subject", "smtplib-8bit"},
                              &exit_code);
  const std::string stored = Stored("smtplib-8bit");
  EXPECT_TRUE(Check(exit_code == 0 && absl::StrContains(stored,
                                                        "Bl\xe5"
                                                        "b\xe6rsyltet\xf8y"),
                    kArea, peer_,
                    "8-bit body with BODY=8BITMIME, stored octet for octet",
                    out.dump()))
      << out.dump();
  out = Submit(
      {"--mail-option", "RET=HDRS", "--mail-option", "ENVID=interop+2Dtest",
       "--rcpt-option", "NOTIFY=SUCCESS,FAILURE", "--rcpt-option",
       "ORCPT=rfc822;rcpt@example.org", "--subject", "smtplib-dsn"},
      &exit_code);
  EXPECT_TRUE(Check(exit_code == 0 && !Stored("smtplib-dsn").empty(), kArea,
                    peer_, "DSN: RET, ENVID, NOTIFY, ORCPT", out.dump()))
      << out.dump();
}

// --- openssl s_client
// ------------------------------------------------------------

class OpensslTest : public InboundTest {
 protected:
  void SetUp() override {
    InboundTest::SetUp();
    openssl_ = FindProgram("openssl");
    if (openssl_.empty()) {
      Skip(kArea, "openssl s_client", "all",
           "openssl is not installed (tools/bootstrap)");
      GTEST_SKIP() << "no openssl";
    }
    const std::vector<std::string> version =
        absl::StrSplit(VersionLine({openssl_, "version"}), ' ');
    peer_ = "openssl s_client " + (version.size() > 1 ? version[1] : "");
  }
  // The handshake with `flags`; stdin closed right after, so s_client
  // quits once connected.
  ProgramResult Handshake(std::vector<std::string> flags) {
    std::vector<std::string> argv = {
        openssl_, "s_client",    "-starttls",
        "smtp",   "-connect",    sink_->address(),
        "-brief", "-servername", "sink.interop.test"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunTool(argv, "", absl::Seconds(30));
  }
  static bool Established(const ProgramResult& r) {
    return r.exit_code == 0 &&
           absl::StrContains(r.err, "CONNECTION ESTABLISHED");
  }
  std::string openssl_, peer_;
};

TEST_F(OpensslTest, DefaultOfferNegotiatesTls12AndVerifies) {
  const ProgramResult r =
      Handshake({"-CAfile", certs_->ca, "-verify_return_error",
                 "-verify_hostname", "sink.interop.test"});
  EXPECT_TRUE(Check(
      Established(r) && absl::StrContains(r.err, "Protocol version: TLSv1.2") &&
          absl::StrContains(r.err, "Verification: OK"),
      kArea, peer_,
      "default offer (TLS 1.3 and 1.2): TLS 1.2, chain and name verified",
      absl::StrCat(Grep(r.err, "Protocol version"), ", ",
                   Grep(r.err, "Ciphersuite"), ", ",
                   Grep(r.err, "Server Temp Key"))))
      << r.err;
}

// The sink's floors (docs/tls.md): TLS 1.2 only (Botan 2 has no TLS 1.3),
// AEAD ciphers with ECDHE only.
TEST_F(OpensslTest, ProtocolAndCipherOffersAgainstTheFloors) {
  struct Offer {
    std::string what;
    std::vector<std::string> flags;
    bool accepted;
  };
  // SECLEVEL=0 lets OpenSSL 3 offer what it would not by default, so that
  // the refusal is the sink's.
  const std::vector<Offer> offers = {
      {"TLS 1.2 only", {"-tls1_2"}, true},
      {"TLS 1.3 only", {"-tls1_3"}, false},
      {"TLS 1.1 only", {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"}, false},
      {"TLS 1.0 only", {"-tls1", "-cipher", "DEFAULT@SECLEVEL=0"}, false},
      {"ECDHE-ECDSA-AES256-GCM-SHA384",
       {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"},
       true},
      {"ECDHE-ECDSA-AES128-GCM-SHA256",
       {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"},
       true},
      {"ECDHE-ECDSA-CHACHA20-POLY1305",
       {"-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"},
       true},
      {"ECDHE-ECDSA-AES128-SHA256 (CBC)",
       {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"},
       false},
      {"ECDHE-ECDSA-AES256-SHA (CBC, SHA-1)",
       {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA"},
       false},
      {"AECDH / ADH (anonymous)",
       {"-tls1_2", "-cipher", "aNULL:@SECLEVEL=0"},
       false},
      {"NULL encryption", {"-tls1_2", "-cipher", "eNULL:@SECLEVEL=0"}, false},
      // In TLS 1.2 OpenSSL's groups also name the curves it accepts for the
      // server's ECDSA key (P-256 here), so P-256 stays in every list.
      {"groups X25519:P-256", {"-tls1_2", "-groups", "X25519:P-256"}, true},
      {"group P-256 only", {"-tls1_2", "-groups", "P-256"}, true},
      {"groups P-521:P-384:P-256",
       {"-tls1_2", "-groups", "P-521:P-384:P-256"},
       true},
  };
  for (const Offer& offer : offers) {
    const ProgramResult r = Handshake(offer.flags);
    const bool established = Established(r);
    std::string note = established
                           ? absl::StrCat(Grep(r.err, "Protocol version"), ", ",
                                          Grep(r.err, "Ciphersuite"), ", ",
                                          Grep(r.err, "Server Temp Key"))
                           : Grep(r.err + r.out, "alert|error|no cipher|:");
    EXPECT_TRUE(
        Check(established == offer.accepted, kArea, peer_,
              absl::StrCat("offer ", offer.what, ": expect ",
                           offer.accepted ? "accepted" : "refused"),
              absl::StrCat(established ? "accepted: " : "refused: ", note)))
        << offer.what << "\n"
        << r.err << r.out;
  }
}

// --- gnutls-cli
// ------------------------------------------------------------------

TEST_F(InboundTest, GnutlsCli) {
  const std::string gnutls = FindProgram("gnutls-cli");
  if (gnutls.empty()) {
    Skip(kArea, "gnutls-cli", "all",
         "gnutls-cli is not installed (gnutls-bin, tools/install-test-peers)");
    GTEST_SKIP() << "no gnutls-cli";
  }
  std::string version = VersionLine({gnutls, "--version"});
  const std::string peer =
      "gnutls-cli " + version.substr(version.find_last_of(' ') + 1);
  struct Offer {
    std::string what;
    std::string priority;
    bool accepted;
  };
  const std::vector<Offer> offers = {
      {"NORMAL (TLS 1.3 and 1.2), chain and name verified", "NORMAL", true},
      {"TLS 1.3 only", "NORMAL:-VERS-ALL:+VERS-TLS1.3", false},
      {"TLS 1.1 only", "NORMAL:-VERS-ALL:+VERS-TLS1.1", false},
      {"CBC ciphers only", "NORMAL:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC",
       false},
      {"SECURE256", "SECURE256", true},
  };
  for (const Offer& offer : offers) {
    const ProgramResult r = RunTool(
        {gnutls, "--starttls-proto=smtp", "--port", absl::StrCat(sink_->port()),
         "--x509cafile", certs_->ca, "--verify-hostname", "sink.interop.test",
         "--sni-hostname", "sink.interop.test", "--priority", offer.priority,
         "127.0.0.1"},
        "", absl::Seconds(30));
    const bool established =
        absl::StrContains(r.out, "Handshake was completed");
    const bool trusted = absl::StrContains(r.out, "The certificate is trusted");
    EXPECT_TRUE(Check(
        established == offer.accepted && (!established || trusted), kArea, peer,
        absl::StrCat("--starttls-proto=smtp --priority ", offer.priority, " (",
                     offer.what, "): expect ",
                     offer.accepted ? "accepted" : "refused"),
        established ? Grep(r.out, "Description")
                    : Grep(r.out + r.err, "\\*\\*\\*|alert|Error")))
        << r.out << r.err;
  }
}

// --- testssl.sh
// ------------------------------------------------------------------

TEST_F(InboundTest, TestsslFindings) {
  std::string testssl = FindProgram("testssl");
  if (testssl.empty()) testssl = FindProgram("testssl.sh");
  if (testssl.empty()) {
    Skip(kArea, "testssl.sh", "all",
         "testssl.sh is not installed (tools/install-test-peers)");
    GTEST_SKIP() << "no testssl.sh";
  }
  const std::string json = dir_->Path("testssl.json");
  const ProgramResult r =
      RunTool({testssl, "--starttls", "smtp", "--protocols", "--std", "--fs",
               "--quiet", "--color", "0", "--warnings", "off", "--ip", "one",
               "--jsonfile", json, sink_->address()},
              "", absl::Minutes(5));
  const std::string version = Grep(r.out, "testssl");
  const std::string peer = "testssl.sh 3.0";
  const nlohmann::json findings =
      nlohmann::json::parse(ReadWholeFile(json), nullptr, false);
  ASSERT_FALSE(findings.is_discarded()) << r.out << r.err;
  std::map<std::string, std::string> by_id;
  for (const nlohmann::json& finding : findings) {
    by_id[finding.value("id", "")] = finding.value("finding", "");
  }
  // Expected: TLS 1.2 only, no weak category, forward secrecy.
  const std::vector<std::pair<std::string, std::string>> expect = {
      {"SSLv2", "not offered"},
      {"SSLv3", "not offered"},
      {"TLS1", "not offered"},
      {"TLS1_1", "not offered"},
      {"TLS1_2", "offered"},
      {"cipherlist_NULL", "not offered"},
      {"cipherlist_aNULL", "not offered"},
      {"cipherlist_EXPORT", "not offered"},
      {"cipherlist_LOW", "not offered"},
      {"cipherlist_3DES_IDEA", "not offered"},
      {"cipherlist_AVERAGE", "not offered"},
      {"cipherlist_STRONG", "offered"},
      {"PFS", "offered"},
  };
  for (const auto& [id, want] : expect) {
    const std::string& got = by_id[id];
    EXPECT_TRUE(Check(absl::StartsWith(got, want), kArea, peer,
                      absl::StrCat("--starttls smtp: ", id, " ", want), got))
        << id << ": " << got;
  }
  // TLS 1.3: Botan 2 has none (docs/tls.md); recorded as found.
  Record({kArea, peer, "--starttls smtp: TLS1_3", "known difference",
          by_id["TLS1_3"] + " (Botan 2 has no TLS 1.3)"});
  Record({kArea, peer, "--starttls smtp: forward-secret ciphers", "ok",
          by_id["PFS_ciphers"]});
  Record({kArea, peer, "--starttls smtp: curves", "ok",
          by_id["PFS_ECDHE_curves"]});
}

// --- MTAs relaying to the sink
// -------------------------------------------------------

// What every relay sends: an ASCII message with DSN to two recipients, an
// 8-bit one, an SMTPUTF8 one. Postfix takes them from sendmail; Exim and
// OpenSMTPD from smtplib over SMTP on their own listeners.
TEST_F(InboundTest, PostfixRelaysOverStartTls) {
  PostfixInstance::Options options;
  options.smtpd = false;
  options.main_cf = {
      "transport_maps = texthash:$config_directory/transport",
      "smtp_tls_policy_maps = texthash:$config_directory/tls_policy",
      "smtp_tls_CAfile = " + certs_->ca,
      "smtp_tls_loglevel = 1",
      "debug_peer_list = 127.0.0.1",
      "debug_peer_level = 1",
  };
  options.files["transport"] =
      absl::StrCat("example.org smtp:[127.0.0.1]:", sink_->port(), "\n");
  options.files["tls_policy"] = absl::StrCat(
      "[127.0.0.1]:", sink_->port(), " secure match=sink.interop.test\n");
  absl::StatusOr<std::unique_ptr<PostfixInstance>> postfix =
      PostfixInstance::Start(options);
  if (absl::IsNotFound(postfix.status())) {
    Skip(kArea, "Postfix smtp client", "all",
         std::string(postfix.status().message()));
    GTEST_SKIP() << postfix.status();
  }
  ASSERT_TRUE(postfix.ok()) << postfix.status();
  const std::string peer =
      "Postfix " +
      VersionLine({FindProgram("postconf"), "-d", "-h", "mail_version"}) +
      " smtp client";
  const std::string from = "sender@postfix.interop.test";
  // sendmail with DSN and body flags (PostfixInstance::Submit has none).
  const std::string sendmail = FindProgram("sendmail");
  auto submit = [&](std::vector<std::string> flags, std::vector<std::string> to,
                    const std::string& message) {
    std::vector<std::string> argv = {sendmail, "-C", (*postfix)->config_dir(),
                                     "-f", from};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("--");
    argv.insert(argv.end(), to.begin(), to.end());
    return RunTool(argv, message, absl::Seconds(60));
  };
  EXPECT_EQ(
      submit({"-N", "success,failure", "-R", "hdrs", "-V", "interop-envid"},
             {"a@example.org", "b@example.org"},
             "Subject: postfix-relay-dsn\n\nfrom Postfix\n")
          .exit_code,
      0);
  EXPECT_EQ(submit({"-B", "8BITMIME"}, {"c@example.org"},
                   "Subject: postfix-relay-8bit\nContent-Type: text/plain; "
                   "charset=iso-8859-1\n"
                   "Content-Transfer-Encoding: 8bit\n\nBl\xe5"
                   "b\xe6rsyltet\xf8y\n")
                .exit_code,
            0);
  // Postfix 3.7's sendmail has no -SMTPUTF8 flag: it detects the UTF-8
  // address itself (smtputf8_autodetect_classes = sendmail).
  EXPECT_EQ(
      submit({}, {"p\u00e5l@example.org"},
             "Subject: postfix-relay-utf8 \u2713\nTo: p\u00e5l@example.org\n"
             "Content-Type: text/plain; "
             "charset=utf-8\n\nBl\u00e5b\u00e6rsyltet\u00f8y\n")
          .exit_code,
      0);
  absl::StatusOr<std::string> log = (*postfix)->WaitForLog(
      [](const std::string& log) {
        size_t done = 0;
        for (absl::string_view line : absl::StrSplit(log, '\n')) {
          if (absl::StrContains(line, " to=<") &&
              (absl::StrContains(line, "status=sent") ||
               absl::StrContains(line, "status=deferred") ||
               absl::StrContains(line, "status=bounced"))) {
            ++done;
          }
        }
        return done >= 4;
      },
      absl::Seconds(60));
  ASSERT_TRUE(log.ok()) << log.status();
  const std::string verified =
      Grep(*log, "Verified TLS connection established");
  size_t sent = 0;
  for (absl::string_view line : absl::StrSplit(*log, '\n')) {
    if (absl::StrContains(line, "status=sent (250 2.0.0")) ++sent;
  }
  EXPECT_TRUE(Check(!verified.empty() && sent == 4, kArea, peer,
                    "secure match=sink.interop.test: Verified TLS, 4 "
                    "recipients in 3 messages sent",
                    verified.substr(verified.find("Verified"))))
      << *log;
  const std::string dsn = Stored("Subject: postfix-relay-dsn");
  const std::string eight = Stored("Subject: postfix-relay-8bit");
  const std::string utf8 = Stored("postfix-relay-utf8");
  EXPECT_TRUE(
      Check(!dsn.empty() && absl::StrContains(*log, "NOTIFY=SUCCESS,FAILURE") &&
                absl::StrContains(*log, "RET=HDRS") &&
                !absl::StrContains(*log, "sender delivery status notification"),
            kArea, peer,
            "DSN (NOTIFY, RET, ENVID, ORCPT passed on; no 'relayed' notice)",
            Grep(*log, "NOTIFY=SUCCESS")))
      << *log;
  EXPECT_TRUE(Check(absl::StrContains(eight,
                                      "Bl\xe5"
                                      "b\xe6rsyltet\xf8y") &&
                        absl::StrContains(*log, "BODY=8BITMIME"),
                    kArea, peer,
                    "8BITMIME: the 8-bit body arrives octet for octet",
                    Grep(*log, "BODY=8BITMIME")))
      << *log;
  EXPECT_TRUE(Check(absl::StrContains(utf8, "To: p\u00e5l@example.org") &&
                        absl::StrContains(*log, " SMTPUTF8"),
                    kArea, peer, "SMTPUTF8: a UTF-8 recipient",
                    Grep(*log, " SMTPUTF8")))
      << *log;
  // Postfix pipelines MAIL, RCPT, RCPT, DATA when PIPELINING is offered:
  // the debug log shows the commands before their replies.
  const bool pipelined = std::regex_search(
      *log,
      std::regex(
          "> 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:[0-9]+: MAIL FROM:[^\n]*\n"
          "[^\n]*> 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:[0-9]+: RCPT TO:"));
  EXPECT_TRUE(Check(pipelined, kArea, peer,
                    "PIPELINING (MAIL and RCPT before the replies)",
                    pipelined ? "MAIL FROM then RCPT TO sent back to back"
                              : "no pipelined group in the debug log"))
      << *log;
  Skip(kArea, peer, "BDAT",
       "Postfix's smtp client never sends BDAT (only its smtpd has CHUNKING)");
  EXPECT_TRUE(absl::StrContains(OurReceived(dsn), "(using TLSv1.2"));
}

TEST_F(InboundTest, EximRelaysOverStartTlsWithBdat) {
  EximInstance::Options options;
  options.routers = absl::StrCat(
      "to_sink:\n  driver = manualroute\n  route_list = * 127.0.0.1::",
      sink_->port(), "\n  transport = to_sink\n  self = send\n");
  options.transports = absl::StrCat(
      "to_sink:\n  driver = smtp\n  hosts_require_tls = *\n  "
      "tls_verify_certificates = ",
      certs_->ca,
      "\n  tls_verify_hosts = *\n  tls_sni = sink.interop.test\n"
      "  tls_verify_cert_hostnames = *\n  hosts_try_chunking = *\n  "
      "allow_localhost\n");
  absl::StatusOr<std::unique_ptr<EximInstance>> exim =
      EximInstance::Start(options);
  if (absl::IsNotFound(exim.status())) {
    Skip(kArea, "Exim smtp transport", "all",
         std::string(exim.status().message()));
    GTEST_SKIP() << exim.status();
  }
  ASSERT_TRUE(exim.ok()) << exim.status();
  std::string version =
      VersionLine({FindPeerProgram("exim4"), "-C", "/dev/null", "-bV"});
  const std::string peer =
      "Exim " + std::vector<std::string>(absl::StrSplit(version, ' '))[2] +
      " smtp transport";
  const std::string python = DebianPython();
  ASSERT_FALSE(python.empty());
  const std::string submit =
      *tools::testing::RunfilePath("tools/interop/submit.py");
  const std::string port = absl::StrCat((*exim)->port());
  const ProgramResult dsn = RunTool(
      {python, submit, "--port", port, "--subject", "exim-relay-dsn", "--to",
       "a@example.org", "--to", "b@example.org", "--rcpt-option",
       "NOTIFY=SUCCESS,FAILURE", "--mail-option", "RET=HDRS"});
  EXPECT_EQ(dsn.exit_code, 0) << dsn.out << dsn.err;
  const ProgramResult eight =
      RunTool({python, submit, "--port", port, "--subject", "exim-relay-8bit",
               "--eight-bit", "--mail-option", "BODY=8BITMIME"});
  EXPECT_EQ(eight.exit_code, 0) << eight.out << eight.err;
  const ProgramResult utf8 =
      RunTool({python, submit, "--port", port, "--subject", "exim-relay-utf8",
               "--utf8-message", "--to", "p\u00e5l@example.org"});
  EXPECT_EQ(utf8.exit_code, 0) << utf8.out << utf8.err;
  absl::StatusOr<std::string> log = (*exim)->WaitForLog(
      [](const std::string& log) {
        size_t done = 0;
        for (absl::string_view line : absl::StrSplit(log, '\n')) {
          if (absl::StrContains(line, " Completed") ||
              absl::StrContains(line, " == ") ||
              absl::StrContains(line, " ** ")) {
            ++done;
          }
        }
        return done >= 3;
      },
      absl::Seconds(90));
  ASSERT_TRUE(log.ok()) << log.status();
  const std::string delivered = Grep(*log, " => a@example.org");
  size_t deliveries = 0;
  for (absl::string_view line : absl::StrSplit(*log, '\n')) {
    if (absl::StrContains(line, " => ") || absl::StrContains(line, " -> "))
      ++deliveries;
  }
  EXPECT_TRUE(Check(deliveries == 4 &&
                        absl::StrContains(delivered, "X=TLS1.2") &&
                        absl::StrContains(delivered, "CV=yes"),
                    kArea, peer,
                    "hosts_require_tls, tls_verify_hosts: 4 recipients in 3 "
                    "messages, TLS 1.2, certificate verified",
                    delivered))
      << *log;
  // "K": the message went as BDAT (CHUNKING).
  EXPECT_TRUE(Check(std::regex_search(delivered, std::regex(" K C=")), kArea,
                    peer, "BDAT (CHUNKING) used for every message", delivered))
      << *log;
  EXPECT_TRUE(Check(absl::StrContains(Stored("Subject: exim-relay-8bit"),
                                      "Bl\xe5"
                                      "b\xe6rsyltet\xf8y"),
                    kArea, peer,
                    "8BITMIME: the 8-bit body arrives octet for octet",
                    Grep(*log, "=> rcpt@")))
      << *log;
  EXPECT_TRUE(Check(
      absl::StrContains(Stored("exim-relay-utf8"), "p\u00e5l@example.org"),
      kArea, peer, "SMTPUTF8: a UTF-8 recipient", Grep(*log, "p\u00e5l")))
      << *log;
  // Had the sink not offered DSN, Exim would have sent the sender a
  // "relayed" notice for NOTIFY=SUCCESS (a message from <>).
  EXPECT_TRUE(Check(!Stored("Subject: exim-relay-dsn").empty() &&
                        Grep(*log, "<= <> ").empty(),
                    kArea, peer,
                    "DSN NOTIFY=SUCCESS passed on (no 'relayed' notice)",
                    Grep(*log, "=> b@")))
      << *log;
}

TEST_F(InboundTest, OpenSmtpdRelaysOverStartTls) {
  const std::string config = absl::StrCat(
      "listen on 127.0.0.1 port $PORT hostname opensmtpd.interop.test\n"
      "action \"to_sink\" relay host smtp+tls://127.0.0.1:",
      sink_->port(),
      " tls no-verify helo opensmtpd.interop.test\n"
      "match from any for any action \"to_sink\"\n");
  absl::StatusOr<std::unique_ptr<OpenSmtpdInstance>> smtpd =
      OpenSmtpdInstance::Start(config);
  if (absl::IsNotFound(smtpd.status())) {
    Skip(kArea, "OpenSMTPD relay", "all",
         std::string(smtpd.status().message()));
    GTEST_SKIP() << smtpd.status();
  }
  ASSERT_TRUE(smtpd.ok()) << smtpd.status();
  const std::string peer =
      "OpenSMTPD " +
      std::vector<std::string>(
          absl::StrSplit(VersionLine({FindPeerProgram("smtpd"), "-h"}), ' '))
          .back() +
      " relay";
  const std::string python = DebianPython();
  const std::string submit =
      *tools::testing::RunfilePath("tools/interop/submit.py");
  const std::string port = absl::StrCat((*smtpd)->port());
  const ProgramResult plain = RunTool(
      {python, submit, "--port", port, "--subject", "opensmtpd-relay", "--to",
       "a@example.org", "--to", "b@example.org", "--rcpt-option",
       "NOTIFY=SUCCESS,FAILURE", "--mail-option", "RET=HDRS"});
  EXPECT_EQ(plain.exit_code, 0) << plain.out << plain.err;
  const ProgramResult eight = RunTool(
      {python, submit, "--port", port, "--subject", "opensmtpd-relay-8bit",
       "--eight-bit", "--mail-option", "BODY=8BITMIME"});
  EXPECT_EQ(eight.exit_code, 0) << eight.out << eight.err;
  absl::StatusOr<std::string> log = (*smtpd)->WaitForLog(
      [](const std::string& log) {
        size_t done = 0;
        for (absl::string_view line : absl::StrSplit(log, '\n')) {
          if (absl::StrContains(line, "delivery evpid=")) ++done;
        }
        return done >= 3;
      },
      absl::Seconds(90));
  ASSERT_TRUE(log.ok()) << log.status();
  size_t ok = 0;
  for (absl::string_view line : absl::StrSplit(*log, '\n')) {
    if (absl::StrContains(line, "delivery evpid=") &&
        absl::StrContains(line, "result=\"Ok\"")) {
      ++ok;
    }
  }
  const std::string tls = Grep(*log, "mta tls ciphers=|mta .*TLS");
  EXPECT_TRUE(Check(ok == 3 && absl::StrContains(tls, "TLSv1.2"), kArea, peer,
                    "smtp+tls (mandatory STARTTLS): 3 recipients in 2 messages",
                    tls + " / " + Grep(*log, "delivery evpid=")))
      << *log;
  EXPECT_TRUE(Check(absl::StrContains(Stored("Subject: opensmtpd-relay-8bit"),
                                      "Bl\xe5"
                                      "b\xe6rsyltet\xf8y"),
                    kArea, peer,
                    "8BITMIME: the 8-bit body arrives octet for octet", ""))
      << *log;
  Skip(kArea, peer, "BDAT, SMTPUTF8",
       "OpenSMTPD 6.8 has neither CHUNKING nor SMTPUTF8 in its client");
}

}  // namespace
}  // namespace starling::interop
