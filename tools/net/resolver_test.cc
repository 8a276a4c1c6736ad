#include "tools/net/resolver.h"

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/net/testing/dns_world.h"
#include "tools/testing/loopback.h"

namespace starling::net {
namespace {

using ::starling::net::testing::DnsWorld;
using ::starling::tools::testing::LoopbackSocket;
using ::starling::net::testing::TestZone;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using policy::DnssecStatus;

constexpr char kHashA[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
constexpr char kHashB[] =
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
constexpr char kHashC[] =
    "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

std::vector<TestZone> Zones() {
  return {
      {"example.", TestZone::Kind::kSigned,
       absl::StrCat(R"(
secure IN MX 10 mx.secure
mx.secure IN A 127.0.0.1
mx.secure IN AAAA ::1
_25._tcp.mx.secure IN TLSA 3 1 1 )", kHashA, R"(
_25._tcp.mx.secure IN TLSA 2 0 1 )", kHashB, R"(
_mta-sts.secure IN TXT "v=STSv1; " "id=20240101;"
alias IN CNAME mx.secure
nullmx IN MX 0 .
implicit IN A 127.0.0.1
tampered IN MX 10 mx.tampered
mx.tampered IN A 127.0.0.1
_25._tcp.mx.tampered IN TLSA 3 1 1 )", kHashC, "\n"),
       {{kHashC, kHashB}}},
      {"expired.example.", TestZone::Kind::kExpiredSignatures,
       "@ IN MX 10 mx\nmx IN A 127.0.0.1\n", {}},
      {"unsigned.example.", TestZone::Kind::kUnsigned,
       absl::StrCat("@ IN MX 10 mx\nmx IN A 127.0.0.1\n_25._tcp.mx IN TLSA 3 1 1 ",
                    kHashA, "\n"),
       {}},
      {"broken.example.", TestZone::Kind::kServFail, "", {}},
      {"example.net.", TestZone::Kind::kUnsigned,
       absl::StrCat("insecure IN MX 10 mx.insecure\nmx.insecure IN A 127.0.0.1\n"
                    "_25._tcp.mx.insecure IN TLSA 3 1 1 ",
                    kHashA, "\n"),
       {}},
  };
}

class ResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // gtest 1.12 runs the tests of a suite whose SetUpTestSuite skipped or
    // failed, so SetUp skips or fails each one (errors are printed once).
    if (std::string missing = DnsWorld::MissingTool(); !missing.empty()) {
      *missing_tool_ = missing;
      return;
    }
    absl::StatusOr<std::string> dir = tools::testing::MakeTestDirectory("dns");
    ASSERT_TRUE(dir.ok()) << dir.status();
    absl::StatusOr<std::unique_ptr<DnsWorld>> world = DnsWorld::Start(*dir, Zones());
    ASSERT_TRUE(world.ok()) << world.status();
    world_ = world->release();
  }
  static void TearDownTestSuite() {
    delete world_;
    world_ = nullptr;
  }

  void SetUp() override {
    if (!missing_tool_->empty()) {
      GTEST_SKIP() << *missing_tool_ << " is not installed: run tools/install-test-peers";
    }
    ASSERT_NE(world_, nullptr) << "the DNS world did not start (the error is above)";
    absl::StatusOr<std::unique_ptr<Resolver>> resolver =
        Resolver::Create(world_->ValidatingResolver(absl::Seconds(5)));
    ASSERT_TRUE(resolver.ok()) << resolver.status();
    resolver_ = *std::move(resolver);
  }

  static DnsWorld* world_;
  static std::string* const missing_tool_;
  std::unique_ptr<Resolver> resolver_;
};

DnsWorld* ResolverTest::world_ = nullptr;
std::string* const ResolverTest::missing_tool_ = new std::string;

TEST_F(ResolverTest, SecureMxAndAddresses) {
  absl::StatusOr<DnsAnswer<MxRecord>> mx = resolver_->LookupMx("Secure.Example.");
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->name, "secure.example");
  EXPECT_EQ(mx->outcome, DnsOutcome::kAnswer);
  EXPECT_EQ(mx->dnssec, DnssecStatus::kSecure) << mx->detail;
  EXPECT_THAT(mx->records, ElementsAre(MxRecord{10, "mx.secure.example"}));

