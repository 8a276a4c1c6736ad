#include "core/smtp/client_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/smtp/text.h"

namespace starling::smtp {
namespace {

namespace cs = client_state;

constexpr size_t kBodyReadSize = 16 * 1024;

static_assert(std::variant_size_v<cs::State> ==
                  static_cast<size_t>(ClientState::kClosed) + 1,
              "one per-state struct per ClientState, in order");

// Values that would let a caller smuggle syntax into a command line. (A
// plain loop: find_first_of builds a table per call, and these are short.)
bool HasForbiddenByte(absl::string_view value) {
  for (const char c : value) {
    if (c == '\r' || c == '\n' || c == '<' || c == '>' || c == '\0') {
      return true;
    }
  }
  return false;
}

// The checks below return their complaint alone; the caller names what was
// checked (only then: the names are built on failure, not per recipient).
absl::Status Named(const absl::Status& status, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", status.message()));
}

// The command must survive our own strict parser unchanged and fit the line
// limit its parameters' extensions allow: that rejects over-long, malformed or
// unsendable envelope values before anything is sent.
// `line` is scratch space, reused from command to command.
absl::Status CheckSendable(const Command& command, bool utf8,
                           std::string& line) {
  line.clear();
  AppendCommand(command, &line);
  const size_t limit = MaxCommandLine(command.verb, ExtensionsUsed(command));
  if (line.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("command longer than ", limit, " octets"));
  }
  line.resize(line.size() - 2);  // CRLF
  CommandParseOptions options;
  options.utf8_addresses = utf8;
  options.strict_helo = true;
  CommandView parsed;
  return ParseCommandView(line, options, parsed);
}

absl::Status CheckMailbox(const Mailbox& mailbox) {
  if (HasForbiddenByte(mailbox.local_part) || HasForbiddenByte(mailbox.domain)) {
    return absl::InvalidArgumentError("CR, LF, NUL, '<' or '>' in an address");
  }
  return absl::OkStatus();
}

RecipientStatus StatusOf(const Reply& reply) {
  if (reply.positive()) return RecipientStatus::kDelivered;
  return reply.permanent() ? RecipientStatus::kPermFailed
                           : RecipientStatus::kTempFailed;
}

bool Proceeds(DeliveryVerdict verdict) {
  return verdict == DeliveryVerdict::kProceedTls ||
         verdict == DeliveryVerdict::kProceedPlaintext;
}

std::string Explain(const PolicyDecision& decision) {
  return absl::StrCat(decision.label.empty() ? "" : decision.label + ": ",
                      absl::StrJoin(decision.trace, "; "));
}

// The generic success of MAIL, RCPT, BDAT, the end of data and RSET. Codes
// only another command can get (220, 221, 235, 334, 354) are out of step.
bool GenericOk(const Reply& reply) { return reply.code / 10 == 25; }
bool Refusal(const Reply& reply) { return reply.code >= 400; }

bool AnyAccepted(const cs::Transaction& tx) {
  return std::find(tx.accepted.begin(), tx.accepted.end(), true) !=
         tx.accepted.end();
}

}  // namespace

absl::string_view ClientSession::SentName(Sent sent) {
  switch (sent) {
    case Sent::kGreeting: return "greeting";
    case Sent::kEhlo: return "EHLO";
    case Sent::kHelo: return "HELO";
    case Sent::kStartTls: return "STARTTLS";
    case Sent::kAuth: return "AUTH";
    case Sent::kMail: return "MAIL";
    case Sent::kRcpt: return "RCPT";
    case Sent::kData: return "DATA";
    case Sent::kBdat: return "BDAT";
    case Sent::kEndOfData: return "end-of-data";
    case Sent::kRset: return "RSET";
    case Sent::kQuit: return "QUIT";
  }
  return "?";
}

absl::string_view ClientStageName(ClientStage stage) {
  switch (stage) {
    case ClientStage::kConnect: return "connect";
    case ClientStage::kGreeting: return "greeting";
    case ClientStage::kEhlo: return "EHLO";
    case ClientStage::kStartTls: return "STARTTLS";
    case ClientStage::kTlsHandshake: return "TLS handshake";
    case ClientStage::kAuth: return "AUTH";
    case ClientStage::kMail: return "MAIL";
    case ClientStage::kRcpt: return "RCPT";
    case ClientStage::kData: return "DATA";
    case ClientStage::kEndOfData: return "end of data";
    case ClientStage::kPolicy: return "policy";
    case ClientStage::kLocal: return "local";
  }
  return "?";
}

absl::string_view RecipientStatusName(RecipientStatus status) {
  switch (status) {
    case RecipientStatus::kPending: return "pending";
    case RecipientStatus::kDelivered: return "delivered";
    case RecipientStatus::kTempFailed: return "temp-failed";
    case RecipientStatus::kPermFailed: return "perm-failed";
  }
  return "?";
}

StringBodySource::StringBodySource(std::string body)
    : body_(std::move(body)), eight_bit_(smtp::HasEightBit(body_)) {}

absl::StatusOr<absl::string_view> StringBodySource::Read(size_t max,
                                                         bool* end) {
  const size_t n = std::min(max, body_.size() - pos_);
  absl::string_view piece(body_.data() + pos_, n);
  pos_ += n;
  *end = pos_ == body_.size();
  return piece;
}

// ---- construction ------------------------------------------------------------

absl::StatusOr<std::unique_ptr<ClientSession>> ClientSession::Create(
    std::shared_ptr<const ClientOptions> options, Destination destination,
    TlsPolicyHook* policy, std::vector<OutboundMessage> messages,
    absl::Time now) {
  if (policy == nullptr) return absl::InvalidArgumentError("no TLS policy");
  if (messages.empty()) return absl::InvalidArgumentError("no messages");
  std::string line;
  Command ehlo;
  ehlo.verb = Verb::kEhlo;
  ehlo.domain = options->helo_name;
  if (HasForbiddenByte(ehlo.domain)) {
    return absl::InvalidArgumentError("helo_name: forbidden character");
  }
  if (absl::Status s = CheckSendable(ehlo, false, line); !s.ok()) {
    return Named(s, "helo_name");
  }
  for (size_t m = 0; m < messages.size(); ++m) {
    const OutboundMessage& message = messages[m];
    auto where = [m] { return absl::StrCat("message ", m); };
    if (message.body == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where(), ": no body"));
    }
    if (message.recipients.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": no recipients"));
    }
    Command mail;
    mail.verb = Verb::kMail;
    mail.path = message.sender;
    mail.mail.smtputf8 = message.smtputf8;
    mail.mail.envid = message.envid;
    mail.mail.ret = message.ret;
    if (message.sender) {
      if (absl::Status s = CheckMailbox(*message.sender); !s.ok()) {
        return Named(s, where() + " sender");
      }
    }
    if (message.envid && HasForbiddenByte(*message.envid)) {
      return absl::InvalidArgumentError(where() + ": forbidden byte in ENVID");
    }
    if (absl::Status s = CheckSendable(mail, message.smtputf8, line); !s.ok()) {
      return Named(s, where() + " sender");
    }
    for (size_t r = 0; r < message.recipients.size(); ++r) {
      auto who = [&where, r] {
        return absl::StrCat(where(), " recipient ", r);
      };
      const OutboundRecipient& recipient = message.recipients[r];
      if (absl::Status s = CheckMailbox(recipient.mailbox); !s.ok()) {
        return Named(s, who());
      }
      if (recipient.dsn.orcpt && HasForbiddenByte(*recipient.dsn.orcpt)) {
        return absl::InvalidArgumentError(who() + ": forbidden byte in ORCPT");
      }
      Command rcpt;
      rcpt.verb = Verb::kRcpt;
      rcpt.path = recipient.mailbox;
      rcpt.rcpt = recipient.dsn;
      if (absl::Status s = CheckSendable(rcpt, message.smtputf8, line);
          !s.ok()) {
        return Named(s, who());
      }
    }
  }
  return std::unique_ptr<ClientSession>(
      new ClientSession(std::move(options), std::move(destination), policy,
                        std::move(messages), now));
}

