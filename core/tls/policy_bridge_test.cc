#include "core/tls/policy_bridge.h"

#include <algorithm>
#include <string>
#include <vector>

#include "botan/tls_ciphersuite.h"
#include "botan/tls_version.h"
#include "gtest/gtest.h"

namespace starling::tls {
namespace {

bool Has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

TEST(PolicyBridgeTest, DefaultsAreTls12ForwardSecretAead) {
  absl::StatusOr<BridgedPolicy> policy = BridgedPolicy::Create({});
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->allow_tls12());
  EXPECT_FALSE(policy->allow_tls11());
  EXPECT_FALSE(policy->allow_tls10());
  EXPECT_FALSE(policy->allow_dtls12());
  EXPECT_EQ(policy->latest_supported_version(false),
            Botan::TLS::Protocol_Version::TLS_V12);
  EXPECT_EQ(policy->allowed_key_exchange_methods(),
            (std::vector<std::string>{"ECDH", "DH"}));
  EXPECT_FALSE(Has(policy->allowed_key_exchange_methods(), "CECPQ1"));
  EXPECT_EQ(policy->allowed_ciphers(),
            (std::vector<std::string>{"ChaCha20Poly1305", "AES-256/GCM",
                                      "AES-128/GCM"}));
  EXPECT_FALSE(policy->include_time_in_hello_random());
  EXPECT_FALSE(policy->require_cert_revocation_info());
  EXPECT_EQ(policy->session_ticket_lifetime(), 0u);
  EXPECT_EQ(policy->minimum_rsa_bits(), 2048u);
  EXPECT_FALSE(policy->request_client_certificate_authentication());
  EXPECT_FALSE(policy->require_client_certificate_authentication());
  // Every suite Botan would offer is forward secret and AEAD.
  for (uint16_t id : policy->ciphersuite_list(
           Botan::TLS::Protocol_Version::TLS_V12, false)) {
    const Botan::TLS::Ciphersuite suite = Botan::TLS::Ciphersuite::by_id(id);
    EXPECT_TRUE(suite.kex_algo() == "ECDH" || suite.kex_algo() == "DH")
        << suite.to_string();
    EXPECT_EQ(suite.mac_algo(), "AEAD") << suite.to_string();
  }
}

TEST(PolicyBridgeTest, OldVersionsBringCbc) {
  ChannelPolicy wanted;
  wanted.min_version = TlsVersion::kTls10;
  absl::StatusOr<BridgedPolicy> policy = BridgedPolicy::Create(wanted);
  ASSERT_TRUE(policy.ok());
  EXPECT_TRUE(policy->allow_tls10());
  EXPECT_TRUE(policy->allow_tls11());
  EXPECT_TRUE(Has(policy->allowed_ciphers(), "AES-128"));
  EXPECT_FALSE(policy->ciphersuite_list(Botan::TLS::Protocol_Version::TLS_V10,
                                        false)
                   .empty());
}

TEST(PolicyBridgeTest, MaxVersionIsWhatTheClientOffers) {
  ChannelPolicy wanted;
  wanted.min_version = TlsVersion::kTls10;
  wanted.max_version = TlsVersion::kTls11;
  absl::StatusOr<BridgedPolicy> policy = BridgedPolicy::Create(wanted);
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(policy->max_version(), Botan::TLS::Protocol_Version::TLS_V11);
  EXPECT_FALSE(policy->allow_tls12());

  wanted.max_version = TlsVersion::kTls13;  // "the best there is"
  policy = BridgedPolicy::Create(wanted);
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(policy->max_version(), Botan::TLS::Protocol_Version::TLS_V12);
}

TEST(PolicyBridgeTest, ExclusionsGroupsKeysAndClientAuth) {
  ChannelPolicy wanted;
  wanted.cipher_exclusions = {"ChaCha20Poly1305", "AES-128/GCM"};
  wanted.groups = {"secp384r1", "ffdhe/ietf/3072"};
  wanted.min_rsa_bits = 3072;
  wanted.min_ecdsa_bits = 384;
  wanted.min_dh_bits = 3072;
  wanted.client_auth = ClientAuth::kRequest;
  absl::StatusOr<BridgedPolicy> policy = BridgedPolicy::Create(wanted);
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(policy->allowed_ciphers(), std::vector<std::string>{"AES-256/GCM"});
  EXPECT_EQ(policy->key_exchange_groups(),
            (std::vector<Botan::TLS::Group_Params>{
                Botan::TLS::Group_Params::SECP384R1,
                Botan::TLS::Group_Params::FFDHE_3072}));
  EXPECT_EQ(policy->default_dh_group(), Botan::TLS::Group_Params::FFDHE_3072);
  EXPECT_EQ(policy->minimum_rsa_bits(), 3072u);
  EXPECT_EQ(policy->minimum_ecdsa_group_size(), 384u);
  EXPECT_EQ(policy->minimum_dh_group_size(), 3072u);
  EXPECT_TRUE(policy->request_client_certificate_authentication());
  EXPECT_FALSE(policy->require_client_certificate_authentication());

  wanted.client_auth = ClientAuth::kRequire;
  policy = BridgedPolicy::Create(wanted);
  ASSERT_TRUE(policy.ok());
  EXPECT_TRUE(policy->require_client_certificate_authentication());
}

TEST(PolicyBridgeTest, StaticRsaNeedsForwardSecrecyOff) {
  ChannelPolicy wanted;
  wanted.key_exchanges = {"ECDH", "RSA"};
  EXPECT_EQ(BridgedPolicy::Create(wanted).status().code(),
            absl::StatusCode::kInvalidArgument);
  wanted.forward_secrecy_only = false;
  absl::StatusOr<BridgedPolicy> policy = BridgedPolicy::Create(wanted);
  ASSERT_TRUE(policy.ok());
  EXPECT_TRUE(Has(policy->allowed_signature_methods(), "IMPLICIT"));
}

TEST(PolicyBridgeTest, RejectsImpossiblePolicies) {
  auto code = [](ChannelPolicy wanted) {
    return BridgedPolicy::Create(wanted).status().code();
  };
  ChannelPolicy p;
  p.min_version = TlsVersion::kTls13;
  p.max_version = TlsVersion::kTls13;
  EXPECT_EQ(code(p), absl::StatusCode::kInvalidArgument);
  p = {};
  p.min_version = TlsVersion::kTls12;
  p.max_version = TlsVersion::kTls10;
  EXPECT_EQ(code(p), absl::StatusCode::kInvalidArgument);
  p = {};
  p.min_version = TlsVersion::kUnknown;
  EXPECT_EQ(code(p), absl::StatusCode::kInvalidArgument);
  p = {};
  p.key_exchanges = {"CECPQ1"};
  EXPECT_EQ(code(p), absl::StatusCode::kInvalidArgument);
  p = {};
  p.key_exchanges = {};
  EXPECT_EQ(code(p), absl::StatusCode::kInvalidArgument);
  p = {};
  p.cipher_exclusions = {"ChaCha20Poly1305", "AES-256/GCM", "AES-128/GCM"};
  EXPECT_EQ(code(p), absl::StatusCode::kInvalidArgument);
  p = {};
  p.groups = {"x448"};
  EXPECT_EQ(code(p), absl::StatusCode::kInvalidArgument);
  p = {};
  p.groups = {};
  EXPECT_EQ(code(p), absl::StatusCode::kInvalidArgument);
}

TEST(PolicyBridgeTest, GroupNames) {
  EXPECT_EQ(GroupName(29), "x25519");
  EXPECT_EQ(GroupName(23), "secp256r1");
  EXPECT_EQ(GroupName(256), "ffdhe/ietf/2048");
  EXPECT_EQ(GroupName(4242), "group/4242");
}

}  // namespace
}  // namespace starling::tls
