#include "tools/net/sts_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/policy/names.h"
#include "nlohmann/json.hpp"

namespace starling::net {
namespace {

using Json = nlohmann::json;

constexpr char kFormat[] = "starling-mta-sts-cache/1";
// An entry is a few hundred bytes (a policy at most 64 KiB); anything much
// larger is not ours and is not read into memory.
constexpr size_t kMaxFileBytes = 256 * 1024;

absl::Status Errno(absl::string_view what, absl::string_view path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

int64_t ClampMaxAge(int64_t max_age) {
  return std::clamp<int64_t>(max_age, 0, policy::kStsMaxAgeLimit);
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, bool* missing) {
  *missing = false;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      *missing = true;
      return std::string();
    }
    return Errno("cannot open", path);
  }
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const absl::Status error = Errno("cannot read", path);
      close(fd);
      return error;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {
      close(fd);
      return absl::DataLossError(absl::StrCat(
          "MTA-STS cache file ", path, ": larger than ", kMaxFileBytes,
          " bytes, not a cache entry"));
    }
  }
  close(fd);
  return text;
}

absl::Status WriteAll(int fd, absl::string_view text) {
  while (!text.empty()) {
    const ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::InternalError(strerror(errno));
    text.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

std::string StsCacheEntryToJson(absl::string_view domain,
                                const policy::StsCacheEntry& entry) {
  Json mx = Json::array();
  for (const std::string& pattern : entry.policy.mx) mx.push_back(pattern);
  const Json json = {
      {"format", kFormat},
      {"domain", std::string(domain)},
      {"id", entry.id},
      {"fetched_at", absl::FormatTime(absl::RFC3339_full, entry.fetched_at,
                                      absl::UTCTimeZone())},
      {"policy",
       {{"mode", std::string(policy::StsModeName(entry.policy.mode))},
        {"mx", mx},
        {"max_age", ClampMaxAge(entry.policy.max_age)}}},
  };
  // The strings are a DNS name, an alphanumeric id, a timestamp and MX
  // patterns: plain ASCII, so dump() cannot meet invalid UTF-8 and throw.
  return json.dump(2) + "\n";
}

absl::StatusOr<policy::StsCacheEntry> StsCacheEntryFromJson(
    absl::string_view domain, absl::string_view text) {
  auto bad = [](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("not an MTA-STS cache entry: ", why));
  };
  const Json json = Json::parse(text.begin(), text.end(), nullptr,
                                /*allow_exceptions=*/false);
  if (json.is_discarded()) return bad("not JSON");
  if (!json.is_object()) return bad("not a JSON object");
  for (const auto& [key, value] : json.items()) {
    if (key != "format" && key != "domain" && key != "id" &&
        key != "fetched_at" && key != "policy") {
      return bad(absl::StrCat("unknown field '", key, "'"));
    }
  }
  auto string_field = [&](const Json& object, const char* key,
                          std::string* out) -> absl::Status {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) {
      return bad(absl::StrCat("'", key, "' is missing or not a string"));
    }
    *out = it->get<std::string>();
    return absl::OkStatus();
  };
  std::string format, file_domain, fetched_at, mode;
  policy::StsCacheEntry entry;
  for (auto [key, out] : {std::pair{"format", &format},
                          std::pair{"domain", &file_domain},
                          std::pair{"id", &entry.id},
                          std::pair{"fetched_at", &fetched_at}}) {
    if (absl::Status s = string_field(json, key, out); !s.ok()) return s;
  }
  if (format != kFormat) {
    return bad(absl::StrCat("format '", format, "', expected '", kFormat, "'"));
  }
  if (file_domain != domain) {
    return bad(absl::StrCat("it is for '", file_domain, "', not '", domain, "'"));
  }
  // The id as §3.1 defines it: what a TXT record could have carried.
  absl::StatusOr<std::string> id =
      policy::ParseStsTxt(absl::StrCat("v=STSv1; id=", entry.id, ";"));
  if (!id.ok() || *id != entry.id) {
    return bad(absl::StrCat("bad id '", entry.id, "'"));
  }
  std::string time_error;
  if (!absl::ParseTime(absl::RFC3339_full, fetched_at, &entry.fetched_at,
                       &time_error) ||
      entry.fetched_at == absl::InfiniteFuture() ||
      entry.fetched_at == absl::InfinitePast()) {
    return bad(absl::StrCat("bad fetched_at '", fetched_at, "'"));
  }

  auto policy_it = json.find("policy");
  if (policy_it == json.end() || !policy_it->is_object()) {
    return bad("'policy' is missing or not an object");
  }
  const Json& p = *policy_it;
  for (const auto& [key, value] : p.items()) {
    if (key != "mode" && key != "mx" && key != "max_age") {
      return bad(absl::StrCat("unknown policy field '", key, "'"));
    }
  }
  if (absl::Status s = string_field(p, "mode", &mode); !s.ok()) return s;
  auto mx_it = p.find("mx");
  if (mx_it == p.end() || !mx_it->is_array()) {
    return bad("'mx' is missing or not an array");
  }
  std::vector<std::string> mx;
  for (const Json& pattern : *mx_it) {
    if (!pattern.is_string()) return bad("an mx pattern is not a string");
    mx.push_back(pattern.get<std::string>());
  }
  auto age_it = p.find("max_age");
  if (age_it == p.end() || !age_it->is_number_integer()) {
    return bad("'max_age' is missing or not an integer");
  }
  int64_t max_age = 0;
  if (age_it->is_number_unsigned()) {
    max_age = static_cast<int64_t>(std::min<uint64_t>(
        age_it->get<uint64_t>(), policy::kStsMaxAgeLimit));
  } else if (age_it->get<int64_t>() < 0) {
    return bad("'max_age' is negative");
  } else {
    max_age = ClampMaxAge(age_it->get<int64_t>());
  }
  // The policy goes through the policy parser, so a cached policy obeys
  // exactly the rules of a fetched one (mode names, mx patterns, mx present
  // unless mode is none).
  std::string policy_text =
      absl::StrCat("version: STSv1\nmode: ", mode, "\nmax_age: ",
                   max_age, "\n");
  for (const std::string& pattern : mx) {
    if (pattern.find_first_of("\r\n") != std::string::npos) {
      return bad("an mx pattern contains a line break");
    }
    absl::StrAppend(&policy_text, "mx: ", pattern, "\n");
  }
  absl::StatusOr<policy::StsPolicy> parsed = policy::ParseStsPolicy(policy_text);
  if (!parsed.ok()) return bad(parsed.status().message());
  entry.policy = *std::move(parsed);
  return entry;
}