ClientSession::ClientSession(std::shared_ptr<const ClientOptions> options,
                             Destination destination, TlsPolicyHook* policy,
                             std::vector<OutboundMessage> messages,
                             absl::Time now)
    : options_(std::move(options)),
      destination_(std::move(destination)),
      policy_(policy),
      messages_(std::move(messages)),
      state_(cs::Greeting{}),
      now_(now),
      last_send_(now),
      parser_(options_->reply_limits) {
  results_.resize(messages_.size());
  for (size_t m = 0; m < messages_.size(); ++m) {
    results_[m].recipients.reserve(messages_[m].recipients.size());
    for (const OutboundRecipient& recipient : messages_[m].recipients) {
      RecipientResult result;
      result.mailbox = recipient.mailbox;
      results_[m].recipients.push_back(std::move(result));
    }
  }
  outstanding_.push_back({Sent::kGreeting});
}

// ---- the state machine ---------------------------------------------------------

bool ClientSession::Transit(ClientInput input, cs::State next) {
  const ClientState to = static_cast<ClientState>(next.index());
  if (!ClientTransitionAllowed(state(), input, to)) {
    Internal(absl::StrCat("client transition missing from the table: ",
                          ClientStateName(state()), " + ",
                          ClientInputName(input), " -> ", ClientStateName(to)));
    return false;
  }
  state_ = std::move(next);
  return true;
}

bool ClientSession::Stay(ClientInput input) {
  if (ClientTransitionAllowed(state(), input, state())) return true;
  Internal(absl::StrCat("client transition missing from the table: ",
                        ClientStateName(state()), " + ", ClientInputName(input),
                        " -> ", ClientStateName(state())));
  return false;
}

// RFC 5321 §4.3.2: the replies each command can get. A 421 may answer any
// of them (§3.8). Anything else means the reply stream is out of step with
// the commands (replies injected, lost or duplicated).
std::optional<ClientInput> ClientSession::Classify(Sent sent,
                                                   const Reply& reply) {
  using I = ClientInput;
  if (reply.code == 421) return I::kServerClosing;
  const bool refused = Refusal(reply);
  switch (sent) {
    case Sent::kGreeting:
      if (reply.code == 220) return I::kGreeting;
      if (refused) return I::kGreetingRefused;
      break;
    case Sent::kEhlo:
      if (reply.code == 250) return I::kEhloOk;
      if (refused) return I::kEhloRefused;
      break;
    case Sent::kHelo:
      if (reply.code == 250) return I::kHeloOk;
      if (refused) return I::kHeloRefused;
      break;
    case Sent::kStartTls:
      if (reply.code == 220) return I::kStartTlsOk;
      if (refused) return I::kStartTlsRefused;
      break;
    case Sent::kAuth:
      if (reply.code == 334) return I::kAuthChallenge;
      if (reply.code == 235) return I::kAuthOk;
      if (refused) return I::kAuthRefused;
      break;
    case Sent::kMail:
      if (GenericOk(reply) || refused) return I::kMailReply;
      break;
    case Sent::kRcpt:
      if (GenericOk(reply) || refused) return I::kRcptReply;
      break;
    case Sent::kData:
      if (reply.code == 354) return I::kDataGo;
      if (refused) return I::kDataRefused;
      break;
    case Sent::kBdat:
      if (GenericOk(reply) || refused) return I::kBdatReply;
      break;
    case Sent::kEndOfData:
      if (GenericOk(reply) || refused) return I::kEndOfDataReply;
      break;
    case Sent::kRset:
      if (GenericOk(reply) || refused) return I::kRsetReply;
      break;
    case Sent::kQuit:
      if (reply.code == 221) return I::kQuitReply;
      break;
  }
  return std::nullopt;
}

void ClientSession::Emit(ClientEvent event) {
  events_.push_back(std::move(event));
}

std::optional<ClientEvent> ClientSession::NextEvent() {
  if (next_event_ >= events_.size()) return std::nullopt;
  std::optional<ClientEvent> event(std::move(events_[next_event_++]));
  if (next_event_ == events_.size()) {
    std::vector<ClientEvent>().swap(events_);
    next_event_ = 0;
  }
  return event;
}

bool ClientSession::PlaintextForbidden(Sent sent) const {
  if (!mandatory_ || tls_ != nullptr) return false;
  switch (sent) {
    case Sent::kAuth:
    case Sent::kMail:
    case Sent::kRcpt:
    case Sent::kData:
    case Sent::kBdat:
    case Sent::kEndOfData:
      return true;
    default:
      return false;
  }
}

bool ClientSession::MaySend(Sent sent) {
  if (PlaintextForbidden(sent)) {
    // Belt and braces: the flow never gets here, but if it did, nothing of
    // the envelope or body may leave in plaintext under a mandatory policy.
    Abort("refused to send in plaintext under a mandatory TLS policy",
          ClientStage::kPolicy,
          Reply::Make(451, "4.7.0", "TLS required by policy"));
    return false;
  }
  return true;
}

void ClientSession::Expect(Sent sent, uint32_t recipient) {
  outstanding_.push_back({sent, recipient, static_cast<uint32_t>(next_message_),
                          output_consumed_ + output_.size()});
}

bool ClientSession::Send(absl::string_view bytes, Sent sent,
                         uint32_t recipient) {
  if (!MaySend(sent)) return false;
  output_.append(bytes.data(), bytes.size());
  Expect(sent, recipient);
  return true;
}

bool ClientSession::SendCommand(const Command& command, Sent sent,
                                uint32_t recipient) {
  if (!MaySend(sent)) return false;
  AppendCommand(command, &output_);  // no string of its own
  Expect(sent, recipient);
  return true;
}

void ClientSession::ConsumeOutput(size_t n, absl::Time now) {
  n = std::min(n, output_.size());
  if (n == 0) return;
  now_ = now;
  last_send_ = now;
  output_consumed_ += n;
  output_.erase(0, n);
  if (output_.empty()) output_.shrink_to_fit();
  PumpBody();
}

void ClientSession::ResumeBody(absl::Time now) {
  if (closed()) return;
  now_ = now;
  last_send_ = now;
  waiting_for_body_ = false;
  PumpBody();
}

ClientStage ClientSession::StageOf(Sent sent) const {
  switch (sent) {
    case Sent::kGreeting:
      return received_any_ ? ClientStage::kGreeting : ClientStage::kConnect;
    case Sent::kEhlo:
    case Sent::kHelo:
      return ClientStage::kEhlo;
    case Sent::kStartTls:
      return ClientStage::kStartTls;
    case Sent::kAuth:
      return ClientStage::kAuth;
    case Sent::kRcpt:
      return ClientStage::kRcpt;
    case Sent::kData:
    case Sent::kBdat:
      return ClientStage::kData;
    case Sent::kEndOfData:
      return ClientStage::kEndOfData;
    default:
      return ClientStage::kMail;
  }
}

