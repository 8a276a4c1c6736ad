#ifndef STARLING_CORE_POLICY_POSTFIX_IMPORT_H_
#define STARLING_CORE_POLICY_POSTFIX_IMPORT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/policy/level.h"
#include "core/policy/table.h"

namespace starling::policy {

// What main.cf says around the map (the map alone does not say it).
struct PostfixImportOptions {
  // smtp_tls_fingerprint_digest: "md5", "sha1", "sha256" (Postfix >= 3.6's
  // default) or "sha512". Every fingerprint of the map must have this
  // digest's length, or Postfix would never match it.
  std::string fingerprint_digest = "sha256";
  // smtp_tls_security_level: the level of destinations the map does not
  // list (the table's "*"); nullopt: Postfix's default, none.
  std::optional<Level> default_level;
  // Turn what cannot be imported exactly into something at least as strict
  // plus a warning, instead of an error.
  bool lenient = false;
};

struct PostfixImport {
  PolicyTable table;                     // the lines that converted
  std::vector<Diagnostic> diagnostics;   // every error and warning, by line
  // The "*" entry: smtp_tls_security_level, and whether it was given.
  Level default_level = Level::kNone;
  bool default_level_given = false;
  bool ok() const;                       // no errors
};

// Converts a Postfix smtp_tls_policy_maps source file (the text postmap
// reads: "key level attr=value ...", '#' comment lines, continuation lines
// starting with whitespace) the way Postfix reads it. Anything that cannot
// be represented exactly is an error with its line (or, with `lenient`,
// something at least as strict and a warning): an import never makes a
// destination weaker than Postfix would treat it.
//
// Keys: "domain", ".domain" (every domain below), and the next-hops
// "[host]" / "[host]:port", which match only mail routed through exactly
// that next-hop (relayhost, transport). Levels: none, may, encrypt, dane,
// dane-only, fingerprint, verify, secure and the legacy NONE, MAY,
// MUST_NOPEERMATCH (encrypt), MUST (verify). Attributes: match (':'-separated
// names; '|'-separated fingerprints of `fingerprint_digest` at level
// fingerprint, pinned as certificate or public key), protocols (">=V",
// "<=V", "!V" and inclusion lists, combined; invalid names are errors),
// ciphers, exclude (OpenSSL names of the suites' parts; kRSA demands
// forward secrecy), servername. Postfix's defaults apply where the entry
// says nothing: TLS 1.0 and up (smtp_tls_protocols >=TLSv1), medium
// ciphers, no forward-secrecy demand. tafile is an error (trust anchors are
// named by DN in a Starling table); connection_reuse and enable_rpk and
// SSLv2/SSLv3 in an inclusion list are errors, dropped with `lenient`.
// A line with an error is left out of the table.
PostfixImport ImportPostfixPolicyMap(absl::string_view text,
                                     const PostfixImportOptions& options = {});

// Whether `text` reads like a Postfix policy map rather than a Starling
// table (Postfix-only attributes such as protocols=, servername=, tafile=,
// '|'-separated match=, or the legacy MUST levels): lint and explain then
// point at `tlspolicy import-postfix`.
bool LooksLikePostfixPolicyMap(absl::string_view text);

// "md5", "sha1", "sha256", "sha512" -> the hex length of such a digest.
absl::StatusOr<size_t> FingerprintDigestHexLength(absl::string_view digest);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_POSTFIX_IMPORT_H_
