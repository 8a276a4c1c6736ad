#include "sim/link.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace starling::sim {

absl::string_view SideName(Side side) { return side == Side::kA ? "A" : "B"; }

LinkTamper::~LinkTamper() = default;

std::string LinkTamper::Flush(Side /*from*/) { return std::string(); }

absl::string_view CloseReasonName(CloseReason reason) {
  switch (reason) {
    case CloseReason::kRefused:
      return "refused";
    case CloseReason::kFin:
      return "fin";
    case CloseReason::kReset:
      return "reset";
  }
  return "unknown";
}

absl::string_view LinkEventTypeName(LinkEventType type) {
  switch (type) {
    case LinkEventType::kConnected:
      return "connected";
    case LinkEventType::kData:
      return "data";
    case LinkEventType::kFin:
      return "fin";
    case LinkEventType::kReset:
      return "reset";
    case LinkEventType::kRefused:
      return "refused";
  }
  return "unknown";
}

Link::Link(Scheduler* scheduler, Random random, LinkOptions options,
           LinkEndpoint* a, LinkEndpoint* b)
    : scheduler_(scheduler), random_(random), options_(std::move(options)) {
  ends_[0].endpoint = a;
  ends_[1].endpoint = b;
  options_.max_segment = std::max<size_t>(options_.max_segment, 1);
  options_.min_latency = std::max(options_.min_latency, absl::ZeroDuration());
  options_.max_latency = std::max(options_.max_latency, options_.min_latency);
  std::sort(options_.faults.stalls.begin(), options_.faults.stalls.end(),
            [](const StallFault& x, const StallFault& y) {
              return x.start < y.start;
            });
  if (options_.faults.tamper) tamper_ = options_.faults.tamper();
}

Link::~Link() { CancelEvents(); }

void Link::CancelEvents() {
  for (const EventHandle& handle : scheduled_) scheduler_->Cancel(handle);
  scheduled_.clear();
  for (End& e : ends_) {
    for (const End::Piece& piece : e.pieces) scheduler_->Cancel(piece.event);
    e.pieces.clear();
  }
}

absl::Duration Link::DrawLatency() {
  const auto lo =
      static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.min_latency));
  const auto hi =
      static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.max_latency));
  return absl::Nanoseconds(static_cast<int64_t>(random_.Between(lo, hi)));
}

absl::Time Link::DeliveryTime(Side from) {
  End& sender = end(from);
  absl::Time time =
      std::max(scheduler_->Now() + DrawLatency(), sender.last_delivery);
  // Stalls are sorted by start, so one pass pushes a time past every stall
  // it lands in, including stalls that the push itself lands in.
  for (const StallFault& stall : options_.faults.stalls) {
    if (time >= stall.start && time < stall.start + stall.duration) {
      time = stall.start + stall.duration;
    }
  }
  sender.last_delivery = time;
  return time;
}

void Link::Schedule(absl::Time time, std::function<void()> callback) {
  scheduled_.push_back(scheduler_->At(time, std::move(callback)));
}

void Link::Record(Side to, LinkEventType type, absl::string_view bytes) {
  if (!observer_) return;
  observer_(LinkRecord{scheduler_->Now(), to, type, bytes});
}

absl::Status Link::Connect() {
  if (connect_called_) {
    return absl::FailedPreconditionError("link: Connect() called twice");
  }
  connect_called_ = true;
  end(Side::kA).engaged = true;
  const absl::Time arrives = scheduler_->Now() + DrawLatency();
  const absl::Time answered = arrives + DrawLatency();
  switch (options_.faults.connect) {
    case ConnectFault::kTimeout:
      return absl::OkStatus();
    case ConnectFault::kRefused:
      Schedule(answered, [this] {
        finished_ = true;
        Record(Side::kA, LinkEventType::kRefused);
        end(Side::kA).endpoint->OnClosed(CloseReason::kRefused);
      });
      return absl::OkStatus();
    case ConnectFault::kNone:
      break;
  }
  // Nothing B sends may overtake A's notice that the connection is up.
  end(Side::kA).last_delivery = arrives;
  end(Side::kB).last_delivery = answered;
  Schedule(arrives, [this] { DeliverConnected(Side::kB); });
  Schedule(answered, [this] { DeliverConnected(Side::kA); });
  if (options_.faults.reset_at.has_value()) {
    Schedule(*options_.faults.reset_at, [this] { Reset(); });
  }
  if (options_.faults.half_close.has_value()) {
    const HalfCloseFault fault = *options_.faults.half_close;
    Schedule(fault.at, [this, side = fault.side] { Truncate(side); });
  }
  return absl::OkStatus();
}

void Link::DeliverConnected(Side to) {
  End& e = end(to);
  e.engaged = true;
  e.connected = true;
  Record(to, LinkEventType::kConnected);
  e.endpoint->OnConnected();
}