ClientStage ClientSession::CurrentStage() const {
  if (!outstanding_.empty()) return StageOf(outstanding_.front().sent);
  switch (state()) {
    case ClientState::kTlsHandshake:
      return ClientStage::kTlsHandshake;
    case ClientState::kBody:
    case ClientState::kBdat:
      return ClientStage::kData;
    default:
      return ClientStage::kMail;
  }
}

// ---- results -----------------------------------------------------------------

void ClientSession::Resolve(size_t message, size_t recipient,
                            RecipientStatus status, ClientStage stage,
                            Reply reply, absl::string_view detail) {
  RecipientResult& result = results_[message].recipients[recipient];
  if (result.status != RecipientStatus::kPending) return;
  result.status = status;
  result.stage = stage;
  result.reply = std::move(reply);
  result.detail = std::string(detail);
}

bool ClientSession::Open(size_t message, size_t recipient) const {
  if (results_[message].recipients[recipient].status !=
      RecipientStatus::kPending) {
    return false;
  }
  for (const Tentative& t : tentative_) {
    if (t.message == message && t.recipient == recipient) return false;
  }
  return true;
}

void ClientSession::Decide(size_t message, size_t recipient,
                           RecipientStatus status, ClientStage stage,
                           const Reply& reply, absl::string_view detail) {
  if (!Open(message, recipient)) return;
  // Room for the whole message at once: a transaction decides its
  // recipients one reply after another (usually all at the end of data).
  if (tentative_.empty()) {
    tentative_.reserve(results_[message].recipients.size());
  }
  tentative_.push_back(
      {message, recipient, status, stage, reply, std::string(detail)});
}

void ClientSession::FailOpenRecipients(const cs::Transaction& tx) {
  // Built only when some recipient is still open: usually none is.
  std::optional<Reply> failed;
  for (size_t r = 0; r < tx.accepted.size(); ++r) {
    if (!Open(tx.message, r)) continue;
    if (!failed.has_value()) {
      failed = Reply::Make(451, "4.3.0", "transaction failed");
    }
    Decide(tx.message, r, RecipientStatus::kTempFailed, ClientStage::kData,
           *failed, "transaction failed");
  }
}

void ClientSession::Settle() {
  if (tentative_.empty()) return;
  std::vector<Tentative> settled;
  settled.swap(tentative_);
  for (Tentative& t : settled) {
    Resolve(t.message, t.recipient, t.status, t.stage, std::move(t.reply),
            t.detail);
  }
  for (const Tentative& t : settled) MaybeFinishMessage(t.message);
}

void ClientSession::Unsettle(absl::string_view reason) {
  std::vector<Tentative> unsettled;
  unsettled.swap(tentative_);
  for (Tentative& t : unsettled) {
    // The reply that decided it may have been someone else's: nothing it
    // said counts. Where the end of data left, the server may have the
    // message (RFC 1047): a retry may duplicate it, never lose it.
    const bool window = t.stage == ClientStage::kEndOfData;
    const std::string detail = absl::StrCat(
        "replies out of step (", reason, ")",
        window ? "; after end of data: possibly delivered" : "");
    Resolve(t.message, t.recipient, RecipientStatus::kTempFailed, t.stage,
            Reply::Make(451, "4.5.0", detail), detail);
  }
  for (const Tentative& t : unsettled) MaybeFinishMessage(t.message);
}

void ClientSession::MaybeFinishMessage(size_t message) {
  MessageResult& result = results_[message];
  if (result.done) return;
  for (const RecipientResult& r : result.recipients) {
    if (r.status == RecipientStatus::kPending) return;
  }
  result.done = true;
  ClientEvent event;
  event.type = ClientEventType::kMessageDone;
  event.message = message;
  Emit(std::move(event));
}

void ClientSession::FailMessage(size_t message, RecipientStatus status,
                                ClientStage stage, const Reply& reply,
                                absl::string_view detail) {
  for (size_t r = 0; r < results_[message].recipients.size(); ++r) {
    Resolve(message, r, status, stage, reply, detail);
  }
  MaybeFinishMessage(message);
}

void ClientSession::FailRest(RecipientStatus status, ClientStage stage,
                             const Reply& reply, absl::string_view detail) {
  for (size_t m = 0; m < results_.size(); ++m) {
    if (results_[m].done) continue;
    if (results_[m].tls == nullptr) results_[m].tls = tls_;
    if (results_[m].policy.label.empty() && results_[m].policy.trace.empty()) {
      results_[m].policy = connection_policy_;
    }
    FailMessage(m, status, stage, reply, detail);
  }
}

bool ClientSession::FailPossiblyDelivered(absl::string_view reason,
                                          const Reply& reply) {
  bool window = false;
  for (const Outstanding& o : outstanding_) {
    // Only an end of data that left: one still in output_ (or cut short by
    // the loss) cannot have completed a transaction on the server.
    if (o.sent != Sent::kEndOfData || output_consumed_ < o.end ||
        o.message >= results_.size()) {
      continue;
    }
    const size_t m = o.message;
    bool open = false;
    for (const RecipientResult& r : results_[m].recipients) {
      open |= r.status == RecipientStatus::kPending;
    }
    if (!open) continue;  // e.g. DATA ended empty after every RCPT failed
    window = true;
    const std::string detail = absl::StrCat(
        reason, "; after end of data, before the reply: possibly delivered");
    Reply flagged = reply;
    flagged.lines.assign(1, detail);
    if (results_[m].tls == nullptr) results_[m].tls = tls_;
    for (size_t r = 0; r < results_[m].recipients.size(); ++r) {
      Resolve(m, r, RecipientStatus::kTempFailed, ClientStage::kEndOfData,
              flagged, detail);
    }
    MaybeFinishMessage(m);
  }
  return window;
}

void ClientSession::Close(ClientInput input, absl::string_view reason) {
  if (!Transit(input, cs::Closed{})) return;
  waiting_for_body_ = false;
  ClientEvent event;
  event.type = ClientEventType::kClosed;
  event.reason = std::string(reason);
  Emit(std::move(event));
}

void ClientSession::Abort(absl::string_view reason, ClientStage stage,
                          const Reply& reply) {
  if (closed()) return;
  // Nothing showed the replies out of step: what they said stands.
  Settle();
  // The server may have taken a message whose end of data it received
  // before the connection died: retrying can deliver it twice (RFC 1047).
  const bool window = FailPossiblyDelivered(reason, reply);
  // The end of data of any message still open never left (it would be in the
  // window otherwise): its recipients failed while the data was being sent.
  if (stage == ClientStage::kEndOfData) stage = ClientStage::kData;
  FailRest(RecipientStatus::kTempFailed, stage, reply, reason);
  // Unsent bytes must not go: the connection ends here, and a partial DATA
  // body without its end marker is discarded by the server.
  output_.clear();
  outstanding_.clear();
  Close(ClientInput::kClose,
        absl::StrCat(reason, window ? "; after end of data, before the "
                                      "reply: possibly delivered"
                                    : ""));
}

