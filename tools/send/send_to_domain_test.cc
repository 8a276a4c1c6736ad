// starling-send --to without --server against the mail world
// (tools/testing/mail_world.h): DNS, DANE and MTA-STS resolved from NSD and
// the policy host, delivery to starling-sinks as MX hosts on loopback.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/testing/mail_world_fixture.h"
#include "tools/testing/sink_process.h"

namespace starling::send {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using tools::testing::ProgramResult;
using tools::testing::SinkProcess;

// Messages a sink accepted so far.
int Accepted(const SinkProcess& sink) {
  const std::string log = sink.log();
  int n = 0;
  for (size_t at = log.find(" nrcpt="); at != std::string::npos;
       at = log.find(" nrcpt=", at + 1)) {
    ++n;
  }
  return n;
}

class SendToDomainTest : public tools::testing::MailWorldTest {
 protected:
  // starling-send --to rcpt@<domain> with the world's flags and `more`.
  static ProgramResult Send(const std::string& domain,
                            std::vector<std::string> more = {}) {
    std::vector<std::string> flags = world().Flags();
    flags.push_back("--to=rcpt@" + domain);
    flags.insert(flags.end(), more.begin(), more.end());
    absl::StatusOr<ProgramResult> result = tools::testing::RunSend(flags);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : ProgramResult{};
  }
};

TEST_F(SendToDomainTest, DaneVerifiedDelivery) {
  const int before = Accepted(world().dane_sink());
  const ProgramResult r = Send("dane.example");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("dane.example: MX found (DNSSEC secure)"));
  EXPECT_THAT(r.out, HasSubstr("MX 10 mx.dane.example (127.0.0.1:"));
  EXPECT_THAT(r.out, HasSubstr("connection policy: proceed-tls (dane:verified)"));
  EXPECT_THAT(r.out, HasSubstr("<rcpt@dane.example>: delivered"));
  EXPECT_THAT(r.out, HasSubstr("result: delivered by mx.dane.example"));
  EXPECT_EQ(Accepted(world().dane_sink()), before + 1);
}

TEST_F(SendToDomainTest, FirstMxDownSecondMxDelivers) {
  const int before = Accepted(world().dane_sink());
  const ProgramResult r = Send("multi.example");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const size_t first = r.out.find("MX 10 mx1.multi.example");
  const size_t refused = r.out.find("could not connect to");
  const size_t second = r.out.find("MX 20 mx2.multi.example");
  ASSERT_NE(first, std::string::npos) << r.out;
  ASSERT_NE(second, std::string::npos) << r.out;
  EXPECT_LT(first, refused);
  EXPECT_LT(refused, second);
  EXPECT_THAT(r.out, HasSubstr("connected to " + world().dane_sink().address()));
  EXPECT_THAT(r.out, HasSubstr("result: delivered by mx2.multi.example"));
  EXPECT_EQ(Accepted(world().dane_sink()), before + 1);

  const nlohmann::json json =
      nlohmann::json::parse(Send("multi.example", {"--json"}).out);
  ASSERT_EQ(json["hosts"].size(), 2u);
  EXPECT_FALSE(json["hosts"][0]["attempts"][0]["connected"]);
  EXPECT_EQ(json["hosts"][1]["attempts"][0]["connection_policy"]["label"],
            "dane:verified");
  EXPECT_EQ(json["exit"], 0);
}

TEST_F(SendToDomainTest, MismatchingTlsaDefersAndSendsNothing) {
  const int before = Accepted(world().dane_sink());
  const ProgramResult r = Send("badtlsa.example");
  EXPECT_EQ(r.exit_code, 75) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("validation-failure"));
  EXPECT_THAT(r.out, HasSubstr("result: mx.badtlsa.example: the TLS policy said defer"));
  EXPECT_EQ(Accepted(world().dane_sink()), before);
}

