#include "tools/net/tlsrpt_record.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace starling::net {
namespace {

absl::Status Bad(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("TLS-RPT record: ", why));
}

absl::string_view TrimWsp(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool Visible(char c) { return c >= 0x21 && c <= 0x7e; }

// (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
bool ValidExtensionName(absl::string_view name) {
  if (name.empty() || name.size() > 32 ||
      !absl::ascii_isalnum(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-' || c == '.';
  });
}

// A reporting URI: mailto:<something> or https://<something>, visible
// characters only (',' and ';' would have to be percent-encoded).
absl::Status CheckUri(absl::string_view uri) {
  const bool mailto = absl::StartsWithIgnoreCase(uri, "mailto:") && uri.size() > 7;
  const bool https = absl::StartsWithIgnoreCase(uri, "https://") && uri.size() > 8;
  if (!mailto && !https) {
    return Bad(absl::StrCat("rua URI '", uri, "' is not mailto: or https:"));
  }
  if (!std::all_of(uri.begin(), uri.end(), Visible)) {
    return Bad(absl::StrCat("rua URI '", uri, "' has a space or control character"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TlsRptRecord> ParseTlsRptTxt(absl::string_view record) {
  std::vector<absl::string_view> fields = absl::StrSplit(record, ';');
  // A trailing ";" leaves one empty (or all-whitespace) field.
  if (fields.size() > 1 && TrimWsp(fields.back()).empty()) fields.pop_back();
  if (fields.empty() || TrimWsp(fields[0]) != "v=TLSRPTv1" ||
      !absl::StartsWith(record, "v=TLSRPTv1")) {
    return Bad("must start with v=TLSRPTv1");
  }
  TlsRptRecord parsed;
  bool have_rua = false;
  for (size_t i = 1; i < fields.size(); ++i) {
    const absl::string_view field = TrimWsp(fields[i]);
    const size_t eq = field.find('=');
    if (eq == absl::string_view::npos) {
      return Bad(absl::StrCat("field '", field, "' is not name=value"));
    }
    const absl::string_view name = field.substr(0, eq);
    const absl::string_view value = field.substr(eq + 1);
    if (name == "rua") {
      if (have_rua) return Bad("more than one rua");
      have_rua = true;
      for (absl::string_view uri : absl::StrSplit(value, ',')) {
        uri = TrimWsp(uri);
        if (absl::Status s = CheckUri(uri); !s.ok()) return s;
        parsed.rua.emplace_back(uri);
      }
      continue;
    }
    if (!ValidExtensionName(name)) {
      return Bad(absl::StrCat("bad field name '", name, "'"));
    }
    if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) {
          return Visible(c) && c != '=' && c != ';';
        })) {
      return Bad(absl::StrCat("bad value for '", name, "'"));
    }
  }
  if (!have_rua) return Bad("no rua");
  return parsed;
}

absl::StatusOr<TlsRptRecord> TlsRptRecordFromTxtRecords(
    const std::vector<std::string>& records) {
  const std::string* found = nullptr;
  for (const std::string& r : records) {
    if (!absl::StartsWith(r, "v=TLSRPTv1")) continue;
    if (found != nullptr) return Bad("more than one v=TLSRPTv1 record");
    found = &r;
  }
  if (found == nullptr) return absl::NotFoundError("no v=TLSRPTv1 TXT record");
  return ParseTlsRptTxt(*found);
}

}  // namespace starling::net
