#include "tools/net/destination.h"

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/policy/dane.h"
#include "core/policy/mta_sts.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/net/testing/dns_world.h"
#include "tools/net/testing/policy_host.h"

namespace starling::net {
namespace {

using ::starling::net::testing::DnsWorld;
using ::starling::net::testing::HostCertificate;
using ::starling::net::testing::PolicyDomain;
using ::starling::net::testing::PolicyHost;
using ::starling::net::testing::PolicyResponse;
using ::starling::net::testing::TestZone;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using policy::DaneStatus;
using policy::DnssecStatus;
using policy::StsMode;

constexpr char kHashA[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
constexpr char kHashB[] =
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
constexpr char kHashC[] =
    "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

// A domain with one MX host "mx.<name>" and an MTA-STS TXT record.
std::string StsDomain(absl::string_view name, absl::string_view id) {
  return absl::StrCat(name, " IN MX 10 mx.", name, "\nmx.", name,
                      " IN A 127.0.0.1\n_mta-sts.", name,
                      " IN TXT \"v=STSv1; id=", id, ";\"\n");
}

// The records of a mutable zone whose apex is a policy domain.
std::string ApexZone(absl::string_view id) {
  std::string records = "@ IN MX 10 mx\nmx IN A 127.0.0.1\n";
  if (!id.empty()) absl::StrAppend(&records, "_mta-sts IN TXT \"v=STSv1; id=", id, ";\"\n");
  return records;
}

std::vector<TestZone> Zones() {
  std::string example = absl::StrCat(R"(
dane IN MX 20 mx2.dane
dane IN MX 10 mx1.dane
mx1.dane IN A 127.0.0.1
mx1.dane IN AAAA ::1
mx2.dane IN A 127.0.0.2
_25._tcp.mx1.dane IN TLSA 3 1 1 )", kHashA, R"(
_smtp._tls.dane IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@dane.example,https://reports.dane.example/v1"
nullmx IN MX 0 .
implicit IN A 127.0.0.1
_25._tcp.implicit IN TLSA 3 1 1 )", kHashA, R"(
_smtp._tls.implicit IN TXT "v=TLSRPTv1; rua=ftp://reports.example"
weird IN MX 10 mx.weird
weird IN MX 5 .
weird IN MX 20 under_score.weird
weird IN MX 30 MX.Weird
mx.weird IN A 127.0.0.1
tampered IN MX 10 mx.tampered
mx.tampered IN A 127.0.0.1
_25._tcp.mx.tampered IN TLSA 3 1 1 )", kHashC, R"(
unusable IN MX 10 mx.unusable
mx.unusable IN A 127.0.0.1
_25._tcp.mx.unusable IN TLSA 0 0 1 )", kHashA, R"(
_25._tcp.mx.unusable IN TLSA 3 1 1 abcd
tlsafail IN MX 10 mx.tlsafail
mx.tlsafail IN A 127.0.0.1
cnamed IN MX 10 mx.cnamed
mx.cnamed IN CNAME mx.insecure.example.net.
_25._tcp.mx.cnamed IN TLSA 3 1 1 )", kHashA, "\n");
  for (const char* name : {"testing", "none", "mismatch", "maxage", "webpki",
                           "redirect", "corrupt", "stsfail"}) {
    absl::StrAppend(&example, StsDomain(name, "1"));
  }
  // stsfail's own _mta-sts TXT is hidden by a SERVFAIL zone; drop it here.
  example = absl::StrReplaceAll(
      example, {{"_mta-sts.stsfail IN TXT \"v=STSv1; id=1;\"\n", ""}});
  return {
      {"example.", TestZone::Kind::kSigned, example, {{kHashC, kHashB}}},
      {"expired.example.", TestZone::Kind::kExpiredSignatures,
       "@ IN MX 10 mx\nmx IN A 127.0.0.1\n", {}},
      {"broken.example.", TestZone::Kind::kServFail, "", {}},
      {"_tcp.mx.tlsafail.example.", TestZone::Kind::kServFail, "", {}},
      {"_mta-sts.stsfail.example.", TestZone::Kind::kServFail, "", {}},
      {"life.example.", TestZone::Kind::kSigned, ApexZone("1"), {}},
      {"rotate.example.", TestZone::Kind::kSigned, ApexZone("1"), {}},
      {"example.net.", TestZone::Kind::kUnsigned,
       absl::StrCat("insecure IN MX 10 mx.insecure\nmx.insecure IN A 127.0.0.1\n"
                    "_25._tcp.mx.insecure IN TLSA 3 1 1 ",
                    kHashA, "\n"),
       {}},
  };
}

std::string Policy(absl::string_view mode, absl::string_view mx,
                   absl::string_view max_age = "86400") {
  std::string text = absl::StrCat("version: STSv1\r\nmode: ", mode, "\r\n");
  if (!mx.empty()) absl::StrAppend(&text, "mx: ", mx, "\r\n");
  absl::StrAppend(&text, "max_age: ", max_age, "\r\n");
  return text;
}

PolicyResponse Serve(std::string body) {
  PolicyResponse r;
  r.body = std::move(body);
  return r;
}

std::vector<PolicyDomain> PolicyDomains() {
  PolicyResponse redirect;
  redirect.status = 301;
  redirect.location = "https://mta-sts.testing.example/.well-known/mta-sts.txt";
  return {
      {"life.example", HostCertificate::kValid,
       Serve(Policy("enforce", "mx.life.example"))},
      {"rotate.example", HostCertificate::kValid,
       Serve(Policy("enforce", "mx.rotate.example"))},
      {"testing.example", HostCertificate::kValid,
       Serve(Policy("testing", "mx.testing.example"))},
      {"none.example", HostCertificate::kValid, Serve(Policy("none", ""))},
      {"mismatch.example", HostCertificate::kValid,
       Serve(Policy("enforce", "mx.other.example"))},
      {"maxage.example", HostCertificate::kValid,
       Serve(Policy("enforce", "*.maxage.example", "9999999999"))},
      {"webpki.example", HostCertificate::kUntrustedCa,
       Serve(Policy("enforce", "mx.webpki.example"))},
      {"redirect.example", HostCertificate::kValid, redirect},
      {"corrupt.example", HostCertificate::kValid,
       Serve(Policy("enforce", "mx.corrupt.example"))},
      {"stsfail.example", HostCertificate::kValid,
       Serve(Policy("testing", "mx.stsfail.example"))},
  };
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);  // 2027-01-15

class DestinationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // gtest 1.12 runs the tests of a suite whose SetUpTestSuite skipped or
    // failed, so SetUp skips or fails each one (errors are printed once).
    for (const std::string& missing : {DnsWorld::MissingTool(), PolicyHost::MissingTool()}) {
      if (!missing.empty()) {
        *missing_tool_ = missing;
        return;
      }
    }
    absl::StatusOr<std::string> dns_dir = tools::testing::MakeTestDirectory("dns");
    ASSERT_TRUE(dns_dir.ok()) << dns_dir.status();
    absl::StatusOr<std::string> https_dir = tools::testing::MakeTestDirectory("policy-host");
    ASSERT_TRUE(https_dir.ok()) << https_dir.status();
    absl::StatusOr<std::unique_ptr<DnsWorld>> world = DnsWorld::Start(*dns_dir, Zones());
    ASSERT_TRUE(world.ok()) << world.status();
    absl::StatusOr<std::unique_ptr<PolicyHost>> host =
        PolicyHost::Start(*https_dir, PolicyDomains());
    ASSERT_TRUE(host.ok()) << host.status();
    world_ = world->release();
    host_ = host->release();
  }
  static void TearDownTestSuite() {
    delete host_;
    host_ = nullptr;
    delete world_;
    world_ = nullptr;
  }

