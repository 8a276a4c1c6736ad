#include "tools/send/send.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tools/io/address.h"

namespace starling::send {
namespace {

std::string Describe(const std::vector<asio::ip::tcp::endpoint>& server) {
  std::string out;
  for (const asio::ip::tcp::endpoint& endpoint : server) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", io::FormatEndpoint(endpoint));
  }
  return out;
}

Attempt RunOnce(asio::io_context& context,
                const std::vector<asio::ip::tcp::endpoint>& server,
                const smtp::Destination& destination,
                const SendSettings& settings,
                std::vector<smtp::OutboundMessage> messages,
                bool attempt_starttls) {
  Attempt attempt;
  attempt.server = Describe(server);
  attempt.plaintext_retry = !attempt_starttls;
  policy::PolicyEngineHook hook(settings.table.get(), settings.state);
  attempt.before = hook.BeforeConnect(destination);
  const smtp::DeliveryVerdict verdict = attempt.before.verdict;
  if (verdict == smtp::DeliveryVerdict::kDefer ||
      verdict == smtp::DeliveryVerdict::kBounce ||
      verdict == smtp::DeliveryVerdict::kTryNextMx) {
    attempt.refused_by_policy = true;
    attempt.result.policy = attempt.before;
    return attempt;
  }
  auto smtp = std::make_shared<smtp::ClientOptions>(settings.smtp);
  smtp->attempt_starttls = attempt_starttls;
  starttls::ClientConnection::Options options{
      std::move(smtp), destination, ChannelFor(settings, destination)};
  std::optional<io::OutboundResult> done;
  const absl::Status started = io::Deliver(
      context, server, std::move(options), &hook, std::move(messages),
      settings.connect_timeout,
      [&done](io::OutboundResult result) { done = std::move(result); });
  if (!started.ok()) {
    attempt.result.status = started;
    attempt.result.close_reason = std::string(started.message());
    return attempt;
  }
  context.restart();
  context.run();
  attempt.result = *std::move(done);
  attempt.connected = attempt.result.connected;
  return attempt;
}

// Opportunistic TLS failed in the handshake and every recipient is still
// open because of it: the case for one more try in plaintext.
bool ShouldRetryInPlaintext(const Attempt& attempt) {
  const io::OutboundResult& result = attempt.result;
  if (attempt.plaintext_retry || !attempt.connected ||
      attempt.before.verdict == smtp::DeliveryVerdict::kProceedTls ||
      result.handshake_facts.has_value() || !result.tls_failure.has_value() ||
      result.results.empty()) {
    return false;
  }
  for (const smtp::MessageResult& message : result.results) {
    for (const smtp::RecipientResult& r : message.recipients) {
      if (r.stage != smtp::ClientStage::kTlsHandshake ||
          r.status != smtp::RecipientStatus::kTempFailed) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

tls::ChannelOptions ChannelFor(const SendSettings& settings,
                               const smtp::Destination& destination) {
  tls::ChannelOptions tls = settings.tls;
  tls.role = tls::Role::kClient;
  // The destination's entry may lower the protocol floor (a legacy
  // partner's connector) or allow static RSA key exchange.
  const policy::PolicyEntry& entry =
      settings.table->Lookup(destination.next_hop_domain);
  tls::AllowForDestination(entry.min_version, entry.max_version,
                           entry.forward_secrecy, &tls.policy);
  return tls;
}

std::vector<Attempt> SendToHost(asio::io_context& context,
                                const std::vector<asio::ip::tcp::endpoint>& server,
                                const smtp::Destination& destination,
                                const SendSettings& settings,
                                const MessageFactory& messages) {
  std::vector<Attempt> attempts;
  attempts.push_back(
      RunOnce(context, server, destination, settings, messages(), true));
  if (ShouldRetryInPlaintext(attempts.back())) {
    attempts.push_back(
        RunOnce(context, server, destination, settings, messages(), false));
  }
  return attempts;
}

int ExitCode(const Attempt& attempt) {
  if (attempt.refused_by_policy) {
    return attempt.before.verdict == smtp::DeliveryVerdict::kBounce ? 69 : 75;
  }
  bool deferred = false;
  bool refused = false;
  if (attempt.result.results.empty()) deferred = true;
  for (const smtp::MessageResult& message : attempt.result.results) {
    for (const smtp::RecipientResult& r : message.recipients) {
      deferred |= r.status == smtp::RecipientStatus::kTempFailed ||
                  r.status == smtp::RecipientStatus::kPending;
      refused |= r.status == smtp::RecipientStatus::kPermFailed;
    }
  }
  return deferred ? 75 : refused ? 69 : 0;
}

}  // namespace starling::send
