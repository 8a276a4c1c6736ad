#include "core/smtp/dot_stuffing.h"

#include "absl/strings/str_cat.h"
#include "core/smtp/line_reader.h"
#include "core/smtp/text.h"

namespace starling::smtp {

BodyEncoder::BodyEncoder(Mode mode, size_t max_line_length)
    : mode_(mode), max_line_length_(max_line_length) {}

absl::Status BodyEncoder::LineTooLong() {
  error_ = absl::FailedPreconditionError(absl::StrCat(
      "message has a line longer than ", max_line_length_ - 2,
      " octets; refusing to split or truncate it"));
  return error_;
}

absl::Status BodyEncoder::EndLine(std::string* out) {
  if (max_line_length_ != 0 && line_length_ + 2 > max_line_length_) {
    return LineTooLong();
  }
  out->append("\r\n");
  line_length_ = 0;
  at_line_start_ = true;
  return absl::OkStatus();
}

absl::Status BodyEncoder::Encode(absl::string_view piece, std::string* out) {
  if (!error_.ok()) return error_;
  if (seven_bit_ && HasEightBit(piece)) {
    error_ = absl::FailedPreconditionError(
        "message has an 8-bit octet but was declared 7BIT; refusing to send "
        "it unlabelled");
    return error_;
  }
  consumed_ += piece.size();
  if (mode_ == Mode::kBinary) {
    out->append(piece.data(), piece.size());
    return absl::OkStatus();
  }
  const char* p = piece.data();
  const char* const end = p + piece.size();
  while (p < end) {
    if (at_line_start_ && !pending_cr_) {
      // Whole CRLF lines that need no change (no '.' to stuff, no bare CR
      // or LF, not too long) go out as they are, many at a time.
      const size_t plain = internal::PlainCrlfLines(p, end, max_line_length_);
      out->append(p, plain);
      p += plain;
      if (p == end) break;
    }
    if (pending_cr_) {
      // A CR ends the line whether or not LF follows (bare CR becomes CRLF).
      pending_cr_ = false;
      if (absl::Status s = EndLine(out); !s.ok()) return s;
      if (*p == '\n') ++p;
      continue;
    }
    if (*p == '\r') {
      pending_cr_ = true;
      ++p;
      continue;
    }
    if (*p == '\n') {
      if (absl::Status s = EndLine(out); !s.ok()) return s;
      ++p;
      continue;
    }
    if (at_line_start_ && mode_ == Mode::kData && *p == '.') {
      out->push_back('.');
      ++line_length_;
    }
    at_line_start_ = false;
    const char* run_end = internal::FindCrOrLf(p, end);
    out->append(p, run_end - p);
    line_length_ += run_end - p;
    p = run_end;
    if (max_line_length_ != 0 && line_length_ + 2 > max_line_length_) {
      return LineTooLong();
    }
  }
  return absl::OkStatus();
}

absl::Status BodyEncoder::Finish(std::string* out) {
  if (!error_.ok()) return error_;
  if (mode_ != Mode::kBinary && (pending_cr_ || !at_line_start_)) {
    pending_cr_ = false;
    if (absl::Status s = EndLine(out); !s.ok()) return s;
  }
  if (mode_ == Mode::kData) out->append(".\r\n");
  return absl::OkStatus();
}

std::string DotStuff(absl::string_view body) {
  std::string out;
  out.reserve(body.size() + body.size() / 32 + 5);
  BodyEncoder encoder(BodyEncoder::Mode::kData, 0);
  (void)encoder.Encode(body, &out);
  (void)encoder.Finish(&out);
  return out;
}

std::string NormalizeLineEndings(absl::string_view body) {
  std::string out;
  out.reserve(body.size() + body.size() / 32 + 2);
  BodyEncoder encoder(BodyEncoder::Mode::kBdatText, 0);
  (void)encoder.Encode(body, &out);
  (void)encoder.Finish(&out);
  return out;
}

}  // namespace starling::smtp
