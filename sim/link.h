#ifndef STARLING_SIM_LINK_H_
#define STARLING_SIM_LINK_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sim/random.h"
#include "sim/scheduler.h"

namespace starling::sim {

// The two ends of a link: A connects (the sending MTA), B accepts (the
// receiving server).
enum class Side : uint8_t { kA, kB };

inline Side Peer(Side side) { return side == Side::kA ? Side::kB : Side::kA; }
absl::string_view SideName(Side side);

enum class CloseReason : uint8_t {
  kRefused,  // (A only) the connection attempt was refused
  kFin,      // the peer finished sending; all of its bytes arrived before
  kReset,    // the connection was reset; bytes still in flight are lost
};

absl::string_view CloseReasonName(CloseReason reason);

// What sits at one end of a link. Callbacks run from the scheduler, never
// from inside a Link call, so an endpoint may call Write()/Close() in them.
class LinkEndpoint {
 public:
  virtual ~LinkEndpoint() = default;
  // The connection is up: B when the connection request arrives, A one
  // latency later. Neither may write before this.
  virtual void OnConnected() = 0;
  virtual void OnData(absl::string_view bytes) = 0;
  // kFin ends the receiving direction only (this side may still write until
  // it calls Close()); kRefused and kReset end everything.
  virtual void OnClosed(CloseReason reason) = 0;
  // At least half the window is free again after it was full (a Write()
  // was refused for lack of space, or one filled the window exactly).
  virtual void OnWritable() {}
};

enum class ConnectFault : uint8_t {
  kNone,
  kRefused,  // A gets OnClosed(kRefused) after a round trip
  kTimeout,  // nothing ever answers: A's own timer must give up
};

// No data and no FIN is delivered in either direction during
// [start, start + duration); what falls due then arrives at the end, in
// order. (Connection set-up and resets are not held back.)
struct StallFault {
  absl::Time start;
  absl::Duration duration;
};

// At `at`, `side`'s sending direction ends as if a FIN had been forged: the
// peer gets OnClosed(kFin) after the bytes already written, and what `side`
// writes afterwards is accepted and silently lost (a truncation: the writer
// is not told).
struct HalfCloseFault {
  Side side = Side::kB;
  absl::Time at;
};

// An on-path attacker (or any middlebox) that sees every byte written on a
// link, in both directions, and decides what goes on the wire instead. A link
// applies it to each Write() before cutting the bytes into pieces, so the
// peer receives the rewritten bytes (and the observer records them). One
// instance per link, so it may keep state across calls (e.g. buffer a line
// split across writes). It must be deterministic: no clock, no randomness.
class LinkTamper {
 public:
  virtual ~LinkTamper();
  // What `from` wrote; returns the bytes that travel to the peer instead:
  // the same, changed, longer (injected), shorter, or empty while the tamper
  // holds bytes back (it must release them with a later call or in Flush()).
  virtual std::string Rewrite(Side from, absl::string_view bytes) = 0;
  // `from` ends its sending direction (Close() or a half-close fault): the
  // bytes still held back, delivered just before the FIN.
  virtual std::string Flush(Side from);
};

struct LinkFaults {
  ConnectFault connect = ConnectFault::kNone;
  std::vector<StallFault> stalls;
  // Both ends that know of the connection get OnClosed(kReset) at this time
  // (unless the connection ended cleanly before).
  std::optional<absl::Time> reset_at;
  std::optional<HalfCloseFault> half_close;
  // Makes the on-path attacker of each new link (a fresh one per link, since
  // LinkFaults are copied into every link of a route); empty: none.
  std::function<std::unique_ptr<LinkTamper>()> tamper;
};

struct LinkOptions {
  // Each piece of a write arrives after a latency drawn uniformly from
  // [min_latency, max_latency] (nanosecond resolution), never before an
  // earlier piece of the same direction.
  absl::Duration min_latency = absl::Milliseconds(1);
  absl::Duration max_latency = absl::Milliseconds(30);
  // Each write is cut into pieces of 1..max_segment octets at random.
  size_t max_segment = 1460;
  // Octets one direction may hold in flight; a write that does not fit is
  // refused whole. With a tamper, a write is checked against the window as
  // written, and what is in flight is what the tamper put on the wire (it may
  // exceed the window for a while when the tamper lengthened a write).
  size_t window = 64 * 1024;
  LinkFaults faults;
};

enum class LinkEventType : uint8_t {
  kConnected,
  kData,
  kFin,
  kReset,
  kRefused
};

absl::string_view LinkEventTypeName(LinkEventType type);

// One thing a link delivered to one end (for traces and packet captures).
struct LinkRecord {
  absl::Time time;
  Side to = Side::kA;
  LinkEventType type = LinkEventType::kData;
  absl::string_view bytes;  // kData
};

// A TCP-like duplex stream between two endpoints, driven by a Scheduler:
// in-order and lossless unless a fault says otherwise, with segmentation,
// latency and faults all drawn from the Random it is given, so the same seed
// gives the same delivery schedule, byte for byte and nanosecond for
// nanosecond. The link and the endpoints must outlive the scheduler's run;
// destroying a link cancels its pending events.
class Link {
 public:
  using Observer = std::function<void(const LinkRecord&)>;

