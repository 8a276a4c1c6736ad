#include "tools/net/tlsrpt_record.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace starling::net {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseTlsRptTxtTest, MailtoAndHttps) {
  absl::StatusOr<TlsRptRecord> r = ParseTlsRptTxt(
      "v=TLSRPTv1; rua=mailto:tlsrpt@example.com, https://reports.example.com/v1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->rua, ElementsAre("mailto:tlsrpt@example.com",
                                  "https://reports.example.com/v1"));
}

TEST(ParseTlsRptTxtTest, TrailingSemicolonAndExtensions) {
  absl::StatusOr<TlsRptRecord> r =
      ParseTlsRptTxt("v=TLSRPTv1;rua=mailto:a@example.com ; ext-1.x=value;");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->rua, ElementsAre("mailto:a@example.com"));
}

TEST(ParseTlsRptTxtTest, RejectsWhatTheGrammarDoesNot) {
  for (const char* bad : {
           "",
           "v=TLSRPTv2; rua=mailto:a@example.com",
           " v=TLSRPTv1; rua=mailto:a@example.com",
           "v=TLSRPTv1",
           "v=TLSRPTv1;",
           "v=TLSRPTv1; ext=1",
           "v=TLSRPTv1; rua=",
           "v=TLSRPTv1; rua=http://reports.example.com/",
           "v=TLSRPTv1; rua=ftp://x",
           "v=TLSRPTv1; rua=mailto:",
           "v=TLSRPTv1; rua=mailto:a@example.com,",
           "v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com",
           "v=TLSRPTv1; rua=mailto:a@example.com; noequals",
           "v=TLSRPTv1; rua=mailto:a@example.com; _x=1",
           "v=TLSRPTv1; rua=mailto:a@example.com; x=a=b",
           "v=TLSRPTv1; rua=mailto:a b@example.com",
       }) {
    EXPECT_EQ(ParseTlsRptTxt(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(TlsRptRecordFromTxtRecordsTest, IgnoresOtherRecords) {
  absl::StatusOr<TlsRptRecord> r = TlsRptRecordFromTxtRecords(
      {"google-site-verification=abc", "v=TLSRPTv1; rua=mailto:a@example.com"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->rua, ElementsAre("mailto:a@example.com"));
}

TEST(TlsRptRecordFromTxtRecordsTest, NoneOrSeveral) {
  EXPECT_EQ(TlsRptRecordFromTxtRecords({"other"}).status().code(),
            absl::StatusCode::kNotFound);
  const absl::Status several =
      TlsRptRecordFromTxtRecords({"v=TLSRPTv1; rua=mailto:a@example.com",
                                  "v=TLSRPTv1; rua=mailto:b@example.com"})
          .status();
  EXPECT_EQ(several.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(several.message(), HasSubstr("more than one"));
}

}  // namespace
}  // namespace starling::net
