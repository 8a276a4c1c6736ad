#ifndef STARLING_CORE_SMTP_SERVER_SESSION_H_
#define STARLING_CORE_SMTP_SERVER_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/smtp/command.h"
#include "core/smtp/line_reader.h"
#include "core/smtp/reply.h"
#include "core/smtp/server_transitions.h"
#include "core/smtp/session_error.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::smtp {

// What to do with plaintext that follows STARTTLS before the handshake (the
// CVE-2011-0411 injection class). It is never executed either way.
enum class StartTlsTail : uint8_t {
  kClose,    // send nothing more and close the session (default)
  kDiscard,  // drop the bytes and go on with the handshake
};

// What to do with a bare CR or bare LF in DATA (SMTP smuggling class). In
// every mode the data ends only at CRLF "." CRLF.
enum class BareLineEndings : uint8_t {
  kReject,     // reply 554 5.5.2 and close: where the message ends is ambiguous
  kNormalize,  // store each as CRLF inside the content (Postfix 3.9's
               // smtpd_forbid_bare_newline = normalize); never an end of data
};

// What to do with a DATA line longer than max_data_line (RFC 5321 §4.5.3.1.6
// says 1000 octets; real mail has longer ones).
enum class LongDataLines : uint8_t {
  kPassThrough,  // pass it on unchanged, read in bounded pieces (like Postfix)
  kReject,       // refuse the message at end of data with 554 5.6.0
};

struct ServerOptions {
  std::string hostname = "localhost";  // in the greeting and the EHLO reply
  std::string greeting_text = "ESMTP Starling";

  // Extensions offered in the EHLO reply.
  bool offer_pipelining = true;
  bool offer_8bitmime = true;
  bool offer_smtputf8 = true;
  bool offer_chunking = true;  // CHUNKING and BINARYMIME
  bool offer_enhanced_status_codes = true;
  bool offer_dsn = true;
  bool offer_starttls = false;    // the embedder must be able to run TLS
  bool offer_requiretls = true;   // only ever offered inside TLS (RFC 8689)
  // SASL mechanisms offered after AUTH. PLAIN and LOGIN are decoded here;
  // others are passed to the embedder step by step. Empty: no AUTH.
  std::vector<std::string> auth_mechanisms;
  bool auth_requires_tls = true;  // offer/accept AUTH only inside TLS

  bool require_tls = false;  // MAIL before STARTTLS gets 530 5.7.0
  StartTlsTail starttls_tail = StartTlsTail::kClose;
  BareLineEndings bare_line_endings = BareLineEndings::kReject;

  // Limits (RFC 5321 §4.5.3.1 minimums by default).
  uint64_t max_message_size = 35 * 1024 * 1024;  // SIZE; 0 = unlimited
  size_t max_recipients = 100;
  size_t max_errors = 10;            // protocol errors before 421 and close
  // CRLF included. MAIL and RCPT lines may be longer by what the extensions
  // offered allow (MaxCommandLine() in command.h: DSN, AUTH, SIZE, ...).
  size_t max_command_line = 512;
  size_t max_auth_line = 12288;      // RFC 4954 §4
  size_t max_data_line = 1000;       // CRLF included; see long_data_lines
  LongDataLines long_data_lines = LongDataLines::kPassThrough;
  size_t max_buffered_input = 64 * 1024;  // pipelined input held while blocked
  size_t body_chunk_size = 64 * 1024;     // MessageData events are at most this
  CommandParseOptions command_limits;

  // RFC 5321 §4.5.3.2.7: at least 5 minutes waiting for the client.
  absl::Duration command_timeout = absl::Minutes(5);
  absl::Duration data_timeout = absl::Minutes(5);
  // From the 220 to STARTTLS until the embedder reports the handshake's end
  // (Postfix: smtpd_starttls_timeout, 300 s). A client that stalls is closed.
  absl::Duration starttls_timeout = absl::Minutes(5);
};

enum class ServerEventType : uint8_t {
  kHelo,             // decision: Accept() sends the EHLO/HELO reply
  kMailFrom,         // decision
  kRcptTo,           // decision
  kMessageData,      // body octets (unstuffed, CRLF lines); no decision
  kMessageComplete,  // decision: accept or refuse the message
  kMessageAborted,   // the body received so far is void (RSET, error, close)
  kAuth,             // decision, or AuthChallenge() for another round
  kStartTls,         // send the pending 220, then run the TLS handshake
  kClosed,           // drain the pending output, then close the connection
};

absl::string_view ServerEventTypeName(ServerEventType type);

struct AuthRequest {
  std::string mechanism;  // upper case
  // PLAIN and LOGIN, decoded.
  std::string authorization_id;
  std::string username;
  std::string password;
  // Any other mechanism: the client's decoded response of this round.
  std::string response;
};

struct ServerEvent {
  ServerEventType type = ServerEventType::kClosed;
  Command command;        // kHelo, kMailFrom, kRcptTo: the parsed command
  std::string data;       // kMessageData: body octets
  uint64_t message_size = 0;  // kMessageComplete: octets of the body
  bool via_bdat = false;      // kMessageComplete
  AuthRequest auth;           // kAuth
  std::string reason;         // kClosed, kMessageAborted: why
};

