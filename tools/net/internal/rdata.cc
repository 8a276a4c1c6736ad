#include "tools/net/internal/rdata.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace starling::net::internal {
namespace {

absl::Status Malformed(absl::string_view type, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed ", type, " record: ", why));
}

bool PlainLabelChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_' || c == '*';
}

}  // namespace

absl::StatusOr<std::string> DecodeName(absl::string_view wire) {
  std::string out;
  size_t pos = 0;
  while (true) {
    if (pos >= wire.size()) return Malformed("name", "no terminating label");
    const uint8_t length = static_cast<uint8_t>(wire[pos++]);
    if (length == 0) break;
    // 0xC0 pointers and the reserved label types never appear in the
    // uncompressed RDATA libunbound produces.
    if (length > 63) return Malformed("name", "label longer than 63 octets");
    if (wire.size() - pos < length) return Malformed("name", "label cut short");
    if (!out.empty()) out.push_back('.');
    for (char c : wire.substr(pos, length)) {
      if (PlainLabelChar(c)) {
        out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
      } else {
        absl::StrAppendFormat(&out, "\\%03d", static_cast<uint8_t>(c));
      }
    }
    pos += length;
  }
  if (pos != wire.size()) return Malformed("name", "bytes after the name");
  if (pos > 255) return Malformed("name", "longer than 255 octets");
  return out.empty() ? "." : out;
}

absl::StatusOr<MxRdata> DecodeMx(absl::string_view rdata) {
  if (rdata.size() < 3) return Malformed("MX", "shorter than 3 octets");
  MxRdata mx;
  mx.preference = static_cast<uint16_t>(
      (static_cast<uint8_t>(rdata[0]) << 8) | static_cast<uint8_t>(rdata[1]));
  absl::StatusOr<std::string> host = DecodeName(rdata.substr(2));
  if (!host.ok()) return Malformed("MX", host.status().message());
  mx.host = *std::move(host);
  return mx;
}

absl::StatusOr<std::string> DecodeA(absl::string_view rdata) {
  char text[INET_ADDRSTRLEN];
  if (rdata.size() != 4 ||
      inet_ntop(AF_INET, rdata.data(), text, sizeof(text)) == nullptr) {
    return Malformed("A", absl::StrCat(rdata.size(), " octets, expected 4"));
  }
  return std::string(text);
}

absl::StatusOr<std::string> DecodeAaaa(absl::string_view rdata) {
  char text[INET6_ADDRSTRLEN];
  if (rdata.size() != 16 ||
      inet_ntop(AF_INET6, rdata.data(), text, sizeof(text)) == nullptr) {
    return Malformed("AAAA", absl::StrCat(rdata.size(), " octets, expected 16"));
  }
  return std::string(text);
}

absl::StatusOr<std::string> DecodeTxt(absl::string_view rdata) {
  if (rdata.empty()) return Malformed("TXT", "no character-string");
  std::string out;
  size_t pos = 0;
  while (pos < rdata.size()) {
    const uint8_t length = static_cast<uint8_t>(rdata[pos++]);
    if (rdata.size() - pos < length) {
      return Malformed("TXT", "character-string cut short");
    }
    out.append(rdata.data() + pos, length);
    pos += length;
  }
  return out;
}

absl::StatusOr<policy::TlsaRecord> DecodeTlsa(absl::string_view rdata) {
  if (rdata.size() < 3) return Malformed("TLSA", "shorter than 3 octets");
  policy::TlsaRecord record;
  record.usage = static_cast<uint8_t>(rdata[0]);
  record.selector = static_cast<uint8_t>(rdata[1]);
  record.matching_type = static_cast<uint8_t>(rdata[2]);
  // Empty association data is well-formed DNS; the policy engine calls such
  // a record unusable (TlsaUnusableReason).
  record.data = std::string(rdata.substr(3));
  return record;
}

}  // namespace starling::net::internal
