#include "core/tls/credentials.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "botan/pkcs8.h"
#include "botan/x509_crl.h"
#include "botan/x509cert.h"
#include "core/tls/testing/test_pki.h"
#include "gtest/gtest.h"

namespace starling::tls {
namespace {

using ::starling::tls::testing::CertKind;
using ::starling::tls::testing::TestPki;

const TestPki& Pki() {
  static const std::shared_ptr<const TestPki> pki =
      TestPki::Get(7, absl::FromUnixSeconds(1700000000));
  return *pki;
}

std::string ChainPem(const Identity& identity) {
  std::string pem;
  for (const Botan::X509_Certificate& cert : identity.chain()) {
    pem += cert.PEM_encode();
  }
  return pem;
}

TEST(CredentialsTest, IdentityFromPem) {
  const Identity& good = *Pki().identity(CertKind::kGood);
  absl::StatusOr<std::shared_ptr<const Identity>> identity =
      Identity::FromPem(ChainPem(good), Botan::PKCS8::PEM_encode(good.key()));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ((*identity)->ChainDer(), good.ChainDer());
  EXPECT_EQ((*identity)->key_type(), "ECDSA");
}

TEST(CredentialsTest, IdentityRefusesAMismatchedKey) {
  const Identity& good = *Pki().identity(CertKind::kGood);
  const Identity& other = *Pki().identity(CertKind::kGoodRsa);
  EXPECT_EQ(Identity::FromPem(ChainPem(good),
                              Botan::PKCS8::PEM_encode(other.key()))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Identity::FromPem("", Botan::PKCS8::PEM_encode(good.key()))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Identity::FromPem(ChainPem(good), "garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CredentialsTest, TrustStoreFromPemAndDer) {
  const std::string root_pem =
      Botan::X509_Certificate(
          reinterpret_cast<const uint8_t*>(Pki().root_der().data()),
          Pki().root_der().size())
          .PEM_encode();
  const std::string crl_pem =
      Botan::X509_CRL(std::vector<uint8_t>(Pki().crl_der().begin(),
                                           Pki().crl_der().end()))
          .PEM_encode();
  absl::StatusOr<std::shared_ptr<const TrustStore>> store =
      TrustStore::FromPem(root_pem + "\n" + crl_pem);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->anchor_count(), 1u);

  store = TrustStore::FromDer({Pki().root_der(), Pki().new_root_der()},
                              {Pki().crl_der()});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->anchor_count(), 2u);

  EXPECT_EQ(TrustStore::FromDer({"junk"}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TrustStore::FromPem("-----BEGIN CERTIFICATE-----\nAAAA\n"
                                "-----END CERTIFICATE-----\n")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace starling::tls