  void SetUp() override {
    if (!missing_tool_->empty()) {
      GTEST_SKIP() << *missing_tool_ << " is not installed: run tools/install-test-peers";
    }
    ASSERT_NE(host_, nullptr) << "the test world did not start (the error is above)";
    StsFetchOptions options;
    options.ca_file = host_->ca_file();
    options.connect_to = {host_->connect_to()};
    options.timeout = absl::Seconds(5);
    absl::StatusOr<StsPolicyFetcher> fetcher = StsPolicyFetcher::Create(options);
    ASSERT_TRUE(fetcher.ok()) << fetcher.status();
    fetcher_.emplace(*std::move(fetcher));
    absl::StatusOr<std::string> dir = tools::testing::MakeTestDirectory("sts-cache");
    ASSERT_TRUE(dir.ok()) << dir.status();
    absl::StatusOr<StsCache> cache = StsCache::Open(*dir);
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_.emplace(*std::move(cache));
  }

  // A fresh resolver each time: nothing cached from before a zone update.
  DestinationResolution Resolve(absl::string_view domain, absl::Time now,
                                bool with_cache = true) {
    absl::StatusOr<std::unique_ptr<Resolver>> resolver =
        Resolver::Create(world_->ValidatingResolver(absl::Seconds(5)));
    EXPECT_TRUE(resolver.ok()) << resolver.status();
    if (!resolver.ok()) return {};
    absl::StatusOr<DestinationResolution> r = ResolveDestination(
        domain, **resolver, *fetcher_, with_cache ? &*cache_ : nullptr, now);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : DestinationResolution{};
  }

