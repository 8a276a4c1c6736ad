#ifndef STARLING_CORE_POLICY_DANE_H_
#define STARLING_CORE_POLICY_DANE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::policy {

// DANE for SMTP (RFC 7672, with RFC 6698/7671). The embedder resolves
// _25._tcp.<mx host> TLSA and says what DNSSEC made of it (for the MX RRset
// too: an insecure MX lookup makes the whole state insecure).

enum class DnssecStatus : uint8_t { kSecure, kInsecure, kBogus };

absl::string_view DnssecStatusName(DnssecStatus status);

struct TlsaRecord {
  uint8_t usage = 0;          // 2 DANE-TA, 3 DANE-EE (0/1 unusable in SMTP)
  uint8_t selector = 0;       // 0 full certificate, 1 SubjectPublicKeyInfo
  uint8_t matching_type = 0;  // 0 exact, 1 SHA-256, 2 SHA-512
  std::string data;           // raw association data
  friend bool operator==(const TlsaRecord&, const TlsaRecord&) = default;
};

// Presentation form "3 1 1 a1b2..." (hex, whitespace inside allowed).
absl::StatusOr<TlsaRecord> ParseTlsaRecord(absl::string_view text);
std::string TlsaRecordText(const TlsaRecord& record);

// Why a record cannot be used in SMTP, or empty when it can: usages 0/1,
// unknown selector or matching type, or a digest of the wrong length.
std::string TlsaUnusableReason(const TlsaRecord& record);

struct DaneState {
  DnssecStatus dnssec = DnssecStatus::kInsecure;
  std::vector<TlsaRecord> records;  // the validated TLSA RRset (maybe empty)
};

enum class DaneStatus : uint8_t {
  kNone,         // insecure, or no TLSA records: DANE does not apply
  kUsable,       // at least one usable record: authenticate with it
  kAllUnusable,  // records, none usable: mandatory unauthenticated TLS
  kBogus,        // DNSSEC validation failed: defer (dnssec-invalid)
};

DaneStatus ClassifyDane(const DaneState& state);
absl::string_view DaneStatusName(DaneStatus status);

struct DaneMatch {
  bool authenticated = false;
  std::vector<std::string> trace;  // which record matched, or why none did
};

// Authenticates a session with the usable records of `state`:
// - 3 x x (DANE-EE) matches the leaf; names and validity are ignored.
// - 2 x x (DANE-TA) matches a certificate above the leaf; the chain from the
//   leaf up to it must link by issuer/subject DN, the certificates below the
//   anchor must be valid at `now`, the TLS layer must not have reported a bad
//   signature or revocation, and the leaf must carry a DNS-ID matching one of
//   `names` (RFC 7672 §3.2.3: the TLSA base domain and the next-hop domain).
// Digests are computed from the DER (SHA-256 / SHA-512).
DaneMatch MatchDane(const DaneState& state, const TlsFacts& facts,
                    const std::vector<std::string>& names, absl::Time now);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_DANE_H_