TEST_F(SendToDomainTest, UnusableTlsaNeverGoesInPlaintext) {
  const int before = Accepted(world().plain_sink());
  ProgramResult r = Send("unusable.example");
  EXPECT_EQ(r.exit_code, 75) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("starttls-not-supported"));
  EXPECT_EQ(Accepted(world().plain_sink()), before);
  // It is the policy that refuses: under "may" the same MX takes the mail.
  r = Send("unusable.example", {"--policy=may"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Accepted(world().plain_sink()), before + 1);
}

TEST_F(SendToDomainTest, BogusTlsaDefersBeforeConnecting) {
  const int before = Accepted(world().dane_sink());
  const ProgramResult r = Send("tampered.example");
  EXPECT_EQ(r.exit_code, 75) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("refused by the policy before connecting (defer, dnssec-invalid)"));
  EXPECT_EQ(Accepted(world().dane_sink()), before);
}

TEST_F(SendToDomainTest, UnsignedZoneIgnoresItsTlsa) {
  // Its TLSA record names another key: used, it would refuse the session.
  const ProgramResult r = Send("insecure.example.net");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("DANE: no DANE"));
  EXPECT_THAT(r.out, HasSubstr("(dane:untrusted)"));
}

TEST_F(SendToDomainTest, DomainsThatDecideAlone) {
  ProgramResult r = Send("nullmx.example");
  EXPECT_EQ(r.exit_code, 69) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("accepts no mail (null MX"));
  r = Send("missing.example");
  EXPECT_EQ(r.exit_code, 69) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("does not exist (NXDOMAIN)"));
  r = Send("broken.example");
  EXPECT_EQ(r.exit_code, 75) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("the MX lookup for broken.example failed"));
  r = Send("expired.example");
  EXPECT_EQ(r.exit_code, 75) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("[dnssec-invalid]"));
}

TEST_F(SendToDomainTest, MtaSts) {
  const int before = Accepted(world().pki_sink());
  ProgramResult r = Send("enforce.example");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("MTA-STS: enforce (mx mx.sts.example)"));
  EXPECT_THAT(r.out, HasSubstr("(sts:verified)"));

  r = Send("testing.example");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("TLS-RPT result validation-failure"));

  r = Send("none.example");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Accepted(world().pki_sink()), before + 3);

  r = Send("mismatch.example");
  EXPECT_EQ(r.exit_code, 75) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("refused by the policy before connecting (defer, validation-failure)"));
  EXPECT_EQ(Accepted(world().pki_sink()), before + 3);
}

TEST_F(SendToDomainTest, PlaintextOnlyDomain) {
  const ProgramResult r = Send("plain.example");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("proceed-plaintext (dane:plaintext)"));
  EXPECT_EQ(Send("plain.example", {"--policy=encrypt"}).exit_code, 75);
}

TEST_F(SendToDomainTest, BadInputIsOneLineAndExit2) {
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{
           {"--to=a@dane.example,b@plain.example"},
           {"--to=a@dane.example", "--tlsa=3 1 1 00"},
           {"--to=a@dane.example", "--sts=/dev/null"},
           {"--to=a@dane.example", "--sessions=2"},
           {"--to=a@dane.example", "--connect=nowhere"},
           {"--to=a@dane.example", "--trust-anchor-file=/nonexistent"},
           {"--server=127.0.0.1:25", "--to=a@dane.example", "--connect=127.0.0.1:26"},
           {"--server=127.0.0.1:25", "--to=a@dane.example", "--resolver=127.0.0.1"}}) {
    std::vector<std::string> args = flags;
    // The world's flags go with --to alone.
    if (flags[0].rfind("--server", 0) != 0) {
      const std::vector<std::string> world_flags = world().Flags();
      args.insert(args.begin(), world_flags.begin(), world_flags.end());
    }
    absl::StatusOr<ProgramResult> r = tools::testing::RunSend(args);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 2) << absl::StrJoin(flags, " ") << ": " << r->out << r->err;
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  }
}

}  // namespace
}  // namespace starling::send
