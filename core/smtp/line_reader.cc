#include "core/smtp/line_reader.h"

#include <cstring>

namespace starling::smtp {

absl::string_view LineStatusName(LineStatus status) {
  switch (status) {
    case LineStatus::kOk:
      return "ok";
    case LineStatus::kTooLong:
      return "line too long";
    case LineStatus::kBareLf:
      return "bare LF";
    case LineStatus::kBareCr:
      return "bare CR";
  }
  return "unknown";
}

LineReader::LineReader(size_t max_line_length)
    : max_line_length_(max_line_length) {}

void LineReader::Reset() {
  partial_.clear();
  discarding_ = false;
  release_partial_ = false;
}

void LineReader::Append(absl::string_view bytes) {
  if (discarding_) return;
  if (partial_.size() + bytes.size() > max_line_length_) {
    discarding_ = true;
    partial_.clear();
    return;
  }
  partial_.append(bytes.data(), bytes.size());
}

Line LineReader::Frame(absl::string_view with_lf) const {
  if (with_lf.size() > max_line_length_) return {{}, LineStatus::kTooLong};
  const size_t n = with_lf.size();
  if (n < 2 || with_lf[n - 2] != '\r') {
    return {with_lf.substr(0, n - 1), LineStatus::kBareLf};
  }
  absl::string_view text = with_lf.substr(0, n - 2);
  const bool bare_cr =
      !text.empty() && std::memchr(text.data(), '\r', text.size()) != nullptr;
  return {text, bare_cr ? LineStatus::kBareCr : LineStatus::kOk};
}

std::optional<Line> LineReader::Next(absl::string_view* input) {
  if (release_partial_) {
    partial_.clear();
    release_partial_ = false;
  }
  if (input->empty()) return std::nullopt;

  const void* lf = std::memchr(input->data(), '\n', input->size());
  if (lf == nullptr) {
    Append(*input);
    input->remove_prefix(input->size());
    return std::nullopt;
  }
  const size_t take = static_cast<const char*>(lf) - input->data() + 1;
  absl::string_view chunk = input->substr(0, take);
  input->remove_prefix(take);

  if (partial_.empty() && !discarding_) return Frame(chunk);

  Append(chunk);
  if (discarding_) {
    discarding_ = false;
    return Line{{}, LineStatus::kTooLong};
  }
  release_partial_ = true;
  return Frame(partial_);
}

}  // namespace starling::smtp
