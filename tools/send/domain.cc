#include "tools/send/domain.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace starling::send {
namespace {

using smtp::ClientStage;
using smtp::DeliveryVerdict;

// Stages where the host, not the message, failed: another MX may do.
bool HostStage(ClientStage stage) {
  switch (stage) {
    case ClientStage::kConnect:
    case ClientStage::kGreeting:
    case ClientStage::kEhlo:
    case ClientStage::kStartTls:
    case ClientStage::kTlsHandshake:
    case ClientStage::kPolicy:
      return true;
    default:
      return false;
  }
}

// The last reason an attempt gave, for the outcome line.
std::string Why(const Attempt& attempt) {
  if (attempt.refused_by_policy) {
    const smtp::PolicyDecision& before = attempt.before;
    return absl::StrCat("refused by the policy before connecting (",
                        smtp::DeliveryVerdictName(before.verdict),
                        before.tlsrpt_result_type.empty() ? "" : ", ",
                        before.tlsrpt_result_type, ")");
  }
  if (!attempt.connected) return attempt.result.close_reason;
  const smtp::PolicyDecision& policy = attempt.result.policy;
  if (!policy.label.empty() && policy.verdict != DeliveryVerdict::kProceedTls &&
      policy.verdict != DeliveryVerdict::kProceedPlaintext) {
    return absl::StrCat("the TLS policy said ", smtp::DeliveryVerdictName(policy.verdict),
                        " (", policy.label, policy.tlsrpt_result_type.empty() ? "" : ", ",
                        policy.tlsrpt_result_type, ")");
  }
  for (const smtp::MessageResult& message : attempt.result.results) {
    for (const smtp::RecipientResult& r : message.recipients) {
      if (r.status != smtp::RecipientStatus::kDelivered) {
        return absl::StrCat(smtp::ClientStageName(r.stage), ": ", r.reply.code, " ",
                            r.reply.lines.empty() ? r.detail : r.reply.lines.back());
      }
    }
  }
  return attempt.result.close_reason;
}

DomainDelivery Ends(int code, std::string outcome, std::string type = "") {
  DomainDelivery delivery;
  delivery.exit_code = code;
  delivery.outcome = std::move(outcome);
  delivery.tlsrpt_result_type = std::move(type);
  return delivery;
}

}  // namespace

bool MovesOnToNextMx(const Attempt& attempt) {
  if (attempt.refused_by_policy) {
    return attempt.before.verdict != DeliveryVerdict::kBounce;
  }
  if (!attempt.connected) return true;
  if (attempt.result.policy.verdict == DeliveryVerdict::kBounce) return false;
  for (const smtp::MessageResult& message : attempt.result.results) {
    for (const smtp::RecipientResult& r : message.recipients) {
      if (r.status == smtp::RecipientStatus::kDelivered || !HostStage(r.stage)) {
        return false;
      }
    }
  }
  return true;
}

DomainDelivery SendToDomain(asio::io_context& context,
                            const net::DestinationResolution& r,
                            const std::vector<MxRoute>& routes,
                            const SendSettings& settings,
                            const MessageFactory& messages) {
  switch (r.mx_status) {
    case net::MxStatus::kNullMx:
      return Ends(69, absl::StrCat(r.domain, " accepts no mail (null MX, RFC 7505)"));
    case net::MxStatus::kNoSuchDomain:
      return Ends(69, absl::StrCat(r.domain, " does not exist (NXDOMAIN)"));
    case net::MxStatus::kTemporaryError:
      return Ends(75, absl::StrCat("the MX lookup for ", r.domain,
                                   " failed: ", r.mx.detail));
    case net::MxStatus::kBogus:
      return Ends(75,
                  absl::StrCat("the MX records of ", r.domain,
                               " failed DNSSEC validation: ", r.mx.detail),
                  "dnssec-invalid");
    case net::MxStatus::kFound:
    case net::MxStatus::kImplicit:
      break;
  }
  if (routes.empty()) {
    return Ends(75, absl::StrCat("no usable MX host for ", r.domain, ": ",
                                 absl::StrJoin(r.notes, "; ")));
  }

  SendSettings per_domain = settings;
  per_domain.state = net::DestinationStateFor(r, settings.state.now);
  DomainDelivery delivery;
  const size_t last = LastMxToTry(routes);
  for (size_t i = 0; i < routes.size(); ++i) {
    HostAttempts host{routes[i], {}};
    if (host.route.endpoints.empty()) {
      delivery.hosts.push_back(std::move(host));
      continue;
    }
    smtp::Destination destination;
    destination.next_hop_domain = r.domain;
    destination.mx_host = host.route.host->host;
    destination.mx_preference = host.route.host->preference;
    destination.last_mx = i == last;
    host.attempts = SendToHost(context, host.route.endpoints, destination,
                               per_domain, messages);
    const Attempt& final_attempt = host.attempts.back();
    delivery.exit_code = ExitCode(final_attempt);
    delivery.outcome = delivery.exit_code == 0
                           ? absl::StrCat("delivered by ", destination.mx_host)
                           : absl::StrCat(destination.mx_host, ": ", Why(final_attempt));
    const bool next = !destination.last_mx && MovesOnToNextMx(final_attempt);
    delivery.hosts.push_back(std::move(host));
    if (!next) return delivery;
  }
  if (last == routes.size()) {
    delivery.exit_code = 75;
    delivery.outcome = absl::StrCat("no MX host of ", r.domain, " has an address to connect to");
  }
  return delivery;
}

}  // namespace starling::send
