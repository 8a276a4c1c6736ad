#include "core/policy/mta_sts.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/policy/names.h"

namespace starling::policy {
namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

absl::string_view TrimWsp(absl::string_view s) {
  while (!s.empty() && IsWsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWsp(s.back())) s.remove_suffix(1);
  return s;
}

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
bool ValidExtName(absl::string_view name) {
  if (name.empty() || name.size() > 32 || !IsAlnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return IsAlnum(c) || c == '_' || c == '-' || c == '.';
  });
}

absl::Status TxtError(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("MTA-STS TXT: ", why));
}

absl::Status PolicyError(int line, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("MTA-STS policy line ", line, ": ", why));
}

}  // namespace

absl::string_view StsModeName(StsMode mode) {
  switch (mode) {
    case StsMode::kEnforce: return "enforce";
    case StsMode::kTesting: return "testing";
    case StsMode::kNone: return "none";
  }
  return "?";
}

absl::StatusOr<std::string> ParseStsTxt(absl::string_view record) {
  std::vector<absl::string_view> fields = absl::StrSplit(record, ';');
  // A trailing ";" leaves one empty (or all-WSP) field.
  if (fields.size() > 1 && TrimWsp(fields.back()).empty()) fields.pop_back();
  if (fields.empty() || fields[0] != "v=STSv1") {
    return TxtError("must start with v=STSv1");
  }
  std::optional<std::string> id;
  for (size_t i = 1; i < fields.size(); ++i) {
    const absl::string_view field = TrimWsp(fields[i]);
    const size_t eq = field.find('=');
    if (eq == absl::string_view::npos) {
      return TxtError(absl::StrCat("field '", field, "' is not name=value"));
    }
    const absl::string_view name = field.substr(0, eq);
    const absl::string_view value = field.substr(eq + 1);
    if (name == "id") {
      if (id.has_value()) return TxtError("more than one id");
      if (value.empty() || value.size() > 32 ||
          !std::all_of(value.begin(), value.end(), IsAlnum)) {
        return TxtError(absl::StrCat("bad id '", value,
                                     "' (1..32 letters and digits)"));
      }
      id = std::string(value);
      continue;
    }
    if (!ValidExtName(name)) {
      return TxtError(absl::StrCat("bad field name '", name, "'"));
    }
    if (value.empty() ||
        !std::all_of(value.begin(), value.end(), [](char c) {
          return c >= 0x21 && c <= 0x7e && c != ';' && c != '=';
        })) {
      return TxtError(absl::StrCat("bad value for '", name, "'"));
    }
  }
  if (!id.has_value()) return TxtError("no id");
  return *id;
}

absl::StatusOr<std::string> StsIdFromTxtRecords(
    const std::vector<std::string>& records) {
  const std::string* found = nullptr;
  for (const std::string& r : records) {
    if (!absl::StartsWith(r, "v=STSv1")) continue;
    if (found != nullptr) return TxtError("more than one v=STSv1 record");
    found = &r;
  }
  if (found == nullptr) return absl::NotFoundError("no v=STSv1 TXT record");
  return ParseStsTxt(*found);
}

absl::StatusOr<StsPolicy> ParseStsPolicy(absl::string_view body,
                                         std::vector<std::string>* notes) {
  if (body.size() > kStsMaxPolicyBytes) {
    return absl::InvalidArgumentError("MTA-STS policy larger than 64 KiB");
  }
  StsPolicy policy;
  bool have_version = false, have_mode = false, have_max_age = false;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (TrimWsp(line).empty()) continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return PolicyError(line_number, "expected key: value");
    }
    const absl::string_view key = line.substr(0, colon);
    const absl::string_view value = TrimWsp(line.substr(colon + 1));
    for (char c : line) {
      const unsigned char u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u >= 0x7f) {
        return PolicyError(line_number, "control or non-ASCII character");
      }
    }
    if (key == "version") {
      if (have_version) return PolicyError(line_number, "version repeated");
      if (value != "STSv1") return PolicyError(line_number, "version is not STSv1");
      have_version = true;
    } else if (key == "mode") {
      if (have_mode) return PolicyError(line_number, "mode repeated");
      if (value == "enforce") {
        policy.mode = StsMode::kEnforce;
      } else if (value == "testing") {
        policy.mode = StsMode::kTesting;
      } else if (value == "none") {
        policy.mode = StsMode::kNone;
      } else {
        return PolicyError(line_number, absl::StrCat("unknown mode '", value, "'"));
      }
      have_mode = true;
    } else if (key == "max_age") {
      if (have_max_age) return PolicyError(line_number, "max_age repeated");
      uint64_t seconds = 0;
      if (value.empty() || value.size() > 10 ||
          !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(value, &seconds)) {
        return PolicyError(line_number, "max_age is not 1..10 digits");
      }
      policy.max_age = static_cast<int64_t>(
          std::min<uint64_t>(seconds, kStsMaxAgeLimit));
      if (seconds > kStsMaxAgeLimit && notes != nullptr) {
        notes->push_back(absl::StrCat("max_age ", seconds, " clamped to ",
                                      kStsMaxAgeLimit, " (RFC 8461 §3.2)"));
      }
      have_max_age = true;
    } else if (key == "mx") {
      absl::string_view host = value;
      const bool wildcard = absl::StartsWith(host, "*.");
      if (wildcard) host.remove_prefix(2);
      std::optional<std::string> name = NormalizeDnsName(host);
      if (!name.has_value()) {
        return PolicyError(line_number, absl::StrCat("bad mx pattern '", value, "'"));
      }
      policy.mx.push_back(wildcard ? absl::StrCat("*.", *name) : *name);
    } else if (!ValidExtName(key)) {
      return PolicyError(line_number, absl::StrCat("bad key '", key, "'"));
    }
  }
  if (!have_version) return PolicyError(line_number, "no version");
  if (!have_mode) return PolicyError(line_number, "no mode");
  if (!have_max_age) return PolicyError(line_number, "no max_age");
  if (policy.mx.empty() && policy.mode != StsMode::kNone) {
    return PolicyError(line_number, "no mx pattern");
  }
  return policy;
}

