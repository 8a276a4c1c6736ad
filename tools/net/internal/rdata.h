#ifndef STARLING_TOOLS_NET_INTERNAL_RDATA_H_
#define STARLING_TOOLS_NET_INTERNAL_RDATA_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/policy/dane.h"

namespace starling::net::internal {

// Decoders for the RDATA libunbound hands out (uncompressed wire format, one
// record at a time). Malformed input is an InvalidArgument error naming the
// type; nothing here trusts a length it has not checked.

// A domain name in wire format filling all of `wire`, in presentation form:
// lower case, no trailing dot, "." for the root; bytes other than letters,
// digits, '-', '_' and '*' are escaped as \DDD (a '.' inside a label too), so
// the text names exactly one wire name.
absl::StatusOr<std::string> DecodeName(absl::string_view wire);

struct MxRdata {
  uint16_t preference = 0;
  std::string host;  // as DecodeName
};
absl::StatusOr<MxRdata> DecodeMx(absl::string_view rdata);

// Dotted quad / RFC 5952 text.
absl::StatusOr<std::string> DecodeA(absl::string_view rdata);
absl::StatusOr<std::string> DecodeAaaa(absl::string_view rdata);

// The character-strings of one TXT record, concatenated (RFC 8461 §3.1 and
// RFC 8460 §3 both read a record split into several strings as one).
absl::StatusOr<std::string> DecodeTxt(absl::string_view rdata);

absl::StatusOr<policy::TlsaRecord> DecodeTlsa(absl::string_view rdata);

}  // namespace starling::net::internal

#endif  // STARLING_TOOLS_NET_INTERNAL_RDATA_H_
