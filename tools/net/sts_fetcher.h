#ifndef STARLING_TOOLS_NET_STS_FETCHER_H_
#define STARLING_TOOLS_NET_STS_FETCHER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/mta_sts.h"

namespace starling::net {

// The MTA-STS policy fetch (RFC 8461 §3.3) through libcurl: HTTPS only, no
// redirects, the policy host's certificate checked against the WebPKI and
// the name mta-sts.<domain>, bounded in size and time. What happened comes
// back as a policy::StsFetch for policy::ResolveSts, which decides.

struct StsFetchOptions {
  // Trust for the policy host: a PEM bundle and/or a directory of hashed
  // certificates. With either set, only these are trusted; with neither,
  // libcurl's default system store.
  std::string ca_file;
  std::string ca_dir;
  // CURLOPT_CONNECT_TO entries, "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT"
  // (an empty HOST or PORT matches any): connect there instead of where DNS
  // points. The certificate is still checked against mta-sts.<domain>.
  std::vector<std::string> connect_to;
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration timeout = absl::Seconds(30);  // the whole transfer
};

// https://mta-sts.<domain>/.well-known/mta-sts.txt
std::string StsPolicyUrl(absl::string_view domain);

class StsPolicyFetcher {
 public:
  // Fails for options that cannot work (an unreadable CA file, a timeout
  // that is not positive) or a libcurl without TLS.
  static absl::StatusOr<StsPolicyFetcher> Create(StsFetchOptions options);

  // Fetches the policy of `domain`. The StsFetch says what the policy host
  // did: kCompleted with any HTTP status (a 3xx is never followed; its
  // target is in `detail`), content type and at most kStsMaxPolicyBytes + 1
  // bytes of body (reading stops there, so ResolveSts rejects it as too
  // large); kBadCertificate when the certificate chain or name failed;
  // kNetworkError for DNS, connection, TLS and timeouts. Errors are local
  // problems only: `domain` is not a DNS name, the CA file cannot be loaded,
  // libcurl fails to start.
  absl::StatusOr<policy::StsFetch> Fetch(absl::string_view domain) const;

 private:
  explicit StsPolicyFetcher(StsFetchOptions options)
      : options_(std::move(options)) {}

  StsFetchOptions options_;
};

}  // namespace starling::net

#endif  // STARLING_TOOLS_NET_STS_FETCHER_H_
