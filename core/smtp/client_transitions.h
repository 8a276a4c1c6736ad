#ifndef STARLING_CORE_SMTP_CLIENT_TRANSITIONS_H_
#define STARLING_CORE_SMTP_CLIENT_TRANSITIONS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace starling::smtp {

// States of the outbound (client) session.
enum class ClientState : uint8_t {
  kGreeting,      // connected, waiting for the 220
  kEhlo,          // EHLO sent
  kHelo,          // HELO sent (EHLO was refused and policy allows plaintext)
  kStartTls,      // STARTTLS sent
  kTlsHandshake,  // 220 to STARTTLS read: the embedder runs the handshake
  kAuth,          // AUTH exchange in progress
  kReady,         // between transactions
  kEnvelope,      // MAIL/RCPT (and maybe DATA) sent, replies pending
  kBody,          // 354 read: the body is being sent
  kBdat,          // BDAT chunks being sent
  kEndOfData,     // end of data sent, final reply pending
  kRset,          // RSET sent
  kQuit,          // QUIT sent
  kClosed,        // finished; every recipient has its result
};

enum class ClientInput : uint8_t {
  kEhloSent,        // (after the greeting, or again after TLS)
  kHeloSent,        // EHLO refused, HELO instead
  kStartTlsSent,
  kStartTlsOk,      // 220: the handshake begins
  kTlsEstablished,  // policy accepted the TLS facts: EHLO again
  kAuthSent,
  kProceed,         // the connection may carry mail
  kMailSent,
  kDataOk,          // 354
  kBdatStarted,
  kBodySent,        // end of data written
  kTransactionEnd,  // the transaction's last reply arrived
  kRsetSent,
  kQuitSent,
  kClose,           // 221, 421, fatal error, timeout, lost connection
};

struct ClientTransition {
  ClientState from;
  ClientInput input;
  ClientState to;
};

absl::string_view ClientStateName(ClientState state);
absl::string_view ClientInputName(ClientInput input);

// The one table of legal client transitions.
absl::Span<const ClientTransition> ClientTransitions();
std::optional<ClientState> NextClientState(ClientState from, ClientInput input);

// Graphviz source of the table (docs/smtp-client.dot is generated from it).
std::string ClientTransitionsDot();

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_CLIENT_TRANSITIONS_H_
