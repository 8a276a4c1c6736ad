#include "core/smtp/dot_stuffing.h"

namespace starling::smtp {
namespace {

// Calls line(text) for each line of `body`, split at CRLF, bare CR or bare LF.
template <typename Fn>
void ForEachLine(absl::string_view body, Fn line) {
  size_t start = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\r' && body[i] != '\n') continue;
    line(body.substr(start, i - start));
    if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < body.size()) line(body.substr(start));
}

}  // namespace

std::string NormalizeLineEndings(absl::string_view body) {
  std::string out;
  out.reserve(body.size() + body.size() / 32 + 2);
  ForEachLine(body, [&](absl::string_view text) {
    out.append(text.data(), text.size());
    out += "\r\n";
  });
  return out;
}

std::string DotStuff(absl::string_view body) {
  std::string out;
  out.reserve(body.size() + body.size() / 32 + 5);
  ForEachLine(body, [&](absl::string_view text) {
    if (!text.empty() && text.front() == '.') out += '.';
    out.append(text.data(), text.size());
    out += "\r\n";
  });
  out += ".\r\n";
  return out;
}

}  // namespace starling::smtp
