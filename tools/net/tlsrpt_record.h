#ifndef STARLING_TOOLS_NET_TLSRPT_RECORD_H_
#define STARLING_TOOLS_NET_TLSRPT_RECORD_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace starling::net {

// The TLS-RPT policy record at _smtp._tls.<domain> (RFC 8460 §3), e.g.
// "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/".
struct TlsRptRecord {
  std::vector<std::string> rua;  // where reports go, in the record's order
  friend bool operator==(const TlsRptRecord&, const TlsRptRecord&) = default;
};

// One record, strictly: "v=TLSRPTv1" first, then ";"-separated fields with
// optional whitespace around the ";"; "rua" exactly once with one or more
// comma-separated mailto: or https: URIs; extension fields (name as in §3,
// value of visible characters but "=" and ";") are allowed and ignored.
absl::StatusOr<TlsRptRecord> ParseTlsRptTxt(absl::string_view record);

// From all TXT strings at _smtp._tls.<domain>: records not starting with
// "v=TLSRPTv1" are ignored; none -> NotFound, more than one ->
// InvalidArgument (§3: the domain then does not implement TLS-RPT).
absl::StatusOr<TlsRptRecord> TlsRptRecordFromTxtRecords(
    const std::vector<std::string>& records);

}  // namespace starling::net

#endif  // STARLING_TOOLS_NET_TLSRPT_RECORD_H_
