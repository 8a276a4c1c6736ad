#include "core/policy/postfix_import.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace starling::policy {

bool PostfixImport::ok() const {
  return std::none_of(diagnostics.begin(), diagnostics.end(),
                      [](const Diagnostic& d) {
                        return d.severity == Diagnostic::Severity::kError;
                      });
}

absl::StatusOr<size_t> FingerprintDigestHexLength(absl::string_view digest) {
  const std::string lower = absl::AsciiStrToLower(digest);
  if (lower == "md5") return 32;
  if (lower == "sha1") return 40;
  if (lower == "sha256") return 64;
  if (lower == "sha512") return 128;
  return absl::InvalidArgumentError(absl::StrCat(
      "smtp_tls_fingerprint_digest '", digest,
      "' is not supported (md5, sha1, sha256 or sha512: the digests core/tls "
      "reports)"));
}

namespace {

using Severity = Diagnostic::Severity;

constexpr TlsVersion kVersions[] = {TlsVersion::kTls10, TlsVersion::kTls11,
                                    TlsVersion::kTls12, TlsVersion::kTls13};

// Postfix's defaults for what an entry does not say: smtp_tls_protocols and
// smtp_tls_mandatory_protocols are ">=TLSv1" (Postfix 3.6 and later), and
// no cipher setting demands forward secrecy.
constexpr TlsVersion kPostfixMinVersion = TlsVersion::kTls10;

// Index into kVersions; -1 for SSLv2/SSLv3 (which Starling never speaks).
std::optional<int> ProtocolIndex(absl::string_view name) {
  if (absl::EqualsIgnoreCase(name, "SSLv2") ||
      absl::EqualsIgnoreCase(name, "SSLv3")) {
    return -1;
  }
  // Postfix's names only: "TLSv1.0" is not one of them.
  if (absl::EqualsIgnoreCase(name, "TLSv1.0")) return std::nullopt;
  std::optional<TlsVersion> v = ParseTlsVersion(name);
  if (!v.has_value()) return std::nullopt;
  for (int i = 0; i < 4; ++i) {
    if (kVersions[i] == *v) return i;
  }
  return std::nullopt;
}

// protocols= (Postfix's tls_protocol_mask syntax): ">=V" and "<=V" bound the
// range, "!V" excludes, bare names form an inclusion list; items are
// separated by ':', ',' or whitespace and combine.
absl::Status ApplyProtocols(absl::string_view value, bool lenient,
                            PolicyEntry* entry,
                            std::vector<std::string>* warnings) {
  bool allowed[4] = {true, true, true, true};
  bool included[4] = {false, false, false, false};
  bool any_included = false;
  for (absl::string_view p :
       absl::StrSplit(value, absl::ByAnyChar(":, \t"), absl::SkipEmpty())) {
    absl::string_view name = p;
    enum { kAtLeast, kAtMost, kNot, kOnly } kind = kOnly;
    if (absl::ConsumePrefix(&name, ">=")) {
      kind = kAtLeast;
    } else if (absl::ConsumePrefix(&name, "<=")) {
      kind = kAtMost;
    } else if (absl::ConsumePrefix(&name, "!")) {
      kind = kNot;
    }
    const std::optional<int> i = ProtocolIndex(name);
    if (!i.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "protocols=", value, ": '", name,
          "' is not a protocol name (SSLv2, SSLv3, TLSv1, TLSv1.1, TLSv1.2, "
          "TLSv1.3)"));
    }
    switch (kind) {
      case kAtLeast:
        for (int j = 0; j < *i && j < 4; ++j) allowed[j] = false;
        break;
      case kAtMost:
        for (int j = std::max(*i + 1, 0); j < 4; ++j) allowed[j] = false;
        break;
      case kNot:
        if (*i >= 0) allowed[*i] = false;
        break;
      case kOnly:
        any_included = true;
        if (*i >= 0) {
          included[*i] = true;
        } else if (!lenient) {
          return absl::InvalidArgumentError(absl::StrCat(
              "protocols=", value, ": ", name,
              " cannot be allowed (Starling never speaks SSL); leave it out, "
              "or import with --lenient to drop it"));
        } else {
          warnings->push_back(absl::StrCat("protocols=", value, ": ", name,
                                           " dropped (Starling never speaks "
                                           "SSL): stricter than Postfix"));
        }
        break;
    }
  }
  int first = -1, last = -1;
  for (int i = 0; i < 4; ++i) {
    if (any_included && !included[i]) allowed[i] = false;
    if (!allowed[i]) continue;
    if (first < 0) first = i;
    last = i;
  }
  if (first < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("protocols=", value, " leaves no TLS version"));
  }
  entry->min_version = kVersions[first];
  entry->max_version = kVersions[last];
  entry->excluded_versions.clear();
  for (int i = first; i <= last; ++i) {
    if (!allowed[i]) entry->excluded_versions.push_back(kVersions[i]);
  }
  return absl::OkStatus();
}

