#include "sim/link.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "sim/random.h"
#include "sim/scheduler.h"

namespace starling::sim {
namespace {

const absl::Time kEpoch = absl::FromUnixSeconds(1700000000);

struct Event {
  absl::Time time;
  std::string
      what;  // "connected", "data", "fin", "reset", "refused", "writable"
  std::string bytes;
};

// Records what it is told.
class RecordingEnd : public LinkEndpoint {
 public:
  explicit RecordingEnd(Scheduler* scheduler) : scheduler_(scheduler) {}

  void OnConnected() override { Add("connected"); }
  void OnData(absl::string_view bytes) override {
    Add("data", bytes);
    if (on_data) on_data();
    // After the hook: what it did must not have touched these bytes.
    received.append(bytes.data(), bytes.size());
  }
  void OnClosed(CloseReason reason) override {
    Add(std::string(CloseReasonName(reason)));
  }
  void OnWritable() override {
    Add("writable");
    if (on_writable) on_writable();
  }

  std::vector<std::string> Kinds() const {
    std::vector<std::string> kinds;
    for (const Event& event : events) {
      if (kinds.empty() || kinds.back() != event.what)
        kinds.push_back(event.what);
    }
    return kinds;
  }
  const Event* Find(absl::string_view what) const {
    for (const Event& event : events) {
      if (event.what == what) return &event;
    }
    return nullptr;
  }

  std::vector<Event> events;
  std::string received;
  std::function<void()> on_writable;
  std::function<void()> on_data;

 private:
  void Add(std::string what, absl::string_view bytes = {}) {
    events.push_back(
        Event{scheduler_->Now(), std::move(what), std::string(bytes)});
  }
  Scheduler* scheduler_;
};

std::string Pattern(size_t n, char salt = 'a') {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += static_cast<char>(salt + i % 23);
  return out;
}

// A scheduler, a link and two recording ends.
struct World {
  explicit World(LinkOptions options, uint64_t seed = 1)
      : scheduler(kEpoch),
        a(&scheduler),
        b(&scheduler),
        link(&scheduler, Random(seed), std::move(options), &a, &b) {}

