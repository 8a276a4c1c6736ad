// Parses arbitrary bytes as one command line and checks the codec's contract:
// an accepted line serializes to one CRLF-terminated line that parses back to
// the same command; a rejected line carries a 5xx reply with a 5.x.x code.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "core/smtp/command.h"
#include "core/smtp/reply.h"

namespace {

using starling::smtp::Command;
using starling::smtp::CommandParseOptions;
using starling::smtp::ParseCommand;
using starling::smtp::Reply;
using starling::smtp::ReplyOf;
using starling::smtp::SerializeCommand;

void Check(bool ok) {
  if (!ok) std::abort();
}

// First byte: bit 0 allows UTF-8 recipients; bits 1-2 pick the length limits.
CommandParseOptions OptionsFrom(uint8_t byte) {
  CommandParseOptions options;
  options.utf8_addresses = (byte & 1) != 0;
  switch ((byte >> 1) & 3) {
    case 0:  // RFC 5321 defaults
      break;
    case 1:  // tiny: every limit is reachable
      options.max_local_part = 4;
      options.max_domain = 8;
      options.max_path = 16;
      break;
    case 2:  // generous
      options.max_local_part = 1000;
      options.max_domain = 1000;
      options.max_path = 1000;
      break;
    case 3:  // nothing fits, not even "<>"
      options.max_local_part = 0;
      options.max_domain = 0;
      options.max_path = 0;
      break;
  }
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const CommandParseOptions options = OptionsFrom(data[0]);
  const absl::string_view line(reinterpret_cast<const char*>(data) + 1,
                               size - 1);

  const absl::StatusOr<Command> parsed = ParseCommand(line, options);
  if (!parsed.ok()) {
    const std::optional<Reply> reply = ReplyOf(parsed.status());
    Check(reply.has_value());
    Check(reply->code >= 500 && reply->code <= 559);
    Check(reply->enhanced.has_value() && reply->enhanced->klass == 5);
    return 0;
  }

  // Accepted lines hold no control character (NUL, TAB, CR, LF, DEL...).
  for (char c : line) {
    Check(static_cast<uint8_t>(c) >= 0x20 && static_cast<uint8_t>(c) != 0x7F);
  }

  const std::string wire = SerializeCommand(*parsed);
  // One line: CRLF at the end and no CR, LF or other control byte before it.
  Check(wire.size() >= 2 && wire.compare(wire.size() - 2, 2, "\r\n") == 0);
  for (size_t i = 0; i + 2 < wire.size(); ++i) {
    const auto c = static_cast<uint8_t>(wire[i]);
    Check(c >= 0x20 && c != 0x7F);
  }
  // The canonical form only drops things (extra SPs, source routes, leading
  // zeros), so it is never longer than the line it came from.
  Check(wire.size() - 2 <= line.size());

  const absl::StatusOr<Command> again =
      ParseCommand(absl::string_view(wire.data(), wire.size() - 2), options);
  Check(again.ok());
  Check(*again == *parsed);
  Check(SerializeCommand(*again) == wire);
  return 0;
}
