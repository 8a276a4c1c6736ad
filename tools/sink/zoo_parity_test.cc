// Every partner profile served by `starling-sink --zoo` on real sockets,
// delivered to by `starling-send` under may / encrypt / verify / dane / sts,
// must come to what the simulator says (sim/zoo_expectations.h, checked
// there by //sim:zoo_table_test): the same fate and RFC 8460 result types.
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "core/tls/testing/test_pki.h"
#include "sim/partner.h"
#include "sim/zoo_expectations.h"
#include "tools/testing/subprocess.h"

namespace starling::sink {
namespace {

using sim::PartnerProfile;
using sim::ZooPolicy;
using tools::testing::ChildProcess;
using tools::testing::ProgramResult;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The zoo, started once for every test.
class ZooParityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::string> dir = tools::testing::MakeTestDirectory("zoo");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = new std::string(*dir);
    absl::StatusOr<std::string> sink =
        tools::testing::RunfilePath("tools/starling-sink");
    ASSERT_TRUE(sink.ok()) << sink.status();
    const std::string ports = *dir_ + "/ports.json";
    absl::StatusOr<ChildProcess> child = ChildProcess::Start(
        {*sink, "--zoo=all", "--zoo_pki=" + *dir_ + "/pki",
         "--zoo_tarpit=50ms", "--ports_file=" + ports,
         "--log=" + *dir_ + "/sink.log"},
        *dir_, *dir_ + "/sink.err", false);
    ASSERT_TRUE(child.ok()) << child.status();
    zoo_ = new ChildProcess(*std::move(child));
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (Slurp(ports).empty() && zoo_->Running() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_FALSE(Slurp(ports).empty()) << Slurp(*dir_ + "/sink.err");
    ports_ = new nlohmann::json(
        nlohmann::json::parse(Slurp(ports), nullptr, /*allow_exceptions=*/false));
    std::ofstream(*dir_ + "/sts.txt") << "version: STSv1\nmode: enforce\n"
                                         "mx: mx.example.net\nmax_age: 86400\n";
  }
  static void TearDownTestSuite() {
    delete zoo_;  // stops it
    zoo_ = nullptr;
  }

  // One delivery like the simulator's sender makes: retried once when
  // deferred (the simulator retries within its two hours). "<fate> <types>".
  static std::string Deliver(PartnerProfile profile, ZooPolicy policy) {
    const std::string name(sim::PartnerProfileName(profile));
    const std::string pki = *dir_ + "/pki";
    std::vector<std::string> argv = {
        *tools::testing::RunfilePath("tools/starling-send"),
        "--server=" + (*ports_)["zoo"][name].get<std::string>(),
        "--to=rcpt@zoo.example",
        "--from=sender@relay.example.org",
        "--helo=relay.example.org",
        "--mx=mx.example.net",
        "--trust=" + pki + "/trust.pem",
        "--cert=" + pki + "/client.pem",
        "--key=" + pki + "/client-key.pem",
        "--timeout=10",
        "--connect_timeout=5",
        "--json"};
    switch (policy) {
      case ZooPolicy::kMay:
      case ZooPolicy::kEncrypt:
      case ZooPolicy::kVerify:
        argv.push_back(absl::StrCat("--policy=", sim::ZooPolicyName(policy)));
        break;
      case ZooPolicy::kDane: {
        const std::string kind(
            tls::testing::CertKindName(sim::PartnerCertKind(profile)));
        argv.push_back("--policy=dane");
        argv.push_back(std::string(absl::StripTrailingAsciiWhitespace(
            "--tlsa=" + Slurp(pki + "/" + kind + ".tlsa"))));
        argv.push_back("--dnssec=secure");
        break;
      }
      case ZooPolicy::kSts:
        argv.push_back("--policy=may");
        argv.push_back("--sts=" + *dir_ + "/sts.txt");
        break;
    }
    std::set<std::string> types;
    std::string fate = "?";
    for (int run = 0; run < 2; ++run) {
      absl::StatusOr<ProgramResult> result = tools::testing::RunProgramForResult(
          argv, *dir_, absl::Seconds(60));
      if (!result.ok()) return std::string(result.status().message());
      const nlohmann::json out =
          nlohmann::json::parse(result->out, nullptr, /*allow_exceptions=*/false);
      if (out.is_discarded()) {
        return absl::StrCat("exit ", result->exit_code, ": ", result->err);
      }
      for (const nlohmann::json& attempt : out["attempts"]) {
        std::string type =
            attempt["refused_by_policy"].get<bool>()
                ? attempt["before_connect"]["tlsrpt_result_type"].get<std::string>()
                : attempt["connection_policy"]["tlsrpt_result_type"].get<std::string>();
        if (type.empty() && !attempt["messages"].empty()) {
          type = attempt["messages"][0]["policy"]["tlsrpt_result_type"];
        }
        if (!type.empty()) types.insert(type);
      }
      const nlohmann::json& last = out["attempts"].back();
      switch (result->exit_code) {
        case 0:
          fate = last["tls"].is_null() ? "plain" : "tls";
          break;
        case 75:
          fate = "deferred";
          break;
        case 69:
          fate = "bounced";
          break;
        default:
          fate = absl::StrCat("exit ", result->exit_code, ": ", result->err);
      }
      if (fate != "deferred") break;
    }
    return absl::StrCat(fate, " ",
                        types.empty() ? "-" : absl::StrJoin(types, ","));
  }

  static std::string* dir_;
  static ChildProcess* zoo_;
  static nlohmann::json* ports_;
};

std::string* ZooParityTest::dir_ = nullptr;
ChildProcess* ZooParityTest::zoo_ = nullptr;
nlohmann::json* ZooParityTest::ports_ = nullptr;

TEST_F(ZooParityTest, EveryProfileUnderEveryPolicyAsInTheSimulator) {
  ASSERT_EQ(sim::ZooExpectations().size(), sim::kPartnerProfileCount);
  for (const sim::ZooExpectation& row : sim::ZooExpectations()) {
    for (size_t p = 0; p < sim::kZooPolicies.size(); ++p) {
      EXPECT_EQ(Deliver(row.profile, sim::kZooPolicies[p]), row.expected[p])
          << sim::PartnerProfileName(row.profile) << " under "
          << sim::ZooPolicyName(sim::kZooPolicies[p]);
    }
  }
}

}  // namespace
}  // namespace starling::sink
