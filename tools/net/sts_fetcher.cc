#include "tools/net/sts_fetcher.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/policy/names.h"

namespace starling::net {
namespace {

// RFC 8461 §3.2 caps the policy; one byte more tells ResolveSts it was
// larger without holding an attacker's unbounded body in memory.
constexpr size_t kBodyLimit = policy::kStsMaxPolicyBytes + 1;

struct Body {
  std::string data;
  bool truncated = false;
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  Body* body = static_cast<Body*>(user);
  const size_t bytes = size * count;
  const size_t room = kBodyLimit - body->data.size();
  if (bytes > room) {
    body->data.append(data, room);
    body->truncated = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  body->data.append(data, bytes);
  return bytes;
}

absl::Status CurlGlobalInit() {
  static CURLcode result = CURLE_FAILED_INIT;
  static std::once_flag once;
  // Process-wide and not thread-safe in every libcurl: once, never undone.
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    return absl::InternalError(absl::StrCat("libcurl: curl_global_init: ",
                                            curl_easy_strerror(result)));
  }
  return absl::OkStatus();
}

long Milliseconds(absl::Duration d) {  // NOLINT(runtime/int): libcurl's type
  return static_cast<long>(absl::ToInt64Milliseconds(d));  // NOLINT
}

}  // namespace

std::string StsPolicyUrl(absl::string_view domain) {
  return absl::StrCat("https://mta-sts.", domain, "/.well-known/mta-sts.txt");
}

absl::StatusOr<StsPolicyFetcher> StsPolicyFetcher::Create(
    StsFetchOptions options) {
  if (absl::Status s = CurlGlobalInit(); !s.ok()) return s;
  const curl_version_info_data* version = curl_version_info(CURLVERSION_NOW);
  if ((version->features & CURL_VERSION_SSL) == 0) {
    return absl::FailedPreconditionError("libcurl was built without TLS");
  }
  if (options.connect_timeout <= absl::ZeroDuration() ||
      options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("MTA-STS fetch timeouts must be positive");
  }
  if (!options.ca_file.empty() && !std::ifstream(options.ca_file).good()) {
    return absl::NotFoundError(
        absl::StrCat("cannot read CA file ", options.ca_file));
  }
  struct stat info;
  if (!options.ca_dir.empty() &&
      (stat(options.ca_dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))) {
    return absl::NotFoundError(
        absl::StrCat("CA directory ", options.ca_dir, " does not exist"));
  }
  return StsPolicyFetcher(std::move(options));
}

absl::StatusOr<policy::StsFetch> StsPolicyFetcher::Fetch(
    absl::string_view domain) const {
  // Only a valid host name goes into the URL: nothing else can reach it.
  std::optional<std::string> name = policy::NormalizeDnsName(domain);
  if (!name.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", domain, "' is not a valid domain name"));
  }
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(),
                                                           curl_easy_cleanup);
  if (curl == nullptr) return absl::InternalError("libcurl: curl_easy_init failed");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> connect_to(
      nullptr, curl_slist_free_all);
  for (const std::string& entry : options_.connect_to) {
    curl_slist* list = curl_slist_append(connect_to.get(), entry.c_str());
    if (list == nullptr) return absl::InternalError("libcurl: out of memory");
    connect_to.release();
    connect_to.reset(list);
  }

  const std::string url = StsPolicyUrl(*name);
  char error[CURL_ERROR_SIZE] = {};
  Body body;
  CURL* c = curl.get();
  CURLcode setup = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (setup == CURLE_OK) setup = curl_easy_setopt(c, option, value);
  };
  set(CURLOPT_URL, url.c_str());
  // §3.3: HTTPS only and redirects never followed (a 3xx is a failed
  // fetch); no http:// fallback exists because no other protocol is allowed.
  set(CURLOPT_PROTOCOLS_STR, "https");
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  set(CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));  // NOLINT
  if (!options_.ca_file.empty() || !options_.ca_dir.empty()) {
    // Null turns the built-in default off, so only the given trust counts.
    set(CURLOPT_CAINFO, options_.ca_file.empty() ? nullptr : options_.ca_file.c_str());
    set(CURLOPT_CAPATH, options_.ca_dir.empty() ? nullptr : options_.ca_dir.c_str());
  }
  if (connect_to != nullptr) set(CURLOPT_CONNECT_TO, connect_to.get());
  // Proxies from the environment would reroute the fetch behind the
  // caller's back (and around CONNECT_TO); the fetch goes direct.
  set(CURLOPT_PROXY, "");
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_CONNECTTIMEOUT_MS, Milliseconds(options_.connect_timeout));
  set(CURLOPT_TIMEOUT_MS, Milliseconds(options_.timeout));
  set(CURLOPT_USERAGENT, "Starling-MTA-STS/1");
  set(CURLOPT_WRITEFUNCTION, WriteBody);
  set(CURLOPT_WRITEDATA, &body);
  set(CURLOPT_ERRORBUFFER, error);
  if (setup != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("libcurl: setting up ", url, ": ", curl_easy_strerror(setup)));
  }

  const CURLcode result = curl_easy_perform(c);
  const std::string why = error[0] != '\0' ? error : curl_easy_strerror(result);
  policy::StsFetch fetch;
  if (result == CURLE_SSL_CACERT_BADFILE) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load the CA certificates: ", why));
  }
  if (result == CURLE_PEER_FAILED_VERIFICATION) {
    fetch.outcome = policy::StsFetch::Outcome::kBadCertificate;
    fetch.http_status = 0;
    fetch.detail = absl::StrCat(url, ": ", why);
    return fetch;
  }
  if (result != CURLE_OK && !(result == CURLE_WRITE_ERROR && body.truncated)) {
    fetch.outcome = policy::StsFetch::Outcome::kNetworkError;
    fetch.http_status = 0;
    fetch.detail = absl::StrCat(url, ": ", why);
    return fetch;
  }
  long status = 0;  // NOLINT(runtime/int)
  char* content_type = nullptr;
  char* redirect = nullptr;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &content_type);
  curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redirect);
  fetch.outcome = policy::StsFetch::Outcome::kCompleted;
  fetch.http_status = static_cast<int>(status);
  if (content_type != nullptr) fetch.content_type = content_type;
  fetch.body = std::move(body.data);
  if (redirect != nullptr) {
    fetch.detail = absl::StrCat("redirect to ", redirect, " not followed");
  } else if (body.truncated) {
    fetch.detail = absl::StrCat("body larger than ", policy::kStsMaxPolicyBytes,
                                " bytes; reading stopped");
  }
  return fetch;
}

}  // namespace starling::net
