#ifndef STARLING_CORE_SMTP_CLIENT_TRANSITIONS_H_
#define STARLING_CORE_SMTP_CLIENT_TRANSITIONS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace starling::smtp {

// States of the outbound (client) session: what it waits for.
enum class ClientState : uint8_t {
  kGreeting,      // connected, waiting for the 220
  kEhlo,          // EHLO sent (first, or again inside TLS)
  kHelo,          // HELO sent (EHLO was refused and policy allows plaintext)
  kStartTls,      // STARTTLS sent
  kTlsHandshake,  // 220 to STARTTLS read: the embedder runs the handshake
  kAuth,          // AUTH exchange in progress
  kReady,         // between transactions (left at once: MAIL or QUIT)
  kEnvelope,      // MAIL/RCPT (and maybe DATA) sent, replies pending
  kBody,          // 354 read: the body is being sent
  kBdat,          // BDAT chunks being sent
  kEndOfData,     // end of data sent, final reply pending
  kRset,          // RSET sent
  kQuit,          // QUIT sent
  kClosed,        // finished; every recipient has its result
};

// What moves the client: the reply to the oldest outstanding command, as
// that command may get it (RFC 5321 §4.3.2; any other reply is out of step),
// or one of the session's own steps and the embedder's calls.
enum class ClientInput : uint8_t {
  // Replies.
  kGreeting,         // 220 greeting
  kGreetingRefused,  // 4xx/5xx greeting
  kEhloOk,           // 250 to EHLO
  kEhloRefused,      // 4xx/5xx to EHLO
  kHeloOk,           // 250 to HELO
  kHeloRefused,      // 4xx/5xx to HELO
  kStartTlsOk,       // 220 to STARTTLS
  kStartTlsRefused,  // 4xx/5xx to STARTTLS
  kAuthChallenge,    // 334
  kAuthOk,           // 235
  kAuthRefused,      // 4xx/5xx to AUTH
  kMailReply,        // 25x/4xx/5xx to MAIL
  kRcptReply,        // 25x/4xx/5xx to RCPT
  kDataGo,           // 354 to DATA
  kDataRefused,      // 4xx/5xx to DATA
  kBdatReply,        // 25x/4xx/5xx to a BDAT chunk before the last
  kEndOfDataReply,   // 25x/4xx/5xx to "." or BDAT LAST
  kRsetReply,        // 25x/4xx/5xx to RSET
  kQuitReply,        // 221
  kServerClosing,    // 421 to any command (RFC 5321 §3.8)
  // Steps.
  kTlsEstablished,   // the embedder reports a completed handshake
  kTlsFailed,        // ... or a failed one
  kMailSent,         // the next message starts
  kQuitSent,         // nothing more to send
  kBodySent,         // the end of data is in the output
  kClose,            // timeout, lost connection, fatal error
};

// One legal step. Several rows may share (from, input): which `to` is taken
// depends on the policy and the messages, and must be one of them.
struct ClientTransition {
  ClientState from;
  ClientInput input;
  ClientState to;
};

absl::string_view ClientStateName(ClientState state);
absl::string_view ClientInputName(ClientInput input);

// The one table of legal client transitions.
absl::Span<const ClientTransition> ClientTransitions();
bool ClientTransitionAllowed(ClientState from, ClientInput input,
                             ClientState to);
// Whether the table has any row for (from, input).
bool ClientInputExpected(ClientState from, ClientInput input);

// Graphviz source of the table (docs/smtp-client.dot is generated from it).
std::string ClientTransitionsDot();

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_CLIENT_TRANSITIONS_H_