  Scheduler scheduler;
  RecordingEnd a;
  RecordingEnd b;
  Link link;
};

// FNV-1a over every delivery: (time, side, type, bytes).
uint64_t TraceHash(const std::vector<LinkRecord>& records,
                   const std::vector<std::string>& bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&hash](absl::string_view data) {
    for (unsigned char c : data) {
      hash ^= c;
      hash *= 0x100000001b3ULL;
    }
  };
  for (size_t i = 0; i < records.size(); ++i) {
    mix(absl::StrCat(absl::ToUnixNanos(records[i].time), "|",
                     SideName(records[i].to), "|",
                     LinkEventTypeName(records[i].type), "|"));
    mix(bytes[i]);
  }
  return hash;
}

TEST(LinkTest, ConnectsBThenAAndDeliversInOrderInPieces) {
  LinkOptions options;
  options.min_latency = absl::Milliseconds(5);
  options.max_latency = absl::Milliseconds(50);
  options.max_segment = 100;
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  EXPECT_EQ(world.link.Connect().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(world.link.Write(Side::kA, "early").code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  const Event* b_up = world.b.Find("connected");
  const Event* a_up = world.a.Find("connected");
  ASSERT_NE(b_up, nullptr);
  ASSERT_NE(a_up, nullptr);
  EXPECT_GE(b_up->time - kEpoch, absl::Milliseconds(5));
  EXPECT_GE(a_up->time - b_up->time, absl::Milliseconds(5));
  EXPECT_LE(a_up->time - b_up->time, absl::Milliseconds(50));

  const std::string payload = Pattern(5000);
  const absl::Time written = world.scheduler.Now();
  ASSERT_TRUE(world.link.Write(Side::kA, payload.substr(0, 3000)).ok());
  ASSERT_TRUE(world.link.Write(Side::kA, payload.substr(3000)).ok());
  ASSERT_TRUE(world.link.Write(Side::kB, "hello").ok());
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.b.received, payload);
  EXPECT_EQ(world.a.received, "hello");

  size_t pieces = 0;
  absl::Time last = written;
  for (const Event& event : world.b.events) {
    if (event.what != "data") continue;
    ++pieces;
    EXPECT_LE(event.bytes.size(), 100u);
    EXPECT_GE(event.time, last);  // never out of order
    EXPECT_GE(event.time - written, absl::Milliseconds(5));
    last = event.time;
  }
  EXPECT_GE(pieces, 50u);
}

TEST(LinkTest, SameSeedSameDeliverySchedule) {
  auto run = [](uint64_t seed) {
    LinkOptions options;
    options.max_segment = 64;
    World world(options, seed);
    std::vector<LinkRecord> records;
    std::vector<std::string> bytes;
    world.link.set_observer([&](const LinkRecord& record) {
      records.push_back(record);
      bytes.emplace_back(record.bytes);
    });
    EXPECT_TRUE(world.link.Connect().ok());
    world.scheduler.At(kEpoch + absl::Milliseconds(100), [&] {
      EXPECT_TRUE(world.link.Write(Side::kA, Pattern(2000, 'A')).ok());
      EXPECT_TRUE(world.link.Write(Side::kB, Pattern(1500, 'a')).ok());
      EXPECT_TRUE(world.link.Close(Side::kA).ok());
    });
    EXPECT_TRUE(world.scheduler.RunUntilIdle().ok());
    EXPECT_EQ(world.b.received, Pattern(2000, 'A'));
    return TraceHash(records, bytes);
  };
  const uint64_t first = run(1234);
  EXPECT_EQ(first, run(1234));
  EXPECT_NE(first, run(1235));
}

TEST(LinkTest, ConnectRefused) {
  LinkOptions options;
  options.faults.connect = ConnectFault::kRefused;
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.a.Kinds(), std::vector<std::string>{"refused"});
  EXPECT_TRUE(world.b.events.empty());
  EXPECT_TRUE(world.link.finished());
  EXPECT_EQ(world.link.Write(Side::kA, "x").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(LinkTest, ConnectTimeoutNeverAnswers) {
  LinkOptions options;
  options.faults.connect = ConnectFault::kTimeout;
  options.faults.reset_at =
      kEpoch + absl::Seconds(1);  // no connection, no reset
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  ASSERT_TRUE(world.scheduler.RunUntil(kEpoch + absl::Minutes(10)).ok());
  EXPECT_TRUE(world.a.events.empty());
  EXPECT_TRUE(world.b.events.empty());
  EXPECT_FALSE(world.link.connected(Side::kA));
  EXPECT_FALSE(world.link.finished());
  EXPECT_EQ(world.scheduler.pending(), 0u);
}

TEST(LinkTest, StallHoldsDeliveriesUntilItEnds) {
  LinkOptions options;
  options.min_latency = absl::Milliseconds(1);
  options.max_latency = absl::Milliseconds(10);
  options.max_segment = 10;
  const absl::Time stall_start = kEpoch + absl::Milliseconds(200);
  const absl::Time stall_end = stall_start + absl::Seconds(30);
  options.faults.stalls.push_back(StallFault{stall_start, absl::Seconds(30)});
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  // Writes before, around and during the stall.
  for (int ms : {150, 195, 199, 5000}) {
    world.scheduler.At(kEpoch + absl::Milliseconds(ms), [&world, ms] {
      EXPECT_TRUE(world.link.Write(Side::kA, Pattern(40, 'a' + ms % 7)).ok());
      EXPECT_TRUE(world.link.Write(Side::kB, "pong").ok());
    });
  }
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  bool some_at_end = false;
  bool some_before = false;
  for (const RecordingEnd* end : {&world.a, &world.b}) {
    for (const Event& event : end->events) {
      EXPECT_FALSE(event.time >= stall_start && event.time < stall_end)
          << absl::FormatTime(event.time);
      some_at_end |= event.time == stall_end;
      some_before |= event.time < stall_start && event.what == "data";
    }
  }
  EXPECT_TRUE(some_at_end);
  EXPECT_TRUE(some_before);
  std::string expected;
  for (int ms : {150, 195, 199, 5000}) expected += Pattern(40, 'a' + ms % 7);
  EXPECT_EQ(world.b.received, expected);
  EXPECT_EQ(world.a.received, "pongpongpongpong");
}

TEST(LinkTest, ResetReachesBothEndsAndDropsWhatIsInFlight) {
  LinkOptions options;
  options.min_latency = absl::Milliseconds(10);
  options.max_latency = absl::Milliseconds(10);
  options.max_segment = 1;
  const absl::Time reset = kEpoch + absl::Milliseconds(100);
  options.faults.reset_at = reset;
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  // With a fixed 10 ms latency A is up at 20 ms; "kept" arrives at 60 ms,
  // "lost" would arrive at 105 ms, after the reset.
  world.scheduler.At(kEpoch + absl::Milliseconds(95), [&] {
    EXPECT_TRUE(world.link.Write(Side::kA, "lost").ok());
  });
  world.scheduler.At(kEpoch + absl::Milliseconds(50), [&] {
    EXPECT_TRUE(world.link.Write(Side::kA, "kept").ok());
  });
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.b.received, "kept");
  const Event* a_reset = world.a.Find("reset");
  const Event* b_reset = world.b.Find("reset");
  ASSERT_NE(a_reset, nullptr);
  ASSERT_NE(b_reset, nullptr);
  EXPECT_EQ(a_reset->time, reset);
  EXPECT_EQ(b_reset->time, reset);
  EXPECT_EQ(world.a.events.back().what, "reset");
  EXPECT_EQ(world.b.events.back().what, "reset");
  EXPECT_TRUE(world.link.finished());
  EXPECT_EQ(world.link.Write(Side::kB, "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(world.link.Close(Side::kA).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(LinkTest, ResetWhileConnectingReachesOnlyA) {
  LinkOptions options;
  options.min_latency = absl::Milliseconds(10);
  options.max_latency = absl::Milliseconds(10);
  options.faults.reset_at = kEpoch + absl::Milliseconds(5);
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.a.Kinds(), std::vector<std::string>{"reset"});
  EXPECT_TRUE(world.b.events.empty());
}

TEST(LinkTest, CloseSendsFinAfterTheLastByteAndAllowsHalfClose) {
  LinkOptions options;
  options.max_segment = 7;
  options.faults.reset_at = kEpoch + absl::Hours(1);  // after a clean end: none
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  world.scheduler.At(kEpoch + absl::Seconds(1), [&] {
    EXPECT_TRUE(world.link.Write(Side::kA, Pattern(100)).ok());
    EXPECT_TRUE(world.link.Close(Side::kA).ok());
    EXPECT_EQ(world.link.Write(Side::kA, "more").code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(world.link.Close(Side::kA).code(),
              absl::StatusCode::kFailedPrecondition);
  });
  // B answers after A's FIN (A still reads), then closes too.
  world.scheduler.At(kEpoch + absl::Seconds(2), [&] {
    EXPECT_TRUE(world.link.Write(Side::kB, "bye").ok());
    EXPECT_TRUE(world.link.Close(Side::kB).ok());
  });
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.b.Kinds(),
            (std::vector<std::string>{"connected", "data", "fin"}));
  EXPECT_EQ(world.b.received, Pattern(100));
  EXPECT_EQ(world.a.Kinds(),
            (std::vector<std::string>{"connected", "data", "fin"}));
  EXPECT_EQ(world.a.received, "bye");
  EXPECT_TRUE(world.link.finished());
  EXPECT_LT(world.scheduler.Now(), kEpoch + absl::Hours(1));
}

TEST(LinkTest, HalfCloseFaultTruncatesSilently) {
  LinkOptions options;
  const absl::Time cut = kEpoch + absl::Seconds(1);
  options.faults.half_close = HalfCloseFault{Side::kB, cut};
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  world.scheduler.At(cut - absl::Milliseconds(1), [&] {
    EXPECT_TRUE(world.link.Write(Side::kB, "220 before\r\n").ok());
  });
  world.scheduler.At(cut + absl::Milliseconds(1), [&] {
    // The writer is not told: the bytes vanish.
    EXPECT_TRUE(world.link.Write(Side::kB, "250 after\r\n").ok());
    EXPECT_TRUE(world.link.Close(Side::kB).ok());
    EXPECT_TRUE(world.link.Write(Side::kA, "QUIT\r\n").ok());
  });
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.a.received, "220 before\r\n");
  EXPECT_EQ(world.a.events.back().what, "fin");
  EXPECT_GE(world.a.events.back().time, cut);
  EXPECT_EQ(world.b.received, "QUIT\r\n");  // A -> B still works
  EXPECT_EQ(world.link.lost_bytes(), 11u);
  EXPECT_FALSE(world.link.finished());  // A never closed
}

TEST(LinkTest, WindowRefusesOversizedWritesAndReportsSpace) {
  LinkOptions options;
  options.window = 100;
  options.max_segment = 10;
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.link.Writable(Side::kA), 100u);
  EXPECT_EQ(world.link.Write(Side::kA, Pattern(101)).code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(world.link.Write(Side::kA, Pattern(60)).ok());
  EXPECT_EQ(world.link.Writable(Side::kA), 40u);
  EXPECT_EQ(world.link.Write(Side::kA, Pattern(41)).code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(world.link.Write(Side::kA, Pattern(40)).ok());
  EXPECT_EQ(world.link.Writable(Side::kA), 0u);
  EXPECT_EQ(world.link.Write(Side::kA, "x").code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.link.Writable(Side::kA), 100u);
  EXPECT_EQ(world.b.received.size(), 100u);
  // Told once, when half the window was free again.
  size_t writable = 0;
  for (const Event& event : world.a.events)
    writable += event.what == "writable";
  EXPECT_EQ(writable, 1u);
}

TEST(LinkTest, AWriterThatFillsTheWindowIsWokenToWriteMore) {
  LinkOptions options;
  options.window = 64;
  options.max_segment = 5;
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  // Writes as much as fits each time, never asking beyond the window.
  std::string rest = Pattern(1000);
  auto pump = [&] {
    const size_t n = std::min(rest.size(), world.link.Writable(Side::kA));
    if (n == 0) return;
    EXPECT_GE(n, 32u);  // never woken for a sliver
    EXPECT_TRUE(world.link.Write(Side::kA, rest.substr(0, n)).ok());
    rest.erase(0, n);
  };
  world.a.on_writable = pump;
  pump();
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(world.b.received, Pattern(1000));
}

TEST(LinkTest, DestroyingALinkCancelsItsEvents) {
  Scheduler scheduler(kEpoch);
  RecordingEnd a(&scheduler);
  RecordingEnd b(&scheduler);
  {
    Link link(&scheduler, Random(3), LinkOptions{}, &a, &b);
    ASSERT_TRUE(link.Connect().ok());
    EXPECT_GT(scheduler.pending(), 0u);
    ASSERT_TRUE(scheduler.RunUntil(kEpoch + absl::Seconds(1)).ok());
    ASSERT_TRUE(link.connected(Side::kA));
    ASSERT_TRUE(link.Write(Side::kA, Pattern(5000)).ok());  // pieces in flight
    EXPECT_GT(scheduler.pending(), 3u);
  }
  EXPECT_EQ(scheduler.pending(), 0u);
  ASSERT_TRUE(scheduler.RunUntilIdle().ok());
  EXPECT_EQ(a.Kinds(), std::vector<std::string>({"connected"}));
  EXPECT_TRUE(b.received.empty());
}

// The pieces of a direction are views of one buffer: a write in that
// direction from inside a delivery (here B's callback makes A write, as an
// embedder coupling two ends might) must leave the piece being delivered
// intact, and its octets arrive after the earlier ones.
TEST(LinkTest, AWriteDuringADeliveryInTheSameDirectionArrivesIntact) {
  LinkOptions options;
  options.max_segment = 7;
  World world(options);
  ASSERT_TRUE(world.link.Connect().ok());
  ASSERT_TRUE(world.scheduler.RunUntil(kEpoch + absl::Seconds(1)).ok());
  std::string expected;
  for (int round = 0; round < 20; ++round) {
    expected += Pattern(30 + round, static_cast<char>('a' + round));
  }
  int round = 0;
  world.b.on_data = [&] {
    if (++round >= 20) return;
    // Large enough to make the buffer grow while a view of it is out.
    ASSERT_TRUE(world.link
                    .Write(Side::kA,
                           Pattern(30 + round, static_cast<char>('a' + round)))
                    .ok());
  };
  ASSERT_TRUE(world.link.Write(Side::kA, Pattern(30, 'a')).ok());
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.b.received, expected);
}

// Rewrites A's bytes to upper case and doubles them; holds B's bytes back
// until a '\n' (like a line-buffering attacker); counts its calls.
class TestTamper : public LinkTamper {
 public:
  explicit TestTamper(int* instances) { ++*instances; }

  std::string Rewrite(Side from, absl::string_view bytes) override {
    ++calls;
    if (from == Side::kA) {
      std::string upper(bytes);
      for (char& c : upper) c = static_cast<char>(absl::ascii_toupper(c));
      return upper + upper;
    }
    held_.append(bytes.data(), bytes.size());
    const size_t newline = held_.rfind('\n');
    if (newline == std::string::npos) return std::string();
    std::string out = held_.substr(0, newline + 1);
    held_.erase(0, newline + 1);
    return out;
  }
  std::string Flush(Side from) override {
    std::string out = from == Side::kB ? held_ : std::string();
    if (from == Side::kB) held_.clear();
    return out;
  }

  int calls = 0;

 private:
  std::string held_;
};

TEST(LinkTamperTest, PeerReceivesTheRewrittenBytesAndTheWindowStaysSane) {
  int instances = 0;
  LinkOptions options;
  options.window = 16;
  options.max_segment = 3;
  options.faults.tamper = [&instances] {
    return std::make_unique<TestTamper>(&instances);
  };
  World world(options);
  EXPECT_EQ(instances, 1);
  ASSERT_NE(world.link.tamper(), nullptr);
  ASSERT_TRUE(world.link.Connect().ok());
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  // The writer's 10 octets fit the window; the 20 on the wire exceed it.
  ASSERT_TRUE(world.link.Write(Side::kA, "ehlo a.b\r\n").ok());
  EXPECT_EQ(world.link.Writable(Side::kA), 0u);
  EXPECT_EQ(world.link.Write(Side::kA, "x").code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.b.received, "EHLO A.B\r\nEHLO A.B\r\n");
  EXPECT_EQ(world.link.Writable(Side::kA), 16u);
  EXPECT_NE(world.a.Find("writable"), nullptr);
  // Held bytes take no window and arrive with the rest of their line.
  ASSERT_TRUE(world.link.Write(Side::kB, "250 o").ok());
  EXPECT_EQ(world.link.Writable(Side::kB), 16u);
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.a.received, "");
  ASSERT_TRUE(world.link.Write(Side::kB, "k\r\n221 b").ok());
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.a.received, "250 ok\r\n");
  // What is still held leaves before the FIN.
  ASSERT_TRUE(world.link.Close(Side::kB).ok());
  ASSERT_TRUE(world.scheduler.RunUntilIdle().ok());
  EXPECT_EQ(world.a.received, "250 ok\r\n221 b");
  EXPECT_EQ(world.a.events.back().what, "fin");
  EXPECT_EQ(world.link.Writable(Side::kB), 16u);
  EXPECT_EQ(static_cast<TestTamper*>(world.link.tamper())->calls, 3);
}

