#ifndef STARLING_TOOLS_SEND_SEND_H_
#define STARLING_TOOLS_SEND_SEND_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "asio.hpp"
#include "core/policy/hook.h"
#include "core/policy/table.h"
#include "core/smtp/client_session.h"
#include "core/tls/channel.h"
#include "tools/io/outbound.h"

namespace starling::send {

// How every connection to one destination is made.
struct SendSettings {
  std::shared_ptr<const policy::PolicyTable> table;
  policy::DestinationState state;  // DANE and MTA-STS as known for it
  smtp::ClientOptions smtp;
  tls::ChannelOptions tls;  // Role::kClient, trust, client certificate
  absl::Duration connect_timeout = absl::Seconds(30);
};

// One connection made (or refused by the policy before it was made).
struct Attempt {
  std::string server;                  // the addresses tried
  smtp::PolicyDecision before;         // BeforeConnect
  bool connected = false;              // false: see `result.close_reason`
  bool plaintext_retry = false;        // the deliberate retry without STARTTLS
  bool refused_by_policy = false;      // `before` said no: nothing was sent
  io::OutboundResult result;
};

// Builds the messages of one attempt anew (a retry re-reads the bodies).
using MessageFactory = std::function<std::vector<smtp::OutboundMessage>()>;

// Delivers to one host over `context` (run here until done): the policy
// decides before connecting, the session runs over a socket, and where an
// optional STARTTLS failed in the handshake the host is tried once more at
// once without it (as Postfix does, and never where TLS is mandatory).
// Returns every attempt in order; the last one holds the final results.
std::vector<Attempt> SendToHost(asio::io_context& context,
                                const std::vector<asio::ip::tcp::endpoint>& server,
                                const smtp::Destination& destination,
                                const SendSettings& settings,
                                const MessageFactory& messages);

// The client TLS options for `destination` under `settings`: the entry's
// protocol floor and key exchanges applied.
tls::ChannelOptions ChannelFor(const SendSettings& settings,
                               const smtp::Destination& destination);

// How the recipients of `attempt` fared: 0 all delivered, 75 some deferred,
// 69 some refused and none deferred (sysexits.h).
int ExitCode(const Attempt& attempt);

}  // namespace starling::send

#endif  // STARLING_TOOLS_SEND_SEND_H_
