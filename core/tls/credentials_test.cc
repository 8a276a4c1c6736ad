#include "core/tls/credentials.h"

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "botan/pkcs8.h"
#include "botan/x509_crl.h"
#include "botan/x509cert.h"
#include "core/tls/facts.h"
#include "core/tls/testing/test_pki.h"
#include "gmock/gmock.h"
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

// ---- credentials from files ---------------------------------------------------

std::string Data(absl::string_view name) {
  return absl::StrCat("core/tls/testdata/", name);
}

// Every key format real admins have loads, and gives the same key.
TEST(CredentialsFilesTest, EveryKeyFormatLoads) {
  struct Case {
    const char* cert;
    const char* key;
    const char* passphrase;
    const char* type;
  };
  for (const Case& c : {Case{"ec_selfsigned.crt", "ec_pkcs8.pem", "", "ECDSA"},
                        Case{"ec_selfsigned.crt", "ec_sec1.pem", "", "ECDSA"},
                        Case{"ec_selfsigned.crt", "ec_pkcs8_encrypted.pem",
                             "correct-horse", "ECDSA"},
                        Case{"rsa_selfsigned.crt", "rsa_pkcs1.pem", "", "RSA"}}) {
    SCOPED_TRACE(c.key);
    absl::StatusOr<std::shared_ptr<const Identity>> identity =
        Identity::FromFiles(Data(c.cert), Data(c.key), c.passphrase);
    ASSERT_TRUE(identity.ok()) << identity.status();
    EXPECT_EQ((*identity)->key_type(), c.type);
    EXPECT_EQ((*identity)->chain().size(), 1u);
  }
}

TEST(CredentialsFilesTest, ClearErrors) {
  const auto message = [](const absl::Status& status) {
    return std::string(status.message());
  };
  absl::Status locked = Identity::FromFiles(Data("ec_selfsigned.crt"),
                                            Data("ec_pkcs8_encrypted.pem"))
                            .status();
  EXPECT_EQ(locked.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(message(locked), ::testing::HasSubstr("passphrase is needed"));
  absl::Status wrong = Identity::FromFiles(Data("ec_selfsigned.crt"),
                                           Data("ec_pkcs8_encrypted.pem"), "nope")
                           .status();
  EXPECT_THAT(message(wrong), ::testing::HasSubstr("wrong passphrase"));
  absl::Status mismatch =
      Identity::FromFiles(Data("rsa_selfsigned.crt"), Data("ec_sec1.pem")).status();
  EXPECT_THAT(message(mismatch), ::testing::HasSubstr("does not match"));
  absl::Status missing =
      Identity::FromFiles(Data("missing.crt"), Data("ec_sec1.pem")).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(message(missing), ::testing::HasSubstr("missing.crt"));
  absl::Status no_key =
      Identity::FromFiles(Data("ec_selfsigned.crt"), Data("ec_selfsigned.crt"))
          .status();
  EXPECT_THAT(message(no_key), ::testing::HasSubstr("no private key"));
}

TEST(CredentialsFilesTest, TrustStoreFromABundleOrADirectory) {
  absl::StatusOr<std::shared_ptr<const TrustStore>> file =
      TrustStore::FromPath(Data("ec_selfsigned.crt"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->anchor_count(), 1u);
  // The directory holds both self-signed certificates (key files are skipped).
  absl::StatusOr<std::shared_ptr<const TrustStore>> dir =
      TrustStore::FromPath("core/tls/testdata");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ((*dir)->anchor_count(), 2u);
  EXPECT_EQ(TrustStore::FromPath(Data("nothing-here")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(TrustStore::FromPath(Data("ec_sec1.pem")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The system's hashed directory, when this machine has one.
TEST(CredentialsFilesTest, SystemHashedDirectory) {
  if (!std::filesystem::exists("/etc/ssl/certs")) {
    GTEST_SKIP() << "/etc/ssl/certs does not exist here";
  }
  absl::StatusOr<std::shared_ptr<const TrustStore>> system =
      TrustStore::FromPath("/etc/ssl/certs");
  if (!system.ok() && system.status().code() == absl::StatusCode::kInvalidArgument) {
    GTEST_SKIP() << "/etc/ssl/certs holds no certificate (ca-certificates absent)";
  }
  ASSERT_TRUE(system.ok()) << system.status();
  EXPECT_GT((*system)->anchor_count(), 10u);
}

// A self-signed certificate given as the trust anchor is trusted.
TEST(CredentialsFilesTest, SelfSignedAnchorIsTrusted) {
  absl::StatusOr<std::shared_ptr<const Identity>> identity =
      Identity::FromFiles(Data("ec_selfsigned.crt"), Data("ec_sec1.pem"));
  ASSERT_TRUE(identity.ok()) << identity.status();
  absl::StatusOr<std::shared_ptr<const TrustStore>> trust =
      TrustStore::FromPath(Data("ec_selfsigned.crt"));
  ASSERT_TRUE(trust.ok()) << trust.status();
  const Botan::X509_Certificate& cert = (*identity)->chain().front();
  const absl::Time inside = absl::FromUnixSeconds(static_cast<int64_t>(
                                cert.not_before().time_since_epoch())) +
                            absl::Hours(24);
  const ChainCheck check = CheckChain((*identity)->chain(), **trust, inside,
                                      Botan::Usage_Type::TLS_SERVER_AUTH, 110);
  EXPECT_EQ(check.verdict, ChainVerdict::kTrusted) << check.detail;
  // Without it as an anchor it is what it is: self-signed.
  absl::StatusOr<std::shared_ptr<const TrustStore>> other =
      TrustStore::FromPath(Data("rsa_selfsigned.crt"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(CheckChain((*identity)->chain(), **other, inside,
                       Botan::Usage_Type::TLS_SERVER_AUTH, 110)
                .verdict,
            ChainVerdict::kSelfSigned);
}

}  // namespace
}  // namespace starling::tls
