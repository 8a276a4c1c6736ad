// Parses the input as an EHLO reply and checks that whatever ParseEhloReply
// accepts comes back unchanged through EhloReply (and through the wire).
// The input is used twice: as reply bytes for ReplyParser, and as LF-separated
// lines of a 250 reply built directly (to reach ParseEhloReply with texts the
// reply parser would not produce).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "core/smtp/capabilities.h"
#include "core/smtp/reply.h"

namespace {

using starling::smtp::EhloCapabilities;
using starling::smtp::EhloReply;
using starling::smtp::ParseEhloReply;
using starling::smtp::ParseReply;
using starling::smtp::Reply;
using starling::smtp::ReplyParser;
using starling::smtp::ReplyParserOptions;
using starling::smtp::SerializeReply;

void Check(bool ok) {
  if (!ok) std::abort();
}

// `from_wire`: the reply came out of ReplyParser. Only then must the wire
// round trip hold too: a hand-built first line such as "2.0.0 x" reads back as
// an enhanced code.
void CheckEhlo(const Reply& reply, bool from_wire) {
  auto caps = ParseEhloReply(reply);
  if (!caps.ok()) return;
  Check(reply.code == 250);
  Check(!caps->domain.empty());
  for (size_t i = 0; i < caps->auth_mechanisms.size(); ++i) {
    const std::string& mech = caps->auth_mechanisms[i];
    Check(!mech.empty() && mech == absl::AsciiStrToUpper(mech));
    Check(std::count(caps->auth_mechanisms.begin(), caps->auth_mechanisms.end(),
                     mech) == 1);
  }
  const Reply back = EhloReply(*caps);
  auto again = ParseEhloReply(back);
  Check(again.ok());
  Check(*again == *caps);
  if (!from_wire) return;
  // A domain shaped like an enhanced status code ("250-2.0.0 x") is
  // ambiguous on the wire (RFC 5321 allows numeric labels; RFC 3463 codes
  // lead reply lines): its round trip reads it back as a code. Found by the
  // fuzzer in CI; not a property the wire can have.
  if (starling::smtp::EnhancedStatus::Parse(caps->domain).has_value()) return;
  // Through the wire too.
  const std::string wire = SerializeReply(back);
  ReplyParserOptions wide;
  wide.max_line_length = wire.size() + 1;
  wide.max_lines = back.lines.size();
  auto parsed = ParseReply(wire, wide);
  Check(parsed.ok());
  auto reparsed = ParseEhloReply(*parsed);
  Check(reparsed.ok());
  Check(*reparsed == *caps);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);

  // 1. As a reply on the wire (the client's path).
  ReplyParser parser;
  absl::string_view input = bytes;
  auto reply = parser.Next(&input);
  if (reply.ok() && reply->has_value()) CheckEhlo(**reply, /*from_wire=*/true);

  // 2. As lines of a 250 reply, bypassing the reply parser.
  Reply direct;
  direct.code = 250;
  for (absl::string_view line : absl::StrSplit(bytes, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    direct.lines.emplace_back(line);
    if (direct.lines.size() > 256) break;
  }
  CheckEhlo(direct, /*from_wire=*/false);
  return 0;
}
