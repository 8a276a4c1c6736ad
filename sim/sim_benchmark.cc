// Simulated deliveries per second: whole worlds (DNS, sender queue, policy
// decisions, links with segmentation and latency, both SMTP sessions,
// invariant checks) run end to end. Plaintext worlds measure the simulator's
// own cost; a world with one TLS delivery is compared with a bare in-memory
// handshake through tls::Channel with the same certificate and trust store,
// measured in the same run (the TLS machinery a delivery cannot avoid).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "core/policy/table.h"
#include "core/testing/benchmark_ratio.h"
#include "core/tls/channel.h"
#include "core/tls/rng.h"
#include "core/tls/testing/test_pki.h"
#include "sim/partner.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace starling::sim {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01
constexpr absl::string_view kHost = "mx.bench.example";
// The PKI seed the world uses (sim/world.cc).
constexpr uint64_t kPkiSeed = 7;

// `domains` domains served by one MX host with `profile`, `messages` messages
// of `size` octets to each, one recipient apiece.
Scenario BenchWorld(PartnerProfile profile, int domains, int messages,
                    int64_t size) {
  Scenario scenario;
  scenario.world.start = kStart;
  scenario.world.duration = absl::Hours(1);
  scenario.sender.hostname = "relay.example.org";
  scenario.sender.policy = *policy::ParsePolicyTable("* may\n");
  for (int d = 0; d < domains; ++d) {
    ScenarioDomain domain;
    domain.name = absl::StrCat("d", d, ".bench.example");
    ScenarioMx mx;
    mx.host = std::string(kHost);
    mx.preference = 10;
    mx.profile = profile;
    domain.mx.push_back(std::move(mx));
    ScenarioLoad load;
    load.to = domain.name;
    load.messages = messages;
    load.size = size;
    scenario.loads.push_back(std::move(load));
    scenario.domains.push_back(std::move(domain));
  }
  return scenario;
}

void RunWorlds(benchmark::State& state, const Scenario& scenario,
               int64_t deliveries) {
  uint64_t seed = 0;
  for (auto _ : state) {
    absl::StatusOr<WorldResult> result = RunScenario(scenario, ++seed);
    if (!result.ok() || result->violation.has_value() ||
        result->partner_accepted != deliveries) {
      state.SkipWithError("the world did not deliver everything");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * deliveries);
}

// 1000 plaintext deliveries of 1 KiB: 10 domains, 100 messages each (one
// connection per domain carries its 100 transactions).
void BM_PlaintextDeliveries(benchmark::State& state) {
  RunWorlds(state, BenchWorld(PartnerProfile::kNoStartTls, 10, 100, 1024),
            1000);
}
BENCHMARK(BM_PlaintextDeliveries)->Unit(benchmark::kMillisecond);

// The same over TLS: one handshake per connection.
void BM_TlsDeliveries(benchmark::State& state) {
  RunWorlds(state, BenchWorld(PartnerProfile::kGood, 10, 100, 1024), 1000);
}
BENCHMARK(BM_TlsDeliveries)->Unit(benchmark::kMillisecond);

// One message over one TLS connection: a whole world per iteration.
void BM_OneTlsDelivery(benchmark::State& state) {
  RunWorlds(state, BenchWorld(PartnerProfile::kGood, 1, 1, 1024), 1);
}
BENCHMARK(BM_OneTlsDelivery)->Unit(benchmark::kMicrosecond);

// The handshake alone, in memory, with the certificate and trust store the
// world's partner and sender use.
void BM_RawHandshake(benchmark::State& state) {
  const std::shared_ptr<const tls::testing::TestPki> pki =
      tls::testing::TestPki::Get(kPkiSeed, kStart, kHost);
  const auto identity = pki->identity(PartnerCertKind(PartnerProfile::kGood));
  uint64_t seed = 0;
  for (auto _ : state) {
    tls::ChannelOptions client_options;
    client_options.role = tls::Role::kClient;
    client_options.server_name = std::string(kHost);
    client_options.trust = pki->trust_store();
    client_options.rng = tls::SeededRng(++seed, "client");
    tls::ChannelOptions server_options;
    server_options.role = tls::Role::kServer;
    server_options.identities = {identity};
    server_options.rng = tls::SeededRng(seed, "server");
    tls::Channel client = *tls::Channel::Create(std::move(client_options));
    tls::Channel server = *tls::Channel::Create(std::move(server_options));
    while (!client.PendingOutput().empty() || !server.PendingOutput().empty()) {
      const std::string to_server(client.PendingOutput());
      client.ConsumeOutput(to_server.size());
      if (!to_server.empty()) (void)server.Receive(to_server, kStart);
      const std::string to_client(server.PendingOutput());
      server.ConsumeOutput(to_client.size());
      if (!to_client.empty()) (void)client.Receive(to_client, kStart);
    }
    if (!client.established() || !server.established()) {
      state.SkipWithError("handshake failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawHandshake)->Unit(benchmark::kMicrosecond);

STARLING_BENCHMARK_RATIO("BM_OneTlsDelivery", "BM_RawHandshake");

}  // namespace
}  // namespace starling::sim
