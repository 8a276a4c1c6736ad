#ifndef STARLING_SIM_OUTPUT_FILES_H_
#define STARLING_SIM_OUTPUT_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace starling::sim {

// Where mtasim's reports, pcap files and transcripts go. Errors name the path.

// Creates `dir` and its parents when missing.
absl::Status MakeDirectory(const std::string& dir);

// Writes `bytes` to `path`, replacing what was there.
absl::Status WriteFile(const std::string& path, absl::string_view bytes);

}  // namespace starling::sim

#endif  // STARLING_SIM_OUTPUT_FILES_H_
