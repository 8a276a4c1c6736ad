#ifndef STARLING_CORE_POLICY_LEVEL_H_
#define STARLING_CORE_POLICY_LEVEL_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::policy {

// Security levels, Postfix's names plus "pkix" (Exchange's
// CertificateValidation: a trusted chain, any name). Partial order, by what a
// level demands of a session (each arrow: the right side demands everything
// the left side does, and more):
//
//   none -> may -> encrypt -> pkix -> verify, secure
//                  encrypt -> fingerprint
//           may -> dane -> dane-only
//
// verify and secure differ only in their default names to match; with the
// same `match=` they are equal. Levels on different branches are
// incomparable; the engine combines them (and DANE, MTA-STS, REQUIRETLS) as a
// conjunction of checks, which is the join of this order.
enum class Level : uint8_t {
  kNone,
  kMay,
  kEncrypt,
  kDane,
  kDaneOnly,
  kFingerprint,
  kPkix,
  kVerify,
  kSecure,
};

inline constexpr Level kAllLevels[] = {
    Level::kNone,        Level::kMay,  Level::kEncrypt,
    Level::kDane,        Level::kDaneOnly, Level::kFingerprint,
    Level::kPkix,        Level::kVerify, Level::kSecure};

absl::string_view LevelName(Level level);

// Our names and the Exchange connector aliases ("encryption-only",
// "certificate-validation", "domain-validation"), case-insensitive.
std::optional<Level> ParseLevel(absl::string_view name);

// True when `a` demands at least what `b` demands (a >= b in the order above;
// verify and secure count as equal).
bool AtLeastAsStrict(Level a, Level b);

// The stricter of two comparable levels; nullopt when they are on different
// branches (then both apply).
std::optional<Level> Stricter(Level a, Level b);

// Whether a level by itself forbids plaintext (dane: only with usable or
// unusable TLSA records, which the engine decides).
bool MandatoryTls(Level level);

// Postfix cipher grades, weakest first.
enum class CipherGrade : uint8_t { kNull, kExport, kLow, kMedium, kHigh };

absl::string_view CipherGradeName(CipherGrade grade);
std::optional<CipherGrade> ParseCipherGrade(absl::string_view name);

// The grade of a cipher suite name such as "ECDHE_RSA_WITH_AES_256_GCM_SHA384"
// or "TLS_AES_128_GCM_SHA256" (tokens split at '_' and '-'): NULL -> null,
// EXPORT -> export, RC4/DES/RC2 -> low, 3DES/SEED/IDEA or anything unknown ->
// medium, AES/CHACHA20/CAMELLIA/ARIA -> high.
CipherGrade GradeOfCipherSuite(absl::string_view suite);

// Does the suite name contain `token` as a whole '_'/'-'-separated token
// (case-insensitive)? "3DES" also matches "DES_EDE" spellings.
bool CipherSuiteHasToken(absl::string_view suite, absl::string_view token);

absl::string_view TlsVersionName(TlsVersion version);  // "TLSv1.2", ...
std::optional<TlsVersion> ParseTlsVersion(absl::string_view name);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_LEVEL_H_
