#ifndef STARLING_CORE_SMTP_CAPABILITIES_H_
#define STARLING_CORE_SMTP_CAPABILITIES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/smtp/reply.h"

namespace starling::smtp {

// The extensions a server advertises in its 250 reply to EHLO (RFC 5321
// §4.1.1.1). Keywords are matched case-insensitively.
struct EhloCapabilities {
  std::string domain;    // first word of the first line
  std::string greeting;  // rest of the first line, may be empty

  bool pipelining = false;           // RFC 2920
  bool eight_bit_mime = false;       // RFC 6152
  bool smtputf8 = false;             // RFC 6531
  bool enhanced_status_codes = false;  // RFC 2034
  bool chunking = false;             // RFC 3030
  bool binary_mime = false;          // RFC 3030
  bool starttls = false;             // RFC 3207
  bool requiretls = false;           // RFC 8689
  bool dsn = false;                  // RFC 3461
  // RFC 1870: present when SIZE is advertised; 0 means no fixed maximum.
  std::optional<uint64_t> size;
  std::vector<std::string> auth_mechanisms;  // RFC 4954, upper-cased, unique
  // Keyword lines we do not model, verbatim (bounded by the reply's limits).
  std::vector<std::string> other;

  friend bool operator==(const EhloCapabilities&,
                         const EhloCapabilities&) = default;
};

// Parses a 250 EHLO reply. Fails on a code other than 250 or an empty first
// line. Lines whose keyword is not RFC 5321 ehlo-keyword syntax (ALPHA /
// DIGIT followed by ALPHA / DIGIT / "-") are skipped and a SIZE value that
// is not a number means no fixed maximum, as Postfix's client reads them.
absl::StatusOr<EhloCapabilities> ParseEhloReply(const Reply& reply);

// The 250 reply that advertises `caps` (server side); inverse of
// ParseEhloReply for any value it returns.
Reply EhloReply(const EhloCapabilities& caps);

// The bytes of EhloReply(caps), appended to `out` without building it
// (control characters in a text become SP, as in Reply::Make).
void AppendEhloReply(const EhloCapabilities& caps, std::string* out);

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_CAPABILITIES_H_