TEST(LinkTamperTest, EachLinkGetsItsOwnTamper) {
  int instances = 0;
  LinkFaults faults;
  faults.tamper = [&instances] {
    return std::make_unique<TestTamper>(&instances);
  };
  LinkOptions options;
  options.faults = faults;  // copied, as a route copies them into each link
  World first(options, 1);
  World second(options, 2);
  EXPECT_EQ(instances, 2);
  EXPECT_NE(first.link.tamper(), second.link.tamper());
  World plain(LinkOptions{}, 3);
  EXPECT_EQ(plain.link.tamper(), nullptr);
}

TEST(LinkTamperTest, SameSeedSameTamperedTrace) {
  auto run = [](uint64_t seed) {
    int instances = 0;
    LinkOptions options;
    options.max_segment = 4;
    options.faults.tamper = [&instances] {
      return std::make_unique<TestTamper>(&instances);
    };
    World world(options, seed);
    std::vector<LinkRecord> records;
    std::vector<std::string> bytes;
    world.link.set_observer([&](const LinkRecord& r) {
      records.push_back(r);
      bytes.emplace_back(r.bytes);
    });
    EXPECT_TRUE(world.link.Connect().ok());
    world.scheduler.At(kEpoch + absl::Seconds(1), [&] {
      EXPECT_TRUE(world.link.Write(Side::kA, "mail from:<a@b>\r\n").ok());
      EXPECT_TRUE(world.link.Write(Side::kB, "250 2.1.0 o").ok());
      EXPECT_TRUE(world.link.Write(Side::kB, "k\r\n").ok());
    });
    EXPECT_TRUE(world.scheduler.RunUntilIdle().ok());
    return TraceHash(records, bytes);
  };
  EXPECT_EQ(run(9), run(9));
  EXPECT_NE(run(9), run(10));
}

