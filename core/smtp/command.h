#ifndef STARLING_CORE_SMTP_COMMAND_H_
#define STARLING_CORE_SMTP_COMMAND_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace starling::smtp {

enum class Verb : uint8_t {
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kBdat,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kExpn,
  kHelp,
  kStartTls,
  kAuth,
};

absl::string_view VerbName(Verb verb);  // upper case, e.g. "STARTTLS"

// A mailbox of a path (RFC 5321 §4.1.2). Both parts are kept as they were
// written: a quoted local part keeps its quotes and escapes, an address
// literal keeps its brackets ("[192.0.2.1]", "[IPv6:...]"). The special
// recipient <Postmaster> has an empty domain. `String` is std::string
// (Mailbox, which owns its text) or absl::string_view (MailboxView, which
// points into the line it was parsed from).
template <typename String>
struct BasicMailbox {
  String local_part;
  String domain;

  // local_part "@" domain (or local_part alone)
  std::string ToString() const {
    if (domain.empty()) return std::string(local_part);
    return absl::StrCat(local_part, "@", domain);
  }
  friend bool operator==(const BasicMailbox&, const BasicMailbox&) = default;
};
using Mailbox = BasicMailbox<std::string>;
using MailboxView = BasicMailbox<absl::string_view>;

enum class BodyType : uint8_t { k7Bit, k8BitMime, kBinaryMime };
enum class DsnReturn : uint8_t { kFull, kHeaders };

// RFC 3461 NOTIFY: NEVER alone, or any of SUCCESS, FAILURE, DELAY.
struct DsnNotify {
  bool never = false;
  bool success = false;
  bool failure = false;
  bool delay = false;
  friend bool operator==(const DsnNotify&, const DsnNotify&) = default;
};

// MAIL FROM parameters. Each may appear once; an unknown one is an error.
template <typename String>
struct BasicMailParameters {
  std::optional<uint64_t> size;       // RFC 1870 SIZE=
  std::optional<BodyType> body;       // RFC 6152 / 3030 BODY=
  bool smtputf8 = false;              // RFC 6531 SMTPUTF8
  bool requiretls = false;            // RFC 8689 REQUIRETLS
  std::optional<DsnReturn> ret;       // RFC 3461 RET=
  std::optional<String> envid;        // RFC 3461 ENVID= (xtext, as written)
  std::optional<String> auth;         // RFC 4954 AUTH= (xtext, as written)
  friend bool operator==(const BasicMailParameters&,
                         const BasicMailParameters&) = default;
};
using MailParameters = BasicMailParameters<std::string>;
using MailParametersView = BasicMailParameters<absl::string_view>;

// RCPT TO parameters.
template <typename String>
struct BasicRcptParameters {
  std::optional<DsnNotify> notify;  // RFC 3461 NOTIFY=
  std::optional<String> orcpt;  // RFC 3461 ORCPT= "addr-type;xtext", as written
  friend bool operator==(const BasicRcptParameters&,
                         const BasicRcptParameters&) = default;
};
using RcptParameters = BasicRcptParameters<std::string>;
using RcptParametersView = BasicRcptParameters<absl::string_view>;

// One parsed command line. Only the fields of `verb` are meaningful.
// Command owns its text; CommandView points into the parsed line and is
// valid while that line is.
template <typename String>
struct BasicCommand {
  Verb verb = Verb::kNoop;
  String domain;  // EHLO / HELO: domain or address literal
  std::optional<BasicMailbox<String>> path;  // MAIL (nullopt = <>), RCPT
  BasicMailParameters<String> mail;
  BasicRcptParameters<String> rcpt;
  uint64_t chunk_size = 0;  // BDAT
  bool last_chunk = false;  // BDAT ... LAST
  // VRFY / EXPN / HELP / NOOP argument; AUTH mechanism (upper-cased in a
  // Command, as written in a CommandView).
  String argument;
  std::optional<String> initial_response;  // AUTH mech [initial-response]

  friend bool operator==(const BasicCommand&, const BasicCommand&) = default;
};
using Command = BasicCommand<std::string>;
using CommandView = BasicCommand<absl::string_view>;

struct CommandParseOptions {
  // UTF-8 in addresses (RFC 6531) is accepted in MAIL only together with the
  // SMTPUTF8 parameter, and in RCPT only when `utf8_addresses` is set (the
  // session sets it when the transaction's MAIL carried SMTPUTF8).
  bool utf8_addresses = false;
  size_t max_local_part = 64;   // RFC 5321 §4.5.3.1.1
  size_t max_domain = 255;      // RFC 5321 §4.5.3.1.2
  size_t max_path = 256;        // RFC 5321 §4.5.3.1.3, brackets included
  // EHLO/HELO argument: false (default) also takes what real clients send
  // besides RFC 5321 Domains ('_' in labels, a trailing dot, a hyphen at a
  // label's end), as Postfix and aiosmtpd do; true: RFC 5321 Domain or
  // address literal only.
  bool strict_helo = false;
};

// The ESMTP extensions whose parameters lengthen MAIL and RCPT lines.
struct LineExtensions {
  bool size = false;        // RFC 1870 SIZE=
  bool body = false;        // RFC 6152 / 3030 BODY=
  bool smtputf8 = false;    // RFC 6531 SMTPUTF8 (and UTF-8 addresses)
  bool requiretls = false;  // RFC 8689 REQUIRETLS
  bool dsn = false;         // RFC 3461 RET/ENVID, NOTIFY/ORCPT
  bool auth = false;        // RFC 4954 AUTH=
};

// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF,
// and extensions may raise that for the commands their parameters ride on:
// SIZE +26 (RFC 1870), BODY +16, SMTPUTF8 +10, REQUIRETLS +11 on MAIL;
// DSN +500 on MAIL and on RCPT (RFC 3461 §3); AUTH= +500 on MAIL (RFC 4954
// §5). Other verbs keep 512.
size_t MaxCommandLine(Verb verb, const LineExtensions& extensions);

// The extensions whose parameters `command` carries.
LineExtensions ExtensionsUsed(const Command& command);

// Parses one command line (without its CRLF). Verbs are case-insensitive.
// Errors are ReplyError statuses (see reply.h) carrying the reply a server
// sends: 500 5.5.1 unknown verb, 501 5.5.2 / 5.5.4 syntax error in arguments,
// 501 5.1.3 / 5.1.7 bad address, 553 5.6.7 UTF-8 address without SMTPUTF8,
// 555 5.5.4 unknown or repeated MAIL/RCPT parameter.
absl::StatusOr<Command> ParseCommand(absl::string_view line,
                                     const CommandParseOptions& options = {});

// The same parse without copying: on success `command` points into `line`
// (its AUTH mechanism as written) and only the fields of its verb are set;
// the others keep what they held, so a view can be reused line after line.
// On error its content is unspecified. Nothing is allocated unless the line
// is rejected.
absl::Status ParseCommandView(absl::string_view line,
                              const CommandParseOptions& options,
                              CommandView& command);

// An owning copy of `view`, as ParseCommand returns it.
Command ToCommand(const CommandView& view);

// The wire form of `command`, CRLF included. ParseCommand(Serialize(c)) == c
// for any command ParseCommand returns.
std::string SerializeCommand(const Command& command);

// The same bytes, appended to `out` (a client's output buffer).
void AppendCommand(const Command& command, std::string* out);

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_COMMAND_H_
