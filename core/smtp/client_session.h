#ifndef STARLING_CORE_SMTP_CLIENT_SESSION_H_
#define STARLING_CORE_SMTP_CLIENT_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/smtp/capabilities.h"
#include "core/smtp/client_transitions.h"
#include "core/smtp/command.h"
#include "core/smtp/dot_stuffing.h"
#include "core/smtp/reply.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::smtp {

// Where the message body comes from. Read() must not block: an empty piece
// with *end false means "not ready", and the embedder calls
// ClientSession::ResumeBody() when it is.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Up to `max` further octets of the message (headers and body, as stored;
  // line endings may be CRLF, LF or CR). Sets *end after the last piece.
  virtual absl::StatusOr<absl::string_view> Read(size_t max, bool* end) = 0;
};

// A body held in memory.
class StringBodySource : public BodySource {
 public:
  explicit StringBodySource(std::string body) : body_(std::move(body)) {}
  absl::StatusOr<absl::string_view> Read(size_t max, bool* end) override;

 private:
  std::string body_;
  size_t pos_ = 0;
};

struct OutboundRecipient {
  Mailbox mailbox;
  RcptParameters dsn;  // NOTIFY / ORCPT, sent only when the server has DSN
};

struct OutboundMessage {
  std::optional<Mailbox> sender;  // nullopt: the null reverse-path <>
  std::vector<OutboundRecipient> recipients;
  std::optional<DsnReturn> ret;      // sent only when the server has DSN
  std::optional<std::string> envid;  // xtext; sent only with DSN
  BodyType body_type = BodyType::k7Bit;
  bool smtputf8 = false;   // the envelope or headers need SMTPUTF8
  MessageTlsFlags tls_flags;
  uint64_t size = 0;       // octets, declared with SIZE=; 0: unknown
  std::shared_ptr<BodySource> body;
};

// Where in the conversation a recipient's fate was decided.
enum class ClientStage : uint8_t {
  kConnect,
  kGreeting,
  kEhlo,
  kStartTls,
  kTlsHandshake,
  kAuth,
  kMail,
  kRcpt,
  kData,
  kEndOfData,
  kPolicy,  // the TLS policy refused the connection or the message
  kLocal,   // refused before sending (server lacks SMTPUTF8, SIZE, ...)
};

absl::string_view ClientStageName(ClientStage stage);

enum class RecipientStatus : uint8_t {
  kPending,
  kDelivered,
  kTempFailed,
  kPermFailed,
};

absl::string_view RecipientStatusName(RecipientStatus status);

struct RecipientResult {
  Mailbox mailbox;
  RecipientStatus status = RecipientStatus::kPending;
  ClientStage stage = ClientStage::kConnect;
  Reply reply;         // the server's, or a local one (detail says so)
  std::string detail;  // why, in words
};

struct MessageResult {
  std::vector<RecipientResult> recipients;
  std::shared_ptr<const TlsFacts> tls;  // null: plaintext
  PolicyDecision policy;                // the decision this message went by
  bool done = false;
};

struct ClientOptions {
  std::string helo_name = "localhost";
  bool use_pipelining = true;  // when the server offers it
  bool prefer_bdat = false;    // BDAT instead of DATA when CHUNKING is offered
  size_t bdat_chunk_size = 64 * 1024;
  bool attempt_starttls = true;  // false: a deliberate attempt in plaintext
  // AUTH (PLAIN or LOGIN, whichever the server offers, PLAIN first). Never
  // over plaintext unless auth_in_plaintext.
  std::string auth_username;
  std::string auth_password;
  bool auth_in_plaintext = false;
  ReplyParserOptions reply_limits;
  size_t max_body_line = 1000;  // CRLF included; longer lines fail the message
  size_t output_high_water = 256 * 1024;  // body is read while output is below

  // RFC 5321 §4.5.3.2 client timeouts.
  absl::Duration greeting_timeout = absl::Minutes(5);
  absl::Duration command_timeout = absl::Minutes(5);  // EHLO, MAIL, RCPT, ...
  absl::Duration data_timeout = absl::Minutes(2);     // waiting for 354
  absl::Duration block_timeout = absl::Minutes(3);    // between body writes
  absl::Duration end_timeout = absl::Minutes(10);     // after end of data
};

enum class ClientEventType : uint8_t {
  kStartTls,     // send the pending output, then run the TLS handshake
  kMessageDone,  // results of message `message` are final
  kClosed,       // close the connection after sending the pending output
};

struct ClientEvent {
  ClientEventType type = ClientEventType::kClosed;
  size_t message = 0;   // kMessageDone
  std::string sni;      // kStartTls: the server name to send
  std::string reason;   // kClosed
};

// The outbound SMTP session (RFC 5321 client), sans-I/O. It delivers the
// given messages over one connection to one MX host, consulting a
// TlsPolicyHook at its TLS seams, and never writes an AUTH, MAIL, RCPT,
// DATA, BDAT or body byte in plaintext when the policy made TLS mandatory.
//
// Errors: local misuse returns kFailedPrecondition; a server that breaks the
// protocol (malformed or surplus replies, bytes injected after the 220 to
// STARTTLS) ends the session with every open recipient temp-failed and makes
// every later Receive() return the same kAborted status.
class ClientSession {
 public:
  // Fails with kInvalidArgument when an envelope value cannot be sent
  // (CR, LF, '>', NUL, over-long or malformed addresses or parameters).
  // `policy` must outlive the session.
  static absl::StatusOr<std::unique_ptr<ClientSession>> Create(
      std::shared_ptr<const ClientOptions> options, Destination destination,
      TlsPolicyHook* policy, std::vector<OutboundMessage> messages,
      absl::Time now);

  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  absl::Status Receive(absl::string_view bytes, absl::Time now);
  std::optional<ClientEvent> NextEvent();