  std::string CacheFile(absl::string_view domain) {
    return *cache_->PathFor(domain);
  }

  static DnsWorld* world_;
  static std::string* const missing_tool_;
  static PolicyHost* host_;
  std::optional<StsPolicyFetcher> fetcher_;
  std::optional<StsCache> cache_;
};

DnsWorld* DestinationTest::world_ = nullptr;
std::string* const DestinationTest::missing_tool_ = new std::string;
PolicyHost* DestinationTest::host_ = nullptr;

TEST_F(DestinationTest, MxHostsInPreferenceOrderWithDane) {
  const DestinationResolution r = Resolve("Dane.Example.", kT0);
  EXPECT_EQ(r.domain, "dane.example");
  EXPECT_EQ(r.mx_status, MxStatus::kFound);
  EXPECT_EQ(r.mx.dnssec, DnssecStatus::kSecure);
  ASSERT_EQ(r.hosts.size(), 2u);
  EXPECT_EQ(r.hosts[0].host, "mx1.dane.example");
  EXPECT_EQ(r.hosts[0].preference, 10);
  EXPECT_THAT(r.hosts[0].a.records, ElementsAre("127.0.0.1"));
  EXPECT_THAT(r.hosts[0].aaaa.records, ElementsAre("::1"));
  EXPECT_EQ(r.hosts[0].dane.dnssec, DnssecStatus::kSecure);
  ASSERT_EQ(r.hosts[0].dane.records.size(), 1u);
  EXPECT_EQ(policy::TlsaRecordText(r.hosts[0].dane.records[0]),
            absl::StrCat("3 1 1 ", kHashA));
  EXPECT_EQ(policy::ClassifyDane(r.hosts[0].dane), DaneStatus::kUsable);

  EXPECT_EQ(r.hosts[1].host, "mx2.dane.example");
  EXPECT_EQ(r.hosts[1].tlsa.outcome, DnsOutcome::kNxDomain);
  EXPECT_EQ(r.hosts[1].dane.dnssec, DnssecStatus::kSecure);
  EXPECT_EQ(policy::ClassifyDane(r.hosts[1].dane), DaneStatus::kNone);
  EXPECT_THAT(r.hosts[1].dane_reason, HasSubstr("authenticated denial"));

  EXPECT_EQ(r.tls_rpt.status, TlsRptResult::Status::kFound);
  EXPECT_THAT(r.tls_rpt.rua, ElementsAre("mailto:tlsrpt@dane.example",
                                         "https://reports.dane.example/v1"));

  // No MTA-STS record: nothing fetched, nothing cached.
  EXPECT_EQ(r.mta_sts.txt_lookup.status, policy::StsTxtLookup::Status::kAbsent);
  EXPECT_FALSE(r.mta_sts.fetch.has_value());
  EXPECT_FALSE(r.mta_sts.resolution.policy.has_value());
  EXPECT_FALSE(Exists(CacheFile("dane.example")));
}

TEST_F(DestinationTest, NullMxAcceptsNoMail) {
  const DestinationResolution r = Resolve("nullmx.example", kT0);
  EXPECT_EQ(r.mx_status, MxStatus::kNullMx);
  EXPECT_TRUE(r.hosts.empty());
}

TEST_F(DestinationTest, NoMxMeansTheDomainItself) {
  const DestinationResolution r = Resolve("implicit.example", kT0);
  EXPECT_EQ(r.mx_status, MxStatus::kImplicit);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].host, "implicit.example");
  EXPECT_THAT(r.hosts[0].a.records, ElementsAre("127.0.0.1"));
  EXPECT_EQ(policy::ClassifyDane(r.hosts[0].dane), DaneStatus::kUsable)
      << r.hosts[0].dane_reason;
  EXPECT_EQ(r.tls_rpt.status, TlsRptResult::Status::kInvalid);
  EXPECT_THAT(r.tls_rpt.problem, HasSubstr("ftp://"));
}

