#ifndef STARLING_FUZZ_TLS_CHANNEL_FUZZ_SETUP_H_
#define STARLING_FUZZ_TLS_CHANNEL_FUZZ_SETUP_H_

#include <cstdint>

#include "absl/time/time.h"
#include "core/tls/channel.h"
#include "core/tls/rng.h"
#include "core/tls/testing/test_pki.h"

namespace starling::fuzz {

inline const absl::Time kTlsFuzzTime = absl::FromUnixSeconds(1700000000);

// The channel under test, chosen by the input's first byte:
//   bit 0: server (else client)
//   bit 1: TLS 1.0 to 1.2 (else 1.2 only)
//   bit 2: client certificates (server asks; client has one)
//   bit 3: RSA server certificate (else ECDSA)
// Seeds are fixed, so a recorded peer flight replays exactly (see
// make_channel_seeds.cc).
inline tls::ChannelOptions TlsFuzzOptions(uint8_t flags, bool as_server) {
  using tls::testing::CertKind;
  using tls::testing::TestPki;
  const auto pki = TestPki::Get(1, kTlsFuzzTime);
  tls::ChannelOptions options;
  options.role = as_server ? tls::Role::kServer : tls::Role::kClient;
  options.rng = tls::SeededRng(1, as_server ? "server" : "client");
  options.trust = pki->trust_store();
  if (flags & 2) options.policy.min_version = TlsVersion::kTls10;
  if (as_server) {
    options.identities = {
        pki->identity((flags & 8) ? CertKind::kGoodRsa : CertKind::kGood)};
    if (flags & 4) options.policy.client_auth = tls::ClientAuth::kRequest;
  } else {
    options.server_name = pki->host_name();
    if (flags & 4) options.identities = {pki->identity(CertKind::kClient)};
  }
  return options;
}

}  // namespace starling::fuzz

#endif  // STARLING_FUZZ_TLS_CHANNEL_FUZZ_SETUP_H_