  absl::string_view PendingOutput() const { return output_; }
  void ConsumeOutput(size_t n);

  absl::Time NextDeadline() const;
  absl::Status OnTimeout(absl::Time now);

  // After kStartTls.
  absl::Status TlsEstablished(TlsFacts facts);
  absl::Status TlsFailed(absl::string_view reason);
  // The connection could not be made, or was closed or reset by the peer.
  void ConnectionLost(absl::string_view reason);
  // A BodySource that said "not ready" has more now.
  void ResumeBody();

  ClientState state() const { return state_; }
  bool closed() const { return state_ == ClientState::kClosed; }
  const absl::Status& fatal_error() const { return fatal_; }
  const std::vector<MessageResult>& results() const { return results_; }
  const EhloCapabilities& capabilities() const { return caps_; }
  const PolicyDecision& connection_policy() const { return connection_policy_; }
  const TlsFacts* tls() const { return tls_.get(); }
  bool mandatory_tls() const { return mandatory_; }

 private:
  enum class Expect : uint8_t {
    kGreeting, kEhlo, kHelo, kStartTls, kAuth, kMail, kRcpt, kData,
    kBdat, kEndOfData, kRset, kQuit,
  };
  struct Pending {
    Expect expect;
    size_t recipient = 0;  // kRcpt
    size_t message = 0;    // the message being sent when it was written
    // Where its octets end in the output stream (output_consumed_ counts
    // from the same origin): it left only when the embedder consumed them.
    uint64_t end = 0;
  };

  ClientSession(std::shared_ptr<const ClientOptions> options,
                Destination destination, TlsPolicyHook* policy,
                std::vector<OutboundMessage> messages, absl::Time now);

  static bool ReplyFits(Expect expect, const Reply& reply);
  void Transit(ClientInput input);
  bool SendCommand(const Command& command, Expect expect, size_t recipient = 0);
  bool SendRaw(absl::string_view line, Expect expect);
  bool PlaintextForbidden(Expect expect) const;
  void Emit(ClientEvent event);

  // Bytes after the 220 to STARTTLS: fatal, judged as a failed handshake.
  void ResponseInjection();
  void OnReply(const Reply& reply);
  void OnGreeting(const Reply& reply);
  void OnEhlo(const Reply& reply);
  void OnHelo(const Reply& reply);
  void OnStartTls(const Reply& reply);
  void OnAuth(const Reply& reply);
  void OnMail(const Reply& reply);
  void OnRcpt(const Reply& reply, size_t recipient);
  void OnData(const Reply& reply);
  void OnBdat(const Reply& reply);
  void OnEndOfData(const Reply& reply);

  void AfterFirstEhlo();
  void ApplyConnectionDecision(const PolicyDecision& decision, ClientStage stage);
  void Continue();
  void StartAuthOrProceed();
  void Proceed();
  void StartNextMessage();
  bool Pipelining() const;
  bool UseBdat() const;
  bool SendRecipient(size_t recipient);
  bool AnyAccepted() const;
  void StartBdat();
  void FinishTransaction();
  void PumpBody();
  bool SendBdatChunk(size_t size, bool last);
  void Quit();

  // Results.
  void Resolve(size_t message, size_t recipient, RecipientStatus status,
               ClientStage stage, const Reply& reply, absl::string_view detail);
  void FailMessage(size_t message, RecipientStatus status, ClientStage stage,
                   const Reply& reply, absl::string_view detail);
  void FailRest(RecipientStatus status, ClientStage stage, const Reply& reply,
                absl::string_view detail);
  void MaybeFinishMessage(size_t message);
  // The RFC 1047 window: the end of data of a message (DATA's final "." or
  // BDAT LAST) was sent and its reply not read. Temp-fails that message's
  // open recipients at kEndOfData, "possibly delivered". Returns whether any
  // message was in the window.
  bool FailPossiblyDelivered(absl::string_view reason, const Reply& reply);
  ClientStage StageOf(Expect expect) const;
  void Abort(absl::string_view reason, ClientStage stage, const Reply& reply);
  void Fatal(absl::string_view reason);

  std::shared_ptr<const ClientOptions> options_;
  Destination destination_;
  TlsPolicyHook* policy_;
  std::vector<OutboundMessage> messages_;
  std::vector<MessageResult> results_;

  ClientState state_ = ClientState::kGreeting;
  absl::Status fatal_;
  absl::Time now_;
  absl::Time last_send_;
  bool received_any_ = false;

  ReplyParser parser_;
  std::deque<Pending> pending_;
  std::string output_;
  uint64_t output_consumed_ = 0;  // octets the embedder has taken from output_
  std::vector<ClientEvent> events_;
  size_t next_event_ = 0;

  EhloCapabilities caps_;
  bool esmtp_ = false;
  bool mandatory_ = false;
  std::string sni_;
  std::shared_ptr<const TlsFacts> tls_;
  PolicyDecision connection_policy_;
  int auth_step_ = 0;
  std::string auth_mechanism_;

  // Current transaction.
  size_t current_ = 0;             // index of the message being sent
  bool mail_accepted_ = false;
  bool transaction_failed_ = false;
  std::vector<bool> accepted_;     // per recipient of the current message
  size_t rcpt_replies_ = 0;
  std::unique_ptr<BodyEncoder> encoder_;
  bool body_end_read_ = false;     // the source ended; the encoder finished
  bool end_of_data_sent_ = false;  // "." or BDAT LAST is in the output
  bool waiting_for_body_ = false;
  bool data_without_recipients_ = false;
  bool end_reply_seen_ = false;
  std::string chunk_;              // BDAT chunk being assembled
};

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_CLIENT_SESSION_H_
