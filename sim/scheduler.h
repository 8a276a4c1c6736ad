#ifndef STARLING_SIM_SCHEDULER_H_
#define STARLING_SIM_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "sim/clock.h"

namespace starling::sim {

// Names one scheduled event, for Cancel(). A default-constructed handle
// names nothing.
struct EventHandle {
  absl::Time time = absl::InfinitePast();
  uint64_t sequence = 0;  // 0: no event
  uint32_t slot = 0;      // where the scheduler keeps its callback
  friend bool operator==(const EventHandle&, const EventHandle&) = default;
};

struct SchedulerOptions {
  // Most events one RunUntil()/RunUntilIdle() may execute: a world that
  // keeps rescheduling itself fails with kResourceExhausted instead of
  // running forever.
  uint64_t max_steps_per_run = 10'000'000;
};

// A single-threaded discrete-event scheduler over virtual time. Events run
// in (time, sequence) order: events due at the same time run in the order
// they were scheduled, so a run depends only on what was scheduled, never on
// a container's tie-breaking. A callback may schedule and cancel events
// (itself excepted: it has left the queue when it runs).
class Scheduler {
 public:
  using Callback = std::function<void()>;

  explicit Scheduler(absl::Time epoch, SchedulerOptions options = {});
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  absl::Time Now() const { return clock_.Now(); }
  const Clock& clock() const { return clock_; }

  // Schedules `callback` at `time`; a time before Now() means Now() (after
  // the events already due then).
  EventHandle At(absl::Time time, Callback callback);
  // Schedules `callback` at Now() + `delay` (a negative delay means now).
  EventHandle After(absl::Duration delay, Callback callback);
  // Removes a pending event; false when it already ran, was cancelled or
  // never existed.
  bool Cancel(const EventHandle& handle);

  // Runs every event due at or before `time`, then sets the clock to `time`
  // (when that is later). kResourceExhausted when the step limit stopped it
  // (the clock then stays at the last event run).
  absl::Status RunUntil(absl::Time time);
  // Runs until no event is left; kResourceExhausted as above.
  absl::Status RunUntilIdle();

  // Makes the running RunUntil()/RunUntilIdle() return (kAborted, with
  // `why`) after the current event; the clock stays where it is. Later runs
  // return the same status at once (a stop is for good).
  void Stop(std::string why);
  bool stopped() const { return !stop_.ok(); }

  size_t pending() const { return slots_.size() - free_slots_.size(); }
  // When the next event is due (InfiniteFuture() when none).
  absl::Time NextEventTime() const;
  // Events executed since construction.
  uint64_t steps() const { return steps_; }

 private:
  // Heap entries stay small and trivially movable: the callbacks live in
  // slots_, and an entry whose slot no longer holds its sequence was
  // cancelled. The key is the time in nanoseconds since the epoch (one
  // integer compare instead of absl::Time's two; times more than 292 years
  // after the epoch share the largest key and run in scheduling order).
  struct Entry {
    int64_t key;
    uint64_t sequence;
    uint32_t slot;
  };
  struct Slot {
    uint64_t sequence = 0;  // 0: free
    absl::Time time;
    Callback callback;
  };
  static bool Before(const Entry& a, const Entry& b) {
    return a.key != b.key ? a.key < b.key : a.sequence < b.sequence;
  }
  int64_t KeyOf(absl::Time time) const {
    return absl::ToInt64Nanoseconds(time - clock_.epoch());
  }

  // A 4-ary min-heap on heap_: half the levels of a binary one, and the
  // four children of a node share a cache line or two.
  static constexpr size_t kArity = 4;
  void HeapPush(Entry entry);
  void HeapPop() const;  // removes heap_.front()
  void SiftDown(size_t at) const;

  // Runs events due at or before `limit`.
  absl::Status Run(absl::Time limit);
  // Drops cancelled entries from the top of the heap.
  void SkipCancelled() const;

  SchedulerOptions options_;
  Clock clock_;
  bool Live(const Entry& e) const {
    return slots_[e.slot].sequence == e.sequence;
  }

  // Cancelled entries stay in the heap until they reach the top.
  mutable std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  uint64_t next_sequence_ = 1;
  uint64_t steps_ = 0;
  absl::Status stop_;
};

}  // namespace starling::sim

#endif  // STARLING_SIM_SCHEDULER_H_
