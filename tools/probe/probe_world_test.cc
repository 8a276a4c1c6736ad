// starling-probe against the mail world (tools/testing/mail_world.h): real
// DNSSEC-validated DNS from NSD, MTA-STS from an HTTPS policy host, and
// starling-sinks as MX hosts, all on loopback.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/testing/mail_world_fixture.h"
#include "tools/testing/subprocess.h"

namespace starling::probe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;
using tools::testing::ProgramResult;

class ProbeWorldTest : public tools::testing::MailWorldTest {
 protected:
  static ProgramResult Probe(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {*tools::testing::RunfilePath("tools/starling-probe")};
    for (const std::string& flag : world().Flags()) argv.push_back(flag);
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<ProgramResult> result = tools::testing::RunProgramForResult(
        argv, *tools::testing::MakeTestDirectory("probe"), absl::Seconds(60));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : ProgramResult{};
  }

  // The JSON report of `domain`; fails the test when it is not one.
  static json ProbeJson(const std::string& domain) {
    const ProgramResult r = Probe({"--json", domain});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json out = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(out.is_discarded()) << r.out;
    return out;
  }
};

// The verdict row of `policy` in a connection's or host's "verdicts".
json Verdict(const json& verdicts, const std::string& policy) {
  for (const json& v : verdicts) {
    if (v["policy"] == policy) return v;
  }
  ADD_FAILURE() << "no verdict for " << policy << " in " << verdicts.dump();
  return json::object();
}

json OnlyConnection(const json& report) {
  EXPECT_EQ(report["hosts"].size(), 1u) << report.dump();
  if (report["hosts"].empty() || report["hosts"][0]["connections"].empty()) {
    ADD_FAILURE() << "no connection in " << report.dump();
    return json::object();
  }
  return report["hosts"][0]["connections"][0];
}

TEST_F(ProbeWorldTest, DaneVerifiedAgainstTheSinksCertificate) {
  const json report = ProbeJson("dane.example");
  EXPECT_EQ(report["mx"]["status"], "found");
  EXPECT_EQ(report["mx"]["dnssec"], "secure");
  const json& host = report["hosts"][0];
  EXPECT_EQ(host["host"], "mx.dane.example");
  EXPECT_EQ(host["dane"]["status"], "usable TLSA");
  EXPECT_EQ(host["tlsa"]["records"][0], world().dane_tlsa());
  const json c = OnlyConnection(report);
  EXPECT_TRUE(c["connected"]);
  EXPECT_THAT(c["ehlo"], ::testing::Contains("STARTTLS"));
  EXPECT_EQ(c["tls"]["version"], "TLSv1.2");
  EXPECT_EQ(c["tls"]["chain_verdict"], "self-signed");
  // The key digest openssl computed for the TLSA record is the one the
  // session saw.
  EXPECT_EQ(absl::StrCat("3 1 1 ", c["tls"]["chain"][0]["spki_sha256"].get<std::string>()),
            world().dane_tlsa());
  EXPECT_TRUE(c["dane_match"]["authenticated"]);
  EXPECT_EQ(Verdict(c["verdicts"], "dane")["label"], "dane:verified");
  EXPECT_EQ(Verdict(c["verdicts"], "dane")["verdict"], "proceed-tls");
  EXPECT_EQ(Verdict(c["verdicts"], "may")["label"], "may:untrusted");
  EXPECT_EQ(Verdict(c["verdicts"], "verify")["verdict"], "defer");
  EXPECT_EQ(Verdict(c["verdicts"], "verify")["tlsrpt_result_type"],
            "certificate-not-trusted");
  // Reached through its A record (and --port), not --connect.
  EXPECT_FALSE(host["connect_override"]);
  // The session ended before MAIL FROM: nothing was sent.
  for (const json& line : c["transcript"]) {
    if (line["from"] == "client") {
      EXPECT_FALSE(absl::StartsWith(line["line"].get<std::string>(), "MAIL"))
          << line.dump();
    }
  }
  EXPECT_EQ(c["transcript"].back()["line"].get<std::string>().substr(0, 3), "221");
  EXPECT_THAT(world().dane_sink().log(), Not(HasSubstr("nrcpt=")));
}

