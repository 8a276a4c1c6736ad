#include "core/policy/json/facts_json.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace starling::policy {
namespace {

TEST(FactsJsonTest, ParsesEveryField) {
  absl::StatusOr<TlsFacts> f = TlsFactsFromJson(R"({
    "version": "TLSv1.3", "cipher_suite": "TLS_AES_128_GCM_SHA256",
    "key_exchange_group": "x25519", "forward_secret": true, "sni": "mx.example.com",
    "chain_verdict": "untrusted-root", "trust_anchor_dn": "", "chain_detail": "no anchor",
    "peer_chain": [{"subject_dn": "CN=mx", "issuer_dn": "CN=ca", "common_name": "mx",
      "dns_names": ["mx.example.com"], "not_before": "2024-01-01T00:00:00Z",
      "not_after": "2026-01-01T00:00:00Z", "key_type": "ECDSA", "key_bits": 256,
      "signature_algorithm": "SHA-256/ECDSA", "der_hex": "3082", "spki_der_hex": "30",
      "sha256_hex": "00ff", "spki_sha256_hex": ""}]})");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->version, TlsVersion::kTls13);
  EXPECT_TRUE(f->forward_secret);
  EXPECT_EQ(f->chain_verdict, ChainVerdict::kUntrustedRoot);
  ASSERT_EQ(f->peer_chain.size(), 1u);
  EXPECT_EQ(f->peer_chain[0].der, std::string("\x30\x82", 2));
  EXPECT_EQ(f->peer_chain[0].not_after, absl::FromUnixSeconds(1767225600));
  EXPECT_EQ(f->peer_chain[0].key_bits, 256);
}

TEST(FactsJsonTest, ClearErrors) {
  EXPECT_EQ(TlsFactsFromJson("{").status().message(), "facts: not JSON");
  EXPECT_EQ(TlsFactsFromJson(R"({"versoin": "TLSv1.2"})").status().message(),
            "facts: versoin: unknown field");
  EXPECT_EQ(TlsFactsFromJson(R"({"forward_secret": "yes"})").status().message(),
            "facts: forward_secret: expected true or false");
  EXPECT_EQ(TlsFactsFromJson(R"({"chain_verdict": "fine"})").status().message(),
            "facts: chain_verdict: unknown verdict 'fine'");
  EXPECT_FALSE(TlsFactsFromJson(R"({"peer_chain": [{"der_hex": "xyz"}]})").ok());
  EXPECT_FALSE(TlsFactsFromJson(R"({"peer_chain": [{"not_after": "yesterday"}]})").ok());
}

TEST(FactsJsonTest, NamesEveryMissingRequiredField) {
  EXPECT_EQ(TlsFactsFromJson(R"({"version": "TLSv1.2", "chain_verdict": "trusted",
      "peer_chain": [{"subject_dn": "CN=mx", "dns_names": []}]})")
                .status()
                .message(),
            "facts: missing required fields: cipher_suite, forward_secret, "
            "trust_anchor_dn, peer_chain[0].issuer_dn, peer_chain[0].not_before, "
            "peer_chain[0].not_after, peer_chain[0].der_hex (or sha256_hex) "
            "(docs/admin-guide.md, \"Facts JSON\")");
  // An anonymous session (no certificate) needs no certificate fields.
  EXPECT_TRUE(TlsFactsFromJson(R"({"version": "TLSv1.2", "cipher_suite": "X",
      "forward_secret": false, "chain_verdict": "not-checked", "peer_chain": []})")
                  .ok());
}

}  // namespace
}  // namespace starling::policy
