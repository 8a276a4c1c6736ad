#include "core/tls/rng.h"

#include <memory>

#include "botan/chacha_rng.h"
#include "botan/hash.h"
#include "botan/system_rng.h"

namespace starling::tls {

std::shared_ptr<Botan::RandomNumberGenerator> SeededRng(
    uint64_t seed, absl::string_view stream) {
  std::unique_ptr<Botan::HashFunction> hash =
      Botan::HashFunction::create_or_throw("SHA-256");
  uint8_t seed_bytes[8];
  for (int i = 0; i < 8; ++i) seed_bytes[i] = static_cast<uint8_t>(seed >> (8 * i));
  hash->update(seed_bytes, sizeof(seed_bytes));
  hash->update(reinterpret_cast<const uint8_t*>(stream.data()), stream.size());
  return std::make_shared<Botan::ChaCha_RNG>(hash->final());
}

std::shared_ptr<Botan::RandomNumberGenerator> SystemRng() {
  return std::make_shared<Botan::System_RNG>();
}

}  // namespace starling::tls