absl::StatusOr<StsCache> StsCache::Open(std::string directory) {
  if (directory.empty()) {
    return absl::InvalidArgumentError("no MTA-STS cache directory given");
  }
  if (mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno("cannot create MTA-STS cache directory", directory);
  }
  struct stat info;
  if (stat(directory.c_str(), &info) != 0) return Errno("cannot use", directory);
  if (!S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("MTA-STS cache ", directory, " is not a directory"));
  }
  return StsCache(std::move(directory));
}

absl::StatusOr<std::string> StsCache::PathFor(absl::string_view domain) const {
  std::optional<std::string> name = policy::NormalizeDnsName(domain);
  if (!name.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", domain, "' is not a valid domain name"));
  }
  return absl::StrCat(directory_, "/", *name, ".json");
}

absl::StatusOr<std::optional<policy::StsCacheEntry>> StsCache::Load(
    absl::string_view domain) const {
  absl::StatusOr<std::string> path = PathFor(domain);
  if (!path.ok()) return path.status();
  bool missing = false;
  absl::StatusOr<std::string> text = ReadSmallFile(*path, &missing);
  if (!text.ok()) return text.status();
  if (missing) return std::nullopt;
  absl::StatusOr<policy::StsCacheEntry> entry =
      StsCacheEntryFromJson(*policy::NormalizeDnsName(domain), *text);
  if (!entry.ok()) {
    return absl::DataLossError(absl::StrCat("MTA-STS cache file ", *path, ": ",
                                            entry.status().message()));
  }
  return *std::move(entry);
}

absl::Status StsCache::Store(absl::string_view domain,
                             const policy::StsCacheEntry& entry) const {
  absl::StatusOr<std::string> path = PathFor(domain);
  if (!path.ok()) return path.status();
  if (entry.fetched_at == absl::InfiniteFuture() ||
      entry.fetched_at == absl::InfinitePast()) {
    return absl::InvalidArgumentError("MTA-STS cache entry without a fetch time");
  }
  const std::string json =
      StsCacheEntryToJson(*policy::NormalizeDnsName(domain), entry);
  // Readers see the old file or the new one, never a part: write a
  // temporary file in the same directory, flush it to disk, rename it over.
  std::string temporary = absl::StrCat(*path, ".tmp.XXXXXX");
  const int fd = mkostemp(temporary.data(), O_CLOEXEC);
  if (fd < 0) return Errno("cannot create a temporary file in", directory_);
  absl::Status written = WriteAll(fd, json);
  if (written.ok() && fsync(fd) != 0) written = absl::InternalError(strerror(errno));
  if (close(fd) != 0 && written.ok()) written = absl::InternalError(strerror(errno));
  if (written.ok() && rename(temporary.c_str(), path->c_str()) != 0) {
    written = absl::InternalError(strerror(errno));
  }
  if (!written.ok()) {
    unlink(temporary.c_str());
    return absl::InternalError(absl::StrCat("cannot write MTA-STS cache file ",
                                            *path, ": ", written.message()));
  }
  // The rename itself is durable once the directory is flushed.
  if (const int dir = open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dir >= 0) {
    fsync(dir);
    close(dir);
  }
  return absl::OkStatus();
}

absl::Status StsCache::Remove(absl::string_view domain) const {
  absl::StatusOr<std::string> path = PathFor(domain);
  if (!path.ok()) return path.status();
  if (unlink(path->c_str()) != 0 && errno != ENOENT) {
    return Errno("cannot remove MTA-STS cache file", *path);
  }
  return absl::OkStatus();
}

}  // namespace starling::net
