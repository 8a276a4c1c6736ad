#ifndef STARLING_CORE_SMTP_CLIENT_SESSION_H_
#define STARLING_CORE_SMTP_CLIENT_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <variant>
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
#include "core/smtp/session_error.h"
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
  // Whether the whole message holds an octet >= 0x80, when the source knows
  // before it is read (a stream may not): it then goes with BODY=8BITMIME
  // whatever was declared. Unknown: the declared type is checked while the
  // body is sent.
  virtual std::optional<bool> HasEightBit() const { return std::nullopt; }
};

// A body held in memory.
class StringBodySource : public BodySource {
 public:
  explicit StringBodySource(std::string body);
  absl::StatusOr<absl::string_view> Read(size_t max, bool* end) override;
  std::optional<bool> HasEightBit() const override { return eight_bit_; }

 private:
  std::string body_;
  size_t pos_ = 0;
  bool eight_bit_ = false;
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
  // What the body is. A 7BIT body whose source reports 8-bit octets goes as
  // 8BITMIME; one that shows an 8-bit octet only while it is sent fails
  // (the connection drops before the end of data).
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
  // From the 220 to STARTTLS until TlsEstablished()/TlsFailed() (Postfix:
  // smtp_starttls_timeout, 300 s): a server that stalls is given up on.
  absl::Duration starttls_timeout = absl::Minutes(5);
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

// The per-state data of the client session (internal; the state() enum is
// its public face). Each struct holds what only that state needs.
namespace client_state {

// One mail transaction: its message and what the server said so far.
struct Transaction {
  size_t message = 0;
  bool mail_accepted = false;
  bool failed = false;          // nothing of it can be delivered any more
  std::vector<bool> accepted;   // per recipient: RCPT got a 2xx
  size_t rcpt_sent = 0;
  size_t rcpt_replies = 0;
  bool data_sent = false;       // DATA (or the first BDAT) is in the output
};

struct Greeting {};
struct Ehlo {};
struct Helo {};
struct StartTls {};
struct TlsHandshake {};
struct Auth {
  bool login = false;  // LOGIN (two 334 rounds) rather than PLAIN
  int step = 0;
};
struct Ready {};
struct Envelope {
  Transaction tx;
};
struct Body {
  Transaction tx;
  BodyEncoder encoder;
};
struct Bdat {
  Transaction tx;
  BodyEncoder encoder;
  std::string chunk;       // the chunk being assembled
  bool body_read = false;  // the source ended; the encoder finished
};
struct EndOfData {
  Transaction tx;
  bool empty = false;  // DATA was accepted with no recipient: "." only
};
struct Rset {};
struct Quit {};
struct Closed {};

// In ClientState order.
using State = std::variant<Greeting, Ehlo, Helo, StartTls, TlsHandshake, Auth,
                           Ready, Envelope, Body, Bdat, EndOfData, Rset, Quit,
                           Closed>;

}  // namespace client_state

// The outbound SMTP session (RFC 5321 client), sans-I/O. It delivers the
// given messages over one connection to one MX host, consulting a
// TlsPolicyHook at its TLS seams, and never writes an AUTH, MAIL, RCPT,
// DATA, BDAT or body byte in plaintext when the policy made TLS mandatory.
// Every call that changes state takes `now`; timers restart from it.
//
// One state machine: the state is a variant of per-state data, and the only
// way to change it is a row of ClientTransitions(), whose inputs are the
// reply to the oldest outstanding command (classified by what that command
// may get, RFC 5321 §4.3.2) and the embedder's calls. A reply with no row -
// none outstanding, or one its command cannot get - means the replies are out
// of step with the commands: fatal.
//
// Results are settled where the conversation is provably in step: at a reply
// only its own command can get (354 to DATA, 221 to QUIT) or at the end of the
// connection. Until then they are tentative (RecipientStatus::kPending in
// results()); when replies turn out to be out of step, every tentative result
// becomes a temporary failure ("possibly delivered" where the end of data
// left), so an injected or surplus reply never counts as a delivery or a
// bounce.
//
// Errors: local misuse returns kFailedPrecondition; a server that breaks the
// protocol ends the session with every open recipient temp-failed and makes
// every later call return the same kAborted status (fatal_reason() types it).
// A transition missing from the table is a sticky kInternal error.
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
  // `n` octets of PendingOutput() were written to the connection at `now`
  // (the body timer restarts; more of the body may be read).
  void ConsumeOutput(size_t n, absl::Time now);