TEST_F(ProbeWorldTest, TextReport) {
  const ProgramResult r = Probe({"dane.example"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("MX: found (DNSSEC secure)"));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("TLSA _25._tcp.mx.dane.example ",
                                            world().dane_tlsa(), " (secure)")));
  EXPECT_THAT(r.out, HasSubstr("greeting: 220 mx.dane.example"));
  EXPECT_THAT(r.out, HasSubstr("DANE: authenticated"));
  EXPECT_THAT(r.out, HasSubstr("names: mx.dane.example"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("dane +proceed-tls +dane:verified"));
  EXPECT_THAT(r.out, Not(HasSubstr("dialogue:")));
  const ProgramResult explained = Probe({"--explain", "dane.example"});
  EXPECT_THAT(explained.out, HasSubstr("C: STARTTLS"));
  EXPECT_THAT(explained.out, HasSubstr("ok: dane (dane)"));
}

TEST_F(ProbeWorldTest, MismatchingTlsaDefersAtDane) {
  const json c = OnlyConnection(ProbeJson("badtlsa.example"));
  EXPECT_FALSE(c["dane_match"]["authenticated"]);
  const json dane = Verdict(c["verdicts"], "dane");
  EXPECT_EQ(dane["verdict"], "defer");
  EXPECT_EQ(dane["tlsrpt_result_type"], "validation-failure");
  EXPECT_EQ(Verdict(c["verdicts"], "encrypt")["verdict"], "proceed-tls");
}

TEST_F(ProbeWorldTest, UnusableTlsaMeansEncryptNeverPlaintext) {
  const json report = ProbeJson("unusable.example");
  EXPECT_EQ(report["hosts"][0]["dane"]["status"], "all TLSA records unusable");
  const json c = OnlyConnection(report);
  EXPECT_EQ(c["tls_problem"]["problem"], "STARTTLS not offered");
  const json dane = Verdict(c["verdicts"], "dane");
  EXPECT_EQ(dane["verdict"], "defer");
  EXPECT_EQ(dane["tlsrpt_result_type"], "starttls-not-supported");
  EXPECT_EQ(Verdict(c["verdicts"], "may")["verdict"], "proceed-plaintext");
}

TEST_F(ProbeWorldTest, BogusTlsaDefersBeforeConnecting) {
  const json report = ProbeJson("tampered.example");
  EXPECT_EQ(report["hosts"][0]["tlsa"]["dnssec"], "bogus");
  EXPECT_EQ(report["hosts"][0]["dane"]["status"], "DNSSEC bogus");
  const json dane = Verdict(OnlyConnection(report)["verdicts"], "dane");
  EXPECT_EQ(dane["verdict"], "defer");
  EXPECT_EQ(dane["tlsrpt_result_type"], "dnssec-invalid");
  EXPECT_TRUE(dane["decision"].is_null());
}

TEST_F(ProbeWorldTest, UnsignedZoneIgnoresTlsa) {
  const json report = ProbeJson("insecure.example.net");
  EXPECT_EQ(report["mx"]["dnssec"], "insecure");
  EXPECT_EQ(report["hosts"][0]["tlsa"]["records"].size(), 1u);  // there, unused
  EXPECT_EQ(report["hosts"][0]["dane"]["status"], "no DANE");
  const json c = OnlyConnection(report);
  EXPECT_TRUE(c["dane_match"].is_null());
  EXPECT_EQ(Verdict(c["verdicts"], "dane")["verdict"], "proceed-tls");
  EXPECT_EQ(Verdict(c["verdicts"], "dane")["label"], "dane:untrusted");
}