  absl::StatusOr<DnsAnswer<std::string>> a = resolver_->LookupA("mx.secure.example");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dnssec, DnssecStatus::kSecure);
  EXPECT_THAT(a->records, ElementsAre("127.0.0.1"));
  absl::StatusOr<DnsAnswer<std::string>> aaaa =
      resolver_->LookupAaaa("mx.secure.example");
  ASSERT_TRUE(aaaa.ok()) << aaaa.status();
  EXPECT_EQ(aaaa->dnssec, DnssecStatus::kSecure);
  EXPECT_THAT(aaaa->records, ElementsAre("::1"));
}

TEST_F(ResolverTest, SecureTlsa) {
  absl::StatusOr<DnsAnswer<policy::TlsaRecord>> tlsa =
      resolver_->LookupTlsa("mx.secure.example");
  ASSERT_TRUE(tlsa.ok()) << tlsa.status();
  EXPECT_EQ(tlsa->name, "_25._tcp.mx.secure.example");
  EXPECT_EQ(tlsa->outcome, DnsOutcome::kAnswer);
  EXPECT_EQ(tlsa->dnssec, DnssecStatus::kSecure) << tlsa->detail;
  ASSERT_EQ(tlsa->records.size(), 2u);
  std::vector<std::string> texts;
  for (const policy::TlsaRecord& r : tlsa->records) texts.push_back(TlsaRecordText(r));
  EXPECT_THAT(texts, ::testing::UnorderedElementsAre(
                         absl::StrCat("3 1 1 ", kHashA), absl::StrCat("2 0 1 ", kHashB)));
}

TEST_F(ResolverTest, TxtRecordStringsAreJoined) {
  absl::StatusOr<DnsAnswer<std::string>> txt =
      resolver_->LookupTxt("_mta-sts.secure.example");
  ASSERT_TRUE(txt.ok()) << txt.status();
  EXPECT_EQ(txt->dnssec, DnssecStatus::kSecure);
  EXPECT_THAT(txt->records, ElementsAre("v=STSv1; id=20240101;"));
}

TEST_F(ResolverTest, CnameIsFollowedAndReported) {
  absl::StatusOr<DnsAnswer<std::string>> a = resolver_->LookupA("alias.example");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->outcome, DnsOutcome::kAnswer);
  EXPECT_EQ(a->dnssec, DnssecStatus::kSecure);
  EXPECT_EQ(a->canonical_name, "mx.secure.example");
  EXPECT_THAT(a->records, ElementsAre("127.0.0.1"));
}

TEST_F(ResolverTest, NxDomainIsAnAuthenticatedDenial) {
  absl::StatusOr<DnsAnswer<std::string>> a = resolver_->LookupA("nothing.example");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->outcome, DnsOutcome::kNxDomain);
  EXPECT_EQ(a->dnssec, DnssecStatus::kSecure);
  EXPECT_TRUE(a->records.empty());
}

TEST_F(ResolverTest, NoDataIsNotNxDomain) {
  absl::StatusOr<DnsAnswer<MxRecord>> mx = resolver_->LookupMx("implicit.example");
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->outcome, DnsOutcome::kNoData);
  EXPECT_EQ(mx->dnssec, DnssecStatus::kSecure);
}

TEST_F(ResolverTest, NullMx) {
  absl::StatusOr<DnsAnswer<MxRecord>> mx = resolver_->LookupMx("nullmx.example");
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->outcome, DnsOutcome::kAnswer);
  EXPECT_THAT(mx->records, ElementsAre(MxRecord{0, "."}));
}

TEST_F(ResolverTest, ZoneOutsideTheTrustAnchorIsInsecure) {
  absl::StatusOr<DnsAnswer<policy::TlsaRecord>> tlsa =
      resolver_->LookupTlsa("mx.insecure.example.net");
  ASSERT_TRUE(tlsa.ok()) << tlsa.status();
  EXPECT_EQ(tlsa->outcome, DnsOutcome::kAnswer);
  EXPECT_EQ(tlsa->dnssec, DnssecStatus::kInsecure);
  EXPECT_EQ(tlsa->records.size(), 1u);
}