void ClientSession::Fatal(SessionError error, absl::string_view reason) {
  if (closed()) return;
  fatal_ = absl::AbortedError(absl::StrCat("SMTP protocol violation: ", reason));
  fatal_reason_ = error;
  if (error == SessionError::kRepliesOutOfStep) Unsettle(reason);
  Abort(reason, CurrentStage(),
        Reply::Make(451, "4.5.0", absl::StrCat("protocol error: ", reason)));
}

void ClientSession::Internal(absl::string_view what) {
  fatal_ = absl::InternalError(what);
  fatal_reason_ = SessionError::kInternal;
  Settle();
  FailRest(RecipientStatus::kTempFailed, CurrentStage(),
           Reply::Make(451, "4.3.0", "internal error in the SMTP client"),
           what);
  output_.clear();
  outstanding_.clear();
  waiting_for_body_ = false;
  // The one change of state outside the table: the table itself failed.
  state_ = cs::Closed{};
  ClientEvent event;
  event.type = ClientEventType::kClosed;
  event.reason = std::string(what);
  Emit(std::move(event));
}

// ---- input -------------------------------------------------------------------

absl::Status ClientSession::Receive(absl::string_view bytes, absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (closed()) return absl::FailedPreconditionError("session is closed");
  now_ = now;
  if (bytes.empty()) return absl::OkStatus();
  received_any_ = true;
  if (state() == ClientState::kTlsHandshake) {
    constexpr absl::string_view kReason =
        "reply bytes after the 220 to STARTTLS (response injection)";
    // TLS could not be established safely: the policy judges it as a failed
    // handshake, so the results carry its verdict, label and RFC 8460 type.
    connection_policy_ =
        policy_->WithoutTls(destination_, TlsProblem::kHandshakeFailed, kReason);
    Fatal(SessionError::kResponseInjection, kReason);
    return fatal_;
  }
  while (!bytes.empty() && !closed()) {
    absl::StatusOr<std::optional<Reply>> reply = parser_.Next(&bytes);
    if (!reply.ok()) {
      Fatal(SessionError::kMalformedReply,
            absl::StrCat("malformed reply: ", reply.status().message()));
      return fatal_;
    }
    if (!reply->has_value()) break;
    if (!outstanding_.empty() && outstanding_.front().sent == Sent::kStartTls &&
        (*reply)->code == 220 && (!bytes.empty() || parser_.in_reply())) {
      // Anything after the 220 and before the handshake was not sent by the
      // server we will talk to over TLS (CVE-2021-22947 class): never parse
      // it, and never start the handshake.
      constexpr absl::string_view kReason =
          "reply bytes after the 220 to STARTTLS (response injection)";
      connection_policy_ = policy_->WithoutTls(
          destination_, TlsProblem::kHandshakeFailed, kReason);
      Fatal(SessionError::kResponseInjection, kReason);
      return fatal_;
    }
    last_send_ = now;  // the server is alive: the next timer starts now
    OnReply(**reply);
  }
  return fatal_;
}

void ClientSession::OnReply(const Reply& reply) {
  if (tls_ != nullptr) reply_over_tls_ = true;
  std::optional<ClientInput> input;
  if (outstanding_.empty()) {
    // RFC 5321 §3.8: a server may say 421 and close at any time.
    if (reply.code == 421) input = ClientInput::kServerClosing;
  } else {
    input = Classify(outstanding_.front().sent, reply);
  }
  if (!input.has_value() || !ClientInputExpected(state(), *input)) {
    Fatal(SessionError::kRepliesOutOfStep,
          outstanding_.empty()
              ? absl::StrCat("reply ", reply.code,
                             " with no command outstanding (replies out of "
                             "step)")
              : absl::StrCat("reply ", reply.code, " cannot answer the ",
                             SentName(outstanding_.front().sent),
                             " command (replies out of step)"));
    return;
  }
  if (*input == ClientInput::kServerClosing) {
    // The server is going away: what it said so far stands, all that is
    // open is retried.
    const ClientStage stage = CurrentStage();
    Settle();
    FailRest(RecipientStatus::kTempFailed, stage, reply,
             "server closed the connection (421)");
    output_.clear();
    outstanding_.clear();
    Close(ClientInput::kServerClosing, "server sent 421");
    return;
  }
  const Outstanding answered = outstanding_.front();
  outstanding_.pop_front();
  // Replies only their own command can get: everything before is in step.
  if (*input == ClientInput::kDataGo || *input == ClientInput::kQuitReply) {
    Settle();
  }
  switch (answered.sent) {
    case Sent::kGreeting: OnGreeting(reply); return;
    case Sent::kEhlo: OnEhlo(reply); return;
    case Sent::kHelo: OnHelo(reply); return;
    case Sent::kStartTls: OnStartTls(reply); return;
    case Sent::kAuth: OnAuth(reply); return;
    case Sent::kMail:
      OnMail(std::get<cs::Envelope>(state_).tx, reply);
      return;
    case Sent::kRcpt:
      OnRcpt(std::get<cs::Envelope>(state_).tx, reply, answered.recipient);
      return;
    case Sent::kData: OnDataReply(reply); return;
    case Sent::kBdat: OnBdatReply(reply); return;
    case Sent::kEndOfData: OnEndOfData(reply); return;
    case Sent::kRset: OnRset(reply); return;
    case Sent::kQuit: Close(ClientInput::kQuitReply, "QUIT answered"); return;
  }
}

// ---- connection setup ----------------------------------------------------------

void ClientSession::SendEhlo(ClientInput input) {
  if (!Transit(input, cs::Ehlo{})) return;
  Command ehlo;
  ehlo.verb = Verb::kEhlo;
  ehlo.domain = options_->helo_name;
  SendCommand(ehlo, Sent::kEhlo);
}

void ClientSession::Quit(ClientInput input) {
  if (!Transit(input, cs::Quit{})) return;
  Send("QUIT\r\n", Sent::kQuit);
}

void ClientSession::OnGreeting(const Reply& reply) {
  if (reply.code == 220) {
    SendEhlo(ClientInput::kGreeting);
    return;
  }
  // Postfix and RFC 5321 §5.1 alike: a host that will not talk is skipped.
  connection_policy_.verdict = DeliveryVerdict::kTryNextMx;
  FailRest(RecipientStatus::kTempFailed, ClientStage::kGreeting, reply,
           "server refused the connection");
  Quit(ClientInput::kGreetingRefused);
}

void ClientSession::OnEhlo(const Reply& reply) {
  if (reply.code == 250) {
    absl::StatusOr<EhloCapabilities> caps = ParseEhloReply(reply);
    if (!caps.ok()) {
      Fatal(SessionError::kMalformedReply,
            absl::StrCat("malformed EHLO reply: ", caps.status().message()));
      return;
    }
    caps_ = *std::move(caps);
    // RFC 6531 §3.7.4: a server that offers SMTPUTF8 may answer in UTF-8.
    parser_.set_utf8(caps_.smtputf8);
    if (tls_ == nullptr) {
      AfterFirstEhlo();
    } else {
      StartAuthOrProceed(ClientInput::kEhloOk);
    }
    return;
  }
  if (tls_ != nullptr || !reply.permanent()) {
    FailRest(RecipientStatus::kTempFailed, ClientStage::kEhlo, reply,
             "EHLO refused");
    Quit(ClientInput::kEhloRefused);
    return;
  }
  // HELO only where the policy lets something go in plaintext: a HELO
  // session has no STARTTLS.
  const StartTlsIntent intent =
      policy_->AfterEhlo(destination_, EhloCapabilities{});
  mandatory_ = intent.mandatory;
  if (intent.mandatory &&
      !ApplyConnectionDecision(
          policy_->WithoutTls(destination_, TlsProblem::kNotOffered,
                              absl::StrCat("EHLO refused with ", reply.code)),
          ClientStage::kEhlo)) {
    Quit(ClientInput::kEhloRefused);
    return;
  }
  if (!Transit(ClientInput::kEhloRefused, cs::Helo{})) return;
  Command helo;
  helo.verb = Verb::kHelo;
  helo.domain = options_->helo_name;
  SendCommand(helo, Sent::kHelo);
}