  absl::Time NextDeadline() const;
  absl::Status OnTimeout(absl::Time now);

  // After kStartTls. TlsFailed() is also right when TLS fails after the
  // handshake but before the first reply over it (e.g. the server's alert
  // refusing our certificate): that is judged as a failed handshake too.
  absl::Status TlsEstablished(TlsFacts facts, absl::Time now);
  absl::Status TlsFailed(absl::string_view reason, absl::Time now);
  // The connection could not be made, or was closed or reset by the peer.
  void ConnectionLost(absl::string_view reason, absl::Time now);
  // A BodySource that said "not ready" has more now.
  void ResumeBody(absl::Time now);

  ClientState state() const { return static_cast<ClientState>(state_.index()); }
  bool closed() const { return state() == ClientState::kClosed; }
  const absl::Status& fatal_error() const { return fatal_; }
  SessionError fatal_reason() const { return fatal_reason_; }
  const std::vector<MessageResult>& results() const { return results_; }
  const EhloCapabilities& capabilities() const { return caps_; }
  const PolicyDecision& connection_policy() const { return connection_policy_; }
  const TlsFacts* tls() const { return tls_.get(); }
  bool mandatory_tls() const { return mandatory_; }

 private:
  friend class ClientSessionTestPeer;

  // What a command sent and not yet answered was.
  enum class Sent : uint8_t {
    kGreeting, kEhlo, kHelo, kStartTls, kAuth, kMail, kRcpt, kData, kBdat,
    kEndOfData, kRset, kQuit,
  };
  struct Outstanding {
    Sent sent;
    uint32_t recipient = 0;  // kRcpt
    uint32_t message = 0;    // the message being sent when it was written
    // Where its octets end in the output stream (output_consumed_ counts
    // from the same origin): it left only when the embedder consumed them.
    uint64_t end = 0;
  };
  // A result decided but not yet settled (see the class comment).
  struct Tentative {
    size_t message;
    size_t recipient;
    RecipientStatus status;
    ClientStage stage;
    Reply reply;
    std::string detail;
  };

  ClientSession(std::shared_ptr<const ClientOptions> options,
                Destination destination, TlsPolicyHook* policy,
                std::vector<OutboundMessage> messages, absl::Time now);

  // The one way to change state: (state(), input, next) must be a row of the
  // table; otherwise a sticky kInternal error closes the session. Returns
  // whether the row existed.
  bool Transit(ClientInput input, client_state::State next);
  // A row from the state to itself.
  bool Stay(ClientInput input);
  // The reply input for `reply` answering `sent`, or nullopt when that
  // command cannot get that reply.
  static std::optional<ClientInput> Classify(Sent sent, const Reply& reply);
  static absl::string_view SentName(Sent sent);

  bool Send(absl::string_view bytes, Sent sent, uint32_t recipient = 0);
  bool SendCommand(const Command& command, Sent sent, uint32_t recipient = 0);
  // False (and the session aborted) when `sent` may not go out now.
  bool MaySend(Sent sent);
  // Records what was just written to the output, for the reply it awaits.
  void Expect(Sent sent, uint32_t recipient);
  bool PlaintextForbidden(Sent sent) const;
  void Emit(ClientEvent event);

  void OnReply(const Reply& reply);
  void OnGreeting(const Reply& reply);
  void OnEhlo(const Reply& reply);
  void OnHelo(const Reply& reply);
  void OnStartTls(const Reply& reply);
  void OnAuth(const Reply& reply);
  void OnMail(client_state::Transaction& tx, const Reply& reply);
  void OnRcpt(client_state::Transaction& tx, const Reply& reply,
              size_t recipient);
  void OnDataReply(const Reply& reply);
  void OnBdatReply(const Reply& reply);
  void OnEndOfData(const Reply& reply);
  void OnRset(const Reply& reply);

