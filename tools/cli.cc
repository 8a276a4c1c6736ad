#include "tools/cli.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace starling::tools {

void HandleHelp(int argc, char** argv, absl::string_view source_file,
                const std::vector<absl::string_view>& shared_files) {
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
    const auto defined_in = [&flag](absl::string_view file) {
      return absl::EndsWith(flag->Filename(), file);
    };
    if (defined_in(source_file) ||
        std::any_of(shared_files.begin(), shared_files.end(), defined_in)) {
      flags.push_back(flag);
    }
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

void AcceptDashedFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    char* arg = argv[i];
    if (arg[0] != '-' || arg[1] != '-') continue;
    if (arg[2] == '\0') break;  // "--": the rest are not flags
    for (char* c = arg + 2; *c != '\0' && *c != '='; ++c) {
      if (*c == '-') *c = '_';
    }
  }
}

std::vector<std::string> JoinRepeatedFlags(
    int argc, char** argv, const std::vector<absl::string_view>& list_flags) {
  std::vector<std::string> out;
  // Where each list flag's joined value sits in `out`.
  absl::flat_hash_map<std::string, size_t> seen;
  bool rest = false;
  for (int i = 0; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (i == 0 || rest || !absl::StartsWith(arg, "--")) {
      rest |= arg == "--";
      out.emplace_back(arg);
      continue;
    }
    const size_t equals = arg.find('=');
    const std::string name(arg.substr(2, equals == absl::string_view::npos
                                             ? absl::string_view::npos
                                             : equals - 2));
    if (std::find(list_flags.begin(), list_flags.end(), name) == list_flags.end()) {
      out.emplace_back(arg);
      continue;
    }
    std::string value;
    if (equals != absl::string_view::npos) {
      value = std::string(arg.substr(equals + 1));
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    const auto [it, added] = seen.emplace(name, out.size());
    if (added) {
      out.push_back(absl::StrCat("--", name, "=", value));
    } else if (!value.empty()) {
      absl::StrAppend(&out[it->second], ",", value);
    }
  }
  return out;
}

std::vector<std::string> ParseToolFlags(
    int argc, char** argv, absl::string_view source_file,
    const std::vector<absl::string_view>& list_flags,
    const std::vector<absl::string_view>& shared_files) {
  AcceptDashedFlags(argc, argv);
  HandleHelp(argc, argv, source_file, shared_files);
  std::vector<std::string> args = JoinRepeatedFlags(argc, argv, list_flags);
  std::vector<char*> pointers;
  for (std::string& arg : args) pointers.push_back(arg.data());
  const std::vector<char*> rest =
      absl::ParseCommandLine(static_cast<int>(pointers.size()), pointers.data());
  return std::vector<std::string>(rest.begin(), rest.end());
}

}  // namespace starling::tools