void ClientSession::OnHelo(const Reply& reply) {
  if (reply.code != 250) {
    FailRest(reply.permanent() ? RecipientStatus::kPermFailed
                               : RecipientStatus::kTempFailed,
             ClientStage::kEhlo, reply, "HELO refused");
    Quit(ClientInput::kHeloRefused);
    return;
  }
  caps_ = EhloCapabilities{};
  if (!ApplyConnectionDecision(
          policy_->WithoutTls(destination_, TlsProblem::kNotOffered,
                              "server does not speak ESMTP"),
          ClientStage::kStartTls)) {
    Quit(ClientInput::kHeloOk);
    return;
  }
  StartAuthOrProceed(ClientInput::kHeloOk);
}

void ClientSession::AfterFirstEhlo() {
  const StartTlsIntent intent = policy_->AfterEhlo(destination_, caps_);
  mandatory_ = intent.mandatory;
  sni_ = intent.sni;
  if (intent.attempt && options_->attempt_starttls && caps_.starttls) {
    if (!Transit(ClientInput::kEhloOk, cs::StartTls{})) return;
    Send("STARTTLS\r\n", Sent::kStartTls);
    return;
  }
  const TlsProblem problem =
      caps_.starttls ? TlsProblem::kNotAttempted : TlsProblem::kNotOffered;
  if (!ApplyConnectionDecision(
          policy_->WithoutTls(destination_, problem,
                              caps_.starttls ? "not attempted"
                                             : "STARTTLS not in the EHLO reply"),
          ClientStage::kStartTls)) {
    Quit(ClientInput::kEhloOk);
    return;
  }
  StartAuthOrProceed(ClientInput::kEhloOk);
}

void ClientSession::OnStartTls(const Reply& reply) {
  if (reply.code == 220) {
    if (!Transit(ClientInput::kStartTlsOk, cs::TlsHandshake{})) return;
    handshake_started_ = now_;
    ClientEvent event;
    event.type = ClientEventType::kStartTls;
    event.sni = sni_;
    Emit(std::move(event));
    return;
  }
  if (!ApplyConnectionDecision(
          policy_->WithoutTls(
              destination_, TlsProblem::kRefused,
              absl::StrCat("STARTTLS answered ", reply.code, " ",
                           reply.lines.empty() ? "" : reply.lines[0])),
          ClientStage::kStartTls)) {
    Quit(ClientInput::kStartTlsRefused);
    return;
  }
  StartAuthOrProceed(ClientInput::kStartTlsRefused);
}

bool ClientSession::ApplyConnectionDecision(PolicyDecision decision,
                                            ClientStage stage) {
  connection_policy_ = std::move(decision);
  DeliveryVerdict verdict = connection_policy_.verdict;
  if (verdict == DeliveryVerdict::kProceedTls && tls_ == nullptr) {
    verdict = DeliveryVerdict::kDefer;  // a policy cannot conjure TLS
  }
  if (verdict == DeliveryVerdict::kProceedPlaintext && mandatory_ &&
      tls_ == nullptr) {
    verdict = DeliveryVerdict::kDefer;  // nor make a mandatory policy optional
  }
  if (Proceeds(verdict)) return true;
  connection_policy_.verdict = verdict;
  const bool bounce = verdict == DeliveryVerdict::kBounce;
  const bool no_tls =
      connection_policy_.tlsrpt_result_type == "starttls-not-supported" ||
      tls_ == nullptr;
  const std::string why = Explain(connection_policy_);
  const Reply local = Reply::Make(
      bounce ? 550 : 451,
      no_tls ? (bounce ? "5.7.4" : "4.7.4") : (bounce ? "5.7.5" : "4.7.5"),
      absl::StrCat("TLS policy: ", why));
  const RecipientStatus status =
      bounce ? RecipientStatus::kPermFailed : RecipientStatus::kTempFailed;
  // RFC 8689 §5: a message marked "TLS-Required: No" may go even though the
  // policy refused this connection, if the policy says so for that message.
  bool any_goes = false;
  for (size_t m = 0; m < messages_.size(); ++m) {
    if (results_[m].done) continue;
    const MessageTlsFlags& flags = messages_[m].tls_flags;
    const bool goes =
        flags.tls_required_no && !flags.requiretls &&
        Proceeds(policy_->ForMessage(destination_, flags, caps_, tls_.get(),
                                     connection_policy_)
                     .verdict);
    if (goes) {
      any_goes = true;
    } else {
      results_[m].tls = tls_;
      results_[m].policy = connection_policy_;
      FailMessage(m, status, stage, local, why);
    }
  }
  if (any_goes) mandatory_ = false;  // only messages that waived it remain
  return any_goes;
}

absl::Status ClientSession::TlsEstablished(TlsFacts facts, absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (state() != ClientState::kTlsHandshake) {
    return absl::FailedPreconditionError("no STARTTLS handshake is pending");
  }
  now_ = now;
  last_send_ = now;
  tls_ = std::make_shared<const TlsFacts>(std::move(facts));
  reply_over_tls_ = false;
  // RFC 3207 §4.2: everything learnt before TLS is void.
  parser_.Reset();
  parser_.set_utf8(false);
  caps_ = EhloCapabilities{};
  if (!ApplyConnectionDecision(policy_->AfterHandshake(destination_, *tls_),
                               ClientStage::kTlsHandshake)) {
    Quit(ClientInput::kTlsEstablished);
    return fatal_;
  }
  SendEhlo(ClientInput::kTlsEstablished);
  return fatal_;
}

absl::Status ClientSession::TlsFailed(absl::string_view reason,
                                      absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  // A failure right after the handshake, before the first reply over TLS
  // (the server's alert refusing our certificate, say), is the handshake's.
  const bool after_handshake = state() == ClientState::kEhlo &&
                               tls_ != nullptr && !reply_over_tls_;
  if (state() != ClientState::kTlsHandshake && !after_handshake) {
    return absl::FailedPreconditionError("no STARTTLS handshake is pending");
  }
  now_ = now;
  // TLS is unusable: nothing went over it, so nothing ran "over TLS".
  tls_.reset();
  connection_policy_ =
      policy_->WithoutTls(destination_, TlsProblem::kHandshakeFailed, reason);
  // The connection is unusable after a failed handshake; whether to retry in
  // plaintext on a new one is the policy's verdict, left to the embedder.
  const bool bounce = connection_policy_.verdict == DeliveryVerdict::kBounce;
  const std::string why = absl::StrCat("TLS handshake failed: ", reason);
  Settle();
  FailRest(bounce ? RecipientStatus::kPermFailed : RecipientStatus::kTempFailed,
           ClientStage::kTlsHandshake,
           Reply::Make(bounce ? 550 : 451, bounce ? "5.7.5" : "4.7.5", why),
           why);
  output_.clear();
  outstanding_.clear();
  Close(ClientInput::kTlsFailed, why);
  return fatal_;
}

