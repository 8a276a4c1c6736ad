#ifndef STARLING_TOOLS_CLI_H_
#define STARLING_TOOLS_CLI_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace starling::tools {

// When argv holds --help, -h or --helpfull: prints the program's usage
// message (absl::SetProgramUsageMessage) and every flag defined in a source
// file whose path ends in `source_file` (or in one of `shared_files`: flags
// several programs share), with its default, to stdout and exits 0. Abseil's
// own --help exits 1 and, when the binary's name differs from its source
// file's, finds no flags. Call before ParseCommandLine.
void HandleHelp(int argc, char** argv, absl::string_view source_file,
                const std::vector<absl::string_view>& shared_files = {});

// Lets "--max-size=10" mean "--max_size=10" (admins type dashes, Abseil's
// flags have underscores): rewrites the name part of each flag in argv in
// place. Stops at "--".
void AcceptDashedFlags(int argc, char** argv);

// Abseil lets the last of a repeated flag win. For the list flags named in
// `list_flags` every occurrence counts: "--to=a --to b" becomes "--to=a,b".
// Returns the new argument list (argv[0] first).
std::vector<std::string> JoinRepeatedFlags(
    int argc, char** argv, const std::vector<absl::string_view>& list_flags);

// All of the above, then absl::ParseCommandLine: returns the positional
// arguments (argv[0] first).
std::vector<std::string> ParseToolFlags(
    int argc, char** argv, absl::string_view source_file,
    const std::vector<absl::string_view>& list_flags,
    const std::vector<absl::string_view>& shared_files = {});

}  // namespace starling::tools

#endif  // STARLING_TOOLS_CLI_H_
