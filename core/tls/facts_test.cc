#include "core/tls/facts.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "botan/x509cert.h"
#include "core/tls/testing/test_pki.h"
#include "gtest/gtest.h"

namespace starling::tls {
namespace {

using ::starling::tls::testing::AllCertKinds;
using ::starling::tls::testing::CertKind;
using ::starling::tls::testing::CertKindName;
using ::starling::tls::testing::ExpectedVerdict;
using ::starling::tls::testing::TestPki;

const absl::Time kReference = absl::FromUnixSeconds(1700000000);

const TestPki& Pki() {
  static const std::shared_ptr<const TestPki> pki = TestPki::Get(7, kReference);
  return *pki;
}

ChainCheck Check(CertKind kind, absl::Time at = kReference,
                 size_t min_strength = 110) {
  return CheckChain(Pki().identity(kind)->chain(), *Pki().trust_store(), at,
                    Botan::Usage_Type::TLS_SERVER_AUTH, min_strength);
}

TEST(FactsTest, EveryKindGetsItsVerdict) {
  for (CertKind kind : AllCertKinds()) {
    const ChainCheck check = Check(kind);
    EXPECT_EQ(check.verdict, ExpectedVerdict(kind))
        << CertKindName(kind) << ": " << check.detail;
  }
}

TEST(FactsTest, TrustedChainNamesItsAnchor) {
  const ChainCheck check = Check(CertKind::kGood);
  EXPECT_TRUE(absl::StrContains(check.trust_anchor_dn, "Starling Test Root CA"));
  EXPECT_TRUE(check.detail.empty());
  EXPECT_TRUE(absl::StrContains(Check(CertKind::kRolloverNew).trust_anchor_dn,
                                "New Root"));
}

TEST(FactsTest, VerdictsSayWhy) {
  EXPECT_TRUE(absl::StrContains(Check(CertKind::kRevoked).detail, "revoked"))
      << Check(CertKind::kRevoked).detail;
  EXPECT_TRUE(absl::StrContains(Check(CertKind::kRsa1024).detail, "1024"));
}

TEST(FactsTest, StrengthThresholdIsThePolicys) {
  // At 80 bits of security RSA-1024 and SHA-1 pass.
  EXPECT_EQ(Check(CertKind::kRsa1024, kReference, 80).verdict,
            ChainVerdict::kTrusted);
  EXPECT_EQ(Check(CertKind::kSha1Signed, kReference, 80).verdict,
            ChainVerdict::kTrusted);
  // At 128 bits, RSA-2048 is weak too.
  EXPECT_EQ(Check(CertKind::kGoodRsa, kReference, 128).verdict,
            ChainVerdict::kWeakKeyOrHash);
}

TEST(FactsTest, ValidationTimeIsInjected) {
  EXPECT_EQ(Check(CertKind::kGood, kReference + absl::Hours(24 * 336)).verdict,
            ChainVerdict::kExpired);
  EXPECT_EQ(Check(CertKind::kExpired, kReference - absl::Hours(24 * 100)).verdict,
            ChainVerdict::kTrusted);
  EXPECT_EQ(Check(CertKind::kNotYetValid, kReference + absl::Hours(24 * 31))
                .verdict,
            ChainVerdict::kTrusted);
}

TEST(FactsTest, EmptyChain) {
  EXPECT_EQ(CheckChain({}, *Pki().trust_store(), kReference,
                       Botan::Usage_Type::TLS_SERVER_AUTH, 110)
                .verdict,
            ChainVerdict::kOtherFailure);
}

TEST(FactsTest, DescribesACertificate) {
  const std::vector<std::string> der = Pki().identity(CertKind::kGoodRsa)->ChainDer();
  absl::StatusOr<CertificateFacts> leaf = DescribeCertificateDer(der[0]);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_EQ(leaf->common_name, "mx.example.net");
  EXPECT_EQ(leaf->dns_names, std::vector<std::string>{"mx.example.net"});
  EXPECT_TRUE(absl::StrContains(leaf->subject_dn, "mx.example.net"));
  EXPECT_TRUE(absl::StrContains(leaf->subject_dn, "Starling Test PKI"));
  EXPECT_TRUE(absl::StrContains(leaf->issuer_dn, "Starling Test Intermediate CA"));
  EXPECT_EQ(leaf->key_type, "RSA");
  EXPECT_EQ(leaf->key_bits, 2048);
  EXPECT_EQ(leaf->signature_algorithm, "SHA-256/ECDSA");
  EXPECT_EQ(leaf->der, der[0]);
  EXPECT_EQ(leaf->sha256.size(), 32u);
  EXPECT_EQ(leaf->spki_sha256.size(), 32u);
  EXPECT_NE(leaf->sha256, leaf->spki_sha256);
  // The SPKI is inside the certificate.
  EXPECT_TRUE(absl::StrContains(leaf->der, leaf->spki_der));
  // SHA-256 of the DER, checked against Botan's own fingerprint.
  const Botan::X509_Certificate cert = Pki().identity(CertKind::kGoodRsa)->chain()[0];
  std::string hex;
  for (unsigned char c : leaf->sha256) {
    static const char kHex[] = "0123456789ABCDEF";
    if (!hex.empty()) hex += ':';
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  EXPECT_EQ(hex, cert.fingerprint("SHA-256"));

  absl::StatusOr<CertificateFacts> intermediate = DescribeCertificateDer(der[1]);
  ASSERT_TRUE(intermediate.ok());
  EXPECT_EQ(intermediate->common_name, "Starling Test Intermediate CA");
  EXPECT_TRUE(intermediate->dns_names.empty());
  EXPECT_EQ(intermediate->key_type, "ECDSA");
}

TEST(FactsTest, SignatureAlgorithmNames) {
  auto sig = [](CertKind kind) {
    return DescribeCertificate(Pki().identity(kind)->chain()[0])
        .signature_algorithm;
  };
  EXPECT_EQ(sig(CertKind::kSha1Signed), "SHA-1/ECDSA");
  EXPECT_EQ(sig(CertKind::kSelfSigned), "SHA-256/ECDSA");
}

TEST(FactsTest, GarbageDoesNotParse) {
  EXPECT_EQ(DescribeCertificateDer("not a certificate").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DescribeCertificateDer("").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The digests DANE and pins compare are computed here, with Botan: checked
// on the FIPS 180-4 / RFC 1321 "abc" vectors, each over the right bytes.
TEST(FactsTest, FillDigestsComputesEveryDigestOfDerAndSpki) {
  CertificateFacts cert;
  cert.der = "abc";
  FillDigests(&cert);
  EXPECT_EQ(absl::BytesToHexString(cert.sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(absl::BytesToHexString(cert.sha512),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(absl::BytesToHexString(cert.sha1),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(absl::BytesToHexString(cert.md5), "900150983cd24fb0d6963f7d28e17f72");
  // Nothing to describe: no digest rather than the digest of nothing.
  EXPECT_TRUE(cert.spki_sha256.empty());
  EXPECT_TRUE(cert.spki_md5.empty());
  cert.spki_der = "abc";
  FillDigests(&cert);
  EXPECT_EQ(cert.spki_sha512, cert.sha512);
  EXPECT_EQ(cert.spki_sha1, cert.sha1);
}

TEST(FactsTest, Versions) {
  EXPECT_EQ(ToTlsVersion(Botan::TLS::Protocol_Version::TLS_V10),
            TlsVersion::kTls10);
  EXPECT_EQ(ToTlsVersion(Botan::TLS::Protocol_Version::TLS_V11),
            TlsVersion::kTls11);
  EXPECT_EQ(ToTlsVersion(Botan::TLS::Protocol_Version::TLS_V12),
            TlsVersion::kTls12);
  EXPECT_EQ(ToTlsVersion(Botan::TLS::Protocol_Version::DTLS_V12),
            TlsVersion::kUnknown);
}

}  // namespace
}  // namespace starling::tls
