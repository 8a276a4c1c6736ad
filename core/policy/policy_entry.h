#ifndef STARLING_CORE_POLICY_POLICY_ENTRY_H_
#define STARLING_CORE_POLICY_POLICY_ENTRY_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

#include "core/policy/level.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::policy {

// Exchange's TlsCertificateName "<I>issuer<S>subject": the leaf must have been
// issued by `issuer` to `subject` (distinguished names).
struct IssuerSubjectPin {
  std::string issuer;
  std::string subject;
  friend bool operator==(const IssuerSubjectPin&,
                         const IssuerSubjectPin&) = default;
};

// The TLS policy for one destination (one line or block of a policy table).
// Defaults are the safe ones: TLS 1.2+, forward secrecy, medium ciphers or
// better whenever TLS is mandatory.
struct PolicyEntry {
  Level level = Level::kMay;
  // Acceptable TLS versions: min_version..max_version without the excluded
  // ones (Postfix's protocols=, e.g. ">=TLSv1.2" or "!TLSv1:!TLSv1.1").
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  std::vector<TlsVersion> excluded_versions;  // ascending, no duplicates
  CipherGrade min_grade = CipherGrade::kMedium;
  std::vector<std::string> exclude;  // cipher-suite tokens, upper-case
  bool forward_secrecy = true;
  // Names the certificate must match (verify, secure): "hostname" (the MX
  // host), "nexthop", "dot-nexthop", a DNS name, or ".parent" (any name
  // below). Empty: the level's default (verify: hostname; secure:
  // nexthop, dot-nexthop).
  std::vector<std::string> match;
  // Server name to send: empty or "hostname" (the MX host), "nexthop",
  // "none", or a DNS name.
  std::string sni;
  // When non-empty (pkix and up), the chain must end at one of these anchors.
  std::vector<std::string> trust_anchors;
  // Pins of the leaf certificate / its SubjectPublicKeyInfo: lower-case hex
  // of a digest, which its length names (32 digits MD5, 40 SHA-1, 64
  // SHA-256, 128 SHA-512: Postfix's smtp_tls_fingerprint_digest choices);
  // several allowed so a key can roll over.
  std::vector<std::string> cert_pins;
  std::vector<std::string> spki_pins;
  std::vector<IssuerSubjectPin> issuer_subject_pins;
  // Evaluate and report, but enforce only `floor` (a level not stricter than
  // `level`), so a change can be rolled out safely.
  bool testing = false;
  Level floor = Level::kMay;
  bool mta_sts = true;  // honour the destination's MTA-STS policy
  int line = 0;         // where it was defined (0: built in)

  // Equality of the rule itself (the line number is not part of it).
  bool SameRule(const PolicyEntry& other) const;
};

// The digest a pin's length names: "MD5", "SHA-1", "SHA-256", "SHA-512", or
// "?" for another length.
absl::string_view PinDigestName(absl::string_view hex_pin);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_POLICY_ENTRY_H_
