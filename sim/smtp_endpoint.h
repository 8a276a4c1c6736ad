#ifndef STARLING_SIM_SMTP_ENDPOINT_H_
#define STARLING_SIM_SMTP_ENDPOINT_H_

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/starttls/connection.h"
#include "core/tls/channel.h"
#include "core/tlsfacts/tls_facts.h"
#include "sim/capture.h"
#include "sim/invariants.h"
#include "sim/link.h"
#include "sim/scheduler.h"

namespace starling::sim {

// One end of a Link that runs an SMTP connection (core/starttls: the session
// and its STARTTLS channel): it hands the link's bytes to the connection,
// writes the connection's wire output within the link's window, drives the
// session's timers from the scheduler, closes the link once the connection
// has finished, and logs what went wrong and which bytes left in the clear
// and under TLS. Subclasses own the connection and answer its events. The
// scheduler must outlive the endpoint.
class SessionEndpoint : public LinkEndpoint {
 public:
  SessionEndpoint(Scheduler* scheduler, Side side);
  ~SessionEndpoint() override;
  SessionEndpoint(const SessionEndpoint&) = delete;
  SessionEndpoint& operator=(const SessionEndpoint&) = delete;

  void Attach(Link* link) { link_ = link; }

  void OnData(absl::string_view bytes) override;
  void OnWritable() override { Flush(); }

  // Errors of calls into the session, pipe and link, in order.
  const std::vector<std::string>& errors() const { return errors_; }
  // Keep every octet this end sends, for sent_clear() and sent_tls() (off by
  // default: the world's invariants need only clear_text() and the tails).
  void set_record_sent(bool on) { record_sent_ = on; }
  const std::string& sent_clear() const { return sent_clear_; }
  const std::string& sent_tls() const { return sent_tls_; }
  // What this end sent in the clear, watched for CheckClearText.
  const ClearTextWatch& clear_text() const { return clear_text_; }
  // The last kClearTail octets sent and received in the clear (all of them
  // when fewer): after a STARTTLS, what went and came just before the
  // handshake.
  static constexpr size_t kClearTail = 512;
  absl::string_view sent_clear_tail() const { return Tail(sent_clear_tail_); }
  absl::string_view received_clear_tail() const {
    return Tail(received_clear_tail_);
  }
  // A TLS handshake completed on this end.
  bool tls_established() const { return tls_established_; }
  // The most octets ever waiting for the link's window at once.
  size_t max_unsent() const { return max_unsent_; }

 protected:
  // Answers the connection's events; true when there were any (Step()
  // repeats it until there are none).
  virtual bool Turn() = 0;
  // The connection's wire side.
  virtual absl::Status ReceiveWire(absl::string_view bytes, absl::Time now) = 0;
  virtual absl::string_view PendingWire() const = 0;
  virtual void ConsumeWire(size_t n, absl::Time now) = 0;
  virtual const starttls::TlsPipe& Pipe() const = 0;
  // Where PendingWire() starts in the wire output stream (for telling clear
  // octets from TLS ones by the pipe's tls_start()).
  virtual uint64_t WireOffset() const { return Pipe().network_consumed(); }
  // The session has ended and all it said is in the wire output.
  virtual bool Finished() const = 0;
  // Wire output this end holds back on purpose (kTarpit): not yet finished.
  virtual bool Holding() const { return false; }
  virtual absl::Time SessionDeadline() const = 0;
  virtual void SessionTimeout(absl::Time now) = 0;

  // Runs Turn() until quiet, writes, closes when the connection is done and
  // re-arms the session timer.
  void Step();
  // Writes the wire output within the window.
  void Flush();
  // Ends this end abruptly: what is already written still leaves, then the
  // sending direction closes; later input is ignored and no timer runs.
  void Drop();
  // The link is gone for this end (reset, refused): nothing more happens.
  void Detach();
  void Note(absl::string_view what, const absl::Status& status);

  bool dropped() const { return dropped_; }

  Scheduler* scheduler_;
  Side side_;
  Link* link_ = nullptr;

 private:
  void ArmTimer();
  void CancelTimer();
  // A tail buffer is trimmed to kClearTail when it reaches twice that.
  static void AppendTail(std::string* tail, absl::string_view bytes);
  static absl::string_view Tail(absl::string_view all) {
    return all.substr(all.size() - std::min(all.size(), kClearTail));
  }

  bool link_closed_ = false;
  bool dropped_ = false;
  EventHandle timer_;
  absl::Time timer_time_ = absl::InfiniteFuture();
  std::vector<std::string> errors_;
  bool record_sent_ = false;
  std::string sent_clear_;  // when record_sent_
  std::string sent_tls_;    // when record_sent_
  ClearTextWatch clear_text_;
  std::string sent_clear_tail_;
  std::string received_clear_tail_;
  bool tls_established_ = false;
  size_t max_unsent_ = 0;
};

struct ClientEndpointOptions {
  std::shared_ptr<const smtp::ClientOptions> smtp =
      std::make_shared<smtp::ClientOptions>();
  smtp::Destination destination;
  // Used for STARTTLS; server_name is replaced by the session's SNI.
  tls::ChannelOptions tls;
};

// The sending side of one connection: an smtp::ClientSession delivering
// `messages` under `policy`, with the client TLS channel on STARTTLS.
class ClientEndpoint : public SessionEndpoint {
 public:
  // Fails as smtp::ClientSession::Create does. `policy` must outlive the
  // endpoint.
  static absl::StatusOr<std::unique_ptr<ClientEndpoint>> Create(
      Scheduler* scheduler, ClientEndpointOptions options,
      smtp::TlsPolicyHook* policy, std::vector<smtp::OutboundMessage> messages);

  void OnConnected() override { Step(); }
  void OnClosed(CloseReason reason) override;

  const smtp::ClientSession& session() const { return connection_->session(); }
  // The facts of a completed handshake, and when it completed.
  const std::optional<TlsFacts>& handshake_facts() const {
    return connection_->handshake_facts();
  }
  absl::Time handshake_time() const { return handshake_time_; }
  // Records the SMTP dialogue into `transcript` from now on (null: stop).
  // It must outlive the endpoint's use of it.
  void set_transcript(std::vector<TranscriptEntry>* transcript);
  // Why the handshake failed, when it did.
  std::optional<tls::FailureReason> handshake_failure() const;

 protected:
  bool Turn() override;
  absl::Status ReceiveWire(absl::string_view bytes, absl::Time now) override {
    return connection_->ReceiveWire(bytes, now);
  }
  absl::string_view PendingWire() const override {
    return connection_->PendingWire();
  }
  void ConsumeWire(size_t n, absl::Time now) override {
    connection_->ConsumeWire(n, now);
  }
  const starttls::TlsPipe& Pipe() const override { return connection_->pipe(); }
  bool Finished() const override { return connection_->finished(); }
  absl::Time SessionDeadline() const override {
    return connection_->NextDeadline();
  }
  void SessionTimeout(absl::Time now) override {
    Note("timeout", connection_->OnTimeout(now));
  }

 private:
  ClientEndpoint(Scheduler* scheduler,
                 std::unique_ptr<starttls::ClientConnection> connection);

  std::unique_ptr<starttls::ClientConnection> connection_;
  absl::Time handshake_time_ = absl::InfiniteFuture();
};

}  // namespace starling::sim

#endif  // STARLING_SIM_SMTP_ENDPOINT_H_
