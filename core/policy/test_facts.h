#ifndef STARLING_CORE_POLICY_TEST_FACTS_H_
#define STARLING_CORE_POLICY_TEST_FACTS_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::policy::testing {

// `size` bytes determined by `data`: a stand-in for a digest. Policy never
// hashes, it compares what the TLS layer reports (core/tls computes real
// digests with Botan), so its tests need distinct, repeatable bytes only.
inline std::string StandInDigest(absl::string_view data, size_t size) {
  std::string out(size, '\0');
  uint64_t h = 1469598103934665603ULL;  // FNV-1a, then one step per byte
  for (char c : data) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  for (size_t i = 0; i < size; ++i) {
    h = (h ^ i) * 1099511628211ULL;
    out[i] = static_cast<char>(h >> 56);
  }
  return out;
}

inline std::string StandInDigest32(absl::string_view data) {
  return StandInDigest(data, 32);
}
inline std::string StandInDigest64(absl::string_view data) {
  return StandInDigest(data, 64);
}

inline void FillStandInDigests(CertificateFacts& c) {
  c.sha256 = StandInDigest(c.der, 32);
  c.spki_sha256 = StandInDigest(c.spki_der, 32);
  c.sha512 = StandInDigest(c.der, 64);
  c.spki_sha512 = StandInDigest(c.spki_der, 64);
  c.sha1 = StandInDigest(c.der, 20);
  c.spki_sha1 = StandInDigest(c.spki_der, 20);
  c.md5 = StandInDigest(c.der, 16);
  c.spki_md5 = StandInDigest(c.spki_der, 16);
}

// A fake certificate: DER and SPKI are stand-in bytes (policy only hashes and
// compares them), valid 2024-01-01 .. 2026-01-01.
inline CertificateFacts FakeCert(const std::string& subject,
                                 const std::string& issuer,
                                 std::vector<std::string> dns_names,
                                 const std::string& key_seed) {
  CertificateFacts c;
  c.subject_dn = subject;
  c.issuer_dn = issuer;
  c.dns_names = std::move(dns_names);
  c.not_before = absl::FromUnixSeconds(1704067200);  // 2024-01-01
  c.not_after = absl::FromUnixSeconds(1767225600);   // 2026-01-01
  c.key_type = "ECDSA";
  c.key_bits = 256;
  c.signature_algorithm = "SHA-256/ECDSA";
  c.spki_der = absl::StrCat("spki:", key_seed);
  c.der = absl::StrCat("cert:", subject, "|", issuer, "|", c.spki_der);
  FillStandInDigests(c);
  return c;
}

inline absl::Time TestNow() { return absl::FromUnixSeconds(1735689600); }  // 2025-01-01

// A trusted TLS 1.3 session with a leaf for `names` under an intermediate
// and a root.
inline TlsFacts GoodFacts(std::vector<std::string> names = {"mx.example.com"}) {
  TlsFacts f;
  f.version = TlsVersion::kTls13;
  f.cipher_suite = "TLS_AES_128_GCM_SHA256";
  f.key_exchange_group = "x25519";
  f.forward_secret = true;
  f.sni = names.empty() ? "" : names[0];
  f.peer_chain.push_back(FakeCert("CN=leaf", "CN=Intermediate CA,O=Example",
                                  std::move(names), "leaf"));
  f.peer_chain.push_back(FakeCert("CN=Intermediate CA,O=Example",
                                  "CN=Root CA,O=Example", {}, "intermediate"));
  f.chain_verdict = ChainVerdict::kTrusted;
  f.trust_anchor_dn = "CN=Root CA,O=Example";
  return f;
}

}  // namespace starling::policy::testing

#endif  // STARLING_CORE_POLICY_TEST_FACTS_H_