TEST_F(ProbeWorldTest, DomainsWithoutMxHostsToTry) {
  json report = ProbeJson("expired.example");
  EXPECT_EQ(report["mx"]["status"], "bogus");
  EXPECT_TRUE(report["hosts"].empty());
  EXPECT_THAT(Probe({"expired.example"}).out,
              HasSubstr("a sender defers (dnssec-invalid)"));

  report = ProbeJson("nullmx.example");
  EXPECT_EQ(report["mx"]["status"], "null-mx");
  EXPECT_THAT(Probe({"nullmx.example"}).out, HasSubstr("null MX, RFC 7505"));

  report = ProbeJson("missing.example");
  EXPECT_EQ(report["mx"]["status"], "no-such-domain");
  EXPECT_EQ(report["mx"]["dnssec"], "secure");

  report = ProbeJson("broken.example");
  EXPECT_EQ(report["mx"]["status"], "temporary-error");
  EXPECT_THAT(Probe({"broken.example"}).out, HasSubstr("a sender defers"));
}

TEST_F(ProbeWorldTest, MtaStsEnforce) {
  const json report = ProbeJson("enforce.example");
  EXPECT_EQ(report["mta_sts"]["txt_status"], "found");
  EXPECT_EQ(report["mta_sts"]["fetch"]["http_status"], 200);
  EXPECT_EQ(report["mta_sts"]["policy"]["mode"], "enforce");
  EXPECT_EQ(report["mta_sts"]["policy"]["mx"][0], "mx.sts.example");
  EXPECT_EQ(report["tls_rpt"]["rua"][0], "mailto:tlsrpt@enforce.example");
  const json c = OnlyConnection(report);
  EXPECT_EQ(c["tls"]["chain_verdict"], "trusted");
  EXPECT_EQ(Verdict(c["verdicts"], "sts")["label"], "sts:verified");
  EXPECT_EQ(Verdict(c["verdicts"], "verify")["label"], "verify:verified");
}

TEST_F(ProbeWorldTest, MtaStsTestingReportsButDelivers) {
  const json report = ProbeJson("testing.example");
  EXPECT_EQ(report["mta_sts"]["policy"]["mode"], "testing");
  const json sts = Verdict(OnlyConnection(report)["verdicts"], "sts");
  EXPECT_EQ(sts["verdict"], "proceed-tls");
  EXPECT_EQ(sts["reported_result_type"], "validation-failure");
}

TEST_F(ProbeWorldTest, MtaStsNoneChangesNothing) {
  const json report = ProbeJson("none.example");
  EXPECT_EQ(report["mta_sts"]["policy"]["mode"], "none");
  const json c = OnlyConnection(report);
  EXPECT_EQ(Verdict(c["verdicts"], "sts")["label"], Verdict(c["verdicts"], "may")["label"]);
  EXPECT_EQ(Verdict(c["verdicts"], "sts")["reported_result_type"], "");
}

TEST_F(ProbeWorldTest, MtaStsMxMismatchRefusesTheMx) {
  const json c = OnlyConnection(ProbeJson("mismatch.example"));
  const json sts = Verdict(c["verdicts"], "sts");
  EXPECT_EQ(sts["verdict"], "defer");
  EXPECT_EQ(sts["before_connect"]["verdict"], "defer");
  EXPECT_EQ(sts["tlsrpt_result_type"], "validation-failure");
  EXPECT_EQ(Verdict(c["verdicts"], "may")["verdict"], "proceed-tls");
}

TEST_F(ProbeWorldTest, MtaStsCacheState) {
  const std::string cache = *tools::testing::MakeTestDirectory("sts-cache");
  ProgramResult r = Probe({"--sts-cache=" + cache, "enforce.example"});
  EXPECT_THAT(r.out, HasSubstr("cache: stored (id 1"));
  r = Probe({"--sts-cache=" + cache, "enforce.example"});
  EXPECT_THAT(r.out, HasSubstr("cache: in force from the cache"));
  EXPECT_THAT(r.out, Not(HasSubstr("fetch https://")));
}