void ClientSession::StartAuthOrProceed(ClientInput input) {
  if (options_->auth_username.empty()) {
    Proceed(input);
    return;
  }
  if (tls_ == nullptr && !options_->auth_in_plaintext) {
    FailRest(RecipientStatus::kTempFailed, ClientStage::kAuth,
             Reply::Make(451, "4.7.0", "refusing to send credentials without TLS"),
             "AUTH needs TLS");
    Quit(input);
    return;
  }
  const auto offered = [&](absl::string_view m) {
    return std::find(caps_.auth_mechanisms.begin(), caps_.auth_mechanisms.end(),
                     m) != caps_.auth_mechanisms.end();
  };
  if (offered("PLAIN")) {
    if (!Transit(input, cs::Auth{})) return;
    const std::string response = absl::Base64Escape(absl::StrCat(
        std::string(1, '\0'), options_->auth_username, std::string(1, '\0'),
        options_->auth_password));
    Send(absl::StrCat("AUTH PLAIN ", response, "\r\n"), Sent::kAuth);
  } else if (offered("LOGIN")) {
    if (!Transit(input, cs::Auth{/*login=*/true})) return;
    Send("AUTH LOGIN\r\n", Sent::kAuth);
  } else {
    FailRest(RecipientStatus::kTempFailed, ClientStage::kAuth,
             Reply::Make(451, "4.7.0", "server offers neither AUTH PLAIN nor LOGIN"),
             "no usable AUTH mechanism");
    Quit(input);
  }
}

void ClientSession::OnAuth(const Reply& reply) {
  if (reply.code == 235) {
    Proceed(ClientInput::kAuthOk);
    return;
  }
  if (reply.code == 334) {
    if (!Stay(ClientInput::kAuthChallenge)) return;
    cs::Auth& auth = std::get<cs::Auth>(state_);
    if (auth.login && auth.step < 2) {
      const std::string& value =
          auth.step == 0 ? options_->auth_username : options_->auth_password;
      ++auth.step;
      Send(absl::StrCat(absl::Base64Escape(value), "\r\n"), Sent::kAuth);
      return;
    }
    Send("*\r\n", Sent::kAuth);  // an unexpected challenge: cancel
    return;
  }
  // Authentication trouble is a configuration problem: defer, never bounce.
  FailRest(RecipientStatus::kTempFailed, ClientStage::kAuth, reply,
           "authentication failed");
  Quit(ClientInput::kAuthRefused);
}

void ClientSession::Proceed(ClientInput input) {
  if (!Transit(input, cs::Ready{})) return;
  StartNextMessage();
}

// ---- transactions --------------------------------------------------------------

BodyType ClientSession::BodyTypeOf(size_t message) const {
  const OutboundMessage& m = messages_[message];
  // Don't trust a declared 7BIT: a body that holds 8-bit octets says so.
  if (m.body_type == BodyType::k7Bit && m.body->HasEightBit().value_or(false)) {
    return BodyType::k8BitMime;
  }
  return m.body_type;
}

void ClientSession::StartNextMessage() {
  while (next_message_ < messages_.size()) {
    const size_t m = next_message_;
    const OutboundMessage& message = messages_[m];
    MessageResult& result = results_[m];
    if (result.done) {
      ++next_message_;
      continue;
    }
    result.tls = tls_;
    const BodyType body_type = BodyTypeOf(m);
    std::optional<Reply> local;
    if (message.smtputf8 && !caps_.smtputf8) {
      local = Reply::Make(553, "5.6.7",
                          "server does not support SMTPUTF8; not sent");
    } else if (body_type == BodyType::k8BitMime && !caps_.eight_bit_mime) {
      local = Reply::Make(554, "5.6.3",
                          "8-bit message and no 8BITMIME; conversion not done");
    } else if (body_type == BodyType::kBinaryMime &&
               !(caps_.binary_mime && caps_.chunking)) {
      local = Reply::Make(554, "5.6.3", "binary message and no BINARYMIME");
    } else if (caps_.size.has_value() && *caps_.size > 0 &&
               message.size > *caps_.size) {
      local = Reply::Make(552, "5.3.4", "message larger than the server's SIZE");
    }
    if (local.has_value()) {
      result.policy = connection_policy_;
      FailMessage(m, RecipientStatus::kPermFailed, ClientStage::kLocal, *local,
                  local->lines.front());
      ++next_message_;
      continue;
    }
    result.policy = policy_->ForMessage(destination_, message.tls_flags, caps_,
                                        tls_.get(), connection_policy_);
    const PolicyDecision& decision = result.policy;
    if (decision.verdict == DeliveryVerdict::kBounce) {
      FailMessage(m, RecipientStatus::kPermFailed, ClientStage::kPolicy,
                  Reply::Make(550, "5.7.10",
                              absl::StrCat("REQUIRETLS/TLS policy: ",
                                           Explain(decision))),
                  Explain(decision));
      ++next_message_;
      continue;
    }
    if (decision.verdict == DeliveryVerdict::kDefer ||
        decision.verdict == DeliveryVerdict::kTryNextMx) {
      FailMessage(m, RecipientStatus::kTempFailed, ClientStage::kPolicy,
                  Reply::Make(451, "4.7.10",
                              absl::StrCat("TLS policy: ", Explain(decision))),
                  Explain(decision));
      ++next_message_;
      continue;
    }
    break;
  }
  if (next_message_ >= messages_.size()) {
    Quit(ClientInput::kQuitSent);
    return;
  }

  const size_t m = next_message_;
  const OutboundMessage& message = messages_[m];
  const BodyType body_type = BodyTypeOf(m);
  Command mail;
  mail.verb = Verb::kMail;
  mail.path = message.sender;
  if (caps_.size.has_value() && message.size > 0) mail.mail.size = message.size;
  if (body_type != BodyType::k7Bit) mail.mail.body = body_type;
  mail.mail.smtputf8 = message.smtputf8;
  // RFC 8689 §4.1: with REQUIRETLS, a "TLS-Required: No" header is ignored.
  mail.mail.requiretls = message.tls_flags.requiretls && caps_.requiretls;
  if (caps_.dsn) {
    mail.mail.ret = message.ret;
    mail.mail.envid = message.envid;
  }
  cs::Envelope envelope;
  envelope.tx.message = m;
  envelope.tx.accepted.assign(message.recipients.size(), false);
  if (!Transit(ClientInput::kMailSent, std::move(envelope))) return;
  if (!SendCommand(mail, Sent::kMail)) return;
  if (!Pipelining()) return;
  cs::Transaction& tx = std::get<cs::Envelope>(state_).tx;
  for (size_t r = 0; r < message.recipients.size(); ++r) {
    if (!SendRecipient(tx, r)) return;
  }
  if (!UseBdat(m) && Send("DATA\r\n", Sent::kData)) {
    std::get<cs::Envelope>(state_).tx.data_sent = true;
  }
}

bool ClientSession::Pipelining() const {
  return caps_.pipelining && options_->use_pipelining;
}

bool ClientSession::UseBdat(size_t message) const {
  return BodyTypeOf(message) == BodyType::kBinaryMime ||
         (options_->prefer_bdat && caps_.chunking);
}

