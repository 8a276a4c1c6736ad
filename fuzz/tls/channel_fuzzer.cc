// A tls::Channel in either role, fed the fuzzer's bytes as its peer's
// ciphertext (cut anywhere), with output drained and application data
// written at the fuzzer's choice. Seeds are fixed (see channel_fuzz_setup.h),
// so the seed corpus replays real handshakes and mutations go deep.
// Invariants (abort on violation):
//  - no exception escapes (libFuzzer reports one as a crash);
//  - a failure is a kFailed event with a reason, and its kAborted status is
//    sticky for Receive() and Write();
//  - a handshake completes at most once, and only Write() after it succeeds;
//  - buffered memory stays bounded by what was received and written.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tls/channel.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/tls/channel_fuzz_setup.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using starling::fuzz::FuzzInput;
  using starling::fuzz::Require;
  namespace tls = starling::tls;

  FuzzInput in(data, size);
  const uint8_t flags = in.Byte();
  absl::StatusOr<tls::Channel> created = tls::Channel::Create(
      starling::fuzz::TlsFuzzOptions(flags, (flags & 1) != 0));
  Require(created.ok());
  tls::Channel& channel = *created;

  absl::Status fatal;
  size_t received = 0;
  size_t written = 0;
  int completions = 0;
  for (int step = 0; !in.empty() && step < 256; ++step) {
    switch (in.Byte() % 4) {
      case 0:
      case 1: {
        const absl::string_view bytes = in.Bytes(in.Below(16385));
        received += bytes.size();
        const absl::Status status = channel.Receive(bytes, starling::fuzz::kTlsFuzzTime);
        if (!fatal.ok()) Require(status == fatal);
        if (status.code() == absl::StatusCode::kAborted) fatal = status;
        Require(status.ok() || status.code() == absl::StatusCode::kAborted ||
                status.code() == absl::StatusCode::kFailedPrecondition);
        break;
      }
      case 2:
        channel.ConsumeOutput(channel.PendingOutput().size());
        channel.ConsumePlaintext(channel.Plaintext().size());
        break;
      default: {
        const absl::string_view bytes = in.Bytes(in.Below(64));
        const bool was_established = channel.established() && !channel.closed();
        const absl::Status status = channel.Write(bytes);
        if (status.ok()) written += bytes.size();
        Require(status.ok() == was_established);
        if (!fatal.ok()) Require(status == fatal);
        break;
      }
    }
    while (auto event = channel.NextEvent()) {
      switch (event->type) {
        case tls::ChannelEventType::kHandshakeComplete:
          ++completions;
          Require(channel.established());
          Require(event->facts.version != starling::TlsVersion::kUnknown);
          break;
        case tls::ChannelEventType::kFailed:
          Require(event->reason != tls::FailureReason::kNone);
          Require(event->alert.has_value());
          Require(!channel.fatal_error().ok());
          break;
        case tls::ChannelEventType::kAlert:
        case tls::ChannelEventType::kClosed:
          Require(event->alert.has_value());
          break;
      }
    }
    Require(completions <= 1);
    // Handshake flights, alerts and records of what was written, at most.
    Require(channel.PendingOutput().size() <= 64 * 1024 + 2 * written);
    Require(channel.Plaintext().size() <= received);
  }
  return 0;
}
