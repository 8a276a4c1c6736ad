#ifndef STARLING_CORE_POLICY_JSON_FACTS_JSON_H_
#define STARLING_CORE_POLICY_JSON_FACTS_JSON_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::policy {

// TlsFacts from JSON (the `tlspolicy explain --facts` format, documented in
// docs/policy.md):
//   {"version": "TLSv1.3", "cipher_suite": "...", "key_exchange_group": "...",
//    "forward_secret": true, "sni": "...", "chain_verdict": "trusted",
//    "trust_anchor_dn": "...", "chain_detail": "...",
//    "peer_chain": [{"subject_dn": "...", "issuer_dn": "...",
//      "common_name": "...", "dns_names": ["..."],
//      "not_before": "2024-01-01T00:00:00Z", "not_after": "...",
//      "key_type": "ECDSA", "key_bits": 256, "signature_algorithm": "...",
//      "der_hex": "...", "spki_der_hex": "...",
//      "sha256_hex": "...", "spki_sha256_hex": "...", "sha512_hex": "...",
//      "spki_sha512_hex": "...", "sha1_hex", "spki_sha1_hex", "md5_hex",
//      "spki_md5_hex"}]}
// Required: version, cipher_suite, forward_secret, chain_verdict,
// peer_chain (empty for an anonymous session), trust_anchor_dn when the
// verdict is "trusted", and per certificate subject_dn, issuer_dn,
// dns_names, not_before, not_after and der_hex (or sha256_hex); a missing
// one is an error naming every missing field. Unknown fields and wrong
// types are errors too. docs/admin-guide.md has the schema. Digests
// are taken as given (policy never hashes): a tool that has the DER may fill
// the missing ones with tls::FillDigests().
// chain_verdict: not-checked, trusted, expired, not-yet-valid,
// untrusted-root, self-signed, bad-signature, revoked, incomplete-chain,
// weak-key-or-hash, other-failure.
absl::StatusOr<TlsFacts> TlsFactsFromJson(absl::string_view text);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_JSON_FACTS_JSON_H_
