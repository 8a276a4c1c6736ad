#include "sim/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace starling::sim {

Scheduler::Scheduler(absl::Time epoch, SchedulerOptions options)
    : options_(options), clock_(epoch) {}

EventHandle Scheduler::At(absl::Time time, Callback callback) {
  if (heap_.size() > 2 * pending() + 64) {
    // Mostly cancelled entries (re-armed timers): rebuild without them.
    std::erase_if(heap_, [this](const Entry& e) { return !Live(e); });
    std::make_heap(heap_.begin(), heap_.end(), Later());
  }
  uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  const EventHandle handle{std::max(time, Now()), next_sequence_++, slot};
  slots_[slot].sequence = handle.sequence;
  slots_[slot].callback = std::move(callback);
  heap_.push_back(Entry{handle.time, handle.sequence, slot});
  std::push_heap(heap_.begin(), heap_.end(), Later());
  return handle;
}

EventHandle Scheduler::After(absl::Duration delay, Callback callback) {
  return At(Now() + std::max(delay, absl::ZeroDuration()), std::move(callback));
}

bool Scheduler::Cancel(const EventHandle& handle) {
  if (handle.sequence == 0 || handle.slot >= slots_.size() ||
      slots_[handle.slot].sequence != handle.sequence) {
    return false;
  }
  slots_[handle.slot] = Slot();
  free_slots_.push_back(handle.slot);
  return true;
}

void Scheduler::SkipCancelled() const {
  while (!heap_.empty() && !Live(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), Later());
    heap_.pop_back();
  }
}

absl::Time Scheduler::NextEventTime() const {
  SkipCancelled();
  return heap_.empty() ? absl::InfiniteFuture() : heap_.front().time;
}

absl::Status Scheduler::Run(absl::Time limit) {
  uint64_t steps = 0;
  while (stop_.ok()) {
    SkipCancelled();
    if (heap_.empty() || heap_.front().time > limit) break;
    if (steps == options_.max_steps_per_run) {
      return absl::ResourceExhaustedError(
          absl::StrCat("scheduler: step limit of ", options_.max_steps_per_run,
                       " events reached at ", absl::FormatTime(Now())));
    }
    std::pop_heap(heap_.begin(), heap_.end(), Later());
    const Entry entry = heap_.back();
    heap_.pop_back();
    Callback callback = std::move(slots_[entry.slot].callback);
    slots_[entry.slot] = Slot();
    free_slots_.push_back(entry.slot);
    clock_.AdvanceTo(entry.time);
    ++steps;
    ++steps_;
    callback();
  }
  return stop_;
}

void Scheduler::Stop(std::string why) {
  if (stop_.ok()) stop_ = absl::AbortedError(std::move(why));
}

absl::Status Scheduler::RunUntil(absl::Time time) {
  absl::Status status = Run(time);
  // An infinite limit is "until idle": the clock stays at the last event.
  if (status.ok() && time != absl::InfiniteFuture()) clock_.AdvanceTo(time);
  return status;
}

absl::Status Scheduler::RunUntilIdle() { return Run(absl::InfiniteFuture()); }

}  // namespace starling::sim
