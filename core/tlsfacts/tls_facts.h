#ifndef STARLING_CORE_TLSFACTS_TLS_FACTS_H_
#define STARLING_CORE_TLSFACTS_TLS_FACTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace starling {

enum class TlsVersion : uint8_t { kUnknown, kTls10, kTls11, kTls12, kTls13 };

// What one certificate of a peer's chain says. Digests are raw bytes of the
// certificate (DER) and of its SubjectPublicKeyInfo: core/tls computes them
// with Botan; an embedder on another TLS stack fills the same fields. Policy
// never hashes: DANE (RFC 6698 matching types 1 and 2) and pins compare these.
struct CertificateFacts {
  std::string subject_dn;
  std::string issuer_dn;
  std::string common_name;
  std::vector<std::string> dns_names;  // subjectAltName dNSName entries
  absl::Time not_before = absl::InfinitePast();
  absl::Time not_after = absl::InfinitePast();
  std::string key_type;  // "RSA", "ECDSA", "Ed25519", ...
  int key_bits = 0;
  std::string signature_algorithm;  // e.g. "SHA-256/RSA"
  std::string der;                  // the certificate (DANE selector 0)
  std::string spki_der;             // SubjectPublicKeyInfo (DANE selector 1)
  std::string sha256;               // of der (32 bytes)
  std::string spki_sha256;          // of spki_der
  std::string sha512;               // of der (64 bytes): DANE matching type 2
  std::string spki_sha512;          // of spki_der
  // Older fingerprints Postfix tables still use (smtp_tls_fingerprint_digest).
  std::string sha1;                 // of der (20 bytes)
  std::string spki_sha1;            // of spki_der
  std::string md5;                  // of der (16 bytes)
  std::string spki_md5;             // of spki_der
};

// Outcome of path validation against the configured trust store.
enum class ChainVerdict : uint8_t {
  kNotChecked,
  kTrusted,
  kExpired,
  kNotYetValid,
  kUntrustedRoot,
  kSelfSigned,
  kBadSignature,
  kRevoked,
  kIncompleteChain,
  kWeakKeyOrHash,
  kOtherFailure,
};

// Everything a policy needs to know about an established TLS session. The
// TLS layer reports; core/policy judges (names and pins are matched there).
struct TlsFacts {
  TlsVersion version = TlsVersion::kUnknown;
  std::string cipher_suite;        // e.g. "ECDHE_RSA_WITH_AES_256_GCM_SHA384"
  std::string key_exchange_group;  // e.g. "x25519"
  bool forward_secret = false;
  std::string sni;                   // server name sent (client) or received (server)
  std::vector<CertificateFacts> peer_chain;  // leaf first; empty if none sent
  ChainVerdict chain_verdict = ChainVerdict::kNotChecked;
  std::string trust_anchor_dn;  // when trusted: the anchor the chain ends at
  std::string chain_detail;     // the validator's own words when not trusted
};

}  // namespace starling

#endif  // STARLING_CORE_TLSFACTS_TLS_FACTS_H_