std::string PrintStsPolicy(const StsPolicy& policy) {
  std::string out = absl::StrCat("version: STSv1\r\nmode: ",
                                 StsModeName(policy.mode), "\r\n");
  for (const std::string& mx : policy.mx) absl::StrAppend(&out, "mx: ", mx, "\r\n");
  absl::StrAppend(&out, "max_age: ", policy.max_age, "\r\n");
  return out;
}

bool StsMxMatches(const StsPolicy& policy, absl::string_view mx_host) {
  for (const std::string& pattern : policy.mx) {
    if (MatchStsMxPattern(pattern, mx_host)) return true;
  }
  return false;
}

namespace {

bool CacheValid(const std::optional<StsCacheEntry>& cache, absl::Time now) {
  return cache.has_value() && now < cache->expires_at();
}

bool PlainText(absl::string_view content_type) {
  const absl::string_view media =
      TrimWsp(content_type.substr(0, content_type.find(';')));
  return absl::EqualsIgnoreCase(media, "text/plain");
}

}  // namespace

bool StsNeedsFetch(const StsTxtLookup& txt,
                   const std::optional<StsCacheEntry>& cache, absl::Time now) {
  return txt.status == StsTxtLookup::Status::kFound &&
         !(CacheValid(cache, now) && cache->id == txt.id);
}

StsResolution ResolveSts(const StsTxtLookup& txt,
                         const std::optional<StsCacheEntry>& cache,
                         const std::optional<StsFetch>& fetch, absl::Time now) {
  StsResolution r;
  const bool cache_valid = CacheValid(cache, now);
  if (cache.has_value() && !cache_valid) {
    r.trace.push_back(absl::StrCat("MTA-STS: cached policy id ", cache->id,
                                   " expired at ",
                                   absl::FormatTime(cache->expires_at())));
  }
  auto keep_cached = [&](absl::string_view why) {
    if (cache_valid) {
      r.policy = cache->policy;
      r.cache = cache;
      r.trace.push_back(absl::StrCat(why, "; cached policy id ", cache->id,
                                     " (mode ", StsModeName(cache->policy.mode),
                                     ") stays in force until ",
                                     absl::FormatTime(cache->expires_at())));
    } else {
      r.trace.push_back(absl::StrCat(why, "; no MTA-STS policy in force"));
    }
  };
  if (txt.status == StsTxtLookup::Status::kAbsent) {
    keep_cached("MTA-STS: no TXT record");
    return r;
  }
  if (txt.status == StsTxtLookup::Status::kTemporaryError) {
    keep_cached("MTA-STS: TXT lookup failed");
    return r;
  }
  if (!StsNeedsFetch(txt, cache, now)) {
    keep_cached(absl::StrCat("MTA-STS: TXT id ", txt.id, " unchanged"));
    return r;
  }
  if (!fetch.has_value()) {
    r.failure_result_type = "sts-policy-fetch-error";
    keep_cached(absl::StrCat("MTA-STS: TXT id ", txt.id,
                             " needs a fetch that has not happened"));
    return r;
  }
  std::string failure;
  switch (fetch->outcome) {
    case StsFetch::Outcome::kNetworkError:
      r.failure_result_type = "sts-policy-fetch-error";
      failure = "network error";
      break;
    case StsFetch::Outcome::kBadCertificate:
      r.failure_result_type = "sts-webpki-invalid";
      failure = "the policy host's certificate is not valid";
      break;
    case StsFetch::Outcome::kCompleted:
      if (fetch->http_status != 200) {
        r.failure_result_type = "sts-policy-fetch-error";
        failure = absl::StrCat("HTTP status ", fetch->http_status);
      } else if (!PlainText(fetch->content_type)) {
        r.failure_result_type = "sts-policy-invalid";
        failure = absl::StrCat("content type '", fetch->content_type,
                               "' is not text/plain");
      }
      break;
  }
  if (failure.empty()) {
    std::vector<std::string> notes;
    absl::StatusOr<StsPolicy> parsed = ParseStsPolicy(fetch->body, &notes);
    if (!parsed.ok()) {
      r.failure_result_type = "sts-policy-invalid";
      failure = std::string(parsed.status().message());
    } else {
      r.policy = *parsed;
      r.cache = StsCacheEntry{txt.id, *parsed, now};
      r.trace.push_back(absl::StrCat("MTA-STS: fetched policy id ", txt.id,
                                     " (mode ", StsModeName(parsed->mode),
                                     ", max_age ", parsed->max_age, ")"));
      for (const std::string& note : notes) {
        r.trace.push_back(absl::StrCat("MTA-STS: ", note));
      }
      return r;
    }
  }
  if (!fetch->detail.empty()) absl::StrAppend(&failure, ": ", fetch->detail);
  keep_cached(absl::StrCat("MTA-STS: fetching policy id ", txt.id,
                           " failed (", r.failure_result_type, ": ", failure,
                           ")"));
  return r;
}

}  // namespace starling::policy