bool ClientSession::SendRecipient(cs::Transaction& tx, size_t r) {
  const OutboundMessage& message = messages_[tx.message];
  Command rcpt;
  rcpt.verb = Verb::kRcpt;
  rcpt.path = message.recipients[r].mailbox;
  if (caps_.dsn) rcpt.rcpt = message.recipients[r].dsn;
  ++tx.rcpt_sent;
  return SendCommand(rcpt, Sent::kRcpt, static_cast<uint32_t>(r));
}

void ClientSession::OnMail(cs::Transaction& tx, const Reply& reply) {
  if (reply.positive()) {
    tx.mail_accepted = true;
    if (!Stay(ClientInput::kMailReply)) return;
    if (!Pipelining()) SendRecipient(tx, 0);
    return;
  }
  tx.failed = true;
  for (size_t r = 0; r < tx.accepted.size(); ++r) {
    Decide(tx.message, r, StatusOf(reply), ClientStage::kMail, reply,
           "sender refused");
  }
  if (!Pipelining()) {
    FinishTransaction(tx, ClientInput::kMailReply);
    return;
  }
  // Pipelined: the RCPT and DATA replies that follow are consumed first.
  Stay(ClientInput::kMailReply);
}

void ClientSession::OnRcpt(cs::Transaction& tx, const Reply& reply,
                           size_t recipient) {
  ++tx.rcpt_replies;
  if (!tx.failed) {
    if (reply.positive()) {
      tx.accepted[recipient] = true;
    } else {
      Decide(tx.message, recipient, StatusOf(reply), ClientStage::kRcpt, reply,
             "recipient refused");
    }
  }
  const size_t count = messages_[tx.message].recipients.size();
  if (tx.rcpt_replies < count) {
    if (!Stay(ClientInput::kRcptReply)) return;
    if (!Pipelining()) SendRecipient(tx, tx.rcpt_replies);
    return;
  }
  // Every RCPT reply is in.
  if (tx.data_sent) {  // pipelined: the DATA reply comes next
    Stay(ClientInput::kRcptReply);
    return;
  }
  if (tx.failed || !AnyAccepted(tx)) {
    FinishTransaction(tx, ClientInput::kRcptReply);
    return;
  }
  if (UseBdat(tx.message)) {
    StartBody(std::move(tx), ClientInput::kRcptReply);
    return;
  }
  if (!Stay(ClientInput::kRcptReply)) return;
  if (Send("DATA\r\n", Sent::kData)) tx.data_sent = true;
}

void ClientSession::OnDataReply(const Reply& reply) {
  cs::Transaction& tx = std::get<cs::Envelope>(state_).tx;
  if (reply.code == 354) {
    if (tx.failed || !AnyAccepted(tx)) {
      // RFC 2920 §3.1: DATA was accepted though no recipient was; end it
      // with an empty message and ignore its reply.
      cs::EndOfData end{std::move(tx), /*empty=*/true};
      if (!Transit(ClientInput::kDataGo, std::move(end))) return;
      Send(".\r\n", Sent::kEndOfData);
      return;
    }
    StartBody(std::move(tx), ClientInput::kDataGo);
    return;
  }
  if (!tx.failed) {
    for (size_t r = 0; r < tx.accepted.size(); ++r) {
      if (tx.accepted[r]) {
        Decide(tx.message, r, StatusOf(reply), ClientStage::kData, reply,
               "DATA refused");
      }
    }
  }
  tx.failed = true;
  FinishTransaction(tx, ClientInput::kDataRefused);
}

void ClientSession::StartBody(cs::Transaction tx, ClientInput input) {
  const BodyType body_type = BodyTypeOf(tx.message);
  if (UseBdat(tx.message)) {
    const bool binary = body_type == BodyType::kBinaryMime;
    cs::Bdat bdat{std::move(tx),
                  BodyEncoder(binary ? BodyEncoder::Mode::kBinary
                                     : BodyEncoder::Mode::kBdatText,
                              binary ? 0 : options_->max_body_line),
                  /*chunk=*/{}, /*body_read=*/false};
    // Sent as 7BIT: checked as it goes unless the source knew (no 8-bit).
    bdat.encoder.set_seven_bit(body_type == BodyType::k7Bit &&
                               !messages_[bdat.tx.message].body->HasEightBit().has_value());
    if (!Transit(input, std::move(bdat))) return;
  } else {
    cs::Body body{std::move(tx), BodyEncoder(BodyEncoder::Mode::kData,
                                             options_->max_body_line)};
    body.encoder.set_seven_bit(body_type == BodyType::k7Bit &&
                               !messages_[body.tx.message].body->HasEightBit().has_value());
    if (!Transit(input, std::move(body))) return;
  }
  PumpBody();
}

void ClientSession::FinishTransaction(cs::Transaction& tx, ClientInput input) {
  // Recipients left open (accepted, then the transaction failed) fail with
  // the transaction.
  FailOpenRecipients(tx);
  ++next_message_;
  if (tx.mail_accepted) {
    // The server still holds the transaction: reset it.
    if (!Transit(input, cs::Rset{})) return;
    Send("RSET\r\n", Sent::kRset);
    return;
  }
  if (!Transit(input, cs::Ready{})) return;
  StartNextMessage();
}

void ClientSession::PumpBody() {
  if (waiting_for_body_) return;
  if (auto* body = std::get_if<cs::Body>(&state_)) {
    PumpData(*body);
  } else if (auto* bdat = std::get_if<cs::Bdat>(&state_)) {
    PumpBdat(*bdat);
  }
}

void ClientSession::PumpData(cs::Body& body) {
  if (PlaintextForbidden(Sent::kData)) {
    Abort("refused to send a body in plaintext under a mandatory TLS policy",
          ClientStage::kPolicy, Reply::Make(451, "4.7.0", "TLS required by policy"));
    return;
  }
  const size_t m = body.tx.message;
  BodySource& source = *messages_[m].body;
  while (output_.size() < options_->output_high_water) {
    bool end = false;
    absl::StatusOr<absl::string_view> piece = source.Read(kBodyReadSize, &end);
    if (!piece.ok()) {
      Abort(absl::StrCat("message body could not be read: ",
                         piece.status().message()),
            ClientStage::kData,
            Reply::Make(451, "4.3.0", "local error reading the message"));
      return;
    }
    if (piece->empty() && !end) {
      waiting_for_body_ = true;
      return;
    }
    absl::Status encoded = body.encoder.Encode(*piece, &output_);
    if (encoded.ok() && end) encoded = body.encoder.Finish(&output_);
    if (!encoded.ok()) {
      // The message cannot be sent unchanged. Fail it for good and drop the
      // connection before any end-of-data marker, so nothing is delivered.
      FailMessage(m, RecipientStatus::kPermFailed, ClientStage::kData,
                  Reply::Make(554, "5.6.0", encoded.message()),
                  encoded.message());
      Abort(encoded.message(), ClientStage::kData,
            Reply::Make(451, "4.3.0", "connection dropped: an earlier message "
                                      "could not be encoded"));
      return;
    }
    if (!end) continue;
    // The final "." is in the output: that is the command the reply answers.
    cs::EndOfData done{std::move(body.tx)};
    outstanding_.push_back({Sent::kEndOfData, 0, static_cast<uint32_t>(m),
                            output_consumed_ + output_.size()});
    Transit(ClientInput::kBodySent, std::move(done));
    return;
  }
}