// Takes a message's body octets as they are read, in place of kMessageData
// events: nothing is copied on the way (`bytes` points into the input being
// processed and is valid only during the call), as nghttp2 hands out DATA.
// Called from inside Receive() and the calls that resume held input
// (Accept(), Reject(), ...), always before the message's kMessageComplete or
// kMessageAborted is queued; it must not call the session. The octets are
// what kMessageData events would carry (unstuffed, CRLF lines), in pieces of
// any size. Events are still queued: pull them before answering a decision
// (as the usual loop does), or a message's octets may come before an
// earlier message's kMessageAborted has been read.
class MessageDataSink {
 public:
  virtual ~MessageDataSink() = default;
  virtual void OnMessageData(absl::string_view bytes) = 0;
};

// The inbound SMTP session (RFC 5321 server), sans-I/O: the embedder feeds
// bytes with Receive(), pulls events with NextEvent(), answers decisions with
// Accept()/Reject(), sends PendingOutput() and reports time with OnTimeout().
// Every call that changes state takes `now`; timers restart from it.
//
// Errors: local misuse (a call that is wrong in the current state) returns
// kFailedPrecondition and changes nothing. A fatal protocol violation by the
// client queues its final reply (if any), emits kClosed and makes every later
// call return the same kAborted status (sticky); fatal_reason() types it. A
// transition missing from the table (a bug) is a sticky kInternal error, not a
// crash. Recoverable client errors are answered with a reply and do not make
// Receive() fail.
class ServerSession {
 public:
  explicit ServerSession(std::shared_ptr<const ServerOptions> options);
  ~ServerSession();

  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  // The connection decision: send the 220 greeting, or refuse with the given
  // reply (554: wait for QUIT; 421: close at once).
  absl::Status AcceptConnection(absl::Time now);
  absl::Status RefuseConnection(const Reply& reply, absl::Time now);

  // Bytes from the client.
  absl::Status Receive(absl::string_view bytes, absl::Time now);

  // The next event, or nullptr when there is none. The event is held by the
  // session (no copy per event): it stays valid, and its fields may be moved
  // from, until the next call of a non-const member (NextEvent included). A
  // decision such as Accept() may queue new events, so take what is needed
  // from an event before answering it.
  ServerEvent* NextEvent();

  // Answers the pending decision (kHelo, kMailFrom, kRcptTo,
  // kMessageComplete, kAuth) with the default reply, or `reply`: Accept
  // needs a 2xx reply, Reject a 4xx/5xx one (text: RFC 5321 textstring). A
  // 421 rejection closes. The command timer restarts at `now`. Pipelined
  // input held during the decision is processed at once; if it ends the
  // session, its fatal error is what returns.
  absl::Status Accept(absl::Time now);
  absl::Status Accept(const Reply& reply, absl::Time now);
  absl::Status Reject(const Reply& reply, absl::Time now);
  // For a pending kAuth of a mechanism other than PLAIN/LOGIN: send a 334
  // challenge (raw bytes; base64-encoded here) and wait for the next response.
  absl::Status AuthChallenge(absl::string_view challenge, absl::Time now);

  // After kStartTls: the handshake completed (the session restarts as after
  // the greeting: no HELO name, transaction, AUTH state or capabilities
  // survive) or failed (the session closes; nothing more is sent). Until one
  // of them, NextDeadline() is the STARTTLS timeout.
  absl::Status TlsEstablished(TlsFacts facts, absl::Time now);
  absl::Status TlsFailed(absl::string_view reason, absl::Time now);

  // The connection was closed or reset by the peer: an open message is
  // aborted (kMessageAborted) and the session closes (kClosed).
  void ConnectionLost(absl::Time now);

  // Bytes to send now; valid until the next mutating call.
  absl::string_view PendingOutput() const { return output_; }
  void ConsumeOutput(size_t n);

  // When OnTimeout() must be called next (InfiniteFuture() when no timer
  // runs, e.g. while a decision is pending).
  absl::Time NextDeadline() const;
  absl::Status OnTimeout(absl::Time now);

  // Ends the session with 421 4.3.2 (e.g. the server is shutting down).
  void Shutdown(absl::Time now);

  // Body octets to `sink` instead of kMessageData events (nullptr, the
  // default: events). The sink must outlive the session or be reset first.
  void set_message_data_sink(MessageDataSink* sink) { data_sink_ = sink; }

  // While false, STARTTLS is not advertised and is answered 454 4.7.0 (e.g.
  // the certificate could not be loaded). Default: true.
  void set_tls_available(bool available) { tls_available_ = available; }

  ServerState state() const { return state_; }
  bool closed() const { return state_ == ServerState::kClosed; }
  const absl::Status& fatal_error() const { return fatal_; }
  SessionError fatal_reason() const { return fatal_reason_; }
  bool pending_decision() const;

