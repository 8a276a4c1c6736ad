#ifndef STARLING_SIM_CLOCK_H_
#define STARLING_SIM_CLOCK_H_

#include "absl/time/time.h"

namespace starling::sim {

// Virtual time. It starts at an epoch the caller picks (e.g. the reference
// time of a test PKI, so certificates are valid) and moves only when the
// scheduler runs, never backwards and never by itself.
class Clock {
 public:
  explicit Clock(absl::Time epoch) : epoch_(epoch), now_(epoch) {}

  absl::Time Now() const { return now_; }
  absl::Time epoch() const { return epoch_; }
  absl::Duration Elapsed() const { return now_ - epoch_; }

  // Moves to `time`; an earlier time leaves the clock where it is.
  void AdvanceTo(absl::Time time) {
    if (time > now_) now_ = time;
  }

 private:
  absl::Time epoch_;
  absl::Time now_;
};

}  // namespace starling::sim

#endif  // STARLING_SIM_CLOCK_H_
