#ifndef STARLING_CORE_POLICY_HOOK_H_
#define STARLING_CORE_POLICY_HOOK_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/dane.h"
#include "core/policy/engine.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "core/smtp/tls_policy_hook.h"

namespace starling::policy {

// What the embedder learned about one destination before delivering to it:
// DANE per MX host (from DNSSEC-validated lookups), the MTA-STS policy in
// force (see ResolveSts), and the time of the attempt.
struct DestinationState {
  absl::flat_hash_map<std::string, DaneState> dane_by_mx;  // lower-case keys
  std::optional<StsPolicy> sts;
  std::string sts_failure;  // RFC 8460 type from ResolveSts, if any
  // The key the table is searched with: Postfix's next-hop ("[relay]:587")
  // when mail is routed through one; empty: the destination's
  // next_hop_domain.
  std::string policy_key;
  absl::Time now = absl::InfinitePast();
};

// The policy engine behind the client session's TlsPolicyHook: looks the
// next-hop (DestinationState::policy_key, else the next-hop domain) up in
// the table and decides with DANE, MTA-STS and
// REQUIRETLS. One hook per delivery attempt (it remembers the connection's
// evaluation for ForMessage). The table must outlive the hook.
class PolicyEngineHook : public smtp::TlsPolicyHook {
 public:
  PolicyEngineHook(const PolicyTable* table, DestinationState state);

  // Before connecting: may this MX be used at all? (see CheckMx)
  smtp::PolicyDecision BeforeConnect(const smtp::Destination& destination);

  smtp::StartTlsIntent AfterEhlo(const smtp::Destination& destination,
                                 const smtp::EhloCapabilities& caps) override;
  smtp::PolicyDecision AfterHandshake(const smtp::Destination& destination,
                                      const TlsFacts& facts) override;
  smtp::PolicyDecision WithoutTls(const smtp::Destination& destination,
                                  smtp::TlsProblem problem,
                                  absl::string_view detail) override;
  // Decides from the evaluation behind the last AfterHandshake/WithoutTls
  // for this destination; `connection` is used when there was none.
  smtp::PolicyDecision ForMessage(
      const smtp::Destination& destination, const smtp::MessageTlsFlags& flags,
      const smtp::EhloCapabilities& caps, const TlsFacts* tls,
      const smtp::PolicyDecision& connection) override;

  // The evaluation behind the last AfterHandshake/WithoutTls (what decided,
  // what TLS-RPT reports), if any.
  const std::optional<ConnectionEvaluation>& last_evaluation() const {
    return last_;
  }

 private:
  PolicyInputs Inputs(const smtp::Destination& destination) const;

  const PolicyTable* table_;
  DestinationState state_;
  std::optional<ConnectionEvaluation> last_;
  std::string last_mx_;
};

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_HOOK_H_
