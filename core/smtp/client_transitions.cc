#include "core/smtp/client_transitions.h"

#include "core/smtp/transition_table.h"

namespace starling::smtp {
namespace {

using S = ClientState;
using I = ClientInput;

// Every legal transition of the client session. Replies that end a phase
// lead to Ready, which the session leaves at once with MAIL or QUIT.
constexpr ClientTransition kTransitions[] = {
    {S::kGreeting, I::kGreeting, S::kEhlo},
    {S::kGreeting, I::kGreetingRefused, S::kQuit},

    // EHLO: STARTTLS, AUTH, mail, or a policy refusal.
    {S::kEhlo, I::kEhloOk, S::kStartTls},
    {S::kEhlo, I::kEhloOk, S::kAuth},
    {S::kEhlo, I::kEhloOk, S::kReady},
    {S::kEhlo, I::kEhloOk, S::kQuit},
    {S::kEhlo, I::kEhloRefused, S::kHelo},  // only where plaintext may go
    {S::kEhlo, I::kEhloRefused, S::kQuit},
    // TLS failed after the handshake, before the first reply over it.
    {S::kEhlo, I::kTlsFailed, S::kClosed},
    {S::kHelo, I::kHeloOk, S::kReady},
    {S::kHelo, I::kHeloOk, S::kQuit},
    {S::kHelo, I::kHeloRefused, S::kQuit},

    {S::kStartTls, I::kStartTlsOk, S::kTlsHandshake},
    {S::kStartTls, I::kStartTlsRefused, S::kAuth},
    {S::kStartTls, I::kStartTlsRefused, S::kReady},
    {S::kStartTls, I::kStartTlsRefused, S::kQuit},
    {S::kTlsHandshake, I::kTlsEstablished, S::kEhlo},
    {S::kTlsHandshake, I::kTlsEstablished, S::kQuit},
    {S::kTlsHandshake, I::kTlsFailed, S::kClosed},

    {S::kAuth, I::kAuthChallenge, S::kAuth},
    {S::kAuth, I::kAuthOk, S::kReady},
    {S::kAuth, I::kAuthRefused, S::kQuit},

    {S::kReady, I::kMailSent, S::kEnvelope},
    {S::kReady, I::kQuitSent, S::kQuit},

    // The envelope: replies in order; the last one decides.
    {S::kEnvelope, I::kMailReply, S::kEnvelope},
    {S::kEnvelope, I::kMailReply, S::kReady},
    {S::kEnvelope, I::kRcptReply, S::kEnvelope},
    {S::kEnvelope, I::kRcptReply, S::kBdat},
    {S::kEnvelope, I::kRcptReply, S::kRset},
    {S::kEnvelope, I::kRcptReply, S::kReady},  // MAIL was refused
    {S::kEnvelope, I::kDataGo, S::kBody},
    {S::kEnvelope, I::kDataGo, S::kEndOfData},  // no recipient: "." only
    {S::kEnvelope, I::kDataRefused, S::kReady},
    {S::kEnvelope, I::kDataRefused, S::kRset},

    {S::kBody, I::kBodySent, S::kEndOfData},
    {S::kBdat, I::kBdatReply, S::kBdat},
    {S::kBdat, I::kBdatReply, S::kRset},
    {S::kBdat, I::kBodySent, S::kEndOfData},
    {S::kEndOfData, I::kBdatReply, S::kEndOfData},
    {S::kEndOfData, I::kEndOfDataReply, S::kReady},
    {S::kRset, I::kRsetReply, S::kReady},
    {S::kRset, I::kRsetReply, S::kQuit},
    {S::kQuit, I::kQuitReply, S::kClosed},

    {S::kGreeting, I::kServerClosing, S::kClosed},
    {S::kEhlo, I::kServerClosing, S::kClosed},
    {S::kHelo, I::kServerClosing, S::kClosed},
    {S::kStartTls, I::kServerClosing, S::kClosed},
    {S::kAuth, I::kServerClosing, S::kClosed},
    {S::kEnvelope, I::kServerClosing, S::kClosed},
    {S::kBdat, I::kServerClosing, S::kClosed},
    {S::kEndOfData, I::kServerClosing, S::kClosed},
    {S::kRset, I::kServerClosing, S::kClosed},
    {S::kQuit, I::kServerClosing, S::kClosed},
    {S::kBody, I::kServerClosing, S::kClosed},  // unsolicited, mid-body

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

constexpr internal::TransitionRelation<ClientTransition, kStateCount,
                                       kInputCount>
    kRelation(kTransitions);

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
    case I::kGreeting: return "220";
    case I::kGreetingRefused: return "4xx/5xx greeting";
    case I::kEhloOk: return "250 to EHLO";
    case I::kEhloRefused: return "EHLO refused";
    case I::kHeloOk: return "250 to HELO";
    case I::kHeloRefused: return "HELO refused";
    case I::kStartTlsOk: return "220 to STARTTLS";
    case I::kStartTlsRefused: return "STARTTLS refused";
    case I::kAuthChallenge: return "334";
    case I::kAuthOk: return "235";
    case I::kAuthRefused: return "AUTH refused";
    case I::kMailReply: return "MAIL reply";
    case I::kRcptReply: return "RCPT reply";
    case I::kDataGo: return "354";
    case I::kDataRefused: return "DATA refused";
    case I::kBdatReply: return "BDAT reply";
    case I::kEndOfDataReply: return "end-of-data reply";
    case I::kRsetReply: return "RSET reply";
    case I::kQuitReply: return "221";
    case I::kServerClosing: return "421";
    case I::kTlsEstablished: return "TLS established";
    case I::kTlsFailed: return "TLS failed";
    case I::kMailSent: return "MAIL sent";
    case I::kQuitSent: return "QUIT sent";
    case I::kBodySent: return "end of data sent";
    case I::kClose: return "close";
  }
  return "?";
}

absl::Span<const ClientTransition> ClientTransitions() { return kTransitions; }

bool ClientTransitionAllowed(ClientState from, ClientInput input,
                             ClientState to) {
  return kRelation.Allows(from, input, to);
}

bool ClientInputExpected(ClientState from, ClientInput input) {
  return kRelation.Any(from, input);
}

std::string ClientTransitionsDot() {
  return internal::TransitionsDot<ClientTransition>(
      kTransitions, kStateCount, "smtp_client",
      "bazel run //tools:smtp_state_diagram -- client", I::kClose,
      "Every state except Closed also goes to Closed on: close\\n(timeout, "
      "lost connection, fatal error)",
      ClientStateName, ClientInputName);
}

}  // namespace starling::smtp
