#ifndef STARLING_TOOLS_NET_TESTING_POLICY_HOST_H_
#define STARLING_TOOLS_NET_TESTING_POLICY_HOST_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/testing/subprocess.h"

namespace starling::net::testing {

using ::starling::tools::testing::ChildProcess;
using ::starling::tools::testing::FindProgram;
using ::starling::tools::testing::RunProgram;

// What the policy host answers for https://mta-sts.<domain>/.well-known/
// mta-sts.txt.
struct PolicyResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  size_t padding = 0;    // bytes appended to the body (an oversize policy)
  std::string location;  // a Location header (redirects)
};

// The certificate a policy domain's host presents.
enum class HostCertificate : uint8_t {
  kValid,        // from the test CA, naming mta-sts.<domain>
  kUntrustedCa,  // naming mta-sts.<domain>, from a CA nobody trusts
  kWrongName,    // from the test CA, not naming mta-sts.<domain>
};

struct PolicyDomain {
  std::string domain;
  HostCertificate certificate = HostCertificate::kValid;
  PolicyResponse response;
};

// An HTTPS MTA-STS policy host for tests: /usr/bin/python3 running
// policy_host.py on a loopback port, with certificates from CAs made by
// openssl at start. One process serves every policy domain (by SNI and the
// Host header); reach it with a curl connect-to override.
class PolicyHost {
 public:
  // "/usr/bin/python3" or "openssl" when missing, else "".
  static std::string MissingTool();

  // `dir` must exist. policy_host.py comes from the test's runfiles.
  static absl::StatusOr<std::unique_ptr<PolicyHost>> Start(
      const std::string& dir, const std::vector<PolicyDomain>& domains);

  ~PolicyHost();  // stops the server

  // Changes what is served for `domain` from the next request on.
  absl::Status SetResponse(absl::string_view domain, PolicyResponse response);

  uint16_t port() const { return port_; }
  const std::string& ca_file() const { return ca_file_; }
  // For CURLOPT_CONNECT_TO: every host, port 443 -> 127.0.0.1:<port>.
  std::string connect_to() const;

 private:
  explicit PolicyHost(std::string dir) : dir_(std::move(dir)) {}
  absl::Status WriteResponses();

  std::string dir_;
  std::string ca_file_;
  uint16_t port_ = 0;
  std::map<std::string, PolicyResponse> responses_;  // by policy domain
  ChildProcess server_;
};

}  // namespace starling::net::testing

#endif  // STARLING_TOOLS_NET_TESTING_POLICY_HOST_H_