TEST_F(DestinationTest, NoSuchDomain) {
  const DestinationResolution r = Resolve("missing.example", kT0);
  EXPECT_EQ(r.mx_status, MxStatus::kNoSuchDomain);
  EXPECT_EQ(r.mx.dnssec, DnssecStatus::kSecure);
  EXPECT_TRUE(r.hosts.empty());
}

TEST_F(DestinationTest, ServFailIsTemporary) {
  const DestinationResolution r = Resolve("broken.example", kT0);
  EXPECT_EQ(r.mx_status, MxStatus::kTemporaryError);
  EXPECT_TRUE(r.hosts.empty());
  EXPECT_EQ(r.tls_rpt.status, TlsRptResult::Status::kTemporaryError);
}

TEST_F(DestinationTest, BogusMxIsNeverUsed) {
  const DestinationResolution r = Resolve("expired.example", kT0);
  EXPECT_EQ(r.mx_status, MxStatus::kBogus);
  EXPECT_TRUE(r.hosts.empty());
  EXPECT_FALSE(r.mx.detail.empty());
}

TEST_F(DestinationTest, UnusableMxRecordsAreSkippedWithANote) {
  const DestinationResolution r = Resolve("weird.example", kT0);
  EXPECT_EQ(r.mx_status, MxStatus::kFound);
  ASSERT_EQ(r.hosts.size(), 1u);  // MX.Weird is the same host at 30
  EXPECT_EQ(r.hosts[0].host, "mx.weird.example");
  EXPECT_EQ(r.hosts[0].preference, 10);
  ASSERT_EQ(r.notes.size(), 2u);
  EXPECT_THAT(r.notes[0], HasSubstr("null MX"));
  EXPECT_THAT(r.notes[1], HasSubstr("under_score.weird.example"));
}

TEST_F(DestinationTest, TlsaEditedAfterSigningIsBogus) {
  const DestinationResolution r = Resolve("tampered.example", kT0);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.mx.dnssec, DnssecStatus::kSecure);
  EXPECT_EQ(r.hosts[0].tlsa.dnssec, DnssecStatus::kBogus);
  EXPECT_EQ(policy::ClassifyDane(r.hosts[0].dane), DaneStatus::kBogus);
  EXPECT_THAT(r.hosts[0].dane_reason, HasSubstr("TLSA RRset is bogus"));
}

TEST_F(DestinationTest, UnusableTlsaParameters) {
  const DestinationResolution r = Resolve("unusable.example", kT0);
  ASSERT_EQ(r.hosts.size(), 1u);
  const policy::DaneState& dane = r.hosts[0].dane;
  EXPECT_EQ(dane.dnssec, DnssecStatus::kSecure);
  ASSERT_EQ(dane.records.size(), 2u);
  EXPECT_EQ(policy::ClassifyDane(dane), DaneStatus::kAllUnusable);
  for (const policy::TlsaRecord& record : dane.records) {
    EXPECT_FALSE(policy::TlsaUnusableReason(record).empty())
        << policy::TlsaRecordText(record);
  }
}