TEST_F(ResolverTest, DelegationWithoutDsIsInsecure) {
  absl::StatusOr<DnsAnswer<policy::TlsaRecord>> tlsa =
      resolver_->LookupTlsa("mx.unsigned.example");
  ASSERT_TRUE(tlsa.ok()) << tlsa.status();
  EXPECT_EQ(tlsa->outcome, DnsOutcome::kAnswer);
  EXPECT_EQ(tlsa->dnssec, DnssecStatus::kInsecure) << tlsa->detail;
  EXPECT_EQ(tlsa->records.size(), 1u);
}

TEST_F(ResolverTest, RecordEditedAfterSigningIsBogus) {
  absl::StatusOr<DnsAnswer<policy::TlsaRecord>> tlsa =
      resolver_->LookupTlsa("mx.tampered.example");
  ASSERT_TRUE(tlsa.ok()) << tlsa.status();
  EXPECT_EQ(tlsa->dnssec, DnssecStatus::kBogus);
  EXPECT_THAT(tlsa->detail, HasSubstr("signature")) << tlsa->detail;
  // The MX RRset of the same zone is untouched and still secure.
  absl::StatusOr<DnsAnswer<MxRecord>> mx = resolver_->LookupMx("tampered.example");
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->dnssec, DnssecStatus::kSecure);
}

TEST_F(ResolverTest, ExpiredSignaturesAreBogus) {
  absl::StatusOr<DnsAnswer<MxRecord>> mx = resolver_->LookupMx("expired.example");
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->dnssec, DnssecStatus::kBogus);
  EXPECT_THAT(mx->detail, HasSubstr("expired")) << mx->detail;
}

TEST_F(ResolverTest, ServFailIsATemporaryError) {
  absl::StatusOr<DnsAnswer<std::string>> a = resolver_->LookupA("mx.broken.example");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->outcome, DnsOutcome::kServFail);
  EXPECT_THAT(a->detail, HasSubstr("SERVFAIL"));
  EXPECT_TRUE(a->records.empty());
}

TEST_F(ResolverTest, BatchAnswersInQuestionOrder) {
  DnsQueries queries;
  queries.mx = {"secure.example", "nullmx.example"};
  queries.a = {"mx.secure.example", "nothing.example"};
  queries.tlsa_hosts = {"mx.insecure.example.net"};
  queries.txt = {"_mta-sts.secure.example"};
  absl::StatusOr<DnsAnswers> answers = resolver_->Lookup(queries);
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->mx.size(), 2u);
  EXPECT_EQ(answers->mx[0].name, "secure.example");
  EXPECT_THAT(answers->mx[1].records, ElementsAre(MxRecord{0, "."}));
  ASSERT_EQ(answers->a.size(), 2u);
  EXPECT_EQ(answers->a[0].outcome, DnsOutcome::kAnswer);
  EXPECT_EQ(answers->a[1].outcome, DnsOutcome::kNxDomain);
  ASSERT_EQ(answers->tlsa.size(), 1u);
  EXPECT_EQ(answers->tlsa[0].dnssec, DnssecStatus::kInsecure);
  EXPECT_TRUE(answers->aaaa.empty());
  ASSERT_EQ(answers->txt.size(), 1u);
  EXPECT_EQ(answers->txt[0].name, "_mta-sts.secure.example");
}

