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
    for (size_t i = heap_.size() / kArity + 1; i-- > 0;) SiftDown(i);
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
  slots_[slot].time = handle.time;
  slots_[slot].callback = std::move(callback);
  HeapPush(Entry{KeyOf(handle.time), handle.sequence, slot});
  return handle;
}

void Scheduler::HeapPush(Entry entry) {
  size_t at = heap_.size();
  heap_.push_back(entry);
  while (at > 0) {
    const size_t parent = (at - 1) / kArity;
    if (!Before(entry, heap_[parent])) break;
    heap_[at] = heap_[parent];
    at = parent;
  }
  heap_[at] = entry;
}

void Scheduler::SiftDown(size_t at) const {
  const size_t size = heap_.size();
  if (at >= size) return;
  const Entry entry = heap_[at];
  while (true) {
    const size_t first = at * kArity + 1;
    if (first >= size) break;
    const size_t last = std::min(first + kArity, size);
    size_t best = first;
    for (size_t c = first + 1; c < last; ++c) {
      if (Before(heap_[c], heap_[best])) best = c;
    }
    if (!Before(heap_[best], entry)) break;
    heap_[at] = heap_[best];
    at = best;
  }
  heap_[at] = entry;
}

void Scheduler::HeapPop() const {
  heap_.front() = heap_.back();
  heap_.pop_back();
  SiftDown(0);
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
  while (!heap_.empty() && !Live(heap_.front())) HeapPop();
}

absl::Time Scheduler::NextEventTime() const {
  SkipCancelled();
  return heap_.empty() ? absl::InfiniteFuture()
                       : slots_[heap_.front().slot].time;
}

absl::Status Scheduler::Run(absl::Time limit) {
  uint64_t steps = 0;
  while (stop_.ok()) {
    SkipCancelled();
    if (heap_.empty() || slots_[heap_.front().slot].time > limit) break;
    if (steps == options_.max_steps_per_run) {
      return absl::ResourceExhaustedError(
          absl::StrCat("scheduler: step limit of ", options_.max_steps_per_run,
                       " events reached at ", absl::FormatTime(Now())));
    }
    const Entry entry = heap_.front();
    HeapPop();
    Slot& slot = slots_[entry.slot];
    Callback callback = std::move(slot.callback);
    const absl::Time time = slot.time;
    slot = Slot();
    free_slots_.push_back(entry.slot);
    clock_.AdvanceTo(time);
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
