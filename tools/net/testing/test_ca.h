#ifndef STARLING_TOOLS_NET_TESTING_TEST_CA_H_
#define STARLING_TOOLS_NET_TESTING_TEST_CA_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace starling::net::testing {

// Certificates for test servers, made by openssl at test time (P-256 keys,
// valid two days): "<name>.pem" and "<name>.key" in `dir`.

// A CA certificate with `subject` ("/CN=...").
absl::Status MakeTestCa(const std::string& dir, const std::string& name,
                        const std::string& subject);

// A server certificate for `dns_names` (the first is also the CN), issued
// by the CA `ca` of the same directory.
absl::Status MakeServerCertificate(const std::string& dir,
                                   const std::string& name,
                                   const std::string& ca,
                                   const std::vector<std::string>& dns_names,
                                   int serial);

// A self-signed server certificate for `dns_name`.
absl::Status MakeSelfSignedCertificate(const std::string& dir,
                                       const std::string& name,
                                       const std::string& dns_name);

// The SHA-256 of a certificate's SubjectPublicKeyInfo in hex, as a DANE
// "3 1 1" TLSA record carries it (computed by openssl, not by Starling).
absl::StatusOr<std::string> SpkiSha256Hex(const std::string& certificate_file);

}  // namespace starling::net::testing

#endif  // STARLING_TOOLS_NET_TESTING_TEST_CA_H_
