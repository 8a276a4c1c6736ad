#ifndef STARLING_SIM_RANDOM_H_
#define STARLING_SIM_RANDOM_H_

#include <array>
#include <cstdint>

namespace starling::sim {

// One step of SplitMix64 (Steele, Lea, Flood 2014): advances *state and
// returns the next output. Used to expand a 64-bit seed into a xoshiro state.
uint64_t SplitMix64(uint64_t* state);

// The simulator's only source of randomness: xoshiro256** 1.0 (Blackman and
// Vigna). Every derived value (bounded integers, chances) is computed here
// with integer arithmetic only, so the same seed gives the same numbers with
// any compiler and standard library (std:: distributions do not).
class Random {
 public:
  // The state is four SplitMix64 outputs of `seed` (as the authors advise).
  explicit Random(uint64_t seed);
  // A generator with exactly this state (must not be all zero: that state
  // would only ever produce zeros, so it is replaced by the state of seed 0).
  static Random FromState(const std::array<uint64_t, 4>& state);

  uint64_t Next();

  // Uniform in [0, n); 0 when n is 0. Unbiased (Lemire's multiply-and-reject).
  uint64_t Below(uint64_t n);
  // Uniform in [lo, hi]; lo when hi < lo.
  uint64_t Between(uint64_t lo, uint64_t hi);
  // True with probability numerator / denominator: false when the numerator
  // is 0 or the denominator is 0, true when numerator >= denominator.
  bool Chance(uint64_t numerator, uint64_t denominator);

  // An independent generator for sub-stream `stream_id`, derived from this
  // generator's current state without advancing it: the same state and id
  // always give the same child, different ids give unrelated children. Fork
  // before drawing so that adding draws in one component does not shift the
  // numbers another component sees.
  Random Fork(uint64_t stream_id) const;

  const std::array<uint64_t, 4>& state() const { return state_; }

 private:
  Random() = default;

  std::array<uint64_t, 4> state_{};
};

}  // namespace starling::sim

#endif  // STARLING_SIM_RANDOM_H_
