// Parses the input as a stream of SMTP replies, whole and split at
// fuzzer-chosen points, and checks the parser's contract: the same replies
// and error either way, every reply within the limits and with a valid code,
// and serialize -> parse gives each reply back.
//
// Input: byte 0 picks max_line_length (< 128: 4 + byte, else the default 512),
// byte 1 picks max_lines (1 + byte % 128), byte 2 seeds the split stride; the
// rest is the byte stream.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "core/smtp/reply.h"

namespace {

using starling::smtp::ParseReply;
using starling::smtp::Reply;
using starling::smtp::ReplyParser;
using starling::smtp::ReplyParserOptions;
using starling::smtp::SerializeReply;

void Check(bool ok) {
  if (!ok) std::abort();
}

struct Outcome {
  std::vector<Reply> replies;
  absl::Status error;
};

// Feeds one piece; returns false once the parser has failed.
bool Feed(ReplyParser& parser, absl::string_view piece, Outcome& out) {
  while (true) {
    const size_t before = piece.size();
    auto next = parser.Next(&piece);
    if (!next.ok()) {
      out.error = next.status();
      // Sticky: the same error again, whatever comes next.
      absl::string_view more = "250 OK\r\n";
      auto again = parser.Next(&more);
      Check(!again.ok() && again.status() == out.error);
      return false;
    }
    if (!next->has_value()) {
      Check(piece.empty());
      return true;
    }
    Check(piece.size() < before);  // a reply consumes at least its line
    out.replies.push_back(**std::move(next));
  }
}

bool ValidCode(int code) {
  return code >= 200 && code <= 559 && (code / 10) % 10 <= 5;
}

void CheckReply(const Reply& r, const ReplyParserOptions& options) {
  Check(ValidCode(r.code));
  Check(!r.lines.empty() && r.lines.size() <= options.max_lines);
  if (r.enhanced.has_value()) Check(r.enhanced->klass == r.code / 100);
  for (const std::string& text : r.lines) {
    Check(text.find('\r') == std::string::npos);
    Check(text.find('\n') == std::string::npos);
    // "ddd" + separator + text + CRLF fitted in the line limit.
    Check(text.empty() || text.size() + 6 <= options.max_line_length);
  }
  // Serialize -> parse is the identity. A line that lacked the reply's
  // enhanced code gains it when serialized, hence the slack.
  ReplyParserOptions wider = options;
  wider.max_line_length += 10;
  auto again = ParseReply(SerializeReply(r), wider);
  Check(again.ok());
  Check(*again == r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  ReplyParserOptions options;
  if (data[0] < 128) options.max_line_length = 4 + data[0];
  options.max_lines = 1 + data[1] % 128;
  const size_t stride = 1 + data[2] % 19;
  const absl::string_view bytes(reinterpret_cast<const char*>(data) + 3,
                                size - 3);

  ReplyParser whole_parser(options);
  Outcome whole;
  Feed(whole_parser, bytes, whole);

  ReplyParser split_parser(options);
  Outcome split;
  size_t step = stride;
  for (size_t pos = 0; pos < bytes.size();) {
    if (!Feed(split_parser, bytes.substr(pos, step), split)) break;
    pos += step;
    step = 1 + (step * 7 + pos) % 29;
  }
  Check(whole.replies == split.replies);
  Check(whole.error == split.error);
  Check(whole_parser.in_reply() == split_parser.in_reply());
  for (const Reply& r : whole.replies) CheckReply(r, options);

  // Reset makes the parser as good as new.
  split_parser.Reset();
  Check(!split_parser.in_reply());
  Outcome fresh;
  Feed(split_parser, bytes, fresh);
  Check(fresh.replies == whole.replies && fresh.error == whole.error);
  return 0;
}
