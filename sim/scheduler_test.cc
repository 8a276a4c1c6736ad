#include "sim/scheduler.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sim/random.h"

namespace starling::sim {
namespace {

const absl::Time kEpoch = absl::FromUnixSeconds(1700000000);

TEST(SchedulerTest, StartsAtTheEpochAndRunsInTimeOrder) {
  Scheduler scheduler(kEpoch);
  EXPECT_EQ(scheduler.Now(), kEpoch);
  std::vector<std::string> log;
  auto note = [&](std::string what) {
    return [&, what] {
      log.push_back(absl::StrCat(
          what, "@", absl::ToInt64Milliseconds(scheduler.Now() - kEpoch)));
    };
  };
  scheduler.After(absl::Milliseconds(30), note("c"));
  scheduler.After(absl::Milliseconds(10), note("a"));
  scheduler.At(kEpoch + absl::Milliseconds(20), note("b"));
  EXPECT_EQ(scheduler.pending(), 3u);
  EXPECT_EQ(scheduler.NextEventTime(), kEpoch + absl::Milliseconds(10));
  ASSERT_TRUE(scheduler.RunUntilIdle().ok());
  EXPECT_EQ(log, (std::vector<std::string>{"a@10", "b@20", "c@30"}));
  EXPECT_EQ(scheduler.Now(), kEpoch + absl::Milliseconds(30));
  EXPECT_EQ(scheduler.steps(), 3u);
  EXPECT_EQ(scheduler.NextEventTime(), absl::InfiniteFuture());
}

TEST(SchedulerTest, EqualTimesRunInInsertionOrder) {
  Scheduler scheduler(kEpoch);
  std::vector<int> order;
  for (int i = 0; i < 20; ++i) {
    scheduler.After(absl::Seconds(1), [&order, i] { order.push_back(i); });
  }
  // Scheduled from inside an event for the same instant: after the rest.
  scheduler.After(absl::Seconds(1), [&] {
    scheduler.After(absl::ZeroDuration(), [&order] { order.push_back(100); });
  });
  scheduler.After(absl::Seconds(1), [&order] { order.push_back(21); });
  ASSERT_TRUE(scheduler.RunUntilIdle().ok());
  std::vector<int> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(i);
  expected.push_back(21);
  expected.push_back(100);
  EXPECT_EQ(order, expected);
}

TEST(SchedulerTest, PastTimesMeanNow) {
  Scheduler scheduler(kEpoch);
  ASSERT_TRUE(scheduler.RunUntil(kEpoch + absl::Seconds(5)).ok());
  EXPECT_EQ(scheduler.Now(), kEpoch + absl::Seconds(5));
  absl::Time ran = absl::InfinitePast();
  const EventHandle handle =
      scheduler.At(kEpoch, [&] { ran = scheduler.Now(); });
  EXPECT_EQ(handle.time, kEpoch + absl::Seconds(5));
  scheduler.After(-absl::Seconds(1), [] {});
  ASSERT_TRUE(scheduler.RunUntilIdle().ok());
  EXPECT_EQ(ran, kEpoch + absl::Seconds(5));
}

TEST(SchedulerTest, RunUntilStopsAtTheLimitAndAdvancesTheClock) {
  Scheduler scheduler(kEpoch);
  int ran = 0;
  scheduler.After(absl::Seconds(1), [&] { ++ran; });
  scheduler.After(absl::Seconds(2), [&] { ++ran; });
  scheduler.After(absl::Seconds(3), [&] { ++ran; });
  ASSERT_TRUE(scheduler.RunUntil(kEpoch + absl::Seconds(2)).ok());
  EXPECT_EQ(ran, 2);  // the limit is inclusive
  EXPECT_EQ(scheduler.Now(), kEpoch + absl::Seconds(2));
  ASSERT_TRUE(scheduler.RunUntil(kEpoch + absl::Milliseconds(2500)).ok());
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(scheduler.Now(), kEpoch + absl::Milliseconds(2500));
  // The clock never goes back.
  ASSERT_TRUE(scheduler.RunUntil(kEpoch).ok());
  EXPECT_EQ(scheduler.Now(), kEpoch + absl::Milliseconds(2500));
  ASSERT_TRUE(scheduler.RunUntil(absl::InfiniteFuture()).ok());
  EXPECT_EQ(ran, 3);
  EXPECT_EQ(scheduler.Now(), kEpoch + absl::Seconds(3));
}

TEST(SchedulerTest, Cancellation) {
  Scheduler scheduler(kEpoch);
  std::vector<int> order;
  const EventHandle first =
      scheduler.After(absl::Seconds(1), [&] { order.push_back(1); });
  EventHandle third;
  scheduler.After(absl::Seconds(2), [&] {
    order.push_back(2);
    EXPECT_TRUE(scheduler.Cancel(third));  // cancelled from inside an event
  });
  third = scheduler.After(absl::Seconds(3), [&] { order.push_back(3); });
  scheduler.After(absl::Seconds(4), [&] { order.push_back(4); });

  EXPECT_TRUE(scheduler.Cancel(first));
  EXPECT_FALSE(scheduler.Cancel(first));  // already cancelled
  EXPECT_FALSE(scheduler.Cancel(EventHandle{}));
  ASSERT_TRUE(scheduler.RunUntilIdle().ok());
  EXPECT_EQ(order, (std::vector<int>{2, 4}));
  EXPECT_FALSE(scheduler.Cancel(third));
  EXPECT_EQ(scheduler.pending(), 0u);
}

TEST(SchedulerTest, StopEndsTheRunForGood) {
  Scheduler scheduler(kEpoch);
  std::vector<int> order;
  scheduler.After(absl::Seconds(1), [&] {
    order.push_back(1);
    scheduler.Stop("invariant violated");
    scheduler.Stop("a second reason is ignored");
  });
  scheduler.After(absl::Seconds(1), [&] { order.push_back(2); });
  const absl::Status status = scheduler.RunUntil(kEpoch + absl::Seconds(5));
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(status.message(), "invariant violated");
  EXPECT_TRUE(scheduler.stopped());
  EXPECT_EQ(order, std::vector<int>{1});
  EXPECT_EQ(scheduler.Now(), kEpoch + absl::Seconds(1));  // not advanced
  EXPECT_EQ(scheduler.RunUntilIdle().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(order, std::vector<int>{1});
}

TEST(SchedulerTest, StepLimitStopsARunawayWorld) {
  Scheduler scheduler(kEpoch, SchedulerOptions{.max_steps_per_run = 100});
  std::function<void()> again = [&] {
    scheduler.After(absl::Milliseconds(1), again);
  };
  scheduler.After(absl::ZeroDuration(), again);
  const absl::Status status = scheduler.RunUntilIdle();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_EQ(scheduler.steps(), 100u);
  EXPECT_EQ(scheduler.Now(), kEpoch + absl::Milliseconds(99));
  // The limit is per run: the next run may go on.
  EXPECT_EQ(scheduler.RunUntil(kEpoch + absl::Milliseconds(150)).code(),
            absl::StatusCode::kOk);
  EXPECT_EQ(scheduler.steps(), 151u);
}

// A small world whose events schedule further events at random delays; two
// runs from one seed must log the same (time, event) sequence.
std::vector<std::string> RandomWorld(uint64_t seed) {
  Scheduler scheduler(kEpoch);
  Random random(seed);
  std::vector<std::string> log;
  std::function<void(int)> spawn = [&](int id) {
    log.push_back(absl::StrCat(absl::FormatTime(scheduler.Now()), " ", id));
    if (log.size() > 200) return;
    const int children = 1 + static_cast<int>(random.Below(2));
    for (int i = 0; i < children; ++i) {
      const int child = id * 3 + i + 1;
      scheduler.After(absl::Milliseconds(random.Below(5)),
                      [&spawn, child] { spawn(child); });
    }
  };
  scheduler.After(absl::ZeroDuration(), [&] { spawn(0); });
  scheduler.After(absl::ZeroDuration(), [&] { spawn(1); });
  EXPECT_TRUE(scheduler.RunUntilIdle().ok());
  return log;
}

// Many events at random times (with ties) and random cancellations run in
// exactly (time, scheduling order), as a stable sort of them says.
TEST(SchedulerTest, RunsInTimeThenSchedulingOrderAtScale) {
  Scheduler scheduler(kEpoch);
  Random random(7);
  struct Planned {
    absl::Time time;
    int id;
  };
  std::vector<Planned> planned;
  std::vector<EventHandle> handles;
  std::vector<int> ran;
  auto plan = [&](int count) {
    for (int i = 0; i < count; ++i) {
      const int id = static_cast<int>(planned.size());
      const absl::Time time =
          kEpoch + absl::Microseconds(static_cast<int64_t>(random.Below(300)));
      planned.push_back({time, id});
      handles.push_back(scheduler.At(time, [&ran, id] { ran.push_back(id); }));
    }
  };
  plan(5000);
  std::vector<bool> cancelled(6000, false);
  for (int i = 0; i < 4500; ++i) {
    const size_t victim = random.Below(5000);
    EXPECT_EQ(scheduler.Cancel(handles[victim]), !cancelled[victim]);
    cancelled[victim] = true;
  }
  // Mostly cancelled entries now: the next one scheduled rebuilds the heap.
  plan(1000);
  std::stable_sort(
      planned.begin(), planned.end(),
      [](const Planned& x, const Planned& y) { return x.time < y.time; });
  std::vector<int> expected;
  for (const Planned& p : planned) {
    if (!cancelled[p.id]) expected.push_back(p.id);
  }
  ASSERT_TRUE(scheduler.RunUntilIdle().ok());
  EXPECT_EQ(ran, expected);
  EXPECT_EQ(scheduler.pending(), 0u);
}

TEST(SchedulerTest, SameSeedSameRun) {
  const std::vector<std::string> first = RandomWorld(99);
  EXPECT_GT(first.size(), 10u);
  EXPECT_EQ(first, RandomWorld(99));
  EXPECT_NE(first, RandomWorld(100));
}

}  // namespace
}  // namespace starling::sim
