#include "sim/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace starling::sim {

Scheduler::Scheduler(absl::Time epoch, SchedulerOptions options)
    : options_(options), clock_(epoch) {}

EventHandle Scheduler::At(absl::Time time, Callback callback) {
  const EventHandle handle{std::max(time, Now()), next_sequence_++};
  queue_.emplace(Key(handle.time, handle.sequence), std::move(callback));
  return handle;
}

EventHandle Scheduler::After(absl::Duration delay, Callback callback) {
  return At(Now() + std::max(delay, absl::ZeroDuration()), std::move(callback));
}

bool Scheduler::Cancel(const EventHandle& handle) {
  return queue_.erase(Key(handle.time, handle.sequence)) > 0;
}

absl::Time Scheduler::NextEventTime() const {
  return queue_.empty() ? absl::InfiniteFuture() : queue_.begin()->first.first;
}

absl::Status Scheduler::Run(absl::Time limit) {
  uint64_t steps = 0;
  while (!queue_.empty() && queue_.begin()->first.first <= limit) {
    if (steps == options_.max_steps_per_run) {
      return absl::ResourceExhaustedError(
          absl::StrCat("scheduler: step limit of ", options_.max_steps_per_run,
                       " events reached at ", absl::FormatTime(Now())));
    }
    auto node = queue_.extract(queue_.begin());
    clock_.AdvanceTo(node.key().first);
    ++steps;
    ++steps_;
    node.mapped()();
  }
  return absl::OkStatus();
}

absl::Status Scheduler::RunUntil(absl::Time time) {
  absl::Status status = Run(time);
  // An infinite limit is "until idle": the clock stays at the last event.
  if (status.ok() && time != absl::InfiniteFuture()) clock_.AdvanceTo(time);
  return status;
}

absl::Status Scheduler::RunUntilIdle() { return Run(absl::InfiniteFuture()); }

}  // namespace starling::sim
