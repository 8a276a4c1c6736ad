#include "core/tls/testing/test_pki.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/tls/facts.h"
#include "gtest/gtest.h"

namespace starling::tls::testing {
namespace {

const absl::Time kReference = absl::FromUnixSeconds(1700000000);

std::vector<std::string> Everything(const TestPki& pki) {
  std::vector<std::string> all = {pki.root_der(), pki.intermediate_der(),
                                  pki.untrusted_root_der(), pki.old_root_der(),
                                  pki.new_root_der(), pki.crl_der()};
  for (CertKind kind : AllCertKinds()) {
    for (const std::string& der : pki.identity(kind)->ChainDer()) {
      all.push_back(der);
    }
  }
  return all;
}

// Wall-clock cost, for the report only (the PKI itself reads no clock).
double Milliseconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - since)
      .count();
}

TEST(TestPkiTest, SameSeedAndTimeGiveTheSameBytes) {
  TestPki::ClearKeyCache();
  auto start = std::chrono::steady_clock::now();
  const auto cold = TestPki::Generate(99, kReference, "mx.example.net");
  const double cold_ms = Milliseconds(start);
  start = std::chrono::steady_clock::now();
  const auto warm = TestPki::Generate(99, kReference, "mx.example.net");
  const double warm_ms = Milliseconds(start);
  std::printf("test PKI: %.1f ms cold (key generation), %.1f ms with cached "
              "keys\n",
              cold_ms, warm_ms);
  EXPECT_EQ(Everything(*cold), Everything(*warm));

  // Without the key cache too: keys depend on (seed, role) only.
  TestPki::ClearKeyCache();
  const auto again = TestPki::Generate(99, kReference, "mx.example.net");
  EXPECT_EQ(Everything(*cold), Everything(*again));

  const auto other_seed = TestPki::Generate(100, kReference, "mx.example.net");
  EXPECT_NE(Everything(*cold)[0], Everything(*other_seed)[0]);
}

TEST(TestPkiTest, GetCaches) {
  const auto a = TestPki::Get(5, kReference);
  const auto b = TestPki::Get(5, kReference);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(a.get(), TestPki::Get(5, kReference + absl::Hours(1)).get());
  EXPECT_EQ(a->host_name(), "mx.example.net");
  EXPECT_EQ(a->reference(), kReference);
}

TEST(TestPkiTest, Catalogue) {
  const auto pki = TestPki::Get(5, kReference, "mail.example.org");
  auto leaf = [&](CertKind kind) {
    return DescribeCertificate(pki->identity(kind)->chain().at(0));
  };
  auto chain_size = [&](CertKind kind) {
    return pki->identity(kind)->chain().size();
  };
  EXPECT_EQ(leaf(CertKind::kGood).dns_names,
            std::vector<std::string>{"mail.example.org"});
  EXPECT_EQ(leaf(CertKind::kWildcard).dns_names,
            std::vector<std::string>{"*.example.org"});
  EXPECT_EQ(leaf(CertKind::kClient).common_name, "client.example.org");
  EXPECT_EQ(leaf(CertKind::kWrongName).common_name, "mail.wrong.example");
  EXPECT_EQ(leaf(CertKind::kGood).key_type, "ECDSA");
  EXPECT_EQ(leaf(CertKind::kGoodRsa).key_bits, 2048);
  EXPECT_EQ(leaf(CertKind::kRsa1024).key_bits, 1024);
  EXPECT_EQ(leaf(CertKind::kSha1Signed).signature_algorithm, "SHA-1/ECDSA");
  EXPECT_LT(leaf(CertKind::kExpired).not_after, kReference);
  EXPECT_GT(leaf(CertKind::kNotYetValid).not_before, kReference);
  EXPECT_EQ(leaf(CertKind::kSelfSigned).subject_dn,
            leaf(CertKind::kSelfSigned).issuer_dn);
  EXPECT_EQ(chain_size(CertKind::kGood), 2u);
  EXPECT_EQ(chain_size(CertKind::kSelfSigned), 1u);
  EXPECT_EQ(chain_size(CertKind::kMissingIntermediate), 1u);
  EXPECT_EQ(chain_size(CertKind::kUntrustedIssuer), 2u);
  EXPECT_EQ(leaf(CertKind::kRolloverOld).dns_names,
            leaf(CertKind::kRolloverNew).dns_names);
  EXPECT_NE(leaf(CertKind::kRolloverOld).issuer_dn,
            leaf(CertKind::kRolloverNew).issuer_dn);
  EXPECT_EQ(pki->trust_store()->anchor_count(), 3u);
  for (CertKind kind : AllCertKinds()) {
    EXPECT_NE(CertKindName(kind), "unknown");
  }
}

// The stores a world builds per run: the roots asked for, the CRL when
// asked, built once per combination.
TEST(TestPkiTest, TrustStoreOfHoldsTheRootsAskedForAndKeepsThem) {
  const auto pki = TestPki::Get(5, kReference, "mail.example.org");
  auto verdict = [&](CertKind kind, unsigned anchors, bool crl) {
    return CheckChain(pki->identity(kind)->chain(),
                      *pki->TrustStoreOf(anchors, crl), kReference,
                      Botan::Usage_Type::TLS_SERVER_AUTH, 110)
        .verdict;
  };
  const unsigned kDefault = kRootAnchor | kOldRootAnchor | kNewRootAnchor;
  EXPECT_EQ(pki->TrustStoreOf(kDefault, true).get(),
            pki->TrustStoreOf(kDefault, true).get());
  EXPECT_EQ(pki->TrustStoreOf(kDefault, true), pki->trust_store());
  EXPECT_EQ(pki->TrustStoreOf(kDefault, false), pki->trust_store_without_crl());
  EXPECT_NE(pki->TrustStoreOf(kDefault, true).get(),
            pki->TrustStoreOf(kDefault, false).get());
  EXPECT_EQ(pki->TrustStoreOf(kDefault, true)->anchor_count(), 3u);
  EXPECT_EQ(pki->TrustStoreOf(kUntrustedRootAnchor, false)->anchor_count(), 1u);
  for (CertKind kind : AllCertKinds()) {
    if (kind == CertKind::kClient) continue;
    // The default store is the one trust_store() is.
    EXPECT_EQ(verdict(kind, kDefault, true), ExpectedVerdict(kind))
        << CertKindName(kind);
  }
  EXPECT_EQ(verdict(CertKind::kRevoked, kDefault, false),
            ChainVerdict::kTrusted);
  EXPECT_NE(verdict(CertKind::kGood, kUntrustedRootAnchor, true),
            ChainVerdict::kTrusted);
  EXPECT_EQ(verdict(CertKind::kUntrustedIssuer, kUntrustedRootAnchor, true),
            ChainVerdict::kTrusted);
  EXPECT_EQ(verdict(CertKind::kRolloverNew, kNewRootAnchor, true),
            ChainVerdict::kTrusted);
  EXPECT_NE(verdict(CertKind::kRolloverOld, kNewRootAnchor, true),
            ChainVerdict::kTrusted);
}

}  // namespace
}  // namespace starling::tls::testing
