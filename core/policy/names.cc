#include "core/policy/names.h"

#include <algorithm>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace starling::policy {
namespace {

bool IsLdh(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-';
}

bool ValidLabel(absl::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!IsLdh(c)) return false;
  }
  return true;
}

absl::string_view StripRoot(absl::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name;
}

// Label-wise case-insensitive equality of two valid names.
bool SameName(absl::string_view a, absl::string_view b) {
  return absl::EqualsIgnoreCase(StripRoot(a), StripRoot(b));
}

}  // namespace

bool IsValidDnsName(absl::string_view name) {
  name = StripRoot(name);
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (!ValidLabel(name.substr(start, i - start))) return false;
      start = i + 1;
    }
  }
  return true;
}

std::optional<std::string> NormalizeDnsName(absl::string_view name) {
  if (!IsValidDnsName(name)) return std::nullopt;
  return absl::AsciiStrToLower(StripRoot(name));
}

// The comparisons come before the validity checks: names that differ (most
// of them) are ruled out without scanning their labels, and equal names are
// valid together (validity ignores case).
bool MatchDnsId(absl::string_view presented, absl::string_view reference) {
  presented = StripRoot(presented);
  if (absl::StartsWith(presented, "*.")) {
    const absl::string_view rest = presented.substr(2);
    const absl::string_view bare = StripRoot(reference);
    const size_t dot = bare.find('.');
    // "*.com" would cover a whole TLD: require two labels under the wildcard.
    return dot != absl::string_view::npos &&
           rest.find('.') != absl::string_view::npos &&
           SameName(bare.substr(dot + 1), rest) && IsValidDnsName(reference);
  }
  return SameName(presented, reference) && IsValidDnsName(reference);
}

bool MatchPattern(absl::string_view presented, absl::string_view pattern) {
  if (!absl::StartsWith(pattern, ".")) return MatchDnsId(presented, pattern);
  return MatchBelow(presented, pattern.substr(1));
}

bool MatchBelow(absl::string_view presented, absl::string_view parent) {
  parent = StripRoot(parent);
  presented = StripRoot(presented);
  if (absl::StartsWith(presented, "*.")) presented.remove_prefix(2);
  if (parent.empty() || presented.size() <= parent.size() + 1) return false;
  const absl::string_view tail =
      presented.substr(presented.size() - parent.size());
  // A valid name whose whole labels end in `parent` makes `parent` valid.
  return presented[presented.size() - parent.size() - 1] == '.' &&
         absl::EqualsIgnoreCase(tail, parent) && IsValidDnsName(presented);
}

bool CertificateMatches(const CertificateFacts& leaf,
                        absl::string_view pattern) {
  for (const std::string& name : leaf.dns_names) {
    if (MatchPattern(name, pattern)) return true;
  }
  return false;
}

bool MatchStsMxPattern(absl::string_view pattern, absl::string_view mx_host) {
  if (!IsValidDnsName(mx_host)) return false;
  pattern = StripRoot(pattern);
  mx_host = StripRoot(mx_host);
  if (absl::StartsWith(pattern, "*.")) {
    const absl::string_view rest = pattern.substr(2);
    if (!IsValidDnsName(rest)) return false;
    const size_t dot = mx_host.find('.');
    return dot != absl::string_view::npos &&
           SameName(mx_host.substr(dot + 1), rest);
  }
  return IsValidDnsName(pattern) && SameName(pattern, mx_host);
}

bool SameDistinguishedName(absl::string_view a, absl::string_view b) {
  // "type=value" parts, lower case, values unquoted, in sorted order: an
  // administrator writes "CN=x, O=y" (RFC 4514 order) for what Botan prints
  // as CN="x",C="z",O="y" (certificate order).
  auto canonical = [](absl::string_view dn) {
    std::vector<std::string> parts;
    for (absl::string_view rdn : absl::StrSplit(dn, ',')) {
      std::vector<absl::string_view> kv =
          absl::StrSplit(rdn, absl::MaxSplits('=', 1));
      std::string part(absl::StripAsciiWhitespace(kv[0]));
      if (kv.size() == 2) {
        absl::string_view value = absl::StripAsciiWhitespace(kv[1]);
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
          value = value.substr(1, value.size() - 2);
        }
        absl::StrAppend(&part, "=", value);
      }
      parts.push_back(absl::AsciiStrToLower(part));
    }
    std::sort(parts.begin(), parts.end());
    return parts;
  };
  return canonical(a) == canonical(b);
}

}  // namespace starling::policy
