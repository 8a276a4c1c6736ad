#ifndef STARLING_CORE_POLICY_ENGINE_H_
#define STARLING_CORE_POLICY_ENGINE_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/dane.h"
#include "core/policy/mta_sts.h"
#include "core/policy/policy_entry.h"
#include "core/smtp/capabilities.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::policy {

// The decision functions: pure, over plain data. PolicyEngineHook (hook.h)
// wires them into the client session.
//
// A decision is a conjunction of checks (TLS up with the entry's floors,
// PKIX chain, name, pins, DANE match, MTA-STS MX and certificate, ...), each
// from a source (the table entry, DANE, MTA-STS) and either enforced or in
// testing (evaluated and reported, never fatal). Adding a check can only turn
// an acceptance into a refusal; that is the lattice the properties test.
// DANE with usable TLSA records outranks MTA-STS (RFC 8461 §2).

// Everything known about one delivery attempt to one MX host.
struct PolicyInputs {
  const PolicyEntry* entry = nullptr;  // the table entry (required)
  absl::string_view entry_key = "*";   // its key, for the trace
  int entry_line = 0;  // the key's line (PolicyTable::Match::line), 0: none
  // The file the table came from (PolicyTable::origin()): the trace then
  // names the entry as "file:line" instead of "line N".
  absl::string_view entry_origin;
  const DaneState* dane = nullptr;     // TLSA of this MX; null: none known
  const StsPolicy* sts = nullptr;      // MTA-STS policy in force, if any
  absl::string_view sts_failure;  // RFC 8460 type from resolving MTA-STS
  absl::Time now = absl::InfinitePast();
};

// A connection-level decision with what ForMessage needs later.
struct ConnectionEvaluation {
  smtp::PolicyDecision decision;
  // Set when `decision` refuses and would not with DANE and MTA-STS ignored
  // (RFC 8689 "TLS-Required: No"): that relaxed decision.
  std::optional<smtp::PolicyDecision> without_recipient_policies;
  // RFC 8689 §4.2.1 authenticated hop: DANE matched, a pin matched, or a
  // trusted chain whose name is not taken from insecure DNS (an MX listed by
  // the MTA-STS policy, or the next-hop domain itself).
  bool authenticated = false;
  std::string authenticated_by;  // "dane", "sts", "nexthop", "pin"
  // The trace line of the check that decided a refusal (the first enforced
  // failure, else the first testing one), e.g. "FAIL: sts-mx (mta-sts): MX
  // mx3.x.example matches no MTA-STS mx pattern (...) [validation-failure]";
  // empty when nothing failed.
  std::string first_failure;
  // What this session reports to the recipient domain in TLS-RPT (RFC
  // 8460): decision.tlsrpt_result_type, except for failures of the sender's
  // own trust settings (pins, cert-name, trust-anchor) and of its table's
  // testing entries, which the recipient can neither see nor fix: those are
  // skipped (the next failure counts, or none). DANE and MTA-STS failures,
  // in testing mode too (RFC 8461 §5), are reported.
  std::string reported_result_type;
};

// Before connecting to destination.mx_host: kTryNextMx (kDefer on the last
// MX) when this MX must not be used (not listed by an enforced MTA-STS
// policy, DNSSEC bogus or DANE required but absent under dane-only);
// otherwise kProceedTls when TLS will be mandatory, kProceedPlaintext when
// it is optional.
smtp::PolicyDecision CheckMx(const PolicyInputs& in,
                             const smtp::Destination& destination);

smtp::StartTlsIntent DecideStartTls(const PolicyInputs& in,
                                    const smtp::Destination& destination);

ConnectionEvaluation EvaluateHandshake(const PolicyInputs& in,
                                       const smtp::Destination& destination,
                                       const TlsFacts& facts);

ConnectionEvaluation EvaluateWithoutTls(const PolicyInputs& in,
                                        const smtp::Destination& destination,
                                        smtp::TlsProblem problem,
                                        absl::string_view detail);

// May this message go over this connection? REQUIRETLS (RFC 8689) needs an
// authenticated TLS hop that advertises REQUIRETLS, else the message bounces
// with 5.7.10 (and "TLS-Required: No" is ignored, §4.1). Without REQUIRETLS,
// "TLS-Required: No" lets the message go when only DANE or MTA-STS refused.
smtp::PolicyDecision DecideMessage(const smtp::MessageTlsFlags& flags,
                                   const smtp::EhloCapabilities& caps,
                                   const TlsFacts* tls,
                                   const ConnectionEvaluation& connection);

// The RFC 8460 result type for a chain verdict that is not kTrusted.
absl::string_view ResultTypeForChain(ChainVerdict verdict);
absl::string_view ChainVerdictName(ChainVerdict verdict);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_ENGINE_H_
