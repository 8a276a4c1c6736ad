#ifndef STARLING_CORE_TLS_RNG_H_
#define STARLING_CORE_TLS_RNG_H_

#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"

namespace Botan {
class RandomNumberGenerator;
}  // namespace Botan

namespace starling::tls {

// The randomness a Channel (or the test PKI) draws from is always injected.

// A ChaCha_RNG keyed by SHA-256(seed, stream): the same (seed, stream) gives
// the same bytes on every run and platform, and different streams (e.g.
// "client", "server") are independent. For simulation and tests only.
std::shared_ptr<Botan::RandomNumberGenerator> SeededRng(
    uint64_t seed, absl::string_view stream);

// The operating system's RNG, for real use.
std::shared_ptr<Botan::RandomNumberGenerator> SystemRng();

}  // namespace starling::tls

#endif  // STARLING_CORE_TLS_RNG_H_
