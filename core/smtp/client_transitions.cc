#include "core/smtp/client_transitions.h"

#include "core/smtp/transition_table.h"

namespace starling::smtp {
namespace {

using S = ClientState;
using I = ClientInput;

// Every legal transition of the client session. Policy verdicts that stop a
// connection lead to QUIT (kQuitSent) or straight to kClosed.
constexpr ClientTransition kTransitions[] = {
    {S::kGreeting, I::kEhloSent, S::kEhlo},
    {S::kGreeting, I::kQuitSent, S::kQuit},

    {S::kEhlo, I::kHeloSent, S::kHelo},
    {S::kEhlo, I::kStartTlsSent, S::kStartTls},
    {S::kEhlo, I::kAuthSent, S::kAuth},
    {S::kEhlo, I::kProceed, S::kReady},
    {S::kEhlo, I::kQuitSent, S::kQuit},
    {S::kHelo, I::kProceed, S::kReady},
    {S::kHelo, I::kQuitSent, S::kQuit},

    {S::kStartTls, I::kStartTlsOk, S::kTlsHandshake},
    {S::kStartTls, I::kProceed, S::kReady},  // refused; policy allows plaintext
    {S::kStartTls, I::kAuthSent, S::kAuth},
    {S::kStartTls, I::kQuitSent, S::kQuit},
    {S::kTlsHandshake, I::kTlsEstablished, S::kTlsHandshake},
    {S::kTlsHandshake, I::kEhloSent, S::kEhlo},
    {S::kTlsHandshake, I::kQuitSent, S::kQuit},

    {S::kAuth, I::kProceed, S::kReady},
    {S::kAuth, I::kQuitSent, S::kQuit},

    {S::kReady, I::kMailSent, S::kEnvelope},
    {S::kReady, I::kQuitSent, S::kQuit},
    {S::kEnvelope, I::kDataOk, S::kBody},
    {S::kEnvelope, I::kBdatStarted, S::kBdat},
    {S::kEnvelope, I::kTransactionEnd, S::kReady},
    {S::kEnvelope, I::kRsetSent, S::kRset},
    {S::kBody, I::kBodySent, S::kEndOfData},
    {S::kEndOfData, I::kTransactionEnd, S::kReady},
    {S::kBdat, I::kTransactionEnd, S::kReady},
    {S::kBdat, I::kRsetSent, S::kRset},
    {S::kRset, I::kTransactionEnd, S::kReady},
    {S::kRset, I::kQuitSent, S::kQuit},

    {S::kGreeting, I::kClose, S::kClosed},
    {S::kEhlo, I::kClose, S::kClosed},
    {S::kHelo, I::kClose, S::kClosed},
    {S::kStartTls, I::kClose, S::kClosed},
    {S::kTlsHandshake, I::kClose, S::kClosed},
    {S::kAuth, I::kClose, S::kClosed},
    {S::kReady, I::kClose, S::kClosed},
    {S::kEnvelope, I::kClose, S::kClosed},
    {S::kBody, I::kClose, S::kClosed},
    {S::kBdat, I::kClose, S::kClosed},
    {S::kEndOfData, I::kClose, S::kClosed},
    {S::kRset, I::kClose, S::kClosed},
    {S::kQuit, I::kClose, S::kClosed},
};

constexpr int kStateCount = static_cast<int>(S::kClosed) + 1;
constexpr int kInputCount = static_cast<int>(I::kClose) + 1;

constexpr internal::TransitionLookup<ClientTransition, kStateCount, kInputCount>
    kLookup(kTransitions);

}  // namespace

absl::string_view ClientStateName(ClientState state) {
  switch (state) {
    case S::kGreeting: return "Greeting";
    case S::kEhlo: return "Ehlo";
    case S::kHelo: return "Helo";
    case S::kStartTls: return "StartTls";
    case S::kTlsHandshake: return "TlsHandshake";
    case S::kAuth: return "Auth";
    case S::kReady: return "Ready";
    case S::kEnvelope: return "Envelope";
    case S::kBody: return "Body";
    case S::kBdat: return "Bdat";
    case S::kEndOfData: return "EndOfData";
    case S::kRset: return "Rset";
    case S::kQuit: return "Quit";
    case S::kClosed: return "Closed";
  }
  return "?";
}

absl::string_view ClientInputName(ClientInput input) {
  switch (input) {
    case I::kEhloSent: return "EHLO";
    case I::kHeloSent: return "HELO";
    case I::kStartTlsSent: return "STARTTLS";
    case I::kStartTlsOk: return "220 to STARTTLS";
    case I::kTlsEstablished: return "TLS established";
    case I::kAuthSent: return "AUTH";
    case I::kProceed: return "policy: proceed";
    case I::kMailSent: return "MAIL";
    case I::kDataOk: return "354";
    case I::kBdatStarted: return "BDAT";
    case I::kBodySent: return "end of data";
    case I::kTransactionEnd: return "transaction over";
    case I::kRsetSent: return "RSET";
    case I::kQuitSent: return "QUIT";
    case I::kClose: return "close";
  }
  return "?";
}

absl::Span<const ClientTransition> ClientTransitions() { return kTransitions; }

std::optional<ClientState> NextClientState(ClientState from,
                                           ClientInput input) {
  return kLookup.Next(from, input);
}

std::string ClientTransitionsDot() {
  return internal::TransitionsDot<ClientTransition>(
      kTransitions, kStateCount, "smtp_client",
      "bazel run //tools:smtp_state_diagram -- client", I::kClose,
      "Every state except Closed also goes to Closed on: close\\n(221, 421, fatal error, timeout, lost connection)",
      ClientStateName, ClientInputName);
}

}  // namespace starling::smtp
