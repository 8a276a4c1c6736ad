#include "tools/io/socket_endpoint.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

namespace starling::io {
namespace {

// While more than this waits to be written, nothing more is read: a peer
// that does not read its replies cannot make us buffer without end.
constexpr size_t kReadPauseAt = 256 * 1024;
// One write at most this large: the copy handed to the socket.
constexpr size_t kWriteChunk = 64 * 1024;

std::chrono::steady_clock::duration ToSteady(absl::Duration d) {
  return absl::ToChronoNanoseconds(std::max(d, absl::ZeroDuration()));
}

}  // namespace

SocketEndpoint::SocketEndpoint(asio::ip::tcp::socket socket)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      write_timer_(socket_.get_executor()),
      linger_timer_(socket_.get_executor()) {
  asio::error_code ignored;
  peer_ = socket_.remote_endpoint(ignored);
  local_ = socket_.local_endpoint(ignored);
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
}

SocketEndpoint::~SocketEndpoint() = default;

void SocketEndpoint::Start() {
  OnStart(absl::Now());
  Kick();
  Read();
}

void SocketEndpoint::Kick() {
  if (closed_ || lingering_) return;
  HandleEvents(absl::Now());
  Write();
  ArmTimer();
  MaybeClose();
}

void SocketEndpoint::Read() {
  if (closed_ || reading_ || (read_ended_ && !lingering_)) return;
  if (PendingWire().size() > kReadPauseAt) return;  // Write() resumes
  reading_ = true;
  socket_.async_read_some(
      asio::buffer(buffer_),
      [self = shared_from_this()](const asio::error_code& error, size_t n) {
        self->reading_ = false;
        if (self->closed_) return;
        if (self->lingering_) {
          // What the peer still sends after our last word is discarded.
          if (error) {
            self->Close(self->close_reason_);
          } else {
            self->Read();
          }
          return;
        }
        if (self->read_ended_) return;
        const absl::Time now = absl::Now();
        if (error) {
          self->read_ended_ = true;
          self->ConnectionLost(error == asio::error::eof
                                   ? "closed by the peer"
                                   : absl::StrCat("read: ", error.message()),
                               now);
          self->Kick();
          return;
        }
        self->ReceiveWire(absl::string_view(self->buffer_.data(), n), now);
        self->Kick();
        self->Read();
      });
}

void SocketEndpoint::Write() {
  if (closed_ || writing_ || PendingWire().empty()) return;
  writing_ = true;
  auto send = [self = shared_from_this()] {
    if (self->closed_) return;
    // A copy: the connection's output may grow (and move) while the write
    // is under way.
    const absl::string_view out = self->PendingWire();
    auto chunk = std::make_shared<std::string>(
        out.substr(0, std::min(out.size(), kWriteChunk)));
    self->socket_.async_write_some(
        asio::buffer(*chunk),
        [self, chunk](const asio::error_code& error, size_t n) {
          self->writing_ = false;
          if (self->closed_) return;
          const absl::Time now = absl::Now();
          if (error) {
            self->read_ended_ = true;
            self->ConnectionLost(absl::StrCat("write: ", error.message()), now);
            self->Close(absl::StrCat("write failed: ", error.message()));
            return;
          }
          self->ConsumeWire(n, now);
          self->Kick();
          self->Read();
        });
  };
  const absl::Duration delay = WriteDelay();
  if (delay <= absl::ZeroDuration()) {
    send();
    return;
  }
  write_timer_.expires_after(ToSteady(delay));
  write_timer_.async_wait(
      [send](const asio::error_code& error) {
        if (!error) send();
      });
}

void SocketEndpoint::ArmTimer() {
  if (closed_) return;
  const absl::Time deadline = NextDeadline();
  if (deadline == timer_at_) return;
  timer_at_ = deadline;
  if (deadline == absl::InfiniteFuture()) {
    timer_.cancel();
    return;
  }
  timer_.expires_after(ToSteady(deadline - absl::Now()));
  timer_.async_wait([self = shared_from_this()](const asio::error_code& error) {
    if (error || self->closed_) return;  // cancelled: a new deadline is set
    self->timer_at_ = absl::InfiniteFuture();
    const absl::Time now = absl::Now();
    if (now >= self->NextDeadline()) self->OnTimeout(now);
    self->Kick();
  });
}

void SocketEndpoint::Drop() {
  if (closed_) return;
  dropping_ = true;
  read_ended_ = true;
  Write();
  MaybeClose();
}

void SocketEndpoint::Abort() { Close("aborted"); }

void SocketEndpoint::MaybeClose() {
  if (closed_ || lingering_ || writing_ || !PendingWire().empty()) return;
  if (Finished()) {
    Linger("finished");
  } else if (dropping_) {
    Linger("dropped");
  }
}

void SocketEndpoint::Linger(absl::string_view reason) {
  // Closing with unread input makes the kernel send a reset, which can
  // destroy our last reply before the peer reads it: send FIN, read until
  // the peer closes too (or a few seconds pass), then close.
  lingering_ = true;
  close_reason_ = std::string(reason);
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  timer_.cancel();
  write_timer_.cancel();
  linger_timer_.expires_after(ToSteady(absl::Seconds(2)));
  linger_timer_.async_wait(
      [self = shared_from_this()](const asio::error_code& error) {
        if (!error) self->Close(self->close_reason_);
      });
  Read();
}

void SocketEndpoint::Close(absl::string_view reason) {
  if (closed_) return;
  closed_ = true;
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  timer_.cancel();
  write_timer_.cancel();
  linger_timer_.cancel();
  OnClosed(reason);
}

}  // namespace starling::io