  Link(Scheduler* scheduler, Random random, LinkOptions options,
       LinkEndpoint* a, LinkEndpoint* b);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Called with every delivery, just before the endpoint's callback.
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // A starts connecting to B (once; kFailedPrecondition after that).
  absl::Status Connect();

  // Queues `bytes` from `from` to its peer. kFailedPrecondition when `from`
  // is not connected, has closed, or the connection is gone;
  // kResourceExhausted (nothing taken) when the bytes exceed the free window.
  absl::Status Write(Side from, absl::string_view bytes);

  // Ends `from`'s sending direction: the peer gets OnClosed(kFin) after the
  // last byte. kFailedPrecondition when not connected or already closed.
  absl::Status Close(Side from);

  // Octets `from` may write now.
  size_t Writable(Side from) const;
  bool connected(Side side) const { return ends_[Index(side)].connected; }
  // True once nothing more can happen: refused, reset, or both directions
  // closed and delivered.
  bool finished() const { return finished_; }
  // Octets written after a half-close fault and lost.
  uint64_t lost_bytes() const { return lost_bytes_; }
  // The tamper of this link (from LinkFaults::tamper), or null.
  LinkTamper* tamper() const { return tamper_.get(); }

 private:
  struct End {
    LinkEndpoint* endpoint = nullptr;
    bool engaged = false;    // knows of the connection (A: from Connect())
    bool connected = false;  // OnConnected() delivered
    // Sending direction (this end -> peer).
    bool send_closed = false;
    bool truncated = false;  // closed by a HalfCloseFault: writes are lost
    bool fin_delivered = false;
    size_t in_flight = 0;
    bool wants_writable = false;
    absl::Time last_delivery = absl::InfinitePast();
    // Pieces on the wire, in order: each has one delivery event, and the
    // events of a direction run in the order they were scheduled.
    struct Piece {
      size_t size;
      EventHandle event;
    };
    std::deque<Piece> pieces;
    // Their octets, back to back from wire_start: one buffer per direction
    // (not a string per piece), so a delivery hands out a view of it.
    std::string wire;
    size_t wire_start = 0;
    // A delivery from this end is running: what is transmitted meanwhile
    // waits in `held`, so the view being delivered stays valid.
    bool delivering = false;
    std::string held;
  };

  static size_t Index(Side side) { return side == Side::kA ? 0 : 1; }
  End& end(Side side) { return ends_[Index(side)]; }

  absl::Duration DrawLatency();
  // When something sent now from `from` arrives: after a latency, after
  // the previous delivery of that direction, and outside every stall.
  absl::Time DeliveryTime(Side from);
  void Schedule(absl::Time time, std::function<void()> callback);
  void Record(Side to, LinkEventType type, absl::string_view bytes = {});
  // Puts `bytes` on the wire from `from`: cut into pieces, each scheduled.
  void Transmit(Side from, absl::string_view bytes);

  void DeliverConnected(Side to);
  // Delivers the oldest piece `from` sent.
  void DeliverData(Side from);
  void SendFin(Side from);
  void DeliverFin(Side from);
  void Reset();
  void Truncate(Side side);
  void Finish();
  void CancelEvents();

  Scheduler* scheduler_;
  Random random_;
  LinkOptions options_;
  std::unique_ptr<LinkTamper> tamper_;
  std::array<End, 2> ends_;
  Observer observer_;
  bool connect_called_ = false;
  bool finished_ = false;
  uint64_t lost_bytes_ = 0;
  // The events this link scheduled other than data deliveries (whose
  // handles sit with their pieces): cancelled when it finishes or goes away
  // (cancelling one that already ran does nothing). A handful per link.
  std::vector<EventHandle> scheduled_;
};

}  // namespace starling::sim

#endif  // STARLING_SIM_LINK_H_
