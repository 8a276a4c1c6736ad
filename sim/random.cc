#include "sim/random.h"

namespace starling::sim {
namespace {

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Random::Random(uint64_t seed) {
  for (uint64_t& word : state_) word = SplitMix64(&seed);
}

Random Random::FromState(const std::array<uint64_t, 4>& state) {
  if (state == std::array<uint64_t, 4>{}) return Random(0);
  Random random;
  random.state_ = state;
  return random;
}

uint64_t Random::Next() {
  const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = Rotl(state_[3], 45);
  return result;
}

uint64_t Random::Below(uint64_t n) {
  if (n == 0) return 0;
  // Lemire, "Fast Random Integer Generation in an Interval" (2019): the high
  // word of a 128-bit product, rejecting the few low words that would bias it.
  unsigned __int128 product = static_cast<unsigned __int128>(Next()) * n;
  uint64_t low = static_cast<uint64_t>(product);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    while (low < threshold) {
      product = static_cast<unsigned __int128>(Next()) * n;
      low = static_cast<uint64_t>(product);
    }
  }
  return static_cast<uint64_t>(product >> 64);
}

uint64_t Random::Between(uint64_t lo, uint64_t hi) {
  if (hi < lo) return lo;
  const uint64_t span = hi - lo;
  if (span == UINT64_MAX) return Next();
  return lo + Below(span + 1);
}

bool Random::Chance(uint64_t numerator, uint64_t denominator) {
  if (numerator == 0 || denominator == 0) return false;
  if (numerator >= denominator) return true;
  return Below(denominator) < numerator;
}

Random Random::Fork(uint64_t stream_id) const {
  // Fold the state and the id through SplitMix64 so that nearby ids (0, 1,
  // 2...) give unrelated seeds.
  uint64_t mix = stream_id ^ 0x5354524c53494d00ULL;  // "STRLSIM\0"
  uint64_t seed = SplitMix64(&mix);
  for (uint64_t word : state_) {
    mix ^= word;
    seed ^= SplitMix64(&mix);
  }
  return Random(seed);
}

}  // namespace starling::sim
