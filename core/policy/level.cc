#include "core/policy/level.h"

#include <initializer_list>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace starling::policy {

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kNone: return "none";
    case Level::kMay: return "may";
    case Level::kEncrypt: return "encrypt";
    case Level::kDane: return "dane";
    case Level::kDaneOnly: return "dane-only";
    case Level::kFingerprint: return "fingerprint";
    case Level::kPkix: return "pkix";
    case Level::kVerify: return "verify";
    case Level::kSecure: return "secure";
  }
  return "?";
}

std::optional<Level> ParseLevel(absl::string_view name) {
  for (Level level : kAllLevels) {
    if (absl::EqualsIgnoreCase(name, LevelName(level))) return level;
  }
  if (absl::EqualsIgnoreCase(name, "encryption-only")) return Level::kEncrypt;
  if (absl::EqualsIgnoreCase(name, "certificate-validation")) {
    return Level::kPkix;
  }
  if (absl::EqualsIgnoreCase(name, "domain-validation")) return Level::kSecure;
  return std::nullopt;
}

namespace {

// Each level's parent in the order (the level it directly demands more than).
std::optional<Level> Parent(Level level) {
  switch (level) {
    case Level::kNone: return std::nullopt;
    case Level::kMay: return Level::kNone;
    case Level::kEncrypt: return Level::kMay;
    case Level::kDane: return Level::kMay;
    case Level::kDaneOnly: return Level::kDane;
    case Level::kFingerprint: return Level::kEncrypt;
    case Level::kPkix: return Level::kEncrypt;
    case Level::kVerify: return Level::kPkix;
    case Level::kSecure: return Level::kPkix;
  }
  return std::nullopt;
}

}  // namespace

bool AtLeastAsStrict(Level a, Level b) {
  if ((a == Level::kVerify || a == Level::kSecure) &&
      (b == Level::kVerify || b == Level::kSecure)) {
    return true;
  }
  for (std::optional<Level> l = a; l.has_value(); l = Parent(*l)) {
    if (*l == b) return true;
  }
  return false;
}

std::optional<Level> Stricter(Level a, Level b) {
  if (AtLeastAsStrict(a, b)) return a;
  if (AtLeastAsStrict(b, a)) return b;
  return std::nullopt;
}

bool MandatoryTls(Level level) {
  return AtLeastAsStrict(level, Level::kEncrypt) || level == Level::kDaneOnly;
}

absl::string_view CipherGradeName(CipherGrade grade) {
  switch (grade) {
    case CipherGrade::kNull: return "null";
    case CipherGrade::kExport: return "export";
    case CipherGrade::kLow: return "low";
    case CipherGrade::kMedium: return "medium";
    case CipherGrade::kHigh: return "high";
  }
  return "?";
}

std::optional<CipherGrade> ParseCipherGrade(absl::string_view name) {
  for (CipherGrade g : {CipherGrade::kNull, CipherGrade::kExport,
                        CipherGrade::kLow, CipherGrade::kMedium,
                        CipherGrade::kHigh}) {
    if (absl::EqualsIgnoreCase(name, CipherGradeName(g))) return g;
  }
  return std::nullopt;
}

namespace {

// Calls `f` on each '_'/'-'-separated token of `suite` until it returns true.
template <typename F>
bool AnyToken(absl::string_view suite, F f) {
  size_t start = 0;
  for (size_t i = 0; i <= suite.size(); ++i) {
    if (i == suite.size() || suite[i] == '_' || suite[i] == '-') {
      if (i > start && f(suite.substr(start, i - start))) return true;
      start = i + 1;
    }
  }
  return false;
}

bool OneOf(absl::string_view token, std::initializer_list<absl::string_view> set) {
  for (absl::string_view s : set) {
    if (token == s) return true;
  }
  return false;
}

}  // namespace

bool CipherSuiteHasToken(absl::string_view suite, absl::string_view token) {
  if (AnyToken(suite, [token](absl::string_view t) {
        return absl::EqualsIgnoreCase(t, token);
      })) {
    return true;
  }
  if (absl::EqualsIgnoreCase(token, "3DES")) {
    const std::string upper = absl::AsciiStrToUpper(suite);
    return absl::StrContains(upper, "DES_EDE") ||
           absl::StrContains(upper, "DES-CBC3");
  }
  return false;
}

CipherGrade GradeOfCipherSuite(absl::string_view suite) {
  bool null = false, exp = false, medium = false, low = false, high = false;
  AnyToken(suite, [&](absl::string_view token) {
    // The names below are at most 11 letters: compare an upper-case copy.
    char upper[12];
    if (token.size() > sizeof(upper)) return false;
    for (size_t i = 0; i < token.size(); ++i) upper[i] = absl::ascii_toupper(token[i]);
    const absl::string_view t(upper, token.size());
    null |= OneOf(t, {"NULL"});
    exp |= OneOf(t, {"EXPORT", "EXP"});
    medium |= OneOf(t, {"3DES", "SEED", "IDEA", "EDE", "CBC3"});
    low |= OneOf(t, {"RC4", "DES", "RC2"});
    high |= OneOf(t, {"AES", "AES128", "AES256", "CHACHA20", "CAMELLIA",
                      "CAMELLIA128", "CAMELLIA256", "ARIA"});
    return false;
  });
  if (null) return CipherGrade::kNull;
  if (exp) return CipherGrade::kExport;
  if (medium) return CipherGrade::kMedium;
  if (low) return CipherGrade::kLow;
  if (high) return CipherGrade::kHigh;
  return CipherGrade::kMedium;
}

absl::string_view TlsVersionName(TlsVersion version) {
  switch (version) {
    case TlsVersion::kUnknown: return "unknown";
    case TlsVersion::kTls10: return "TLSv1";
    case TlsVersion::kTls11: return "TLSv1.1";
    case TlsVersion::kTls12: return "TLSv1.2";
    case TlsVersion::kTls13: return "TLSv1.3";
  }
  return "?";
}

std::optional<TlsVersion> ParseTlsVersion(absl::string_view name) {
  if (absl::EqualsIgnoreCase(name, "TLSv1") ||
      absl::EqualsIgnoreCase(name, "TLSv1.0")) {
    return TlsVersion::kTls10;
  }
  if (absl::EqualsIgnoreCase(name, "TLSv1.1")) return TlsVersion::kTls11;
  if (absl::EqualsIgnoreCase(name, "TLSv1.2")) return TlsVersion::kTls12;
  if (absl::EqualsIgnoreCase(name, "TLSv1.3")) return TlsVersion::kTls13;
  return std::nullopt;
}

}  // namespace starling::policy