TEST_F(ProbeWorldTest, FirstMxDown) {
  const json report = ProbeJson("multi.example");
  ASSERT_EQ(report["hosts"].size(), 2u);
  const json down = report["hosts"][0]["connections"][0];
  EXPECT_FALSE(down["connected"]);
  EXPECT_THAT(down["end"].get<std::string>(), HasSubstr("refused"));
  EXPECT_TRUE(Verdict(down["verdicts"], "dane")["verdict"].is_null());
  EXPECT_FALSE(report["hosts"][0]["last_mx"]);
  const json up = report["hosts"][1]["connections"][0];
  EXPECT_EQ(Verdict(up["verdicts"], "dane")["label"], "dane:verified");
  EXPECT_THAT(Probe({"multi.example"}).out, HasSubstr("a sender tries the next MX"));
}

TEST_F(ProbeWorldTest, PlaintextOnlyDomain) {
  const json c = OnlyConnection(ProbeJson("plain.example"));
  EXPECT_TRUE(c["tls"].is_null());
  EXPECT_EQ(Verdict(c["verdicts"], "may")["verdict"], "proceed-plaintext");
  EXPECT_EQ(Verdict(c["verdicts"], "encrypt")["tlsrpt_result_type"],
            "starttls-not-supported");
}

TEST_F(ProbeWorldTest, PolicyTable) {
  const std::string dir = *tools::testing::MakeTestDirectory("table");
  const std::string table = dir + "/policy.txt";
  std::ofstream(table) << "*            encrypt\n.example     dane-only\n";
  json report = json::parse(Probe({"--json", "--policy-table=" + table, "dane.example"}).out);
  json c = OnlyConnection(report);
  ASSERT_EQ(c["verdicts"].size(), 1u);
  EXPECT_EQ(c["verdicts"][0]["policy"], "table");
  EXPECT_EQ(c["verdicts"][0]["label"], "dane:verified");
  report = json::parse(Probe({"--json", "--policy-table=" + table, "plain.example"}).out);
  c = OnlyConnection(report);
  EXPECT_EQ(c["verdicts"][0]["verdict"], "defer");
  EXPECT_EQ(c["verdicts"][0]["tlsrpt_result_type"], "dane-required");
}

TEST_F(ProbeWorldTest, TlsRptReport) {
  const std::string dir = *tools::testing::MakeTestDirectory("tlsrpt");
  ProgramResult r = Probe({"--tlsrpt=" + dir + "/dane.json", "dane.example"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json report = json::parse(tools::testing::ReadWholeFile(dir + "/dane.json"));
  ASSERT_EQ(report["policies"].size(), 1u);
  EXPECT_EQ(report["policies"][0]["policy"]["policy-type"], "tlsa");
  EXPECT_EQ(report["policies"][0]["policy"]["policy-string"][0], world().dane_tlsa());
  EXPECT_EQ(report["policies"][0]["summary"]["total-successful-session-count"], 1);

  r = Probe({"--tlsrpt=" + dir + "/mismatch.json", "mismatch.example"});
  report = json::parse(tools::testing::ReadWholeFile(dir + "/mismatch.json"));
  const json& policy = report["policies"][0];
  EXPECT_EQ(policy["policy"]["policy-type"], "sts");
  EXPECT_EQ(policy["summary"]["total-failure-session-count"], 1);
  EXPECT_EQ(policy["failure-details"][0]["result-type"], "validation-failure");
  EXPECT_EQ(policy["failure-details"][0]["receiving-mx-hostname"], "mx.sts.example");

  // Plaintext under no policy is no TLS session: nothing to report.
  r = Probe({"--tlsrpt=" + dir + "/plain.json", "plain.example"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("no TLS session to report"));
  EXPECT_EQ(tools::testing::ReadWholeFile(dir + "/plain.json"), "");
}

TEST_F(ProbeWorldTest, BadInputIsOneLineAndExit2) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {},
           {"not a domain"},
           {"dane.example", "extra"},
           {"--connect=nowhere", "dane.example"},
           {"--port=70000", "dane.example"},
           {"--policy-table=/nonexistent", "dane.example"},
           {"--trust-anchor-file=/nonexistent", "dane.example"}}) {
    const ProgramResult r = Probe(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << ": " << r.out << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("starling-probe: "));
  }
}

}  // namespace
}  // namespace starling::probe
