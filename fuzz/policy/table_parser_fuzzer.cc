// The table parser on arbitrary text: Parse succeeds exactly when Lint finds
// no error, and an accepted table prints to text that parses to the same
// rules and prints identically.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/policy/table.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using starling::fuzz::Require;
  using namespace starling::policy;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<PolicyTable> table = ParsePolicyTable(text);
  const std::vector<Diagnostic> lint = LintPolicyTable(text);
  const bool lint_errors = std::any_of(lint.begin(), lint.end(), [](const Diagnostic& d) {
    return d.severity == Diagnostic::Severity::kError;
  });
  Require(table.ok() != lint_errors);
  if (!table.ok()) return 0;
  const std::string printed = PrintPolicyTable(*table);
  const absl::StatusOr<PolicyTable> again = ParsePolicyTable(printed);
  Require(again.ok());
  Require(again->SameRules(*table));
  Require(PrintPolicyTable(*again) == printed);
  // Every key finds its own entry and line.
  for (const PolicyTable::Match& m : table->Entries()) {
    if (m.key[0] == '.') continue;
    const PolicyTable::Match found = table->Find(m.key);
    Require(found.entry == m.entry && found.line == m.line);
  }
  return 0;
}
