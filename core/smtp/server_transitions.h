#ifndef STARLING_CORE_SMTP_SERVER_TRANSITIONS_H_
#define STARLING_CORE_SMTP_SERVER_TRANSITIONS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/types/span.h"
#include "absl/strings/string_view.h"

namespace starling::smtp {

// States of the inbound (server) session. "Pending" states wait for a
// decision from the embedder; no input is processed while in them.
enum class ServerState : uint8_t {
  kAwaitConnect,     // connection decision pending; nothing sent yet
  kRefused,          // 554 greeting sent: only QUIT is accepted (RFC 5321 §3.1)
  kGreeted,          // 220 sent (or TLS just established): EHLO/HELO needed
  kHeloPending,      // EHLO/HELO name decision pending
  kReady,            // identified, no transaction
  kMailPending,      // sender decision pending
  kTransaction,      // MAIL accepted; collecting recipients
  kRcptPending,      // recipient decision pending
  kData,             // 354 sent: reading the DATA body
  kBdatChunk,        // reading the octets of a BDAT chunk
  kBdatIdle,         // between BDAT chunks of one transaction
  kMessagePending,   // end-of-message decision pending
  kAuthResponse,     // 334 sent: reading the client's SASL response line
  kAuthPending,      // credential decision pending
  kTlsHandshake,     // 220 to STARTTLS sent: the embedder runs the handshake
  kClosed,           // 221/421 sent or fatal error: no more input
};

// What drives a transition: a client command (same order as Verb), or an
// internal event / embedder call.
enum class ServerInput : uint8_t {
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
  kAccept,          // embedder accepted the pending decision
  kReject,          // embedder rejected it (a 421 rejection closes instead)
  kEndOfData,       // CRLF.CRLF seen / last BDAT chunk read: ask for a verdict
  kChunkDone,       // a non-final BDAT chunk has been read
  kMessageFailed,   // the message cannot be accepted (size, bad line, BDAT refused)
  kAuthLine,        // the client sent a SASL response line
  kAuthChallenge,   // embedder sent another SASL challenge (334)
  kAuthCancel,      // the client sent "*"
  kTlsEstablished,  // embedder finished the handshake: fresh session
  kTlsFailed,       // handshake failed: nothing more can be said
  kClose,           // QUIT answered, timeout, shutdown, too many errors, violation
};

struct ServerTransition {
  ServerState from;
  ServerInput input;
  ServerState to;
};

absl::string_view ServerStateName(ServerState state);
absl::string_view ServerInputName(ServerInput input);

// The one table of legal server transitions. A command with no row for the
// current state is answered 503 5.5.1 (bad sequence of commands).
absl::Span<const ServerTransition> ServerTransitions();

// The target of (from, input), or nullopt when the table has no such row.
std::optional<ServerState> NextServerState(ServerState from, ServerInput input);

// Graphviz source of the table (docs/smtp-server.dot is generated from it).
std::string ServerTransitionsDot();

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_SERVER_TRANSITIONS_H_
