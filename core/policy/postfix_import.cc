#include "core/policy/postfix_import.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace starling::policy {

bool PostfixImport::ok() const {
  return std::none_of(diagnostics.begin(), diagnostics.end(),
                      [](const Diagnostic& d) {
                        return d.severity == Diagnostic::Severity::kError;
                      });
}

namespace {

using Severity = Diagnostic::Severity;

constexpr TlsVersion kVersions[] = {TlsVersion::kTls10, TlsVersion::kTls11,
                                    TlsVersion::kTls12, TlsVersion::kTls13};

// Postfix protocol names, SSLv2/SSLv3 included (they only ever appear
// excluded).
std::optional<int> ProtocolIndex(absl::string_view name) {
  if (name == "SSLv2" || name == "SSLv3") return -1;
  std::optional<TlsVersion> v = ParseTlsVersion(name);
  if (!v.has_value()) return std::nullopt;
  for (int i = 0; i < 4; ++i) {
    if (kVersions[i] == *v) return i;
  }
  return std::nullopt;
}

// protocols= to a minimum version.
absl::Status ApplyProtocols(absl::string_view value, PolicyEntry* entry,
                            std::vector<std::string>* warnings) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("bad protocols '", value, "'"));
  };
  if (absl::StartsWith(value, ">=")) {
    std::optional<int> i = ProtocolIndex(value.substr(2));
    if (!i.has_value() || *i < 0) return bad();
    entry->min_version = kVersions[*i];
    return absl::OkStatus();
  }
  if (absl::StartsWith(value, "<=")) {
    if (!ProtocolIndex(value.substr(2)).has_value()) return bad();
    warnings->push_back(absl::StrCat(
        "protocols=", value, ": a maximum version is not supported, dropped"));
    return absl::OkStatus();
  }
  bool excluded[4] = {false, false, false, false};
  bool included[4] = {false, false, false, false};
  bool any_included = false;
  for (absl::string_view p :
       absl::StrSplit(value, absl::ByAnyChar(":, "), absl::SkipEmpty())) {
    const bool negated = absl::StartsWith(p, "!");
    std::optional<int> i = ProtocolIndex(negated ? p.substr(1) : p);
    if (!i.has_value()) return bad();
    if (*i < 0) continue;
    (negated ? excluded : included)[*i] = true;
    any_included |= !negated;
  }
  for (int i = 0; i < 4; ++i) {
    const bool allowed = any_included ? included[i] && !excluded[i] : !excluded[i];
    if (allowed) {
      entry->min_version = kVersions[i];
      for (int j = i + 1; j < 4; ++j) {
        if (any_included ? !included[j] : excluded[j]) {
          warnings->push_back(absl::StrCat(
              "protocols=", value, ": a gap above ", TlsVersionName(kVersions[i]),
              " is not supported; minimum ", TlsVersionName(kVersions[i])));
          break;
        }
      }
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("protocols '", value, "' excludes every TLS version"));
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

class Importer {
 public:
  PostfixImport Run(absl::string_view text) {
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

  std::optional<std::string> Key(absl::string_view key, int line) {
    if (absl::StartsWith(key, "[")) {
      const size_t close = key.find(']');
      if (close == absl::string_view::npos) {
        Add(line, Severity::kError, absl::StrCat("bad key '", key, "'"));
        return std::nullopt;
      }
      const absl::string_view rest = key.substr(close + 1);
      uint32_t port = 0;
      if (!rest.empty() && (!absl::StartsWith(rest, ":") ||
                            !absl::SimpleAtoi(rest.substr(1), &port) ||
                            port == 0 || port > 65535)) {
        Add(line, Severity::kError, absl::StrCat("bad key '", key, "'"));
        return std::nullopt;
      }
      Add(line, Severity::kWarning,
          absl::StrCat("key '", key,
                       "': brackets and port dropped (policies are looked up "
                       "by next-hop domain)"));
      key = key.substr(1, close - 1);
    }
    absl::StatusOr<std::string> normal = NormalizeTableKey(key);
    if (!normal.ok() || *normal == "*") {
      Add(line, Severity::kError, absl::StrCat("bad key '", key, "'"));
      return std::nullopt;
    }
    return *normal;
  }

  void Convert(int start, const std::vector<std::pair<std::string, int>>& words) {
    const size_t errors = ErrorCount();
    std::optional<std::string> key = Key(words[0].first, start);
    if (words.size() < 2) {
      Add(start, Severity::kError, "no security level");
      return;
    }
    PolicyEntry entry;
    entry.line = start;
    std::optional<Level> level = PostfixLevel(words[1].first);
    if (!level.has_value()) {
      Add(words[1].second, Severity::kError,
          absl::StrCat("unknown security level '", words[1].first, "'"));
      return;
    }
    entry.level = *level;
    std::vector<std::string> warnings;
    for (size_t i = 2; i < words.size(); ++i) {
      const int line = words[i].second;
      const std::string& word = words[i].first;
      const size_t eq = word.find('=');
      if (eq == std::string::npos) {
        Add(line, Severity::kError, absl::StrCat("expected name=value, got '", word, "'"));
        continue;
      }
      const absl::string_view name = absl::string_view(word).substr(0, eq);
      const absl::string_view value = absl::string_view(word).substr(eq + 1);
      absl::Status status = Apply(name, value, &entry, &warnings);
      if (!status.ok()) Add(line, Severity::kError, std::string(status.message()));
      for (std::string& w : warnings) Add(line, Severity::kWarning, std::move(w));
      warnings.clear();
    }
    if (entry.level == Level::kFingerprint && entry.cert_pins.empty()) {
      Add(start, Severity::kError, "level fingerprint without match= fingerprints");
    }
    if (ErrorCount() != errors || !key.has_value()) return;
    LintEntry(entry, &result_.diagnostics);
    absl::Status added = result_.table.Add(*key, std::move(entry));
    if (!added.ok()) Add(start, Severity::kError, std::string(added.message()));
  }

  static absl::Status Apply(absl::string_view name, absl::string_view value,
                            PolicyEntry* entry, std::vector<std::string>* warnings) {
    if (name == "match") {
      if (entry->level == Level::kFingerprint) {
        for (absl::string_view fp : absl::StrSplit(value, '|')) {
          absl::StatusOr<std::string> pin = NormalizePin(fp);
          if (!pin.ok()) {
            return absl::InvalidArgumentError(absl::StrCat(
                pin.status().message(),
                "; only SHA-256 fingerprints are supported "
                "(smtp_tls_fingerprint_digest = sha256)"));
          }
          // Postfix matches either the certificate or its public key.
          entry->cert_pins.push_back(*pin);
          entry->spki_pins.push_back(*pin);
        }
        return absl::OkStatus();
      }
      if (entry->level != Level::kVerify && entry->level != Level::kSecure) {
        warnings->push_back(absl::StrCat("match= is not used by level ",
                                         LevelName(entry->level), ", dropped"));
        return absl::OkStatus();
      }
      for (absl::string_view p : absl::StrSplit(value, ':')) {
        absl::StatusOr<std::string> pattern = NormalizeMatchPattern(p);
        if (!pattern.ok()) return pattern.status();
        entry->match.push_back(*pattern);
      }
      return absl::OkStatus();
    }
    if (name == "protocols") return ApplyProtocols(value, entry, warnings);
    if (name == "ciphers") {
      std::optional<CipherGrade> g = ParseCipherGrade(value);
      if (!g.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("bad ciphers '", value, "'"));
      }
      entry->min_grade = *g;
      return absl::OkStatus();
    }
    if (name == "exclude") {
      for (absl::string_view t :
           absl::StrSplit(value, absl::ByAnyChar(":, "), absl::SkipEmpty())) {
        std::string token(t);
        if (token == "eNULL") token = "NULL";
        if (token == "aNULL") token = "ANON";
        if (!std::all_of(token.begin(), token.end(), [](char c) {
              return absl::ascii_isalnum(static_cast<unsigned char>(c));
            })) {
          return absl::InvalidArgumentError(absl::StrCat("bad exclude token '", t, "'"));
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
        return absl::InvalidArgumentError(absl::StrCat("bad servername '", value, "'"));
      }
      entry->sni = *n;
      return absl::OkStatus();
    }
    if (name == "tafile") {
      warnings->push_back(
          "tafile= dropped: trust anchors are loaded by core/tls; name them "
          "with trust-anchor=\"DN\"");
      return absl::OkStatus();
    }
    if (name == "connection_reuse" || name == "enable_rpk") {
      warnings->push_back(absl::StrCat(name, "= has no Starling equivalent, dropped"));
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat("unknown attribute '", name, "'"));
  }

  size_t ErrorCount() const {
    return std::count_if(result_.diagnostics.begin(), result_.diagnostics.end(),
                         [](const Diagnostic& d) {
                           return d.severity == Severity::kError;
                         });
  }

  PostfixImport result_;
};

}  // namespace

PostfixImport ImportPostfixPolicyMap(absl::string_view text) {
  return Importer().Run(text);
}

}  // namespace starling::policy
