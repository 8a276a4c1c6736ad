#ifndef STARLING_TOOLS_SINK_ZOO_H_
#define STARLING_TOOLS_SINK_ZOO_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "core/tls/testing/test_pki.h"
#include "sim/partner.h"
#include "tools/io/inbound.h"
#include "tools/sink/log.h"

namespace starling::sink {

// One zoo profile served on a real address.
struct ZooProfile {
  sim::PartnerProfile profile = sim::PartnerProfile::kGood;
  asio::ip::tcp::endpoint address;  // port 0: the kernel chooses
};

struct ZooConfig {
  std::vector<ZooProfile> profiles;
  std::shared_ptr<const tls::testing::TestPki> pki;
  absl::Duration tarpit_delay = absl::Seconds(30);
  std::shared_ptr<Log> log;
};

// "good", "expired=127.0.0.1:2526", "all" (every profile, ports from the
// kernel) into profiles on `default_address`'s IP.
absl::StatusOr<std::vector<ZooProfile>> ParseZooProfiles(
    const std::vector<std::string>& specs,
    const asio::ip::address& default_address);

// One listener per profile: the simulator's partner (sim/partner.h) on real
// sockets - the same server options, TLS channel and dialogue, with real
// randomness and the real clock. The zoo's memory (greylist) is shared by
// its connections; run the server on one thread.
std::vector<io::Listener> ZooListeners(const ZooConfig& config);

// Writes what a real MTA needs to talk to the zoo into `dir`: ca.pem (the
// roots the good certificates chain to: root, rollover old and new),
// crl.pem (the intermediate's CRL), trust.pem (both: starling-send --trust),
// client.pem / client-key.pem (the client certificate kRequireClientCert
// accepts) and, per certificate kind, <kind>.pem (its chain) and <kind>.tlsa
// (the "3 1 1" TLSA record of its key).
absl::Status WriteZooPki(const tls::testing::TestPki& pki,
                         const std::string& dir);

}  // namespace starling::sink

#endif  // STARLING_TOOLS_SINK_ZOO_H_
