#include "core/policy/hook.h"

#include <utility>

#include "absl/strings/ascii.h"

namespace starling::policy {

PolicyEngineHook::PolicyEngineHook(const PolicyTable* table,
                                   DestinationState state)
    : table_(table), state_(std::move(state)) {}

PolicyInputs PolicyEngineHook::Inputs(const smtp::Destination& d) const {
  PolicyInputs in;
  const PolicyTable::Match match = table_->Find(
      state_.policy_key.empty() ? d.next_hop_domain : state_.policy_key);
  in.entry = match.entry;
  in.entry_key = match.key;
  in.entry_line = match.line;
  in.entry_origin = table_->origin();
  auto it = state_.dane_by_mx.find(absl::AsciiStrToLower(d.mx_host));
  if (it != state_.dane_by_mx.end()) in.dane = &it->second;
  if (state_.sts.has_value()) in.sts = &*state_.sts;
  in.sts_failure = state_.sts_failure;
  in.now = state_.now;
  return in;
}

smtp::PolicyDecision PolicyEngineHook::BeforeConnect(
    const smtp::Destination& destination) {
  return CheckMx(Inputs(destination), destination);
}

smtp::StartTlsIntent PolicyEngineHook::AfterEhlo(
    const smtp::Destination& destination, const smtp::EhloCapabilities&) {
  return DecideStartTls(Inputs(destination), destination);
}

smtp::PolicyDecision PolicyEngineHook::AfterHandshake(
    const smtp::Destination& destination, const TlsFacts& facts) {
  last_ = EvaluateHandshake(Inputs(destination), destination, facts);
  last_mx_ = destination.mx_host;
  return last_->decision;
}

smtp::PolicyDecision PolicyEngineHook::WithoutTls(
    const smtp::Destination& destination, smtp::TlsProblem problem,
    absl::string_view detail) {
  last_ = EvaluateWithoutTls(Inputs(destination), destination, problem, detail);
  last_mx_ = destination.mx_host;
  return last_->decision;
}

smtp::PolicyDecision PolicyEngineHook::ForMessage(
    const smtp::Destination& destination, const smtp::MessageTlsFlags& flags,
    const smtp::EhloCapabilities& caps, const TlsFacts* tls,
    const smtp::PolicyDecision& connection) {
  if (last_.has_value() && last_mx_ == destination.mx_host) {
    return DecideMessage(flags, caps, tls, *last_);
  }
  ConnectionEvaluation only;
  only.decision = connection;
  return DecideMessage(flags, caps, tls, only);
}

}  // namespace starling::policy