TEST_F(DestinationTest, FailedTlsaLookupCountsAsBogus) {
  const DestinationResolution r = Resolve("tlsafail.example", kT0);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].tlsa.outcome, DnsOutcome::kServFail);
  EXPECT_EQ(policy::ClassifyDane(r.hosts[0].dane), DaneStatus::kBogus);
  EXPECT_THAT(r.hosts[0].dane_reason, HasSubstr("lookup failed"));
}

TEST_F(DestinationTest, UnsignedZoneHasNoDane) {
  const DestinationResolution r = Resolve("insecure.example.net", kT0);
  EXPECT_EQ(r.mx_status, MxStatus::kFound);
  EXPECT_EQ(r.mx.dnssec, DnssecStatus::kInsecure);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].tlsa.records.size(), 1u);  // present, not trusted
  EXPECT_EQ(r.hosts[0].dane.dnssec, DnssecStatus::kInsecure);
  EXPECT_EQ(policy::ClassifyDane(r.hosts[0].dane), DaneStatus::kNone);
  EXPECT_THAT(r.hosts[0].dane_reason, HasSubstr("MX RRset is insecure"));
}

TEST_F(DestinationTest, InsecureAddressesTurnDaneOff) {
  const DestinationResolution r = Resolve("cnamed.example", kT0);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.hosts[0].a.canonical_name, "mx.insecure.example.net");
  EXPECT_EQ(r.hosts[0].a.dnssec, DnssecStatus::kInsecure);
  EXPECT_EQ(r.hosts[0].tlsa.dnssec, DnssecStatus::kSecure);
  EXPECT_EQ(policy::ClassifyDane(r.hosts[0].dane), DaneStatus::kNone);
  EXPECT_THAT(r.hosts[0].dane_reason, HasSubstr("address records are insecure"));
}

TEST_F(DestinationTest, EnforcePolicyOutlivesItsTxtRecordUntilItExpires) {
  // First contact: TXT id 1, fetched, cached.
  DestinationResolution r = Resolve("life.example", kT0);
  ASSERT_TRUE(r.mta_sts.fetch.has_value());
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->mode, StsMode::kEnforce);
  EXPECT_TRUE(policy::StsMxMatches(*r.mta_sts.resolution.policy, r.hosts[0].host));
  EXPECT_TRUE(r.mta_sts.cache_error.empty()) << r.mta_sts.cache_error;
  absl::StatusOr<std::optional<policy::StsCacheEntry>> cached = cache_->Load("life.example");
  ASSERT_TRUE(cached.ok() && cached->has_value()) << cached.status();
  EXPECT_EQ((*cached)->id, "1");
  EXPECT_EQ((*cached)->fetched_at, kT0);

  // An hour later, same id: the cache answers, nothing is fetched.
  r = Resolve("life.example", kT0 + absl::Hours(1));
  EXPECT_FALSE(r.mta_sts.fetch.has_value());
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->mode, StsMode::kEnforce);

  // The TXT record is removed: the cached enforce policy stays in force.
  ASSERT_TRUE(world_->UpdateZone("life.example.", ApexZone("")).ok());
  r = Resolve("life.example", kT0 + absl::Hours(2));
  EXPECT_EQ(r.mta_sts.txt.outcome, DnsOutcome::kNxDomain);
  EXPECT_EQ(r.mta_sts.txt_lookup.status, policy::StsTxtLookup::Status::kAbsent);
  EXPECT_FALSE(r.mta_sts.fetch.has_value());
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->mode, StsMode::kEnforce);
  EXPECT_TRUE(Exists(CacheFile("life.example")));

  // After max_age the entry is dropped, and its file with it.
  r = Resolve("life.example", kT0 + absl::Seconds(86400) + absl::Seconds(1));
  EXPECT_FALSE(r.mta_sts.resolution.policy.has_value());
  EXPECT_FALSE(Exists(CacheFile("life.example")));
  EXPECT_TRUE(r.mta_sts.cache_error.empty()) << r.mta_sts.cache_error;
}

