#include "core/policy/json/tlsrpt_json.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace starling::policy {
namespace {

// The RFC 8460 §4.4 / Appendix B example, rebuilt through the aggregator.
TEST(TlsRptJsonTest, RfcExampleFields) {
  const absl::Time start = absl::FromUnixSeconds(1459468800);  // 2016-04-01T00:00:00Z
  TlsRptAggregator agg(start, start + absl::Seconds(86399));
  const TlsRptPolicy policy = StsReportPolicy(
      "company-y.example", StsPolicy{StsMode::kTesting, {"*.mail.company-y.example"}, 86400});
  agg.Add({policy, start, true, {}});
  agg.Add({policy, start, false,
           {"certificate-expired", "2001:db8:abcd:0012::1", "mx1.mail.company-y.example",
            "", "", "", ""}});
  agg.Add({policy, start, false,
           {"starttls-not-supported", "2001:db8:abcd:0013::1", "mx2.mail.company-y.example",
            "", "203.0.113.56",
            "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported",
            ""}});
  agg.Add({policy, start, false,
           {"validation-failure", "198.51.100.62", "mx-backup.mail.company-y.example", "",
            "203.0.113.58", "", "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"}});
  const std::string text = TlsRptReportJson(*agg.ReportFor(
      "company-y.example", "Company-X", "sts-reporting@company-x.example",
      "5065427c-23d3-47ca-b6e0-946ea0e8c4be"));
  const nlohmann::json j = nlohmann::json::parse(text);
  // §4.4 required top-level fields.
  EXPECT_EQ(j["organization-name"], "Company-X");
  EXPECT_EQ(j["date-range"]["start-datetime"], "2016-04-01T00:00:00Z");
  EXPECT_EQ(j["date-range"]["end-datetime"], "2016-04-01T23:59:59Z");
  EXPECT_EQ(j["contact-info"], "sts-reporting@company-x.example");
  EXPECT_EQ(j["report-id"], "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
  ASSERT_EQ(j["policies"].size(), 1u);
  const nlohmann::json& p = j["policies"][0];
  EXPECT_EQ(p["policy"]["policy-type"], "sts");
  EXPECT_EQ(p["policy"]["policy-domain"], "company-y.example");
  EXPECT_EQ(p["policy"]["policy-string"],
            nlohmann::json({"version: STSv1", "mode: testing", "mx: *.mail.company-y.example",
                            "max_age: 86400"}));
  EXPECT_EQ(p["policy"]["mx-host"], nlohmann::json({"*.mail.company-y.example"}));
  EXPECT_EQ(p["summary"]["total-successful-session-count"], 1);
  EXPECT_EQ(p["summary"]["total-failure-session-count"], 3);
  ASSERT_EQ(p["failure-details"].size(), 3u);
  for (const nlohmann::json& d : p["failure-details"]) {
    EXPECT_TRUE(d.contains("result-type"));
    EXPECT_EQ(d["failed-session-count"], 1);
    EXPECT_TRUE(d.contains("sending-mta-ip"));
    EXPECT_TRUE(d.contains("receiving-mx-hostname"));
    EXPECT_FALSE(d.contains("receiving-mx-helo"));  // unset fields are omitted
  }
  const nlohmann::json& last = p["failure-details"][2];
  EXPECT_EQ(last["result-type"], "validation-failure");
  EXPECT_EQ(last["failure-reason-code"], "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED");
  EXPECT_EQ(last["receiving-ip"], "203.0.113.58");
}

TEST(TlsRptJsonTest, NoFailureDetailsWhenAllSucceeded) {
  TlsRptReport report;
  report.policies.push_back({TlsaReportPolicy("a.example", {}), 5, 0, {}});
  const nlohmann::json j = nlohmann::json::parse(TlsRptReportJson(report));
  EXPECT_EQ(j["policies"][0]["policy"]["policy-type"], "tlsa");
  EXPECT_FALSE(j["policies"][0].contains("failure-details"));
}

}  // namespace
}  // namespace starling::policy
