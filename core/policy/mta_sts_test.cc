#include "core/policy/mta_sts.h"

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace starling::policy {
namespace {

// RFC 8461 §3.1 / §3.2 examples.
constexpr char kRfcPolicy[] =
    "version: STSv1\r\n"
    "mode: enforce\r\n"
    "mx: mail.example.com\r\n"
    "mx: *.example.net\r\n"
    "mx: backupmx.example.com\r\n"
    "max_age: 604800\r\n";

TEST(MtaStsTest, RfcTxtExample) {
  EXPECT_EQ(*ParseStsTxt("v=STSv1; id=20160831085700Z;"), "20160831085700Z");
  EXPECT_EQ(*ParseStsTxt("v=STSv1;id=abc"), "abc");
  EXPECT_EQ(*ParseStsTxt("v=STSv1; id=1; ext.x-1=val"), "1");
  EXPECT_FALSE(ParseStsTxt("v=stsv1; id=1").ok());
  EXPECT_FALSE(ParseStsTxt("id=1; v=STSv1").ok());
  EXPECT_FALSE(ParseStsTxt("v=STSv1;").ok());
  EXPECT_FALSE(ParseStsTxt("v=STSv1; id=").ok());
  EXPECT_FALSE(ParseStsTxt("v=STSv1; id=" + std::string(33, 'a')).ok());
  EXPECT_FALSE(ParseStsTxt("v=STSv1; id=a-b").ok());
  EXPECT_FALSE(ParseStsTxt("v=STSv1; id=1; id=2").ok());
  EXPECT_FALSE(ParseStsTxt("v=STSv1; id=1; bad").ok());
  EXPECT_EQ(StsIdFromTxtRecords({"spf", "v=STSv1; id=x"}).value(), "x");
  EXPECT_EQ(StsIdFromTxtRecords({"v=spf1"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(StsIdFromTxtRecords({"v=STSv1; id=x", "v=STSv1; id=y"}).ok());
}

TEST(MtaStsTest, RfcPolicyExample) {
  absl::StatusOr<StsPolicy> p = ParseStsPolicy(kRfcPolicy);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->mode, StsMode::kEnforce);
  EXPECT_EQ(p->max_age, 604800);
  EXPECT_EQ(p->mx, (std::vector<std::string>{"mail.example.com", "*.example.net",
                                             "backupmx.example.com"}));
  EXPECT_TRUE(StsMxMatches(*p, "mail.example.com"));
  EXPECT_TRUE(StsMxMatches(*p, "mx1.example.net"));
  EXPECT_FALSE(StsMxMatches(*p, "example.net"));
  EXPECT_FALSE(StsMxMatches(*p, "a.b.example.net"));
  EXPECT_FALSE(StsMxMatches(*p, "evil.example.com"));
  EXPECT_EQ(*ParseStsPolicy(PrintStsPolicy(*p)), *p);
}

TEST(MtaStsTest, PolicyStrictness) {
  EXPECT_EQ(ParseStsPolicy("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 99999999999\n")
                .status().message(),
            "MTA-STS policy line 4: max_age is not 1..10 digits");
  EXPECT_EQ(ParseStsPolicy("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 9999999999\n")->max_age,
            kStsMaxAgeLimit);
  EXPECT_FALSE(ParseStsPolicy("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n").ok());
  EXPECT_FALSE(ParseStsPolicy("version: STSv1\nmode: Enforce\nmx: a\nmax_age: 1\n").ok());
  EXPECT_FALSE(ParseStsPolicy("version: STSv1\nmode: enforce\nmax_age: 1\n").ok());
  EXPECT_FALSE(ParseStsPolicy("version: STSv1\nmode: enforce\nmode: none\nmx: a\nmax_age: 1\n").ok());
  EXPECT_FALSE(ParseStsPolicy("version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n").ok());
  EXPECT_FALSE(ParseStsPolicy("version: STSv1\nmode: enforce\nmx: a\nmax_age: -1\n").ok());
  EXPECT_FALSE(ParseStsPolicy("mode: enforce\nmx: a\nmax_age: 1\n").ok());
  EXPECT_TRUE(ParseStsPolicy("version: STSv1\nmode: none\nmax_age: 1\nfoo_bar: x y\n").ok());
  EXPECT_FALSE(ParseStsPolicy(std::string(kStsMaxPolicyBytes + 1, 'x')).ok());
}

class StsCacheTest : public ::testing::Test {
 protected:
  absl::Time t0_ = absl::FromUnixSeconds(1700000000);
  StsFetch Good(absl::string_view mode = "enforce") {
    StsFetch f;
    f.content_type = "text/plain; charset=utf-8";
    f.body = absl::StrCat("version: STSv1\nmode: ", mode, "\nmx: mx.example.com\nmax_age: 86400\n");
    return f;
  }
  StsTxtLookup Found(std::string id) {
    return {StsTxtLookup::Status::kFound, std::move(id)};
  }
};

TEST_F(StsCacheTest, FetchCacheAndRefetchOnIdChange) {
  StsResolution r = ResolveSts(Found("1"), std::nullopt, Good(), t0_);
  ASSERT_TRUE(r.policy.has_value());
  ASSERT_TRUE(r.cache.has_value());
  EXPECT_EQ(r.cache->id, "1");
  EXPECT_FALSE(StsNeedsFetch(Found("1"), r.cache, t0_ + absl::Hours(1)));
  EXPECT_TRUE(StsNeedsFetch(Found("2"), r.cache, t0_ + absl::Hours(1)));
  EXPECT_TRUE(StsNeedsFetch(Found("1"), r.cache, t0_ + absl::Hours(25)));  // expired
  StsResolution same = ResolveSts(Found("1"), r.cache, std::nullopt, t0_ + absl::Hours(1));
  EXPECT_EQ(same.policy, r.policy);
  StsResolution changed = ResolveSts(Found("2"), r.cache, Good("testing"), t0_ + absl::Hours(1));
  EXPECT_EQ(changed.policy->mode, StsMode::kTesting);
  EXPECT_EQ(changed.cache->id, "2");
}

TEST_F(StsCacheTest, CachedEnforceSurvivesTxtRemovalUntilExpiry) {
  const StsResolution first = ResolveSts(Found("1"), std::nullopt, Good(), t0_);
  const StsTxtLookup absent{StsTxtLookup::Status::kAbsent, ""};
  StsResolution later = ResolveSts(absent, first.cache, std::nullopt, t0_ + absl::Hours(23));
  ASSERT_TRUE(later.policy.has_value());
  EXPECT_EQ(later.policy->mode, StsMode::kEnforce);
  StsResolution expired = ResolveSts(absent, first.cache, std::nullopt, t0_ + absl::Hours(25));
  EXPECT_FALSE(expired.policy.has_value());
  EXPECT_FALSE(expired.cache.has_value());
}

TEST_F(StsCacheTest, FetchFailuresAsData) {
  StsFetch network;
  network.outcome = StsFetch::Outcome::kNetworkError;
  StsFetch cert;
  cert.outcome = StsFetch::Outcome::kBadCertificate;
  StsFetch not_found = Good();
  not_found.http_status = 404;
  StsFetch html = Good();
  html.content_type = "text/html";
  StsFetch garbage = Good();
  garbage.body = "version: STSv1\n";
  const std::pair<StsFetch, const char*> cases[] = {
      {network, "sts-policy-fetch-error"}, {cert, "sts-webpki-invalid"},
      {not_found, "sts-policy-fetch-error"}, {html, "sts-policy-invalid"},
      {garbage, "sts-policy-invalid"}};
  const StsResolution cached = ResolveSts(Found("1"), std::nullopt, Good(), t0_);
  for (const auto& [fetch, type] : cases) {
    StsResolution none = ResolveSts(Found("2"), std::nullopt, fetch, t0_);
    EXPECT_FALSE(none.policy.has_value());
    EXPECT_EQ(none.failure_result_type, type);
    // A valid cached policy stays in force when a refetch fails.
    StsResolution kept = ResolveSts(Found("2"), cached.cache, fetch, t0_ + absl::Hours(1));
    EXPECT_EQ(kept.policy, cached.policy);
    EXPECT_EQ(kept.failure_result_type, type);
  }
}

}  // namespace
}  // namespace starling::policy
