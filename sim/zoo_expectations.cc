#include "sim/zoo_expectations.h"

namespace starling::sim {

const char* ZooPolicyName(ZooPolicy policy) {
  switch (policy) {
    case ZooPolicy::kMay:
      return "may";
    case ZooPolicy::kEncrypt:
      return "encrypt";
    case ZooPolicy::kVerify:
      return "verify";
    case ZooPolicy::kDane:
      return "dane";
    case ZooPolicy::kSts:
      return "sts";
  }
  return "?";
}

// What a careful relay does, profile by profile. Opportunistic TLS takes
// any certificate; encrypt needs TLS but no authentication; verify and
// MTA-STS need a trusted chain with the MX's name; DANE-EE (3 1 1) pins the
// key and ignores names, dates and issuers.
const std::vector<ZooExpectation>& ZooExpectations() {
  static const auto* rows = new std::vector<ZooExpectation>{
      {PartnerProfile::kNoStartTls,
       {"plain -", "deferred starttls-not-supported",
        "deferred starttls-not-supported", "deferred starttls-not-supported",
        "deferred starttls-not-supported"}},
      {PartnerProfile::kStartTls454,
       {"plain -", "deferred starttls-not-supported",
        "deferred starttls-not-supported", "deferred starttls-not-supported",
        "deferred starttls-not-supported"}},
      {PartnerProfile::kGood, {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kExpired,
       {"tls -", "tls -", "deferred certificate-expired", "tls -",
        "deferred certificate-expired"}},
      // RFC 8460 has no "not yet valid" type.
      {PartnerProfile::kNotYetValid,
       {"tls -", "tls -", "deferred validation-failure", "tls -",
        "deferred validation-failure"}},
      {PartnerProfile::kSelfSigned,
       {"tls -", "tls -", "deferred certificate-not-trusted", "tls -",
        "deferred certificate-not-trusted"}},
      {PartnerProfile::kWrongName,
       {"tls -", "tls -", "deferred certificate-host-mismatch", "tls -",
        "deferred certificate-host-mismatch"}},
      {PartnerProfile::kUntrustedCa,
       {"tls -", "tls -", "deferred certificate-not-trusted", "tls -",
        "deferred certificate-not-trusted"}},
      // Our TLS floor refuses the key in the handshake; `may` then retries
      // the host at once without STARTTLS. The failed handshake is reported
      // (validation-failure) even where TLS was optional.
      {PartnerProfile::kRsa1024,
       {"plain validation-failure", "deferred validation-failure",
        "deferred validation-failure", "deferred validation-failure",
        "deferred validation-failure"}},
      {PartnerProfile::kSha1,
       {"tls -", "tls -", "deferred validation-failure", "tls -",
        "deferred validation-failure"}},
      {PartnerProfile::kRevoked,
       {"tls -", "tls -", "deferred validation-failure", "tls -",
        "deferred validation-failure"}},
      {PartnerProfile::kMissingIntermediate,
       {"tls -", "tls -", "deferred certificate-not-trusted", "tls -",
        "deferred certificate-not-trusted"}},
      {PartnerProfile::kTls10Only,
       {"plain validation-failure", "deferred validation-failure",
        "deferred validation-failure", "deferred validation-failure",
        "deferred validation-failure"}},
      {PartnerProfile::kTls11Only,
       {"plain validation-failure", "deferred validation-failure",
        "deferred validation-failure", "deferred validation-failure",
        "deferred validation-failure"}},
      {PartnerProfile::kHandshakeFailure,
       {"plain validation-failure", "deferred validation-failure",
        "deferred validation-failure", "deferred validation-failure",
        "deferred validation-failure"}},
      {PartnerProfile::kGreylist, {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kTarpit, {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kDropMidData,
       {"deferred -", "deferred -", "deferred -", "deferred -", "deferred -"}},
      {PartnerProfile::kDropAfterEndOfData,
       {"deferred -", "deferred -", "deferred -", "deferred -", "deferred -"}},
      {PartnerProfile::kRequireTls,
       {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kRequireClientCert,
       {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kRolloverOldIssuer,
       {"tls -", "tls -", "tls -", "tls -", "tls -"}},
      {PartnerProfile::kRolloverNewIssuer,
       {"tls -", "tls -", "tls -", "tls -", "tls -"}},
  };
  return *rows;
}

}  // namespace starling::sim
