#ifndef STARLING_CORE_TLS_FACTS_H_
#define STARLING_CORE_TLS_FACTS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "botan/pkix_enums.h"
#include "botan/tls_version.h"
#include "botan/x509cert.h"
#include "core/tls/credentials.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::tls {

// What one certificate says (names, validity, key, signature, hashes).
CertificateFacts DescribeCertificate(const Botan::X509_Certificate& cert);
// The same from DER (for tools); kInvalidArgument when it does not parse.
absl::StatusOr<CertificateFacts> DescribeCertificateDer(absl::string_view der);

// Fills every digest of `cert` (SHA-256, SHA-512, SHA-1 and MD5 of `der` and
// of `spki_der`) from those bytes; an empty input gives empty digests. For
// facts that arrive without them (a JSON file, another TLS stack).
void FillDigests(CertificateFacts* cert);

TlsVersion ToTlsVersion(Botan::TLS::Protocol_Version version);

// The outcome of path validation, as TlsFacts reports it.
struct ChainCheck {
  ChainVerdict verdict = ChainVerdict::kNotChecked;
  std::string trust_anchor_dn;  // when kTrusted
  std::string detail;           // Botan's words when not kTrusted
};

// Validates `chain` (leaf first, as the peer sent it) against `trust` at time
// `at` (never the wall clock), with revocation from the store's CRLs when
// one covers a certificate of the path (missing revocation data is fine).
// `min_strength` is the weakest signature/key, in bits of security, the chain
// may use, the leaf's own key included. No name is checked: names are
// matched in core/policy. Never throws.
ChainCheck CheckChain(const std::vector<Botan::X509_Certificate>& chain,
                      const TrustStore& trust, absl::Time at,
                      Botan::Usage_Type usage, size_t min_strength);

}  // namespace starling::tls

#endif  // STARLING_CORE_TLS_FACTS_H_
