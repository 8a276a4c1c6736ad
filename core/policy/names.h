#ifndef STARLING_CORE_POLICY_NAMES_H_
#define STARLING_CORE_POLICY_NAMES_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::policy {

// DNS names as policy sees them: ASCII only (internationalised names arrive as
// IDNA A-labels, "xn--..."), compared case-insensitively, one trailing dot
// ignored. Each label is 1..63 letters, digits or hyphens, not starting or
// ending with a hyphen; at most 253 octets in all.

// Lower-cases and drops one trailing dot; nullopt when `name` is not a valid
// DNS name by the rules above (a U-label such as "bücher.example" included).
std::optional<std::string> NormalizeDnsName(absl::string_view name);

// True when `name` is a valid DNS name by the rules above (case and a
// trailing dot allowed).
bool IsValidDnsName(absl::string_view name);

// RFC 6125 §6.4 / RFC 9525 §6.3: does the presented DNS-ID (a SAN dNSName)
// match the reference identifier `reference` (a DNS name)? A wildcard is
// honoured only as the whole leftmost label ("*.example.com") of a presented
// name with at least two further labels, and matches exactly one label; a
// partial wildcard ("w*.example.com", "xn--*.example") never matches, nor does
// a presented or reference name that is not a valid DNS name.
bool MatchDnsId(absl::string_view presented, absl::string_view reference);

// A Postfix-style match pattern: "example.com" matches that name as
// MatchDnsId does; ".example.com" matches any name strictly below
// example.com (a presented "*.sub.example.com" included).
bool MatchPattern(absl::string_view presented, absl::string_view pattern);

// MatchPattern(presented, "." + parent), without building the pattern.
bool MatchBelow(absl::string_view presented, absl::string_view parent);

// Does the leaf certificate carry a SAN DNS-ID that `pattern` accepts?
// Following RFC 9525, the subject CN is never consulted.
bool CertificateMatches(const CertificateFacts& leaf,
                        absl::string_view pattern);

// RFC 8461 §4.1 MX pattern: "mx.example.com" matches that host exactly;
// "*.example.com" matches a host with exactly one more leftmost label.
bool MatchStsMxPattern(absl::string_view pattern, absl::string_view mx_host);

// Distinguished names compared as Exchange does for <I>issuer<S>subject:
// case-insensitively, ignoring whitespace around ',' and '=', quotes around
// values and the order of the attributes (RFC 4514 strings list them in
// reverse; Botan prints them in certificate order). Values containing ','
// are not supported.
bool SameDistinguishedName(absl::string_view a, absl::string_view b);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_NAMES_H_
