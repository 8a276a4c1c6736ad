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
  if (pipe_.channel() == nullptr) {
    received_clear_tail_.append(bytes.data(), bytes.size());
    if (received_clear_tail_.size() > kClearTail) {
      received_clear_tail_.erase(0, received_clear_tail_.size() - kClearTail);
    }
  }
  Note("receive", pipe_.ReceiveFromNetwork(bytes, scheduler_->Now()));
  Step();
}

void SessionEndpoint::Step() {
  // The bound only stops a session that keeps reporting progress forever.
  for (int guard = 0; guard < 1000 && !dropped_ && Turn(); ++guard) {
  }
  if (dropped_) return;
  tls_established_ |= pipe_.mode() == TlsPipe::Mode::kEstablished;
  Flush();
  if (!link_closed_ && SessionClosed() && !SessionHasOutput()) {
    if (pipe_.mode() == TlsPipe::Mode::kEstablished) {
      Note("close tls", pipe_.CloseTls());
    }
    Flush();
    link_closed_ = true;
    if (!link_->finished()) Note("close link", link_->Close(side_));
  }
  ArmTimer();
}

void SessionEndpoint::Flush() {
  while (!pipe_.NetworkOutput().empty() && !link_->finished()) {
    const absl::string_view out = pipe_.NetworkOutput();
    max_unsent_ = std::max(max_unsent_, out.size());
    const size_t n = std::min(out.size(), link_->Writable(side_));
    if (n == 0) return;  // OnWritable() resumes
    (pipe_.channel() == nullptr ? sent_clear_ : sent_tls_)
        .append(out.data(), n);
    Note("write", link_->Write(side_, out.substr(0, n)));
    pipe_.ConsumeNetworkOutput(n);
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
  absl::StatusOr<std::unique_ptr<smtp::ClientSession>> session =
      smtp::ClientSession::Create(std::move(options.smtp),
                                  std::move(options.destination), policy,
                                  std::move(messages), scheduler->Now());
  if (!session.ok()) return session.status();
  return std::unique_ptr<ClientEndpoint>(new ClientEndpoint(
      scheduler, std::move(options.tls), *std::move(session)));
}

ClientEndpoint::ClientEndpoint(Scheduler* scheduler, tls::ChannelOptions tls,
                               std::unique_ptr<smtp::ClientSession> session)
    : SessionEndpoint(scheduler, Side::kA),
      tls_(std::move(tls)),
      session_(std::move(session)) {}

void ClientEndpoint::OnClosed(CloseReason reason) {
  if (!session_->closed()) {
    session_->ConnectionLost(
        absl::StrCat("connection ", CloseReasonName(reason)), scheduler_->Now());
  }
  if (reason == CloseReason::kFin) {
    Step();
  } else {
    Detach();
  }
}

bool ClientEndpoint::Turn() {
  bool progress = !pipe_.Plaintext().empty();
  const size_t output = session_->PendingOutput().size();
  if (transcript_ != nullptr) {
    const absl::Time now = scheduler_->Now();
    Note("pump", PumpSession(*session_, pipe_, now,
                             [this, now](bool sent, absl::string_view bytes) {
                               transcript_->push_back(
                                   {now, sent,
                                    pipe_.mode() == TlsPipe::Mode::kEstablished,
                                    std::string(bytes)});
                             }));
  } else {
    Note("pump", PumpSession(*session_, pipe_, scheduler_->Now()));
  }
  progress |= session_->PendingOutput().size() != output;
  while (std::optional<tls::ChannelEvent> event = pipe_.NextEvent()) {
    progress = true;
    if (event->type == tls::ChannelEventType::kHandshakeComplete) {
      handshake_facts_ = event->facts;
      handshake_time_ = scheduler_->Now();
      Note("tls", session_->TlsEstablished(event->facts, scheduler_->Now()));
    } else if (event->type == tls::ChannelEventType::kFailed) {
      handshake_failure_ = event->reason;
      Note("tls", session_->TlsFailed(event->detail, scheduler_->Now()));
    }
  }
  while (std::optional<smtp::ClientEvent> event = session_->NextEvent()) {
    progress = true;
    if (event->type == smtp::ClientEventType::kStartTls) {
      tls::ChannelOptions options = tls_;
      if (!event->sni.empty()) options.server_name = event->sni;
      Note("starttls", pipe_.StartTls(std::move(options)));
    }
  }
  return progress;
}

}  // namespace starling::sim
