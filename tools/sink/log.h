#ifndef STARLING_TOOLS_SINK_LOG_H_
#define STARLING_TOOLS_SINK_LOG_H_

#include <cstdio>
#include <mutex>
#include <string>

#include "absl/strings/string_view.h"

namespace starling::sink {

// One line per event, whole lines only (connections may run on several
// threads): "2026-12-07T08:00:00.123Z starling-sink: <text>".
class Log {
 public:
  // `out` null: lines go nowhere.
  explicit Log(std::FILE* out = stderr) : out_(out) {}
  void Line(absl::string_view text);

 private:
  std::mutex mutex_;
  std::FILE* out_;
};

}  // namespace starling::sink

#endif  // STARLING_TOOLS_SINK_LOG_H_
