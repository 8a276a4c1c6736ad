#include "tools/net/sts_fetcher.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/policy/mta_sts.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/testing/loopback.h"
#include "tools/net/testing/policy_host.h"

namespace starling::net {
namespace {

using ::starling::net::testing::HostCertificate;
using ::starling::tools::testing::LoopbackSocket;
using ::starling::net::testing::PolicyDomain;
using ::starling::net::testing::PolicyHost;
using ::starling::net::testing::PolicyResponse;
using ::testing::HasSubstr;
using policy::StsFetch;

constexpr char kEnforce[] =
    "version: STSv1\r\nmode: enforce\r\nmx: mx.enforce.example\r\n"
    "max_age: 86400\r\n";

PolicyResponse Ok(std::string body, std::string content_type = "text/plain") {
  PolicyResponse r;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

std::vector<PolicyDomain> Domains() {
  PolicyResponse moved;
  moved.status = 301;
  moved.location = "https://mta-sts.enforce.example/.well-known/mta-sts.txt";
  PolicyResponse to_http;
  to_http.status = 302;
  to_http.location = "http://mta-sts.enforce.example/.well-known/mta-sts.txt";
  PolicyResponse missing;
  missing.status = 404;
  missing.body = "not here\n";
  PolicyResponse big = Ok(kEnforce);
  big.padding = 70000;
  return {
      {"enforce.example", HostCertificate::kValid, Ok(kEnforce)},
      {"charset.example", HostCertificate::kValid,
       Ok(kEnforce, "text/plain; charset=utf-8")},
      {"moved.example", HostCertificate::kValid, moved},
      {"tohttp.example", HostCertificate::kValid, to_http},
      {"missing.example", HostCertificate::kValid, missing},
      {"html.example", HostCertificate::kValid, Ok(kEnforce, "text/html")},
      {"big.example", HostCertificate::kValid, big},
      {"untrusted.example", HostCertificate::kUntrustedCa, Ok(kEnforce)},
      {"wrongname.example", HostCertificate::kWrongName, Ok(kEnforce)},
  };
}

// What ResolveSts makes of a fetch for a domain with a TXT record and no
// cache: the policy, or the RFC 8460 failure type.
policy::StsResolution Resolve(const StsFetch& fetch) {
  policy::StsTxtLookup txt;
  txt.status = policy::StsTxtLookup::Status::kFound;
  txt.id = "20240101";
  return policy::ResolveSts(txt, std::nullopt, fetch, absl::Now());
}

class StsFetcherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // gtest 1.12 runs the tests of a suite whose SetUpTestSuite skipped or
    // failed, so SetUp skips or fails each one (errors are printed once).
    if (std::string missing = PolicyHost::MissingTool(); !missing.empty()) {
      *missing_tool_ = missing;
      return;
    }
    absl::StatusOr<std::string> dir = tools::testing::MakeTestDirectory("policy-host");
    ASSERT_TRUE(dir.ok()) << dir.status();
    absl::StatusOr<std::unique_ptr<PolicyHost>> host = PolicyHost::Start(*dir, Domains());
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = host->release();
  }
  static void TearDownTestSuite() {
    delete host_;
    host_ = nullptr;
  }

  void SetUp() override {
    if (!missing_tool_->empty()) {
      GTEST_SKIP() << *missing_tool_ << " is not installed: run tools/install-test-peers";
    }
    ASSERT_NE(host_, nullptr) << "the policy host did not start (the error is above)";
  }

  static StsFetchOptions Options() {
    StsFetchOptions options;
    options.ca_file = host_->ca_file();
    options.connect_to = {host_->connect_to()};
    options.timeout = absl::Seconds(5);
    return options;
  }

  static StsFetch Fetch(absl::string_view domain) {
    absl::StatusOr<StsPolicyFetcher> fetcher = StsPolicyFetcher::Create(Options());
    EXPECT_TRUE(fetcher.ok()) << fetcher.status();
    if (!fetcher.ok()) return {};
    absl::StatusOr<StsFetch> fetch = fetcher->Fetch(domain);
    EXPECT_TRUE(fetch.ok()) << fetch.status();
    return fetch.ok() ? *fetch : StsFetch{};
  }