// Whatever the seed, segmentation and latencies: both directions deliver
// exactly what was written, in order, and then the FIN.
RC_GTEST_PROP(LinkProperty, DeliversExactlyWhatWasWritten,
              (uint64_t seed, std::vector<std::string> a_writes,
               std::vector<std::string> b_writes)) {
  LinkOptions options;
  options.max_segment = 1 + seed % 17;
  options.window = 1 << 20;
  World world(options, seed);
  RC_ASSERT(world.link.Connect().ok());
  RC_ASSERT(world.scheduler.RunUntilIdle().ok());
  // Writes happen at random times; what each side sent is the writes in the
  // order they ran.
  std::string a_sent;
  std::string b_sent;
  Random timing(seed ^ 1);
  for (const std::string& w : a_writes) {
    world.scheduler.After(absl::Microseconds(timing.Below(5000)), [&, w] {
      a_sent += w;
      RC_ASSERT(world.link.Write(Side::kA, w).ok());
    });
  }
  for (const std::string& w : b_writes) {
    world.scheduler.After(absl::Microseconds(timing.Below(5000)), [&, w] {
      b_sent += w;
      RC_ASSERT(world.link.Write(Side::kB, w).ok());
    });
  }
  RC_ASSERT(
      world.scheduler.RunUntil(world.scheduler.Now() + absl::Seconds(1)).ok());
  RC_ASSERT(world.link.Close(Side::kA).ok());
  RC_ASSERT(world.link.Close(Side::kB).ok());
  RC_ASSERT(world.scheduler.RunUntilIdle().ok());
  RC_ASSERT(world.b.received == a_sent);
  RC_ASSERT(world.a.received == b_sent);
  RC_ASSERT(world.link.finished());
  RC_ASSERT(world.a.events.back().what == std::string("fin"));
  RC_ASSERT(world.b.events.back().what == std::string("fin"));
}

}  // namespace
}  // namespace starling::sim