TEST_F(DestinationTest, NewTxtIdRefetchesAndAFailedRefreshKeepsTheCache) {
  DestinationResolution r = Resolve("rotate.example", kT0);
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->mode, StsMode::kEnforce);

  // New id, new policy on the host: fetched again although the cached one
  // is still valid.
  ASSERT_TRUE(host_->SetResponse("rotate.example",
                                 Serve(Policy("testing", "mx.rotate.example")))
                  .ok());
  ASSERT_TRUE(world_->UpdateZone("rotate.example.", ApexZone("2")).ok());
  r = Resolve("rotate.example", kT0 + absl::Hours(1));
  ASSERT_TRUE(r.mta_sts.fetch.has_value());
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->mode, StsMode::kTesting);
  absl::StatusOr<std::optional<policy::StsCacheEntry>> cached =
      cache_->Load("rotate.example");
  ASSERT_TRUE(cached.ok() && cached->has_value()) << cached.status();
  EXPECT_EQ((*cached)->id, "2");
  EXPECT_EQ((*cached)->fetched_at, kT0 + absl::Hours(1));

  // Id 3, but the host fails: the cached policy (id 2) stays in force and
  // the failure is reported.
  PolicyResponse gone;
  gone.status = 404;
  ASSERT_TRUE(host_->SetResponse("rotate.example", gone).ok());
  ASSERT_TRUE(world_->UpdateZone("rotate.example.", ApexZone("3")).ok());
  r = Resolve("rotate.example", kT0 + absl::Hours(2));
  ASSERT_TRUE(r.mta_sts.fetch.has_value());
  EXPECT_EQ(r.mta_sts.fetch->http_status, 404);
  EXPECT_EQ(r.mta_sts.resolution.failure_result_type, "sts-policy-fetch-error");
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->mode, StsMode::kTesting);
  cached = cache_->Load("rotate.example");
  ASSERT_TRUE(cached.ok() && cached->has_value()) << cached.status();
  EXPECT_EQ((*cached)->id, "2");
}

TEST_F(DestinationTest, PolicyModes) {
  DestinationResolution r = Resolve("testing.example", kT0);
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->mode, StsMode::kTesting);

  r = Resolve("none.example", kT0);
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->mode, StsMode::kNone);
  EXPECT_TRUE(r.mta_sts.resolution.policy->mx.empty());
}

TEST_F(DestinationTest, PolicyThatDoesNotListTheMx) {
  const DestinationResolution r = Resolve("mismatch.example", kT0);
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->mode, StsMode::kEnforce);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_FALSE(policy::StsMxMatches(*r.mta_sts.resolution.policy, r.hosts[0].host));
}

TEST_F(DestinationTest, MaxAgeBeyondAYearIsClamped) {
  const DestinationResolution r = Resolve("maxage.example", kT0);
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->max_age, policy::kStsMaxAgeLimit);
  EXPECT_THAT(ReadFile(CacheFile("maxage.example")),
              HasSubstr("\"max_age\": 31557600"));
  EXPECT_TRUE(policy::StsMxMatches(*r.mta_sts.resolution.policy, "mx.maxage.example"));
}

TEST_F(DestinationTest, FetchFailuresCarryTheirRfc8460Types) {
  DestinationResolution r = Resolve("webpki.example", kT0);
  ASSERT_TRUE(r.mta_sts.fetch.has_value());
  EXPECT_EQ(r.mta_sts.fetch->outcome, policy::StsFetch::Outcome::kBadCertificate);
  EXPECT_EQ(r.mta_sts.resolution.failure_result_type, "sts-webpki-invalid");
  EXPECT_FALSE(r.mta_sts.resolution.policy.has_value());
  EXPECT_FALSE(Exists(CacheFile("webpki.example")));

  r = Resolve("redirect.example", kT0);
  ASSERT_TRUE(r.mta_sts.fetch.has_value());
  EXPECT_EQ(r.mta_sts.fetch->http_status, 301);
  EXPECT_EQ(r.mta_sts.resolution.failure_result_type, "sts-policy-fetch-error");
  EXPECT_FALSE(r.mta_sts.resolution.policy.has_value());
}

