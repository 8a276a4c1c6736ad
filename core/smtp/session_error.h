#ifndef STARLING_CORE_SMTP_SESSION_ERROR_H_
#define STARLING_CORE_SMTP_SESSION_ERROR_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace starling::smtp {

// Why a session ended with a fatal error: the typed companion of the
// status's text (as tls::FailureReason is for the TLS channel). The peer's
// protocol violations come first; kInternal is a bug in Starling.
enum class SessionError : uint8_t {
  kNone,
  // What a client did to the server session.
  kPregreet,                // talked before the greeting
  kImproperPipelining,      // sent on before a reply it must wait for
  kPlaintextAfterStartTls,  // bytes behind STARTTLS or during the handshake
  kBareLineEnding,          // bare CR or LF in DATA (smuggling class)
  kMalformedBdat,           // a BDAT size the chunk cannot be framed by
  kTooMuchInput,            // more pipelined input than the session holds
  // What a server did to the client session.
  kMalformedReply,       // not an RFC 5321 reply, or over a limit
  kRepliesOutOfStep,     // a reply no outstanding command can have
  kResponseInjection,    // bytes after the 220 to STARTTLS (CVE-2021-22947)
  // A transition the table does not have: a bug, never the peer's doing.
  kInternal,
};

absl::string_view SessionErrorName(SessionError error);

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_SESSION_ERROR_H_