bool ClientSession::SendBdatChunk(cs::Bdat& bdat, size_t size, bool last) {
  if (!Send(absl::StrCat("BDAT ", size, last ? " LAST" : "", "\r\n"),
            last ? Sent::kEndOfData : Sent::kBdat)) {
    return false;
  }
  output_.append(bdat.chunk, 0, size);
  bdat.chunk.erase(0, size);
  // The command has left only when its chunk has.
  outstanding_.back().end = output_consumed_ + output_.size();
  bdat.tx.data_sent = true;
  return true;
}

void ClientSession::PumpBdat(cs::Bdat& bdat) {
  if (bdat.tx.failed) return;
  if (PlaintextForbidden(Sent::kBdat)) {
    Abort("refused to send a body in plaintext under a mandatory TLS policy",
          ClientStage::kPolicy, Reply::Make(451, "4.7.0", "TLS required by policy"));
    return;
  }
  const size_t m = bdat.tx.message;
  BodySource& source = *messages_[m].body;
  const size_t chunk = std::max<size_t>(1, options_->bdat_chunk_size);
  for (;;) {
    // Every full chunk goes when it is ready, the rest with LAST once the
    // body has ended. Without PIPELINING a BDAT is a command like any other
    // (RFC 2920 §3.1, RFC 3030 §4): it waits until the reply to the previous
    // one has been read; OnBdatReply resumes here.
    while (bdat.body_read || bdat.chunk.size() >= chunk) {
      if (!Pipelining() && !outstanding_.empty()) return;
      const bool last = bdat.body_read && bdat.chunk.size() <= chunk;
      if (!SendBdatChunk(bdat, last ? bdat.chunk.size() : chunk, last)) return;
      if (last) {
        cs::EndOfData done{std::move(bdat.tx)};
        Transit(ClientInput::kBodySent, std::move(done));
        return;
      }
    }
    if (output_.size() >= options_->output_high_water) return;
    bool end = false;
    absl::StatusOr<absl::string_view> piece = source.Read(kBodyReadSize, &end);
    if (!piece.ok()) {
      Abort(absl::StrCat("message body could not be read: ",
                         piece.status().message()),
            ClientStage::kData,
            Reply::Make(451, "4.3.0", "local error reading the message"));
      return;
    }
    if (piece->empty() && !end) {
      waiting_for_body_ = true;
      return;
    }
    absl::Status encoded = bdat.encoder.Encode(*piece, &bdat.chunk);
    if (encoded.ok() && end) encoded = bdat.encoder.Finish(&bdat.chunk);
    if (!encoded.ok()) {
      FailMessage(m, RecipientStatus::kPermFailed, ClientStage::kData,
                  Reply::Make(554, "5.6.0", encoded.message()),
                  encoded.message());
      Abort(encoded.message(), ClientStage::kData,
            Reply::Make(451, "4.3.0", "connection dropped: an earlier message "
                                      "could not be encoded"));
      return;
    }
    if (end) bdat.body_read = true;
  }
}

void ClientSession::OnBdatReply(const Reply& reply) {
  cs::Transaction& tx = state() == ClientState::kBdat
                            ? std::get<cs::Bdat>(state_).tx
                            : std::get<cs::EndOfData>(state_).tx;
  if (!reply.positive() && !tx.failed) {
    for (size_t r = 0; r < tx.accepted.size(); ++r) {
      if (tx.accepted[r]) {
        Decide(tx.message, r, StatusOf(reply), ClientStage::kData, reply,
               "BDAT refused");
      }
    }
    tx.failed = true;
  }
  if (state() == ClientState::kBdat && tx.failed && outstanding_.empty()) {
    FinishTransaction(tx, ClientInput::kBdatReply);
    return;
  }
  if (!Stay(ClientInput::kBdatReply)) return;
  PumpBody();
}

void ClientSession::OnEndOfData(const Reply& reply) {
  cs::EndOfData& end = std::get<cs::EndOfData>(state_);
  cs::Transaction& tx = end.tx;
  if (!end.empty && !tx.failed) {
    for (size_t r = 0; r < tx.accepted.size(); ++r) {
      if (tx.accepted[r]) {
        Decide(tx.message, r, StatusOf(reply), ClientStage::kEndOfData, reply,
               reply.positive() ? "accepted" : "message refused");
      }
    }
  }
  // Recipients left open (a chunk was refused) fail with the transaction.
  FailOpenRecipients(tx);
  ++next_message_;
  if (!Transit(ClientInput::kEndOfDataReply, cs::Ready{})) return;
  StartNextMessage();
}

void ClientSession::OnRset(const Reply& reply) {
  if (reply.positive()) {
    if (!Transit(ClientInput::kRsetReply, cs::Ready{})) return;
    StartNextMessage();
    return;
  }
  FailRest(RecipientStatus::kTempFailed, ClientStage::kMail, reply,
           "RSET refused");
  Quit(ClientInput::kRsetReply);
}

// ---- time and connection loss ----------------------------------------------------

absl::Time ClientSession::NextDeadline() const {
  if (closed() || waiting_for_body_) return absl::InfiniteFuture();
  if (state() == ClientState::kTlsHandshake) {
    return handshake_started_ + options_->starttls_timeout;
  }
  if (outstanding_.empty()) {
    const bool sending =
        state() == ClientState::kBody || state() == ClientState::kBdat;
    return sending ? last_send_ + options_->block_timeout
                   : absl::InfiniteFuture();
  }
  switch (outstanding_.front().sent) {
    case Sent::kGreeting: return last_send_ + options_->greeting_timeout;
    case Sent::kData: return last_send_ + options_->data_timeout;
    case Sent::kEndOfData: return last_send_ + options_->end_timeout;
    default: return last_send_ + options_->command_timeout;
  }
}

absl::Status ClientSession::OnTimeout(absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  now_ = now;
  if (closed() || now < NextDeadline()) return absl::OkStatus();
  if (state() == ClientState::kTlsHandshake) {
    return TlsFailed("no handshake within the STARTTLS timeout", now);
  }
  const ClientStage stage = CurrentStage();
  Abort(absl::StrCat("timeout in ", ClientStageName(stage)), stage,
        Reply::Make(451, "4.4.2",
                    absl::StrCat("timeout waiting for the server (",
                                 ClientStageName(stage), ")")));
  return fatal_;
}

void ClientSession::ConnectionLost(absl::string_view reason, absl::Time now) {
  if (closed()) return;
  now_ = now;
  const std::string detail = absl::StrCat("connection lost: ", reason);
  if (state() == ClientState::kTlsHandshake ||
      (state() == ClientState::kEhlo && tls_ != nullptr && !reply_over_tls_)) {
    // TLS never carried a reply: the handshake failed, whatever the TLS
    // layer saw (the server may have refused us and hung up).
    (void)TlsFailed(detail, now);
    return;
  }
  if (state() == ClientState::kQuit) {
    // Everything was settled; a server that hangs up on QUIT is common.
    Settle();
    outstanding_.clear();
    Close(ClientInput::kClose, detail);
    return;
  }
  // Abort flags every message whose end of data left and whose reply did
  // not come back (not only when that reply is the next one expected: BDAT
  // chunk replies may still be unread).
  Abort(detail, CurrentStage(), Reply::Make(451, "4.4.2", detail));
}

}  // namespace starling::smtp
