#ifndef STARLING_CORE_SMTP_TLS_POLICY_HOOK_H_
#define STARLING_CORE_SMTP_TLS_POLICY_HOOK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/smtp/capabilities.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::smtp {

// Where a delivery attempt goes (what the policy decides about).
struct Destination {
  std::string next_hop_domain;  // the policy domain, e.g. "example.com"
  std::string mx_host;          // the MX host name connected to
  uint32_t mx_preference = 0;   // its MX preference, for the record
  bool last_mx = true;          // no further MX host to try after this one
};

// Per-message flags that bear on TLS policy.
struct MessageTlsFlags {
  bool requiretls = false;      // RFC 8689 REQUIRETLS on the envelope
  bool tls_required_no = false; // RFC 8689 "TLS-Required: No" header
};

enum class DeliveryVerdict : uint8_t {
  kProceedTls,        // TLS is up and good enough: go on
  kProceedPlaintext,  // go on without TLS (only ever when policy allows it)
  kDefer,             // temporary failure: keep the message queued
  kBounce,            // permanent failure: return the message
  kTryNextMx,         // this host will not do: try the next MX
};

absl::string_view DeliveryVerdictName(DeliveryVerdict verdict);

// What a policy says, and why.
struct PolicyDecision {
  DeliveryVerdict verdict = DeliveryVerdict::kDefer;
  // RFC 8460 result type when something failed ("starttls-not-supported",
  // "certificate-expired", ...), else empty.
  std::string tlsrpt_result_type;
  // Postfix-like outcome label: "may:anonymous", "dane:verified", ...
  std::string label;
  std::vector<std::string> trace;  // the explanation, one step per entry
};

// Whether to attempt STARTTLS, decided after the first EHLO.
struct StartTlsIntent {
  bool attempt = true;     // send STARTTLS when the server offers it
  bool mandatory = false;  // no envelope or body byte may go in plaintext
  std::string sni;         // server name to send in the handshake
  std::string label;       // the policy level, for the record ("may", ...)
};

// Why TLS is not there.
enum class TlsProblem : uint8_t {
  kNotOffered,       // no STARTTLS in the EHLO reply (or EHLO refused)
  kRefused,          // STARTTLS answered with 4xx/5xx
  kHandshakeFailed,  // the embedder reported a failed handshake
  kNotAttempted,     // this attempt runs without TLS on purpose (retry in clear)
};

absl::string_view TlsProblemName(TlsProblem problem);

// The policy the client session consults at its TLS seams. core/policy
// implements it; OpportunisticTlsPolicy below is the trivial one. Calls are
// synchronous and must not block (answers come from data already at hand).
class TlsPolicyHook {
 public:
  virtual ~TlsPolicyHook() = default;

  // After the first EHLO (caps may be empty when only HELO worked).
  virtual StartTlsIntent AfterEhlo(const Destination& destination,
                                   const EhloCapabilities& caps) = 0;

  // After a completed handshake: are these facts good enough?
  virtual PolicyDecision AfterHandshake(const Destination& destination,
                                        const TlsFacts& facts) = 0;

  // TLS is missing or failed: proceed in plaintext, defer, bounce, next MX.
  virtual PolicyDecision WithoutTls(const Destination& destination,
                                    TlsProblem problem,
                                    absl::string_view detail) = 0;

  // May this message go over this connection? `tls` is null in plaintext,
  // `connection` is the decision that let the connection proceed. Only
  // kProceedTls / kProceedPlaintext let the message go; kDefer / kBounce fail
  // that message alone (e.g. REQUIRETLS without an authenticated TLS hop
  // bounces with 5.7.10 without being sent).
  virtual PolicyDecision ForMessage(const Destination& destination,
                                    const MessageTlsFlags& flags,
                                    const EhloCapabilities& caps,
                                    const TlsFacts* tls,
                                    const PolicyDecision& connection) = 0;
};

// Opportunistic TLS (Postfix "may"): STARTTLS when offered, any handshake is
// good enough, plaintext when TLS is missing or failed; REQUIRETLS messages
// bounce unless the hop offers REQUIRETLS over TLS whose chain was trusted.
class OpportunisticTlsPolicy : public TlsPolicyHook {
 public:
  StartTlsIntent AfterEhlo(const Destination& destination,
                           const EhloCapabilities& caps) override;
  PolicyDecision AfterHandshake(const Destination& destination,
                                const TlsFacts& facts) override;
  PolicyDecision WithoutTls(const Destination& destination, TlsProblem problem,
                            absl::string_view detail) override;
  PolicyDecision ForMessage(const Destination& destination,
                            const MessageTlsFlags& flags,
                            const EhloCapabilities& caps, const TlsFacts* tls,
                            const PolicyDecision& connection) override;
};

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_TLS_POLICY_HOOK_H_