  void SendEhlo(ClientInput input);
  void AfterFirstEhlo();
  // Records the connection's policy decision. When it does not let the
  // connection proceed, fails every message except those that waived TLS
  // (RFC 8689 "TLS-Required: No") and returns whether any message may go.
  bool ApplyConnectionDecision(PolicyDecision decision, ClientStage stage);
  void StartAuthOrProceed(ClientInput input);
  void Proceed(ClientInput input);
  void StartNextMessage();
  bool Pipelining() const;
  bool UseBdat(size_t message) const;
  BodyType BodyTypeOf(size_t message) const;
  bool SendRecipient(client_state::Transaction& tx, size_t recipient);
  void StartBody(client_state::Transaction tx, ClientInput input);
  void FinishTransaction(client_state::Transaction& tx, ClientInput input);
  void PumpBody();
  void PumpData(client_state::Body& body);
  void PumpBdat(client_state::Bdat& bdat);
  bool SendBdatChunk(client_state::Bdat& bdat, size_t size, bool last);
  void Quit(ClientInput input);
  void Close(ClientInput input, absl::string_view reason);

  // Results.
  // Whether a recipient has neither a result nor a tentative one.
  bool Open(size_t message, size_t recipient) const;
  void Decide(size_t message, size_t recipient, RecipientStatus status,
              ClientStage stage, const Reply& reply, absl::string_view detail);
  void Resolve(size_t message, size_t recipient, RecipientStatus status,
               ClientStage stage, Reply reply, absl::string_view detail);
  // Fails the recipients of `tx` still open (a 451 "transaction failed").
  void FailOpenRecipients(const client_state::Transaction& tx);
  void FailMessage(size_t message, RecipientStatus status, ClientStage stage,
                   const Reply& reply, absl::string_view detail);
  void FailRest(RecipientStatus status, ClientStage stage, const Reply& reply,
                absl::string_view detail);
  void MaybeFinishMessage(size_t message);
  // Makes every tentative result final (the conversation is in step).
  void Settle();
  // Replies were out of step: tentative results become temporary failures.
  void Unsettle(absl::string_view reason);
  // The RFC 1047 window: the end of data of a message (DATA's final "." or
  // BDAT LAST) was sent and its reply not read. Temp-fails that message's
  // open recipients at kEndOfData, "possibly delivered". Returns whether any
  // message was in the window.
  bool FailPossiblyDelivered(absl::string_view reason, const Reply& reply);
  ClientStage StageOf(Sent sent) const;
  ClientStage CurrentStage() const;
  void Abort(absl::string_view reason, ClientStage stage, const Reply& reply);
  void Fatal(SessionError error, absl::string_view reason);
  void Internal(absl::string_view what);

  std::shared_ptr<const ClientOptions> options_;
  Destination destination_;
  TlsPolicyHook* policy_;
  std::vector<OutboundMessage> messages_;
  std::vector<MessageResult> results_;

  client_state::State state_;
  absl::Status fatal_;
  SessionError fatal_reason_ = SessionError::kNone;
  absl::Time now_;
  absl::Time last_send_;          // the last write, or the last reply read
  absl::Time handshake_started_;  // when the 220 to STARTTLS was read
  bool received_any_ = false;
  bool reply_over_tls_ = false;   // a reply arrived since TLS came up

  ReplyParser parser_;
  std::deque<Outstanding> outstanding_;
  std::vector<Tentative> tentative_;
  std::string output_;
  uint64_t output_consumed_ = 0;  // octets the embedder has taken from output_
  std::vector<ClientEvent> events_;
  size_t next_event_ = 0;

  EhloCapabilities caps_;
  bool mandatory_ = false;
  bool waiting_for_body_ = false;
  std::string sni_;
  std::shared_ptr<const TlsFacts> tls_;
  PolicyDecision connection_policy_;
  size_t next_message_ = 0;  // the next message to start
};

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_CLIENT_SESSION_H_
