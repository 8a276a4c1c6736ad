// Full TLS 1.2 handshakes in memory (client and server, fresh objects each
// time, chain validation included) through tls::Channel, next to the same
// handshakes through raw Botan with an equivalent policy and the same chain
// validation. The ratio is what Channel adds: facts extraction, event and
// buffer handling, the policy bridge. Also: what the test PKI costs.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "botan/credentials_manager.h"
#include "botan/tls_callbacks.h"
#include "botan/tls_client.h"
#include "botan/tls_policy.h"
#include "botan/tls_server.h"
#include "botan/tls_session_manager.h"
#include "botan/x509path.h"
#include "core/testing/benchmark_ratio.h"
#include "core/tls/channel.h"
#include "core/tls/rng.h"
#include "core/tls/testing/test_pki.h"

namespace starling::tls {
namespace {

using ::starling::tls::testing::CertKind;
using ::starling::tls::testing::TestPki;

const absl::Time kReference = absl::FromUnixSeconds(1700000000);

const TestPki& Pki() {
  static const std::shared_ptr<const TestPki> pki = TestPki::Get(3, kReference);
  return *pki;
}

CertKind ServerKind(const benchmark::State& state) {
  return state.range(0) == 0 ? CertKind::kGood : CertKind::kGoodRsa;
}

void BM_ChannelHandshake(benchmark::State& state) {
  const auto identity = Pki().identity(ServerKind(state));
  uint64_t seed = 0;
  for (auto _ : state) {
    ChannelOptions client_options;
    client_options.role = Role::kClient;
    client_options.server_name = Pki().host_name();
    client_options.trust = Pki().trust_store();
    client_options.rng = SeededRng(++seed, "client");
    ChannelOptions server_options;
    server_options.role = Role::kServer;
    server_options.identities = {identity};
    server_options.rng = SeededRng(seed, "server");
    Channel client = *Channel::Create(std::move(client_options));
    Channel server = *Channel::Create(std::move(server_options));
    while (!client.PendingOutput().empty() || !server.PendingOutput().empty()) {
      const std::string to_server(client.PendingOutput());
      client.ConsumeOutput(to_server.size());
      if (!to_server.empty()) (void)server.Receive(to_server, kReference);
      const std::string to_client(server.PendingOutput());
      server.ConsumeOutput(to_client.size());
      if (!to_client.empty()) (void)client.Receive(to_client, kReference);
    }
    while (client.NextEvent()) {
    }
    while (server.NextEvent()) {
    }
    if (!client.established() || !server.established()) {
      state.SkipWithError("handshake failed");
      break;
    }
    benchmark::DoNotOptimize(client.facts()->chain_verdict);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChannelHandshake)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// What an application would write on raw Botan for the same handshake.
class RawPolicy final : public Botan::TLS::Policy {
 public:
  std::vector<std::string> allowed_ciphers() const override {
    return {"ChaCha20Poly1305", "AES-256/GCM", "AES-128/GCM"};
  }
  std::vector<std::string> allowed_key_exchange_methods() const override {
    return {"ECDH", "DH"};
  }
  std::vector<Botan::TLS::Group_Params> key_exchange_groups() const override {
    using G = Botan::TLS::Group_Params;
    return {G::X25519,    G::SECP256R1,  G::SECP384R1,
            G::SECP521R1, G::FFDHE_2048, G::FFDHE_3072};
  }
  bool require_cert_revocation_info() const override { return false; }
  bool include_time_in_hello_random() const override { return false; }
  uint32_t session_ticket_lifetime() const override { return 0; }
  bool allow_tls10() const override { return false; }
  bool allow_tls11() const override { return false; }
};

class RawEndpoint final : public Botan::TLS::Callbacks,
                          public Botan::Credentials_Manager {
 public:
  explicit RawEndpoint(const Identity* identity) : identity_(identity) {}

  std::string out;
  bool active = false;

  void tls_emit_data(const uint8_t data[], size_t size) override {
    out.append(reinterpret_cast<const char*>(data), size);
  }
  void tls_record_received(uint64_t, const uint8_t[], size_t) override {}
  void tls_alert(Botan::TLS::Alert) override {}
  bool tls_session_established(const Botan::TLS::Session&) override {
    return false;
  }
  void tls_session_activated() override { active = true; }
  void tls_verify_cert_chain(
      const std::vector<Botan::X509_Certificate>& chain,
      const std::vector<std::shared_ptr<const Botan::OCSP::Response>>&,
      const std::vector<Botan::Certificate_Store*>&, Botan::Usage_Type usage,
      const std::string&, const Botan::TLS::Policy&) override {
    const Botan::Path_Validation_Result result = Botan::x509_path_validate(
        chain, Botan::Path_Validation_Restrictions(false, 110),
        {Pki().trust_store()->store()}, "", usage,
        absl::ToChronoTime(kReference));
    benchmark::DoNotOptimize(result.successful_validation());
  }
  std::vector<Botan::X509_Certificate> find_cert_chain(
      const std::vector<std::string>& key_types,
      const std::vector<Botan::X509_DN>&, const std::string&,
      const std::string&) override {
    if (identity_ == nullptr) return {};
    for (const std::string& type : key_types) {
      if (identity_->key_type() == type) return identity_->chain();
    }
    return {};
  }
  Botan::Private_Key* private_key_for(const Botan::X509_Certificate&,
                                      const std::string&,
                                      const std::string&) override {
    return const_cast<Botan::Private_Key*>(&identity_->key());
  }

 private:
  const Identity* identity_;
};

void BM_BotanHandshake(benchmark::State& state) {
  const auto identity = Pki().identity(ServerKind(state));
  const RawPolicy policy;
  uint64_t seed = 0;
  for (auto _ : state) {
    auto client_rng = SeededRng(++seed, "client");
    auto server_rng = SeededRng(seed, "server");
    Botan::TLS::Session_Manager_Noop client_sessions;
    Botan::TLS::Session_Manager_Noop server_sessions;
    RawEndpoint client_end(nullptr);
    RawEndpoint server_end(identity.get());
    Botan::TLS::Client client(client_end, client_sessions, client_end, policy,
                              *client_rng,
                              Botan::TLS::Server_Information(Pki().host_name()));
    Botan::TLS::Server server(server_end, server_sessions, server_end, policy,
                              *server_rng);
    while (!client_end.out.empty() || !server_end.out.empty()) {
      const std::string to_server = std::move(client_end.out);
      client_end.out.clear();
      if (!to_server.empty()) {
        server.received_data(reinterpret_cast<const uint8_t*>(to_server.data()),
                             to_server.size());
      }
      const std::string to_client = std::move(server_end.out);
      server_end.out.clear();
      if (!to_client.empty()) {
        client.received_data(reinterpret_cast<const uint8_t*>(to_client.data()),
                             to_client.size());
      }
    }
    if (!client_end.active || !server_end.active) {
      state.SkipWithError("handshake failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BotanHandshake)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

STARLING_BENCHMARK_RATIO("BM_ChannelHandshake/0", "BM_BotanHandshake/0");
STARLING_BENCHMARK_RATIO("BM_ChannelHandshake/1", "BM_BotanHandshake/1");

// The test PKI's certificates and CRL with cached keys (a new reference time
// each iteration), and cold (keys generated too, RSA-2048 included).
void BM_TestPkiCertificates(benchmark::State& state) {
  Pki();
  int64_t offset = 0;
  for (auto _ : state) {
    auto pki = TestPki::Generate(3, kReference + absl::Seconds(++offset),
                                 "mx.example.net");
    benchmark::DoNotOptimize(pki.get());
  }
}
BENCHMARK(BM_TestPkiCertificates)->Unit(benchmark::kMillisecond);

void BM_TestPkiCold(benchmark::State& state) {
  uint64_t seed = 1000;
  for (auto _ : state) {
    auto pki = TestPki::Generate(++seed, kReference, "mx.example.net");
    benchmark::DoNotOptimize(pki.get());
  }
}
BENCHMARK(BM_TestPkiCold)->Unit(benchmark::kMillisecond)->Iterations(10);

}  // namespace
}  // namespace starling::tls
