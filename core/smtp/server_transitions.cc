#include "core/smtp/server_transitions.h"

#include "core/smtp/transition_table.h"

namespace starling::smtp {
namespace {

using S = ServerState;
using I = ServerInput;

// Every legal transition of the server session. Embedder decisions, end of
// data and TLS results are inputs like commands, so the whole life of a
// session reads here. Refused commands (syntax errors, failed guards such as
// "no recipients yet") leave the state unchanged and have no row.
constexpr ServerTransition kTransitions[] = {
    // Connection decision.
    {S::kAwaitConnect, I::kAccept, S::kGreeted},
    {S::kAwaitConnect, I::kReject, S::kRefused},
    {S::kRefused, I::kQuit, S::kClosed},

    // Before EHLO/HELO.
    {S::kGreeted, I::kEhlo, S::kHeloPending},
    {S::kGreeted, I::kHelo, S::kHeloPending},
    {S::kGreeted, I::kStartTls, S::kTlsHandshake},
    {S::kGreeted, I::kRset, S::kGreeted},
    {S::kGreeted, I::kNoop, S::kGreeted},
    {S::kGreeted, I::kVrfy, S::kGreeted},
    {S::kGreeted, I::kExpn, S::kGreeted},
    {S::kGreeted, I::kHelp, S::kGreeted},
    {S::kGreeted, I::kQuit, S::kClosed},
    {S::kHeloPending, I::kAccept, S::kReady},
    {S::kHeloPending, I::kReject, S::kGreeted},

    // Identified, outside a transaction.
    {S::kReady, I::kEhlo, S::kHeloPending},
    {S::kReady, I::kHelo, S::kHeloPending},
    {S::kReady, I::kMail, S::kMailPending},
    {S::kReady, I::kStartTls, S::kTlsHandshake},
    {S::kReady, I::kAuth, S::kAuthResponse},
    {S::kReady, I::kRset, S::kReady},
    {S::kReady, I::kNoop, S::kReady},
    {S::kReady, I::kVrfy, S::kReady},
    {S::kReady, I::kExpn, S::kReady},
    {S::kReady, I::kHelp, S::kReady},
    {S::kReady, I::kQuit, S::kClosed},
    {S::kMailPending, I::kAccept, S::kTransaction},
    {S::kMailPending, I::kReject, S::kReady},

    // SASL exchange (RFC 4954).
    {S::kAuthResponse, I::kAuthLine, S::kAuthPending},
    {S::kAuthResponse, I::kAuthCancel, S::kReady},
    {S::kAuthPending, I::kAuthChallenge, S::kAuthResponse},
    {S::kAuthPending, I::kAccept, S::kReady},
    {S::kAuthPending, I::kReject, S::kReady},

    // STARTTLS (RFC 3207): afterwards the session is as fresh as after 220.
    {S::kTlsHandshake, I::kTlsEstablished, S::kGreeted},
    {S::kTlsHandshake, I::kTlsFailed, S::kClosed},

    // Transaction. EHLO/HELO and RSET abort it.
    {S::kTransaction, I::kRcpt, S::kRcptPending},
    {S::kTransaction, I::kData, S::kData},
    {S::kTransaction, I::kBdat, S::kBdatChunk},
    {S::kTransaction, I::kEhlo, S::kHeloPending},
    {S::kTransaction, I::kHelo, S::kHeloPending},
    {S::kTransaction, I::kRset, S::kReady},
    {S::kTransaction, I::kNoop, S::kTransaction},
    {S::kTransaction, I::kVrfy, S::kTransaction},
    {S::kTransaction, I::kExpn, S::kTransaction},
    {S::kTransaction, I::kHelp, S::kTransaction},
    {S::kTransaction, I::kQuit, S::kClosed},
    {S::kRcptPending, I::kAccept, S::kTransaction},
    {S::kRcptPending, I::kReject, S::kTransaction},

    // Message content.
    {S::kData, I::kEndOfData, S::kMessagePending},
    {S::kData, I::kMessageFailed, S::kReady},
    {S::kBdatChunk, I::kChunkDone, S::kBdatIdle},
    {S::kBdatChunk, I::kEndOfData, S::kMessagePending},
    {S::kBdatChunk, I::kMessageFailed, S::kReady},
    {S::kBdatIdle, I::kBdat, S::kBdatChunk},
    {S::kBdatIdle, I::kEhlo, S::kHeloPending},
    {S::kBdatIdle, I::kHelo, S::kHeloPending},
    {S::kBdatIdle, I::kRset, S::kReady},
    {S::kBdatIdle, I::kNoop, S::kBdatIdle},
    {S::kBdatIdle, I::kHelp, S::kBdatIdle},
    {S::kBdatIdle, I::kQuit, S::kClosed},
    {S::kMessagePending, I::kAccept, S::kReady},
    {S::kMessagePending, I::kReject, S::kReady},

    // Timeout, shutdown, too many errors, protocol violation, 421 decisions.
    {S::kAwaitConnect, I::kClose, S::kClosed},
    {S::kRefused, I::kClose, S::kClosed},
    {S::kGreeted, I::kClose, S::kClosed},
    {S::kHeloPending, I::kClose, S::kClosed},
    {S::kReady, I::kClose, S::kClosed},
    {S::kMailPending, I::kClose, S::kClosed},
    {S::kTransaction, I::kClose, S::kClosed},
    {S::kRcptPending, I::kClose, S::kClosed},
    {S::kData, I::kClose, S::kClosed},
    {S::kBdatChunk, I::kClose, S::kClosed},
    {S::kBdatIdle, I::kClose, S::kClosed},
    {S::kMessagePending, I::kClose, S::kClosed},
    {S::kAuthResponse, I::kClose, S::kClosed},
    {S::kAuthPending, I::kClose, S::kClosed},
    {S::kTlsHandshake, I::kClose, S::kClosed},
};

constexpr int kStateCount = static_cast<int>(S::kClosed) + 1;
constexpr int kInputCount = static_cast<int>(I::kClose) + 1;

constexpr internal::TransitionLookup<ServerTransition, kStateCount, kInputCount>
    kLookup(kTransitions);

}  // namespace

absl::string_view ServerStateName(ServerState state) {
  switch (state) {
    case S::kAwaitConnect: return "AwaitConnect";
    case S::kRefused: return "Refused";
    case S::kGreeted: return "Greeted";
    case S::kHeloPending: return "HeloPending";
    case S::kReady: return "Ready";
    case S::kMailPending: return "MailPending";
    case S::kTransaction: return "Transaction";
    case S::kRcptPending: return "RcptPending";
    case S::kData: return "Data";
    case S::kBdatChunk: return "BdatChunk";
    case S::kBdatIdle: return "BdatIdle";
    case S::kMessagePending: return "MessagePending";
    case S::kAuthResponse: return "AuthResponse";
    case S::kAuthPending: return "AuthPending";
    case S::kTlsHandshake: return "TlsHandshake";
    case S::kClosed: return "Closed";
  }
  return "?";
}

absl::string_view ServerInputName(ServerInput input) {
  switch (input) {
    case I::kEhlo: return "EHLO";
    case I::kHelo: return "HELO";
    case I::kMail: return "MAIL";
    case I::kRcpt: return "RCPT";
    case I::kData: return "DATA";
    case I::kBdat: return "BDAT";
    case I::kRset: return "RSET";
    case I::kNoop: return "NOOP";
    case I::kQuit: return "QUIT";
    case I::kVrfy: return "VRFY";
    case I::kExpn: return "EXPN";
    case I::kHelp: return "HELP";
    case I::kStartTls: return "STARTTLS";
    case I::kAuth: return "AUTH";
    case I::kAccept: return "accept";
    case I::kReject: return "reject";
    case I::kEndOfData: return "end of data";
    case I::kChunkDone: return "chunk done";
    case I::kMessageFailed: return "message failed";
    case I::kAuthLine: return "SASL response";
    case I::kAuthChallenge: return "SASL challenge";
    case I::kAuthCancel: return "SASL cancel";
    case I::kTlsEstablished: return "TLS established";
    case I::kTlsFailed: return "TLS failed";
    case I::kClose: return "close";
  }
  return "?";
}

absl::Span<const ServerTransition> ServerTransitions() { return kTransitions; }

std::optional<ServerState> NextServerState(ServerState from,
                                           ServerInput input) {
  return kLookup.Next(from, input);
}

std::string ServerTransitionsDot() {
  return internal::TransitionsDot<ServerTransition>(
      kTransitions, kStateCount, "smtp_server",
      "bazel run //tools:smtp_state_diagram -- server", I::kClose,
      "Every state except Closed also goes to Closed on: close\\n(QUIT answered, timeout, shutdown, too many errors, protocol violation, 421)",
      ServerStateName, ServerInputName);
}

}  // namespace starling::smtp