absl::Status Link::Write(Side from, absl::string_view bytes) {
  End& sender = end(from);
  if (finished_ || !sender.connected) {
    return absl::FailedPreconditionError(
        absl::StrCat("link: ", SideName(from), " is not connected"));
  }
  if (sender.truncated) {
    lost_bytes_ += bytes.size();
    return absl::OkStatus();
  }
  if (sender.send_closed) {
    return absl::FailedPreconditionError(
        absl::StrCat("link: ", SideName(from), " has closed its side"));
  }
  if (bytes.size() > Writable(from)) {
    sender.wants_writable = true;
    return absl::ResourceExhaustedError(
        absl::StrCat("link: ", bytes.size(), " octets exceed the ",
                     Writable(from), " free in the window"));
  }
  if (tamper_ != nullptr) {
    const std::string wire = tamper_->Rewrite(from, bytes);
    Transmit(from, wire);
  } else {
    Transmit(from, bytes);
  }
  return absl::OkStatus();
}

void Link::Transmit(Side from, absl::string_view bytes) {
  End& sender = end(from);
  sender.in_flight += bytes.size();
  // A full window means the writer has more to say: tell it when space frees.
  if (Writable(from) == 0) sender.wants_writable = true;
  if (sender.delivering) {
    sender.held.append(bytes.data(), bytes.size());
  } else {
    if (sender.wire_start == sender.wire.size()) {
      sender.wire.clear();
      sender.wire_start = 0;
    } else if (sender.wire_start >= sender.wire.size() / 2) {
      sender.wire.erase(0, sender.wire_start);
      sender.wire_start = 0;
    }
    sender.wire.append(bytes.data(), bytes.size());
  }
  while (!bytes.empty()) {
    const size_t size = static_cast<size_t>(random_.Between(
        1, std::min<uint64_t>(bytes.size(), options_.max_segment)));
    const EventHandle event =
        scheduler_->At(DeliveryTime(from), [this, from] { DeliverData(from); });
    sender.pieces.push_back(End::Piece{size, event});
    bytes.remove_prefix(size);
  }
}

void Link::DeliverData(Side from) {
  End& sender = end(from);
  const size_t size = sender.pieces.front().size;
  sender.pieces.pop_front();
  const absl::string_view piece(sender.wire.data() + sender.wire_start, size);
  sender.wire_start += size;
  sender.in_flight -= size;
  const Side to = Peer(from);
  sender.delivering = true;
  Record(to, LinkEventType::kData, piece);
  end(to).endpoint->OnData(piece);
  sender.delivering = false;
  if (!sender.held.empty()) {
    sender.wire.append(sender.held);
    sender.held.clear();
  }
  // Only once half the window is free: waking the writer for every few
  // octets would make it write in tiny pieces (silly window syndrome).
  if (sender.wants_writable && !finished_ && !sender.send_closed &&
      Writable(from) >= std::max<size_t>(options_.window / 2, 1)) {
    sender.wants_writable = false;
    sender.endpoint->OnWritable();
  }
}

absl::Status Link::Close(Side from) {
  End& sender = end(from);
  if (finished_ || !sender.connected) {
    return absl::FailedPreconditionError(
        absl::StrCat("link: ", SideName(from), " is not connected"));
  }
  if (sender.truncated) return absl::OkStatus();
  if (sender.send_closed) {
    return absl::FailedPreconditionError(
        absl::StrCat("link: ", SideName(from), " has already closed"));
  }
  SendFin(from);
  return absl::OkStatus();
}

void Link::SendFin(Side from) {
  if (tamper_ != nullptr) {
    const std::string held = tamper_->Flush(from);
    Transmit(from, held);
  }
  end(from).send_closed = true;
  Schedule(DeliveryTime(from), [this, from] { DeliverFin(from); });
}

void Link::DeliverFin(Side from) {
  end(from).fin_delivered = true;
  const Side to = Peer(from);
  Record(to, LinkEventType::kFin);
  if (end(to).fin_delivered) Finish();
  end(to).endpoint->OnClosed(CloseReason::kFin);
}

void Link::Truncate(Side side) {
  End& e = end(side);
  if (finished_ || e.send_closed) return;
  e.truncated = true;
  SendFin(side);
}

void Link::Reset() {
  if (finished_) return;
  Finish();
  // The link is finished before either end is told, so a callback that
  // writes or closes sees a dead link.
  const bool tell_a = end(Side::kA).engaged;
  const bool tell_b = end(Side::kB).engaged;
  if (tell_a) {
    Record(Side::kA, LinkEventType::kReset);
    end(Side::kA).endpoint->OnClosed(CloseReason::kReset);
  }
  if (tell_b) {
    Record(Side::kB, LinkEventType::kReset);
    end(Side::kB).endpoint->OnClosed(CloseReason::kReset);
  }
}

void Link::Finish() {
  finished_ = true;
  CancelEvents();
}

size_t Link::Writable(Side from) const {
  const End& sender = ends_[Index(from)];
  return options_.window > sender.in_flight ? options_.window - sender.in_flight
                                            : 0;
}

}  // namespace starling::sim
