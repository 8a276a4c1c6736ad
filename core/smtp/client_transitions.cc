#include "core/smtp/client_transitions.h"

#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

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

struct Lookup {
  static constexpr uint8_t kNone = 0xff;
  uint8_t next[kStateCount][kInputCount];
  constexpr Lookup() : next() {
    for (auto& row : next) {
      for (auto& cell : row) cell = kNone;
    }
    for (const ClientTransition& t : kTransitions) {
      next[static_cast<int>(t.from)][static_cast<int>(t.input)] =
          static_cast<uint8_t>(t.to);
    }
  }
};
constexpr Lookup kLookup;

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
  const uint8_t next =
      kLookup.next[static_cast<int>(from)][static_cast<int>(input)];
  if (next == Lookup::kNone) return std::nullopt;
  return static_cast<ClientState>(next);
}

std::string ClientTransitionsDot() {
  std::map<std::pair<int, int>, std::vector<absl::string_view>> edges;
  for (const ClientTransition& t : kTransitions) {
    if (t.input == I::kClose) continue;
    edges[{static_cast<int>(t.from), static_cast<int>(t.to)}].push_back(
        ClientInputName(t.input));
  }
  std::string dot =
      "// Generated from core/smtp/client_transitions.cc by\n"
      "// `bazel run //tools:smtp_state_diagram -- client`. Do not edit.\n"
      "digraph smtp_client {\n"
      "  rankdir=LR;\n"
      "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
      "  edge [fontname=\"Helvetica\", fontsize=10];\n"
      "  note [shape=note, label=\"Every state except Closed also goes to "
      "Closed on: close\\n(221, 421, fatal error, timeout, lost "
      "connection)\"];\n";
  for (int s = 0; s < kStateCount; ++s) {
    absl::StrAppend(&dot, "  ", ClientStateName(static_cast<S>(s)), ";\n");
  }
  for (const auto& [key, labels] : edges) {
    absl::StrAppend(&dot, "  ", ClientStateName(static_cast<S>(key.first)),
                    " -> ", ClientStateName(static_cast<S>(key.second)),
                    " [label=\"", absl::StrJoin(labels, ", "), "\"];\n");
  }
  dot += "}\n";
  return dot;
}

}  // namespace starling::smtp