  static PolicyHost* host_;
  static std::string* const missing_tool_;
};

PolicyHost* StsFetcherTest::host_ = nullptr;
std::string* const StsFetcherTest::missing_tool_ = new std::string;

TEST_F(StsFetcherTest, EnforcePolicy) {
  const StsFetch fetch = Fetch("enforce.example");
  EXPECT_EQ(fetch.outcome, StsFetch::Outcome::kCompleted) << fetch.detail;
  EXPECT_EQ(fetch.http_status, 200);
  EXPECT_EQ(fetch.content_type, "text/plain");
  EXPECT_EQ(fetch.body, kEnforce);
  const policy::StsResolution r = Resolve(fetch);
  ASSERT_TRUE(r.policy.has_value()) << r.failure_result_type;
  EXPECT_EQ(r.policy->mode, policy::StsMode::kEnforce);
  EXPECT_TRUE(r.failure_result_type.empty());
}

TEST_F(StsFetcherTest, ContentTypeParametersAreAllowed) {
  const StsFetch fetch = Fetch("charset.example");
  EXPECT_EQ(fetch.content_type, "text/plain; charset=utf-8");
  EXPECT_TRUE(Resolve(fetch).policy.has_value());
}

TEST_F(StsFetcherTest, RedirectIsNotFollowed) {
  const StsFetch fetch = Fetch("moved.example");
  EXPECT_EQ(fetch.outcome, StsFetch::Outcome::kCompleted);
  EXPECT_EQ(fetch.http_status, 301);
  EXPECT_THAT(fetch.detail, HasSubstr("not followed"));
  EXPECT_THAT(fetch.detail, HasSubstr("mta-sts.enforce.example"));
  const policy::StsResolution r = Resolve(fetch);
  EXPECT_FALSE(r.policy.has_value());
  EXPECT_EQ(r.failure_result_type, "sts-policy-fetch-error");
}

TEST_F(StsFetcherTest, RedirectToHttpIsNotFollowedEither) {
  const StsFetch fetch = Fetch("tohttp.example");
  EXPECT_EQ(fetch.http_status, 302);
  EXPECT_EQ(Resolve(fetch).failure_result_type, "sts-policy-fetch-error");
}

TEST_F(StsFetcherTest, NotFound) {
  const StsFetch fetch = Fetch("missing.example");
  EXPECT_EQ(fetch.http_status, 404);
  EXPECT_EQ(Resolve(fetch).failure_result_type, "sts-policy-fetch-error");
}

TEST_F(StsFetcherTest, HtmlIsNotAPolicy) {
  const StsFetch fetch = Fetch("html.example");
  EXPECT_EQ(fetch.http_status, 200);
  EXPECT_EQ(fetch.content_type, "text/html");
  EXPECT_EQ(Resolve(fetch).failure_result_type, "sts-policy-invalid");
}

TEST_F(StsFetcherTest, OversizeBodyIsCutAndInvalid) {
  const StsFetch fetch = Fetch("big.example");
  EXPECT_EQ(fetch.outcome, StsFetch::Outcome::kCompleted);
  EXPECT_EQ(fetch.body.size(), policy::kStsMaxPolicyBytes + 1);
  EXPECT_THAT(fetch.detail, HasSubstr("reading stopped"));
  EXPECT_EQ(Resolve(fetch).failure_result_type, "sts-policy-invalid");
}

TEST_F(StsFetcherTest, UntrustedCaIsAWebPkiFailure) {
  const StsFetch fetch = Fetch("untrusted.example");
  EXPECT_EQ(fetch.outcome, StsFetch::Outcome::kBadCertificate) << fetch.detail;
  EXPECT_EQ(Resolve(fetch).failure_result_type, "sts-webpki-invalid");
}

TEST_F(StsFetcherTest, WrongNameIsAWebPkiFailure) {
  const StsFetch fetch = Fetch("wrongname.example");
  EXPECT_EQ(fetch.outcome, StsFetch::Outcome::kBadCertificate) << fetch.detail;
  EXPECT_EQ(Resolve(fetch).failure_result_type, "sts-webpki-invalid");
}

TEST_F(StsFetcherTest, SystemStoreDoesNotTrustTheTestCa) {
  StsFetchOptions options = Options();
  options.ca_file.clear();
  absl::StatusOr<StsPolicyFetcher> fetcher = StsPolicyFetcher::Create(options);
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  absl::StatusOr<StsFetch> fetch = fetcher->Fetch("enforce.example");
  if (!fetch.ok()) {
    // A machine without a system store (no ca-certificates) says so.
    EXPECT_EQ(fetch.status().code(), absl::StatusCode::kFailedPrecondition)
        << fetch.status();
    return;
  }
  EXPECT_EQ(fetch->outcome, StsFetch::Outcome::kBadCertificate) << fetch->detail;
}

TEST_F(StsFetcherTest, RefusedConnectionIsANetworkError) {
  absl::StatusOr<LoopbackSocket> closed =
      LoopbackSocket::Bind(LoopbackSocket::Kind::kTcpListening);
  ASSERT_TRUE(closed.ok()) << closed.status();
  closed->Close();
  StsFetchOptions options = Options();
  options.connect_to = {absl::StrCat("::127.0.0.1:", closed->port())};
  absl::StatusOr<StsPolicyFetcher> fetcher = StsPolicyFetcher::Create(options);
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  absl::StatusOr<StsFetch> fetch = fetcher->Fetch("enforce.example");
  ASSERT_TRUE(fetch.ok()) << fetch.status();
  EXPECT_EQ(fetch->outcome, StsFetch::Outcome::kNetworkError);
  EXPECT_EQ(Resolve(*fetch).failure_result_type, "sts-policy-fetch-error");
}

TEST_F(StsFetcherTest, SilentServerTimesOutWithinTheBound) {
  // Listening but never accepting: the kernel completes TCP handshakes, TLS
  // never starts.
  absl::StatusOr<LoopbackSocket> silent =
      LoopbackSocket::Bind(LoopbackSocket::Kind::kTcpListening);
  ASSERT_TRUE(silent.ok()) << silent.status();
  StsFetchOptions options = Options();
  options.connect_to = {absl::StrCat("::127.0.0.1:", silent->port())};
  options.timeout = absl::Seconds(1);
  absl::StatusOr<StsPolicyFetcher> fetcher = StsPolicyFetcher::Create(options);
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<StsFetch> fetch = fetcher->Fetch("enforce.example");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(fetch.ok()) << fetch.status();
  EXPECT_EQ(fetch->outcome, StsFetch::Outcome::kNetworkError);
  EXPECT_THAT(fetch->detail, HasSubstr("timed out")) << fetch->detail;
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(StsFetcherTest, LocalProblemsAreErrors) {
  absl::StatusOr<StsPolicyFetcher> fetcher = StsPolicyFetcher::Create(Options());
  ASSERT_TRUE(fetcher.ok()) << fetcher.status();
  EXPECT_EQ(fetcher->Fetch("bad/domain").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fetcher->Fetch("x.example:8443@evil.example").status().code(),
            absl::StatusCode::kInvalidArgument);

  StsFetchOptions missing_ca = Options();
  missing_ca.ca_file = "/nonexistent/ca.pem";
  absl::Status status = StsPolicyFetcher::Create(missing_ca).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent/ca.pem"));

  StsFetchOptions missing_dir = Options();
  missing_dir.ca_dir = "/nonexistent";
  EXPECT_EQ(StsPolicyFetcher::Create(missing_dir).status().code(),
            absl::StatusCode::kNotFound);

  StsFetchOptions no_time = Options();
  no_time.timeout = absl::ZeroDuration();
  EXPECT_EQ(StsPolicyFetcher::Create(no_time).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StsPolicyUrlTest, WellKnownPathOnThePolicyHost) {
  EXPECT_EQ(StsPolicyUrl("example.com"),
            "https://mta-sts.example.com/.well-known/mta-sts.txt");
}

}  // namespace
}  // namespace starling::net
