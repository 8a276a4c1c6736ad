#include "core/policy/tlsrpt.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace starling::policy {
namespace {

TEST(TlsRptTest, AggregatesPerDomainAndPolicy) {
  const absl::Time start = absl::FromUnixSeconds(1459468800);  // 2016-04-01
  TlsRptAggregator agg(start, start + absl::Hours(24));
  StsPolicy sts{StsMode::kTesting, {"*.mail.company-y.example"}, 86400};
  const TlsRptPolicy policy = StsReportPolicy("Company-Y.example", sts);
  EXPECT_EQ(policy.policy_strings,
            (std::vector<std::string>{"version: STSv1", "mode: testing",
                                      "mx: *.mail.company-y.example", "max_age: 86400"}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(agg.Add({policy, start + absl::Hours(i), true, {}}));
  }
  TlsRptFailure expired{"certificate-expired", "2001:db8:abcd:0012::1",
                        "mx1.mail.company-y.example", "", "", "", ""};
  EXPECT_TRUE(agg.Add({policy, start + absl::Hours(1), false, expired}));
  EXPECT_TRUE(agg.Add({policy, start + absl::Hours(2), false, expired}));
  EXPECT_FALSE(agg.Add({policy, start + absl::Hours(24), true, {}}));  // outside
  agg.Add({TlsaReportPolicy("other.example", {TlsaRecord{3, 1, 1, "\x01\x02"}}),
           start, true, {}});
  EXPECT_EQ(agg.Domains(), (std::vector<std::string>{"company-y.example", "other.example"}));
  std::optional<TlsRptReport> report =
      agg.ReportFor("company-y.example", "Company-X", "sts-reporting@company-x.example", "r1");
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->policies.size(), 1u);
  EXPECT_EQ(report->policies[0].total_successful_session_count, 3);
  EXPECT_EQ(report->policies[0].total_failure_session_count, 2);
  ASSERT_EQ(report->policies[0].failure_details.size(), 1u);
  EXPECT_EQ(report->policies[0].failure_details[0].failed_session_count, 2);
  EXPECT_FALSE(agg.ReportFor("nobody.example", "", "", "").has_value());
}

}  // namespace
}  // namespace starling::policy