TEST_F(DestinationTest, CorruptCacheFileIsReportedAndReplaced) {
  {
    std::ofstream out(CacheFile("corrupt.example"));
    out << "{\"format\": \"starling-mta-sts-cache/1\", \"id\": ";
  }
  const DestinationResolution r = Resolve("corrupt.example", kT0);
  EXPECT_THAT(r.mta_sts.cache_error, HasSubstr(CacheFile("corrupt.example")));
  EXPECT_THAT(r.mta_sts.cache_error, HasSubstr("not JSON"));
  ASSERT_TRUE(r.mta_sts.fetch.has_value());
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  absl::StatusOr<std::optional<policy::StsCacheEntry>> cached =
      cache_->Load("corrupt.example");
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ((*cached)->policy.mode, StsMode::kEnforce);
}

TEST_F(DestinationTest, FailedTxtLookupKeepsTheCachedPolicy) {
  policy::StsCacheEntry entry;
  entry.id = "7";
  entry.policy.mode = StsMode::kEnforce;
  entry.policy.mx = {"mx.stsfail.example"};
  entry.policy.max_age = 86400;
  entry.fetched_at = kT0 - absl::Hours(1);
  ASSERT_TRUE(cache_->Store("stsfail.example", entry).ok());
  const DestinationResolution r = Resolve("stsfail.example", kT0);
  EXPECT_EQ(r.mta_sts.txt.outcome, DnsOutcome::kServFail);
  EXPECT_EQ(r.mta_sts.txt_lookup.status,
            policy::StsTxtLookup::Status::kTemporaryError);
  EXPECT_FALSE(r.mta_sts.fetch.has_value());
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_EQ(r.mta_sts.resolution.policy->mode, StsMode::kEnforce);
}

TEST_F(DestinationTest, WorksWithoutACache) {
  const DestinationResolution r = Resolve("testing.example", kT0, /*with_cache=*/false);
  ASSERT_TRUE(r.mta_sts.fetch.has_value());
  ASSERT_TRUE(r.mta_sts.resolution.policy.has_value());
  EXPECT_FALSE(Exists(CacheFile("testing.example")));
}

TEST_F(DestinationTest, WhatThePolicyEngineIsTold) {
  DestinationResolution r = Resolve("dane.example", kT0);
  policy::DestinationState state = DestinationStateFor(r, kT0);
  EXPECT_EQ(state.now, kT0);
  ASSERT_EQ(state.dane_by_mx.size(), 2u);
  EXPECT_EQ(policy::ClassifyDane(state.dane_by_mx.at("mx1.dane.example")),
            DaneStatus::kUsable);
  EXPECT_EQ(policy::ClassifyDane(state.dane_by_mx.at("mx2.dane.example")),
            DaneStatus::kNone);
  EXPECT_FALSE(state.sts.has_value());
  EXPECT_TRUE(state.sts_failure.empty());

  r = Resolve("testing.example", kT0);
  state = DestinationStateFor(r, kT0);
  ASSERT_TRUE(state.sts.has_value());
  EXPECT_EQ(state.sts->mode, StsMode::kTesting);

  r = Resolve("webpki.example", kT0);
  state = DestinationStateFor(r, kT0);
  EXPECT_FALSE(state.sts.has_value());
  EXPECT_EQ(state.sts_failure, "sts-webpki-invalid");
}

TEST_F(DestinationTest, NotADomainIsAnError) {
  absl::StatusOr<std::unique_ptr<Resolver>> resolver =
      Resolver::Create(world_->ValidatingResolver(absl::Seconds(5)));
  ASSERT_TRUE(resolver.ok()) << resolver.status();
  EXPECT_EQ(ResolveDestination("not a domain", **resolver, *fetcher_, &*cache_, kT0)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace starling::net
