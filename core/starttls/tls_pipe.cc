#include "core/starttls/tls_pipe.h"

#include <algorithm>
#include <utility>

namespace starling::starttls {

absl::string_view TlsPipeModeName(TlsPipe::Mode mode) {
  switch (mode) {
    case TlsPipe::Mode::kClear:
      return "clear";
    case TlsPipe::Mode::kHandshaking:
      return "handshaking";
    case TlsPipe::Mode::kEstablished:
      return "established";
    case TlsPipe::Mode::kClosed:
      return "closed";
    case TlsPipe::Mode::kFailed:
      return "failed";
  }
  return "unknown";
}

TlsPipe::Mode TlsPipe::mode() const {
  if (!channel_.has_value()) return Mode::kClear;
  if (!channel_->fatal_error().ok()) return Mode::kFailed;
  if (channel_->closed()) return Mode::kClosed;
  if (channel_->established()) return Mode::kEstablished;
  return Mode::kHandshaking;
}

absl::Status TlsPipe::StartTls(tls::ChannelOptions options) {
  if (channel_.has_value()) {
    return absl::FailedPreconditionError("tls pipe: TLS has started already");
  }
  if (!plaintext_.empty()) {
    return absl::FailedPreconditionError(
        "tls pipe: cleartext received before the handshake is still unread");
  }
  absl::StatusOr<tls::Channel> channel =
      tls::Channel::Create(std::move(options));
  if (!channel.ok()) return channel.status();
  tls_start_ = consumed_ + output_.size();
  channel_.emplace(*std::move(channel));
  Collect();
  return absl::OkStatus();
}

absl::Status TlsPipe::ReceiveFromNetwork(absl::string_view bytes,
                                         absl::Time now) {
  if (!channel_.has_value()) {
    plaintext_.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  const absl::Status status = channel_->Receive(bytes, now);
  Collect();
  return status;
}

absl::Status TlsPipe::Send(absl::string_view plaintext) {
  if (!channel_.has_value()) {
    output_.append(plaintext.data(), plaintext.size());
    return absl::OkStatus();
  }
  const absl::Status status = channel_->Write(plaintext);
  Collect();
  return status;
}

absl::Status TlsPipe::CloseTls() {
  if (!channel_.has_value()) return absl::OkStatus();
  const absl::Status status = channel_->Close();
  Collect();
  return status;
}

void TlsPipe::ConsumeNetworkOutput(size_t n) {
  n = std::min(n, output_.size());
  consumed_ += n;
  output_.erase(0, n);
}

std::optional<tls::ChannelEvent> TlsPipe::NextEvent() {
  if (!channel_.has_value()) return std::nullopt;
  return channel_->NextEvent();
}

void TlsPipe::Collect() {
  const absl::string_view out = channel_->PendingOutput();
  output_.append(out.data(), out.size());
  channel_->ConsumeOutput(out.size());
  const absl::string_view text = channel_->Plaintext();
  plaintext_.append(text.data(), text.size());
  channel_->ConsumePlaintext(text.size());
}

}  // namespace starling::starttls