TEST_F(ResolverTest, UnansweredQueriesTimeOutWithinTheBound) {
  // A server that never answers, and a port where nothing listens (unbound
  // keeps retrying that one for about 17 s).
  absl::StatusOr<LoopbackSocket> silent = LoopbackSocket::Bind(LoopbackSocket::Kind::kUdp);
  ASSERT_TRUE(silent.ok()) << silent.status();
  absl::StatusOr<LoopbackSocket> closed = LoopbackSocket::Bind(LoopbackSocket::Kind::kUdp);
  ASSERT_TRUE(closed.ok()) << closed.status();
  closed->Close();
  ResolverOptions options = world_->ValidatingResolver(absl::Seconds(1));
  options.stub_zones = {{"silent.example.net.", {silent->dns_address()}},
                        {"closed.example.net.", {closed->dns_address()}}};
  absl::StatusOr<std::unique_ptr<Resolver>> resolver = Resolver::Create(options);
  ASSERT_TRUE(resolver.ok()) << resolver.status();
  DnsQueries queries;
  queries.a = {"mx.silent.example.net", "mx.closed.example.net", "mx.secure.example"};
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<DnsAnswers> answers = (*resolver)->Lookup(queries);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(answers.ok()) << answers.status();
  EXPECT_LT(elapsed, std::chrono::seconds(3));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(answers->a[i].outcome, DnsOutcome::kServFail) << answers->a[i].name;
    EXPECT_THAT(answers->a[i].detail, HasSubstr("timed out"));
  }
  // A query that was answered in time is kept.
  EXPECT_EQ(answers->a[2].outcome, DnsOutcome::kAnswer);
  EXPECT_EQ(answers->a[2].dnssec, DnssecStatus::kSecure);
}

TEST_F(ResolverTest, StubZoneAnswersValidate) {
  ResolverOptions options;
  options.stub_zones = {{"example.", {world_->address()}}};
  options.trust_anchor_file = world_->trust_anchor_file();
  options.timeout = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<Resolver>> resolver = Resolver::Create(options);
  ASSERT_TRUE(resolver.ok()) << resolver.status();
  absl::StatusOr<DnsAnswer<MxRecord>> mx = (*resolver)->LookupMx("secure.example");
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->dnssec, DnssecStatus::kSecure) << mx->detail;
  EXPECT_THAT(mx->records, ElementsAre(MxRecord{10, "mx.secure.example"}));
}

TEST_F(ResolverTest, InlineTrustAnchor) {
  std::ifstream file(world_->trust_anchor_file());
  std::string ds;
  std::getline(file, ds);
  ResolverOptions options;
  options.forwarders = {world_->address()};
  options.trust_anchors = {ds};
  absl::StatusOr<std::unique_ptr<Resolver>> resolver = Resolver::Create(options);
  ASSERT_TRUE(resolver.ok()) << resolver.status();
  absl::StatusOr<DnsAnswer<MxRecord>> mx = (*resolver)->LookupMx("secure.example");
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->dnssec, DnssecStatus::kSecure) << mx->detail;
}

TEST_F(ResolverTest, WithoutTrustAnchorsNothingIsSecure) {
  ResolverOptions options;
  options.forwarders = {world_->address()};
  absl::StatusOr<std::unique_ptr<Resolver>> resolver = Resolver::Create(options);
  ASSERT_TRUE(resolver.ok()) << resolver.status();
  absl::StatusOr<DnsAnswer<MxRecord>> mx = (*resolver)->LookupMx("secure.example");
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->outcome, DnsOutcome::kAnswer);
  EXPECT_EQ(mx->dnssec, DnssecStatus::kInsecure);
}

TEST_F(ResolverTest, LocalProblemsAreErrors) {
  EXPECT_EQ(resolver_->LookupA("bad name.example").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(resolver_->LookupMx("a..example").status().code(),
            absl::StatusCode::kInvalidArgument);

  ResolverOptions missing_anchor;
  missing_anchor.trust_anchor_file = "/nonexistent/root.key";
  absl::Status status = Resolver::Create(missing_anchor).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent/root.key"));

  ResolverOptions bad_anchor;
  bad_anchor.trust_anchors = {"example. DS not a ds record"};
  EXPECT_FALSE(Resolver::Create(bad_anchor).ok());

  ResolverOptions bad_forwarder;
  bad_forwarder.forwarders = {"not-an-address"};
  status = Resolver::Create(bad_forwarder).status();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("not-an-address"));

  ResolverOptions no_timeout;
  no_timeout.timeout = absl::ZeroDuration();
  EXPECT_EQ(Resolver::Create(no_timeout).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace starling::net
