// The Postfix importer on arbitrary text: what it converts prints as our
// format and parses back to the same rules.
#include <cstdint>
#include <string>

#include "core/policy/postfix_import.h"
#include "core/policy/table.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using starling::fuzz::Require;
  using namespace starling::policy;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const PostfixImport result = ImportPostfixPolicyMap(text);
  // Line 0: a finding about the whole map (Postfix's defaults).
  for (const Diagnostic& d : result.diagnostics) Require(d.line >= 0);
  const std::string printed = PrintPolicyTable(result.table);
  const absl::StatusOr<PolicyTable> again = ParsePolicyTable(printed);
  Require(again.ok());
  Require(again->SameRules(result.table));
  return 0;
}
