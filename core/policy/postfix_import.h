#ifndef STARLING_CORE_POLICY_POSTFIX_IMPORT_H_
#define STARLING_CORE_POLICY_POSTFIX_IMPORT_H_

#include <vector>

#include "absl/strings/string_view.h"
#include "core/policy/table.h"

namespace starling::policy {

struct PostfixImport {
  PolicyTable table;                     // the lines that converted
  std::vector<Diagnostic> diagnostics;   // every error and warning, by line
  bool ok() const;                       // no errors
};

// Converts a Postfix smtp_tls_policy_maps source file (the text postmap
// reads: "key level attr=value ...", '#' comment lines, continuation lines
// starting with whitespace). Keys: "domain", ".domain", "[host]" and
// "[host]:port" (brackets and port dropped, with a warning). Levels: none,
// may, encrypt, dane, dane-only, fingerprint, verify, secure and the legacy
// NONE/MAY/MUST_NOPEERMATCH/MUST. Attributes: match (':'-separated names;
// '|'-separated SHA-256 fingerprints at level fingerprint, pinned as
// certificate or public key), protocols (">=TLSv1.2", "<=...", "!TLSv1:..."
// or an inclusion list), ciphers, exclude, servername; tafile,
// connection_reuse and enable_rpk are dropped with a warning. A line with an
// error is skipped.
PostfixImport ImportPostfixPolicyMap(absl::string_view text);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_POSTFIX_IMPORT_H_
