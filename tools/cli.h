#ifndef STARLING_TOOLS_CLI_H_
#define STARLING_TOOLS_CLI_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace starling::tools {

// When argv holds --help, -h or --helpfull: prints the program's usage
// message (absl::SetProgramUsageMessage) and every flag defined in a source
// file whose path ends in `source_file`, with its default, to stdout and
// exits 0. Abseil's own --help exits 1 and, when the binary's name differs
// from its source file's, finds no flags. Call before ParseCommandLine.
void HandleHelp(int argc, char** argv, absl::string_view source_file);

// Abseil flag names use underscores; users type dashes. Parses argv with
// "--check-determinism" read as "--check_determinism" (names only, never
// values, nothing after "--") and returns the positional arguments.
std::vector<std::string> ParseCommandLineWithDashes(int argc, char** argv);

}  // namespace starling::tools

#endif  // STARLING_TOOLS_CLI_H_