std::optional<Level> PostfixLevel(absl::string_view word) {
  if (word == "NONE") return Level::kNone;
  if (word == "MAY") return Level::kMay;
  if (word == "MUST_NOPEERMATCH") return Level::kEncrypt;
  if (word == "MUST") return Level::kVerify;
  for (Level l : {Level::kNone, Level::kMay, Level::kEncrypt, Level::kDane,
                  Level::kDaneOnly, Level::kFingerprint, Level::kVerify,
                  Level::kSecure}) {
    if (word == LevelName(l)) return l;
  }
  return std::nullopt;
}

// The entry as LintEntry should see it: Postfix's own defaults (TLS 1.0,
// no forward-secrecy demand) are reported once for the whole import, not
// on every line.
PolicyEntry WithoutPostfixDefaults(PolicyEntry entry, bool fs_from_entry,
                                   bool protocols_from_entry) {
  const PolicyEntry ours;
  if (!protocols_from_entry) entry.min_version = ours.min_version;
  if (!fs_from_entry) entry.forward_secrecy = ours.forward_secrecy;
  return entry;
}

class Importer {
 public:
  explicit Importer(const PostfixImportOptions& options) : options_(options) {}

  PostfixImport Run(absl::string_view text) {
    absl::StatusOr<size_t> digest =
        FingerprintDigestHexLength(options_.fingerprint_digest);
    if (!digest.ok()) {
      Add(0, Severity::kError, std::string(digest.status().message()));
      return std::move(result_);
    }
    fingerprint_hex_ = *digest;
    int line_number = 0;
    int start = 0;
    std::vector<std::pair<std::string, int>> words;
    auto flush = [&] {
      if (!words.empty()) Convert(start, words);
      words.clear();
    };
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      ++line_number;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      const absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
      if (stripped.empty() || stripped[0] == '#') continue;
      const bool continuation = line[0] == ' ' || line[0] == '\t';
      if (continuation && words.empty()) {
        Add(line_number, Severity::kError, "continuation line without a key");
        continue;
      }
      if (!continuation) {
        flush();
        start = line_number;
      }
      for (absl::string_view w :
           absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
        words.emplace_back(std::string(w), line_number);
      }
    }
    flush();
    AddDefault();
    std::stable_sort(result_.diagnostics.begin(), result_.diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                       return a.line < b.line;
                     });
    return std::move(result_);
  }

 private:
  void Add(int line, Severity severity, std::string message) {
    result_.diagnostics.push_back({line, severity, std::move(message)});
  }

  // smtp_tls_security_level as the table's "*", with Postfix's defaults.
  void AddDefault() {
    result_.default_level_given = options_.default_level.has_value();
    result_.default_level = options_.default_level.value_or(Level::kNone);
    if (result_.default_level == Level::kFingerprint) {
      Add(0, Severity::kError,
          "smtp_tls_security_level = fingerprint needs fingerprints, which "
          "only a map entry can give");
      return;
    }
    PolicyEntry entry;
    entry.level = result_.default_level;
    if (entry.level != Level::kNone) {  // none never uses TLS
      entry.min_version = kPostfixMinVersion;
      entry.forward_secrecy = false;
    }
    (void)result_.table.Add("*", std::move(entry));
    if (converted_ > 0) {
      Add(0, Severity::kWarning,
          "Postfix's defaults apply where an entry says nothing: TLS 1.0 and "
          "up (smtp_tls_protocols = >=TLSv1) and no forward-secrecy demand; "
          "add protocols= or exclude=kRSA to the map to demand more");
    }
  }

  std::optional<std::string> Key(absl::string_view key, int line) {
    absl::StatusOr<std::string> normal = NormalizeTableKey(key);
    if (!normal.ok() || *normal == "*") {
      Add(line, Severity::kError,
          absl::StrCat("bad key '", key,
                       "' (a domain, .domain, [host] or [host]:port)"));
      return std::nullopt;
    }
    return *normal;
  }

  void Convert(int start,
               const std::vector<std::pair<std::string, int>>& words) {
    const size_t errors = ErrorCount();
    std::optional<std::string> key = Key(words[0].first, start);
    if (words.size() < 2) {
      Add(start, Severity::kError, "no security level");
      return;
    }
    PolicyEntry entry;
    entry.line = start;
    entry.min_version = kPostfixMinVersion;
    entry.forward_secrecy = false;
    std::optional<Level> level = PostfixLevel(words[1].first);
    if (!level.has_value()) {
      Add(words[1].second, Severity::kError,
          absl::StrCat("unknown security level '", words[1].first, "'"));
      return;
    }
    entry.level = *level;
    std::vector<std::string> warnings;
    bool protocols = false;
    for (size_t i = 2; i < words.size(); ++i) {
      const int line = words[i].second;
      const std::string& word = words[i].first;
      const size_t eq = word.find('=');
      if (eq == std::string::npos) {
        Add(line, Severity::kError,
            absl::StrCat("expected name=value, got '", word, "'"));
        continue;
      }
      const absl::string_view name = absl::string_view(word).substr(0, eq);
      const absl::string_view value = absl::string_view(word).substr(eq + 1);
      protocols |= name == "protocols";
      absl::Status status = Apply(name, value, &entry, &warnings);
      if (!status.ok()) {
        Add(line, Severity::kError, std::string(status.message()));
      }
      for (std::string& w : warnings) Add(line, Severity::kWarning, std::move(w));
      warnings.clear();
    }
    if (entry.level == Level::kFingerprint && entry.cert_pins.empty()) {
      Add(start, Severity::kError,
          "level fingerprint without match= fingerprints");
    }
    if (absl::Status s = CheckProtocols(entry); !s.ok()) {
      Add(start, Severity::kError, std::string(s.message()));
    }
    if (ErrorCount() != errors || !key.has_value()) return;
    LintEntry(WithoutPostfixDefaults(entry, entry.forward_secrecy, protocols),
              &result_.diagnostics);
    absl::Status added = result_.table.Add(*key, std::move(entry));
    if (!added.ok()) {
      Add(start, Severity::kError, std::string(added.message()));
      return;
    }
    ++converted_;
  }

  // A Postfix fingerprint (colon-separated hex of smtp_tls_fingerprint_
  // digest) as a pin.
  absl::Status Fingerprint(absl::string_view fp, PolicyEntry* entry) const {
    absl::StatusOr<std::string> pin = NormalizePin(fp);
    std::string hex;
    for (char c : fp) {
      if (c != ':') hex.push_back(c);
    }
    if (hex.size() != fingerprint_hex_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fingerprint '", fp, "' has ", hex.size(),
          " hex digits, but smtp_tls_fingerprint_digest = ",
          options_.fingerprint_digest, " gives ", fingerprint_hex_,
          ": Postfix would never match it",
          pin.ok() ? absl::StrCat(" (it looks like ", PinDigestName(*pin),
                                  "; set --fingerprint-digest to main.cf's "
                                  "smtp_tls_fingerprint_digest)")
                   : ""));
    }
    if (!pin.ok()) return pin.status();
    // Postfix matches either the certificate or its public key.
    entry->cert_pins.push_back(*pin);
    entry->spki_pins.push_back(*pin);
    return absl::OkStatus();
  }

  absl::Status Apply(absl::string_view name, absl::string_view value,
                     PolicyEntry* entry,
                     std::vector<std::string>* warnings) const {
    if (name == "match") {
      if (entry->level == Level::kFingerprint) {
        for (absl::string_view fp : absl::StrSplit(value, '|')) {
          if (absl::Status s = Fingerprint(fp, entry); !s.ok()) return s;
        }
        return absl::OkStatus();
      }
      if (entry->level != Level::kVerify && entry->level != Level::kSecure) {
        // Postfix ignores it there too: nothing is lost.
        warnings->push_back(absl::StrCat("match= is not used by level ",
                                         LevelName(entry->level),
                                         " (Postfix ignores it too)"));
        return absl::OkStatus();
      }
      for (absl::string_view p : absl::StrSplit(value, ':')) {
        absl::StatusOr<std::string> pattern = NormalizeMatchPattern(p);
        if (!pattern.ok()) return pattern.status();
        entry->match.push_back(*pattern);
      }
      return absl::OkStatus();
    }
    if (name == "protocols") {
      return ApplyProtocols(value, options_.lenient, entry, warnings);
    }
    if (name == "ciphers") {
      std::optional<CipherGrade> g = ParseCipherGrade(value);
      if (!g.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "bad ciphers '", value, "' (high, medium, low, export or null)"));
      }
      entry->min_grade = *g;
      return absl::OkStatus();
    }
    if (name == "exclude") {
      for (absl::string_view t :
           absl::StrSplit(value, absl::ByAnyChar(":, "), absl::SkipEmpty())) {
        // RSA key exchange excluded: every suite left is forward secret.
        if (t == "kRSA") {
          entry->forward_secrecy = true;
          continue;
        }
        std::string token(t);
        if (token == "eNULL") token = "NULL";
        if (token == "aNULL") token = "ANON";
        if (!std::all_of(token.begin(), token.end(), [](char c) {
              return absl::ascii_isalnum(static_cast<unsigned char>(c));
            })) {
          return absl::InvalidArgumentError(
              absl::StrCat("bad exclude token '", t, "'"));
        }
        entry->exclude.push_back(absl::AsciiStrToUpper(token));
      }
      return absl::OkStatus();
    }
    if (name == "servername") {
      if (value == "hostname") {
        entry->sni = "hostname";
        return absl::OkStatus();
      }
      absl::StatusOr<std::string> n = NormalizeMatchPattern(value);
      if (!n.ok() || absl::StartsWith(*n, ".") || *n == "nexthop" ||
          *n == "dot-nexthop") {
        return absl::InvalidArgumentError(
            absl::StrCat("bad servername '", value, "'"));
      }
      entry->sni = *n;
      return absl::OkStatus();
    }
    if (name == "tafile") {
      // Without it the whole trust store would do: weaker, so never dropped.
      return absl::InvalidArgumentError(
          "tafile= limits trust to that file's anchors, which an import "
          "cannot read: write the entry in a Starling table with "
          "trust-anchor=\"DN\" for each of them");
    }
    if (name == "connection_reuse" || name == "enable_rpk") {
      if (!options_.lenient) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, "= has no Starling equivalent (import with --lenient to "
                  "drop it: no weaker for that)"));
      }
      warnings->push_back(absl::StrCat(
          name, "= dropped (no Starling equivalent; it never weakens the "
                "entry)"));
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        absl::StrCat("unknown attribute '", name, "'"));
  }

  size_t ErrorCount() const {
    return std::count_if(result_.diagnostics.begin(), result_.diagnostics.end(),
                         [](const Diagnostic& d) {
                           return d.severity == Severity::kError;
                         });
  }

  const PostfixImportOptions& options_;
  size_t fingerprint_hex_ = 64;
  int converted_ = 0;
  PostfixImport result_;
};

}  // namespace

PostfixImport ImportPostfixPolicyMap(absl::string_view text,
                                     const PostfixImportOptions& options) {
  return Importer(options).Run(text);
}

bool LooksLikePostfixPolicyMap(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
    if (stripped.empty() || stripped[0] == '#') continue;
    for (absl::string_view word :
         absl::StrSplit(stripped, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
      if (word == "MUST" || word == "MUST_NOPEERMATCH") return true;
      for (absl::string_view attribute :
           {"protocols=", "servername=", "tafile=", "connection_reuse=",
            "enable_rpk="}) {
        if (absl::StartsWith(word, attribute)) return true;
      }
      if (absl::StartsWith(word, "match=") && absl::StrContains(word, "|")) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace starling::policy
