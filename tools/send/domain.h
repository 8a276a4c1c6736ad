#ifndef STARLING_TOOLS_SEND_DOMAIN_H_
#define STARLING_TOOLS_SEND_DOMAIN_H_

#include <string>
#include <vector>

#include "asio.hpp"
#include "tools/net/destination.h"
#include "tools/send/route.h"
#include "tools/send/send.h"

namespace starling::send {

// One MX host's part in a delivery to a domain.
struct HostAttempts {
  MxRoute route;
  std::vector<Attempt> attempts;  // empty: not tried (route.problem)
};

struct DomainDelivery {
  std::vector<HostAttempts> hosts;  // in the order they were tried
  int exit_code = 75;  // as ExitCode: 0 delivered, 75 deferred, 69 refused
  std::string outcome;  // one line: how it ended and why
  // RFC 8460 type when the destination itself failed (dnssec-invalid for a
  // bogus MX RRset), else empty.
  std::string tlsrpt_result_type;
};

// Delivers to the domain `r` describes, RFC 5321 §5.1 style: a null MX or a
// domain that does not exist refuses (69); a failed or bogus MX lookup, or
// no host to connect to, defers (75). Otherwise each MX host in `routes`
// (from RoutesFor(r, ...), preference order) is tried with SendToHost until
// one settles the recipients: the policy engine's try-next-MX, a host that
// cannot be reached, and a session that ended before MAIL (greeting, EHLO,
// STARTTLS, the handshake, the TLS policy) move on to the next host; the
// last host tried gets `last_mx` and so the engine's defer. A recipient
// delivered, or answered at MAIL, RCPT or DATA, ends the walk, as does a
// bounce. `settings.state` is replaced by what `r` says (its `now` kept).
DomainDelivery SendToDomain(asio::io_context& context,
                            const net::DestinationResolution& r,
                            const std::vector<MxRoute>& routes,
                            const SendSettings& settings,
                            const MessageFactory& messages);

// Whether `attempt` leaves the recipients to the next MX host.
bool MovesOnToNextMx(const Attempt& attempt);

}  // namespace starling::send

#endif  // STARLING_TOOLS_SEND_DOMAIN_H_
