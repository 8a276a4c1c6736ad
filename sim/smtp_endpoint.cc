#include "sim/smtp_endpoint.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace starling::sim {

SessionEndpoint::SessionEndpoint(Scheduler* scheduler, Side side)
    : scheduler_(scheduler), side_(side) {}

SessionEndpoint::~SessionEndpoint() { CancelTimer(); }

void SessionEndpoint::OnData(absl::string_view bytes) {
  if (dropped_) return;
  if (!Pipe().channel()) AppendTail(&received_clear_tail_, bytes);
  Note("receive", ReceiveWire(bytes, scheduler_->Now()));
  Step();
}

void SessionEndpoint::Step() {
  // The bound only stops a session that keeps reporting progress forever.
  for (int guard = 0; guard < 1000 && !dropped_ && Turn(); ++guard) {
  }
  if (dropped_) return;
  tls_established_ |= Pipe().mode() == starttls::TlsPipe::Mode::kEstablished;
  Flush();
  if (!link_closed_ && Finished() && PendingWire().empty() && !Holding()) {
    link_closed_ = true;
    if (!link_->finished()) Note("close link", link_->Close(side_));
  }
  ArmTimer();
}

void SessionEndpoint::Flush() {
  while (!PendingWire().empty() && !link_->finished()) {
    const absl::string_view out = PendingWire();
    max_unsent_ = std::max(max_unsent_, out.size());
    const size_t n = std::min(out.size(), link_->Writable(side_));
    if (n == 0) return;  // OnWritable() resumes
    // Octets before the switch to TLS left in the clear.
    const uint64_t at = WireOffset();
    const uint64_t tls_start = Pipe().tls_start();
    const uint64_t clear =
        tls_start <= at ? 0 : std::min<uint64_t>(n, tls_start - at);
    if (clear > 0) {
      const absl::string_view clear_bytes = out.substr(0, clear);
      clear_text_.Feed(clear_bytes);
      AppendTail(&sent_clear_tail_, clear_bytes);
    }
    if (record_sent_) {
      sent_clear_.append(out.data(), clear);
      sent_tls_.append(out.data() + clear, n - clear);
    }
    Note("write", link_->Write(side_, out.substr(0, n)));
    ConsumeWire(n, scheduler_->Now());
  }
}

void SessionEndpoint::AppendTail(std::string* tail, absl::string_view bytes) {
  if (bytes.size() >= kClearTail) {
    tail->assign(bytes.data() + bytes.size() - kClearTail, kClearTail);
    return;
  }
  tail->append(bytes.data(), bytes.size());
  if (tail->size() > 2 * kClearTail) {
    tail->erase(0, tail->size() - kClearTail);
  }
}

void SessionEndpoint::Drop() {
  if (dropped_) return;
  Flush();
  dropped_ = true;
  CancelTimer();
  if (!link_closed_ && !link_->finished()) {
    link_closed_ = true;
    Note("close link", link_->Close(side_));
  }
}

void SessionEndpoint::Detach() {
  dropped_ = true;
  link_closed_ = true;
  CancelTimer();
}

void SessionEndpoint::Note(absl::string_view what, const absl::Status& status) {
  if (!status.ok())
    errors_.push_back(absl::StrCat(what, ": ", status.ToString()));
}

void SessionEndpoint::ArmTimer() {
  const absl::Time deadline =
      link_closed_ ? absl::InfiniteFuture() : SessionDeadline();
  if (deadline == absl::InfiniteFuture()) {
    CancelTimer();
    return;
  }
  // A timer due no later than the deadline stays: when it fires it looks at
  // the deadline again. Deadlines mostly move later with every reply, so
  // this saves re-arming the timer for each one.
  if (timer_time_ <= deadline) return;
  CancelTimer();
  timer_time_ = deadline;
  timer_ = scheduler_->At(deadline, [this] {
    timer_ = EventHandle();
    timer_time_ = absl::InfiniteFuture();
    const absl::Time now = scheduler_->Now();
    if (!link_closed_ && SessionDeadline() <= now) SessionTimeout(now);
    Step();
  });
}

void SessionEndpoint::CancelTimer() {
  if (timer_.sequence != 0) scheduler_->Cancel(timer_);
  timer_ = EventHandle();
  timer_time_ = absl::InfiniteFuture();
}

absl::StatusOr<std::unique_ptr<ClientEndpoint>> ClientEndpoint::Create(
    Scheduler* scheduler, ClientEndpointOptions options,
    smtp::TlsPolicyHook* policy, std::vector<smtp::OutboundMessage> messages) {
  absl::StatusOr<std::unique_ptr<starttls::ClientConnection>> connection =
      starttls::ClientConnection::Create(
          {std::move(options.smtp), std::move(options.destination),
           std::move(options.tls)},
          policy, std::move(messages), scheduler->Now());
  if (!connection.ok()) return connection.status();
  return std::unique_ptr<ClientEndpoint>(
      new ClientEndpoint(scheduler, *std::move(connection)));
}

ClientEndpoint::ClientEndpoint(
    Scheduler* scheduler, std::unique_ptr<starttls::ClientConnection> connection)
    : SessionEndpoint(scheduler, Side::kA), connection_(std::move(connection)) {}

void ClientEndpoint::set_transcript(std::vector<TranscriptEntry>* transcript) {
  if (transcript == nullptr) {
    connection_->set_observer(nullptr);
    return;
  }
  connection_->set_observer(
      [this, transcript](bool sent, bool tls, absl::string_view bytes) {
        transcript->push_back(
            {scheduler_->Now(), sent, tls, std::string(bytes)});
      });
}

std::optional<tls::FailureReason> ClientEndpoint::handshake_failure() const {
  if (!connection_->tls_failure().has_value()) return std::nullopt;
  return connection_->tls_failure()->reason;
}

void ClientEndpoint::OnClosed(CloseReason reason) {
  if (!connection_->session().closed()) {
    connection_->ConnectionLost(
        absl::StrCat("connection ", CloseReasonName(reason)), scheduler_->Now());
  }
  if (reason == CloseReason::kFin) {
    Step();
  } else {
    Detach();
  }
}

bool ClientEndpoint::Turn() {
  bool progress = false;
  while (std::optional<smtp::ClientEvent> event = connection_->NextEvent()) {
    progress = true;
  }
  if (handshake_time_ == absl::InfiniteFuture() &&
      connection_->handshake_facts().has_value()) {
    handshake_time_ = scheduler_->Now();
  }
  return progress;
}

}  // namespace starling::sim