  // Facts the embedder's decisions may use.
  absl::string_view helo_name() const { return helo_name_; }
  bool esmtp() const { return esmtp_; }
  const TlsFacts* tls() const { return tls_.get(); }
  absl::string_view authenticated_user() const { return auth_user_; }
  size_t accepted_recipients() const { return recipients_; }
  // Octets of a BDAT chunk still to be read (0 outside a chunk).
  uint64_t chunk_octets_expected() const { return chunk_remaining_; }

  // Bytes held at rest besides sizeof(*this) (buffers' capacity).
  size_t buffered_bytes() const;

 private:
  friend class ServerSessionTestPeer;
  struct Auth;

  // The table's row for (state, input), or a sticky kInternal error that
  // closes the session. Returns whether the row existed.
  bool Transit(ServerInput input);
  absl::Status Decide(const Reply* reply, bool accept, absl::Time now);
  void Send(const Reply& reply);
  // Sends Reply::Make(code, enhanced, text) without building it.
  void SendLine(int code, absl::string_view enhanced, absl::string_view text);
  void SendError(int code, absl::string_view enhanced, absl::string_view text);
  void Close(absl::string_view reason);
  void Fatal(SessionError error, absl::string_view reason,
             std::optional<Reply> reply);
  // Queues a new event of `type`; the reference is good until the next Emit.
  ServerEvent& Emit(ServerEventType type);
  void AbortMessage(absl::string_view reason);
  void ResetTransaction();

  // Input processing; stop when blocked (a decision or TLS is pending).
  void Process(absl::string_view* input);
  bool Blocked() const;
  void ProcessCommandLine(absl::string_view* input);
  // The parsed line goes by view down to the event, which copies what it
  // keeps (a rejected command copies nothing).
  void HandleCommand(const CommandView& command, absl::string_view* input);
  void ProcessData(absl::string_view* input);
  bool ScanPlainLines(absl::string_view* input);
  void ProcessBdat(absl::string_view* input);
  void ProcessAuthLine(absl::string_view* input);
  void ResumeAfterDecision();

  void OnEhlo(const CommandView& command);
  void OnMail(const CommandView& command);
  void OnRcpt(const CommandView& command);
  void OnData();
  void OnBdat(const CommandView& command);
  void OnStartTls(absl::string_view* input);
  void OnAuth(const CommandView& command);
  void OnAuthResponse(absl::string_view text);
  void DiscardChunk(uint64_t size, Reply reply);
  void ChunkComplete();
  void EndOfMessage();
  void AppendBody(absl::string_view bytes);
  void FlushBody();
  void UpdateLineLimit();
  LineExtensions OfferedLineExtensions() const;
  bool InMessage() const;

  void SendEhloReply();
  bool AuthOffered() const;
  bool PipeliningAllowed() const { return esmtp_ && options_->offer_pipelining; }

  std::shared_ptr<const ServerOptions> options_;
  absl::Status fatal_;

  LineReader lines_;
  std::string input_;   // unprocessed input held while blocked
  std::string output_;  // replies not yet taken by the embedder
  std::vector<ServerEvent> events_;
  size_t next_event_ = 0;

  absl::Time last_activity_ = absl::InfinitePast();
  size_t errors_ = 0;

  // Session facts.
  std::string helo_name_;
  std::unique_ptr<TlsFacts> tls_;
  std::string auth_user_;
  std::unique_ptr<Auth> auth_;  // during a SASL exchange

  // Transaction.
  size_t recipients_ = 0;
  uint64_t message_size_ = 0;
  // The reply the current message will get instead of being accepted; it
  // and chunk_reply_ are rare, held out of line to keep idle sessions small.
  std::unique_ptr<Reply> message_failure_;
  uint64_t chunk_remaining_ = 0;  // octets of the BDAT chunk still to read
  std::unique_ptr<Reply> chunk_reply_;
  std::string body_;              // body octets not yet emitted

  MessageDataSink* data_sink_ = nullptr;   // or kMessageData events
  const Reply* pending_accept_ = nullptr;  // default reply for Accept()
  std::string pending_helo_;             // name in a pending EHLO/HELO

  // The one-octet fields, together so that they share one word (an idle
  // session's size is a benchmark goal).
  ServerState state_ = ServerState::kAwaitConnect;
  SessionError fatal_reason_ = SessionError::kNone;
  bool esmtp_ = false;
  bool tls_available_ = true;
  bool smtputf8_ = false;       // transaction
  bool binary_body_ = false;    // transaction
  bool saw_bdat_ = false;       // transaction
  bool chunk_last_ = false;     // transaction
  bool chunk_discard_ = false;  // reading a refused chunk: drop, then reply
  // DATA: the last line ended in CRLF (the DATA line did). Only then can a
  // "." line end the data: the end is CRLF "." CRLF in every mode.
  bool after_crlf_ = true;
  bool pending_ehlo_ = false;
  // What the line limits were last set for (UpdateLineLimit); 0: nothing.
  uint8_t line_limits_for_ = 0;
};

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_SERVER_SESSION_H_
