#ifndef STARLING_CORE_POLICY_SHA2_H_
#define STARLING_CORE_POLICY_SHA2_H_

#include <string>

#include "absl/strings/string_view.h"

namespace starling::policy {

// FIPS 180-4 digests, raw bytes (32 and 64 of them). core/policy may not use
// Botan, and DANE matching type 2 needs SHA-512 of DER that core/tls hands
// over without a SHA-512; SHA-256 is here so a missing precomputed digest in
// TlsFacts can be filled from the DER.
std::string Sha256(absl::string_view data);
std::string Sha512(absl::string_view data);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_SHA2_H_
