#include "tools/cli.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"

namespace starling::tools {

void HandleHelp(int argc, char** argv, absl::string_view source_file) {
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    help |= arg == "--help" || arg == "-h" || arg == "--helpfull" ||
            arg == "-help";
  }
  if (!help) return;
  std::cout << absl::ProgramUsageMessage() << "\n";
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::EndsWith(flag->Filename(), source_file)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(), [](const auto* a, const auto* b) {
    return a->Name() < b->Name();
  });
  if (!flags.empty()) std::cout << "\nflags:\n";
  for (const absl::CommandLineFlag* flag : flags) {
    std::cout << "  --" << flag->Name() << "  " << flag->Help()
              << " (default: \"" << flag->DefaultValue() << "\")\n";
  }
  std::exit(0);
}

std::vector<std::string> ParseCommandLineWithDashes(int argc, char** argv) {
  std::vector<std::string> storage(argv, argv + argc);
  for (std::string& arg : storage) {
    if (arg == "--") break;
    if (arg.rfind("--", 0) == 0) {
      const size_t end = std::min(arg.find('='), arg.size());
      std::replace(arg.begin() + 2, arg.begin() + end, '-', '_');
    }
  }
  std::vector<char*> fixed;
  for (std::string& arg : storage) fixed.push_back(arg.data());
  const std::vector<char*> args =
      absl::ParseCommandLine(static_cast<int>(fixed.size()), fixed.data());
  return std::vector<std::string>(args.begin(), args.end());
}

}  // namespace starling::tools
