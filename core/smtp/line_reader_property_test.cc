// Property: the lines and statuses framed from a byte stream do not depend on
// how the stream is split into Next() inputs.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/smtp/line_reader.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace starling::smtp {
namespace {

using Framed = std::vector<std::pair<std::string, LineStatus>>;

Framed FrameSplit(absl::string_view bytes, const std::vector<size_t>& cuts,
                  size_t max_line_length) {
  LineReader reader(max_line_length);
  Framed out;
  size_t pos = 0;
  auto feed = [&](absl::string_view piece) {
    while (auto line = reader.Next(&piece)) {
      out.emplace_back(std::string(line->text), line->status);
    }
  };
  for (size_t cut : cuts) {
    feed(bytes.substr(pos, cut - pos));
    pos = cut;
  }
  feed(bytes.substr(pos));
  return out;
}

// Bytes rich in CR, LF and dots so that every framing path is exercised.
rc::Gen<std::string> SmtpishBytes() {
  return rc::gen::container<std::string>(
      rc::gen::weightedOneOf<char>({{4, rc::gen::element('\r', '\n')},
                                    {2, rc::gen::element('.', ' ', 'A')},
                                    {1, rc::gen::arbitrary<char>()}}));
}

RC_GTEST_PROP(LineReaderProperty, AnySplitYieldsSameLines, ()) {
  const std::string bytes = *SmtpishBytes();
  const size_t max_line_length = *rc::gen::inRange<size_t>(1, 40);
  std::vector<size_t> cuts =
      *rc::gen::container<std::vector<size_t>>(
          rc::gen::inRange<size_t>(0, bytes.size() + 1));
  std::sort(cuts.begin(), cuts.end());
  RC_ASSERT(FrameSplit(bytes, cuts, max_line_length) ==
            FrameSplit(bytes, {}, max_line_length));
}

RC_GTEST_PROP(LineReaderProperty, OkLinesRoundTrip, ()) {
  // Lines without CR or LF, joined with CRLF, come back unchanged and kOk.
  const auto lines = *rc::gen::container<std::vector<std::string>>(
      rc::gen::container<std::string>(rc::gen::distinctFrom(
          rc::gen::distinctFrom(rc::gen::arbitrary<char>(), '\r'), '\n')));
  std::string bytes;
  size_t longest = 0;
  for (const auto& line : lines) {
    bytes += line + "\r\n";
    longest = std::max(longest, line.size() + 2);
  }
  Framed expected;
  for (const auto& line : lines) expected.emplace_back(line, LineStatus::kOk);
  RC_ASSERT(FrameSplit(bytes, {}, longest) == expected);
}

}  // namespace
}  // namespace starling::smtp

namespace starling::smtp {
namespace {

// Split mode: joining each line's kSegment pieces with its final part gives
// the same lines, whatever the cuts and the limit, with any CR inside a
// segment counted as bare.
Framed FrameJoined(absl::string_view bytes, const std::vector<size_t>& cuts,
                   size_t max_line_length) {
  LineReader reader(max_line_length);
  reader.set_split_long_lines(true);
  Framed out;
  std::string pending;
  auto feed = [&](absl::string_view piece) {
    while (auto line = reader.Next(&piece)) {
      if (line->status == LineStatus::kSegment) {
        RC_ASSERT(line->text.find('\n') == absl::string_view::npos);
        pending += std::string(line->text);
        continue;
      }
      RC_ASSERT(line->continued == !pending.empty() || pending.empty());
      LineStatus status = line->status;
      if (status == LineStatus::kOk && pending.find('\r') != std::string::npos) {
        status = LineStatus::kBareCr;
      }
      out.emplace_back(pending + std::string(line->text), status);
      pending.clear();
    }
  };
  size_t pos = 0;
  for (size_t cut : cuts) {
    feed(bytes.substr(pos, cut - pos));
    pos = cut;
  }
  feed(bytes.substr(pos));
  return out;
}

RC_GTEST_PROP(LineReaderProperty, SplitModeJoinsToTheSameLines, ()) {
  const std::string bytes = *SmtpishBytes();
  const size_t max_line_length = *rc::gen::inRange<size_t>(2, 20);
  std::vector<size_t> cuts = *rc::gen::container<std::vector<size_t>>(
      rc::gen::inRange<size_t>(0, bytes.size() + 1));
  std::sort(cuts.begin(), cuts.end());
  // Reference: the whole stream with a limit no line reaches.
  RC_ASSERT(FrameJoined(bytes, cuts, max_line_length) ==
            FrameSplit(bytes, {}, bytes.size() + 2));
}

}  // namespace
}  // namespace starling::smtp
