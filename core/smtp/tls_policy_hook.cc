#include "core/smtp/tls_policy_hook.h"

#include "absl/strings/str_cat.h"

namespace starling::smtp {

absl::string_view DeliveryVerdictName(DeliveryVerdict verdict) {
  switch (verdict) {
    case DeliveryVerdict::kProceedTls: return "proceed-tls";
    case DeliveryVerdict::kProceedPlaintext: return "proceed-plaintext";
    case DeliveryVerdict::kDefer: return "defer";
    case DeliveryVerdict::kBounce: return "bounce";
    case DeliveryVerdict::kTryNextMx: return "try-next-mx";
  }
  return "?";
}

absl::string_view TlsProblemName(TlsProblem problem) {
  switch (problem) {
    case TlsProblem::kNotOffered: return "STARTTLS not offered";
    case TlsProblem::kRefused: return "STARTTLS refused";
    case TlsProblem::kHandshakeFailed: return "TLS handshake failed";
    case TlsProblem::kNotAttempted: return "TLS not attempted";
  }
  return "?";
}

StartTlsIntent OpportunisticTlsPolicy::AfterEhlo(const Destination& destination,
                                                 const EhloCapabilities&) {
  StartTlsIntent intent;
  intent.attempt = true;
  intent.mandatory = false;
  intent.sni = destination.mx_host;
  intent.label = "may";
  return intent;
}

PolicyDecision OpportunisticTlsPolicy::AfterHandshake(const Destination&,
                                                      const TlsFacts& facts) {
  PolicyDecision decision;
  decision.verdict = DeliveryVerdict::kProceedTls;
  const bool trusted = facts.chain_verdict == ChainVerdict::kTrusted;
  decision.label = trusted ? "may:trusted" : "may:untrusted";
  decision.trace.push_back(
      "level may: any completed handshake is good enough");
  return decision;
}

PolicyDecision OpportunisticTlsPolicy::WithoutTls(const Destination&,
                                                  TlsProblem problem,
                                                  absl::string_view detail) {
  PolicyDecision decision;
  decision.verdict = problem == TlsProblem::kHandshakeFailed
                         ? DeliveryVerdict::kDefer  // the connection is gone
                         : DeliveryVerdict::kProceedPlaintext;
  decision.label = "may:anonymous";
  if (problem == TlsProblem::kNotOffered || problem == TlsProblem::kRefused) {
    decision.tlsrpt_result_type = "starttls-not-supported";
  } else if (problem == TlsProblem::kHandshakeFailed) {
    decision.tlsrpt_result_type = "validation-failure";
  }
  decision.trace.push_back(absl::StrCat("level may: ", TlsProblemName(problem),
                                        detail.empty() ? "" : ": ", detail,
                                        problem == TlsProblem::kHandshakeFailed
                                            ? "; retry later"
                                            : "; plaintext allowed"));
  return decision;
}

PolicyDecision OpportunisticTlsPolicy::ForMessage(
    const Destination&, const MessageTlsFlags& flags,
    const EhloCapabilities& caps, const TlsFacts* tls,
    const PolicyDecision& connection) {
  PolicyDecision decision = connection;
  // RFC 8689 §4.1: with REQUIRETLS, a "TLS-Required: No" header is ignored.
  if (!flags.requiretls) return decision;
  // RFC 8689 §5: only over a validated TLS session to a REQUIRETLS hop.
  if (tls == nullptr || tls->chain_verdict != ChainVerdict::kTrusted ||
      !caps.requiretls) {
    decision.verdict = DeliveryVerdict::kBounce;
    decision.trace.push_back(
        "REQUIRETLS: the hop is not authenticated TLS advertising REQUIRETLS");
  }
  return decision;
}

}  // namespace starling::smtp
