#include "core/smtp/client_session.h"

#include <algorithm>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace starling::smtp {
namespace {

constexpr size_t kBodyReadSize = 16 * 1024;

// Values that would let a caller smuggle syntax into a command line.
bool HasForbiddenByte(absl::string_view value) {
  return value.find_first_of(absl::string_view("\r\n<>\0", 5)) !=
         absl::string_view::npos;
}

// The command must survive our own strict parser unchanged: that rejects
// over-long, malformed or unsendable envelope values before anything is sent.
absl::Status CheckSendable(const Command& command, bool utf8,
                           absl::string_view what) {
  std::string line = SerializeCommand(command);
  line.resize(line.size() - 2);  // CRLF
  CommandParseOptions options;
  options.utf8_addresses = utf8;
  absl::StatusOr<Command> parsed = ParseCommand(line, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", parsed.status().message()));
  }
  if (line.size() + 2 > 512) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": command longer than 512 octets"));
  }
  return absl::OkStatus();
}

absl::Status CheckMailbox(const Mailbox& mailbox, absl::string_view what) {
  if (HasForbiddenByte(mailbox.local_part) || HasForbiddenByte(mailbox.domain)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": CR, LF, NUL, '<' or '>' in an address"));
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

}  // namespace

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
  Command ehlo;
  ehlo.verb = Verb::kEhlo;
  ehlo.domain = options->helo_name;
  if (HasForbiddenByte(ehlo.domain)) {
    return absl::InvalidArgumentError("helo_name: forbidden character");
  }
  if (absl::Status s = CheckSendable(ehlo, false, "helo_name"); !s.ok()) return s;
  for (size_t m = 0; m < messages.size(); ++m) {
    const OutboundMessage& message = messages[m];
    const std::string where = absl::StrCat("message ", m);
    if (message.body == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no body"));
    }
    if (message.recipients.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no recipients"));
    }
    Command mail;
    mail.verb = Verb::kMail;
    mail.path = message.sender;
    mail.mail.smtputf8 = message.smtputf8;
    mail.mail.envid = message.envid;
    mail.mail.ret = message.ret;
    if (message.sender) {
      if (absl::Status s = CheckMailbox(*message.sender, where + " sender");
          !s.ok()) {
        return s;
      }
    }
    if (message.envid && HasForbiddenByte(*message.envid)) {
      return absl::InvalidArgumentError(where + ": forbidden byte in ENVID");
    }
    if (absl::Status s = CheckSendable(mail, message.smtputf8, where + " sender");
        !s.ok()) {
      return s;
    }
    for (size_t r = 0; r < message.recipients.size(); ++r) {
      const std::string who = absl::StrCat(where, " recipient ", r);
      const OutboundRecipient& recipient = message.recipients[r];
      if (absl::Status s = CheckMailbox(recipient.mailbox, who); !s.ok()) return s;
      if (recipient.dsn.orcpt && HasForbiddenByte(*recipient.dsn.orcpt)) {
        return absl::InvalidArgumentError(who + ": forbidden byte in ORCPT");
      }
      Command rcpt;
      rcpt.verb = Verb::kRcpt;
      rcpt.path = recipient.mailbox;
      rcpt.rcpt = recipient.dsn;
      if (absl::Status s = CheckSendable(rcpt, message.smtputf8, who); !s.ok()) {
        return s;
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
      now_(now),
      last_send_(now),
      parser_(options_->reply_limits) {
  results_.resize(messages_.size());
  for (size_t m = 0; m < messages_.size(); ++m) {
    for (const OutboundRecipient& recipient : messages_[m].recipients) {
      RecipientResult result;
      result.mailbox = recipient.mailbox;
      results_[m].recipients.push_back(std::move(result));
    }
  }
  pending_.push_back({Expect::kGreeting});
}

// ---- plumbing ----------------------------------------------------------------

void ClientSession::Transit(ClientInput input) {
  const std::optional<ClientState> next = NextClientState(state_, input);
  ABSL_RAW_CHECK(next.has_value(), "client transition missing from the table");
  state_ = *next;
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

bool ClientSession::PlaintextForbidden(Expect expect) const {
  if (!mandatory_ || tls_ != nullptr) return false;
  switch (expect) {
    case Expect::kAuth:
    case Expect::kMail:
    case Expect::kRcpt:
    case Expect::kData:
    case Expect::kBdat:
    case Expect::kEndOfData:
      return true;
    default:
      return false;
  }
}

bool ClientSession::SendRaw(absl::string_view line, Expect expect) {
  if (PlaintextForbidden(expect)) {
    // Belt and braces: the flow never gets here, but if it did, nothing of
    // the envelope or body may leave in plaintext under a mandatory policy.
    Abort("refused to send in plaintext under a mandatory TLS policy",
          ClientStage::kPolicy,
          Reply::Make(451, "4.7.0", "TLS required by policy"));
    return false;
  }
  output_.append(line.data(), line.size());
  pending_.push_back({expect, 0, current_, output_consumed_ + output_.size()});
  last_send_ = now_;
  return true;
}

bool ClientSession::SendCommand(const Command& command, Expect expect,
                                size_t recipient) {
  if (!SendRaw(SerializeCommand(command), expect)) return false;
  pending_.back().recipient = recipient;
  return true;
}

void ClientSession::ConsumeOutput(size_t n) {
  n = std::min(n, output_.size());
  output_consumed_ += n;
  output_.erase(0, n);
  if (output_.empty()) output_.shrink_to_fit();
  PumpBody();
}

void ClientSession::ResumeBody() {
  waiting_for_body_ = false;
  PumpBody();
}

ClientStage ClientSession::StageOf(Expect expect) const {
  switch (expect) {
    case Expect::kGreeting:
      return received_any_ ? ClientStage::kGreeting : ClientStage::kConnect;
    case Expect::kEhlo:
    case Expect::kHelo:
      return ClientStage::kEhlo;
    case Expect::kStartTls:
      return ClientStage::kStartTls;
    case Expect::kAuth:
      return ClientStage::kAuth;
    case Expect::kRcpt:
      return ClientStage::kRcpt;
    case Expect::kData:
    case Expect::kBdat:
      return ClientStage::kData;
    case Expect::kEndOfData:
      return ClientStage::kEndOfData;
    default:
      return ClientStage::kMail;
  }
}

// ---- results -----------------------------------------------------------------

void ClientSession::Resolve(size_t message, size_t recipient,
                            RecipientStatus status, ClientStage stage,
                            const Reply& reply, absl::string_view detail) {
  RecipientResult& result = results_[message].recipients[recipient];
  if (result.status != RecipientStatus::kPending) return;
  result.status = status;
  result.stage = stage;
  result.reply = reply;
  result.detail = std::string(detail);
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
  for (const Pending& pending : pending_) {
    // Only an end of data that left: one still in output_ (or cut short by
    // the loss) cannot have completed a transaction on the server.
    if (pending.expect != Expect::kEndOfData ||
        output_consumed_ < pending.end || pending.message >= results_.size()) {
      continue;
    }
    const size_t m = pending.message;
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

void ClientSession::Abort(absl::string_view reason, ClientStage stage,
                          const Reply& reply) {
  if (state_ == ClientState::kClosed) return;
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
  pending_.clear();
  Transit(ClientInput::kClose);
  ClientEvent event;
  event.type = ClientEventType::kClosed;
  event.reason = absl::StrCat(
      reason, window ? "; after end of data, before the reply: possibly delivered"
                     : "");
  Emit(std::move(event));
}

void ClientSession::Fatal(absl::string_view reason) {
  if (state_ == ClientState::kClosed) return;
  fatal_ = absl::AbortedError(absl::StrCat("SMTP protocol violation: ", reason));
  const ClientStage stage =
      pending_.empty() ? ClientStage::kMail : StageOf(pending_.front().expect);
  Abort(reason, stage,
        Reply::Make(451, "4.5.0", absl::StrCat("protocol error: ", reason)));
}

// ---- input -------------------------------------------------------------------

absl::Status ClientSession::Receive(absl::string_view bytes, absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (state_ == ClientState::kClosed) {
    return absl::FailedPreconditionError("session is closed");
  }
  now_ = now;
  if (bytes.empty()) return absl::OkStatus();
  received_any_ = true;
  if (state_ == ClientState::kTlsHandshake) {
    ResponseInjection();
    return fatal_;
  }
  while (!bytes.empty() && state_ != ClientState::kClosed) {
    absl::StatusOr<std::optional<Reply>> reply = parser_.Next(&bytes);
    if (!reply.ok()) {
      Fatal(absl::StrCat("malformed reply: ", reply.status().message()));
      return fatal_;
    }
    if (!reply->has_value()) break;
    if (!pending_.empty() && pending_.front().expect == Expect::kStartTls &&
        (*reply)->code == 220 && (!bytes.empty() || parser_.in_reply())) {
      // Anything after the 220 and before the handshake was not sent by the
      // server we will talk to over TLS (CVE-2021-22947 class): never parse
      // it, and never start the handshake.
      ResponseInjection();
      return fatal_;
    }
    OnReply(**reply);
  }
  return fatal_;
}

void ClientSession::ResponseInjection() {
  constexpr absl::string_view kReason =
      "reply bytes after the 220 to STARTTLS (response injection)";
  // TLS could not be established safely: the policy judges it as a failed
  // handshake, so the results carry its verdict, label and RFC 8460 type.
  connection_policy_ =
      policy_->WithoutTls(destination_, TlsProblem::kHandshakeFailed, kReason);
  Fatal(kReason);
}

// RFC 5321 §4.3.2: which reply classes can answer which command. Anything
// else means the reply stream is out of step with the commands (replies
// injected, lost or duplicated): nothing after it can be trusted.
bool ClientSession::ReplyFits(Expect expect, const Reply& reply) {
  const int reply_class = reply.code / 100;
  switch (expect) {
    case Expect::kData:
      return reply.code == 354 || reply_class == 4 || reply_class == 5;
    case Expect::kAuth:
      return true;  // 334 continues the exchange
    default:
      return reply_class != 3;
  }
}

void ClientSession::OnReply(const Reply& reply) {
  if (pending_.empty()) {
    Fatal(absl::StrCat("unexpected reply ", reply.code, " with no command outstanding"));
    return;
  }
  if (!ReplyFits(pending_.front().expect, reply)) {
    Fatal(absl::StrCat("reply ", reply.code, " cannot answer the ",
                       ClientStageName(StageOf(pending_.front().expect)),
                       " command (replies out of step)"));
    return;
  }
  const Pending pending = pending_.front();
  pending_.pop_front();
  if (reply.code == 421 && pending.expect != Expect::kQuit) {
    // RFC 5321 §3.8: the server is going away; all that is open is retried.
    const ClientStage stage = StageOf(pending.expect);
    FailRest(RecipientStatus::kTempFailed, stage, reply,
             "server closed the connection (421)");
    output_.clear();
    pending_.clear();
    Transit(ClientInput::kClose);
    ClientEvent event;
    event.type = ClientEventType::kClosed;
    event.reason = "server sent 421";
    Emit(std::move(event));
    return;
  }
  switch (pending.expect) {
    case Expect::kGreeting: OnGreeting(reply); return;
    case Expect::kEhlo: OnEhlo(reply); return;
    case Expect::kHelo: OnHelo(reply); return;
    case Expect::kStartTls: OnStartTls(reply); return;
    case Expect::kAuth: OnAuth(reply); return;
    case Expect::kMail: OnMail(reply); return;
    case Expect::kRcpt: OnRcpt(reply, pending.recipient); return;
    case Expect::kData: OnData(reply); return;
    case Expect::kBdat: OnBdat(reply); return;
    case Expect::kEndOfData: OnEndOfData(reply); return;
    case Expect::kRset:
      if (reply.positive()) {
        Transit(ClientInput::kTransactionEnd);
        StartNextMessage();
      } else {
        FailRest(RecipientStatus::kTempFailed, ClientStage::kMail, reply,
                 "RSET refused");
        Quit();
      }
      return;
    case Expect::kQuit: {
      Transit(ClientInput::kClose);
      ClientEvent event;
      event.type = ClientEventType::kClosed;
      event.reason = "QUIT answered";
      Emit(std::move(event));
      return;
    }
  }
}

// ---- connection setup ----------------------------------------------------------

void ClientSession::OnGreeting(const Reply& reply) {
  if (reply.code / 100 != 2) {
    // Postfix and RFC 5321 §5.1 alike: a host that will not talk is skipped.
    connection_policy_.verdict = DeliveryVerdict::kTryNextMx;
    FailRest(RecipientStatus::kTempFailed, ClientStage::kGreeting, reply,
             "server refused the connection");
    Quit();
    return;
  }
  Command ehlo;
  ehlo.verb = Verb::kEhlo;
  ehlo.domain = options_->helo_name;
  if (SendCommand(ehlo, Expect::kEhlo)) Transit(ClientInput::kEhloSent);
}

void ClientSession::OnEhlo(const Reply& reply) {
  if (reply.code == 250) {
    absl::StatusOr<EhloCapabilities> caps = ParseEhloReply(reply);
    if (!caps.ok()) {
      Fatal(absl::StrCat("malformed EHLO reply: ", caps.status().message()));
      return;
    }
    caps_ = *std::move(caps);
    esmtp_ = true;
    if (tls_ == nullptr) {
      AfterFirstEhlo();
    } else {
      StartAuthOrProceed();
    }
    return;
  }
  if (tls_ != nullptr || !reply.permanent()) {
    FailRest(RecipientStatus::kTempFailed, ClientStage::kEhlo, reply,
             "EHLO refused");
    Quit();
    return;
  }
  // HELO only when the policy allows plaintext: a HELO session has no STARTTLS.
  const StartTlsIntent intent =
      policy_->AfterEhlo(destination_, EhloCapabilities{});
  mandatory_ = intent.mandatory;
  if (intent.mandatory) {
    ApplyConnectionDecision(
        policy_->WithoutTls(destination_, TlsProblem::kNotOffered,
                            absl::StrCat("EHLO refused with ", reply.code)),
        ClientStage::kEhlo);
    return;
  }
  Command helo;
  helo.verb = Verb::kHelo;
  helo.domain = options_->helo_name;
  if (SendCommand(helo, Expect::kHelo)) Transit(ClientInput::kHeloSent);
}

void ClientSession::OnHelo(const Reply& reply) {
  if (reply.code / 100 != 2) {
    FailRest(reply.permanent() ? RecipientStatus::kPermFailed
                               : RecipientStatus::kTempFailed,
             ClientStage::kEhlo, reply, "HELO refused");
    Quit();
    return;
  }
  caps_ = EhloCapabilities{};
  ApplyConnectionDecision(
      policy_->WithoutTls(destination_, TlsProblem::kNotOffered,
                          "server does not speak ESMTP"),
      ClientStage::kStartTls);
}

void ClientSession::AfterFirstEhlo() {
  const StartTlsIntent intent = policy_->AfterEhlo(destination_, caps_);
  mandatory_ = intent.mandatory;
  sni_ = intent.sni;
  if (intent.attempt && options_->attempt_starttls && caps_.starttls) {
    if (SendRaw("STARTTLS\r\n", Expect::kStartTls)) {
      Transit(ClientInput::kStartTlsSent);
    }
    return;
  }
  const TlsProblem problem =
      caps_.starttls ? TlsProblem::kNotAttempted : TlsProblem::kNotOffered;
  ApplyConnectionDecision(
      policy_->WithoutTls(destination_, problem,
                          caps_.starttls ? "not attempted"
                                         : "STARTTLS not in the EHLO reply"),
      ClientStage::kStartTls);
}

void ClientSession::OnStartTls(const Reply& reply) {
  if (reply.code == 220) {
    Transit(ClientInput::kStartTlsOk);
    ClientEvent event;
    event.type = ClientEventType::kStartTls;
    event.sni = sni_;
    Emit(std::move(event));
    return;
  }
  ApplyConnectionDecision(
      policy_->WithoutTls(destination_, TlsProblem::kRefused,
                          absl::StrCat("STARTTLS answered ", reply.code, " ",
                                       reply.lines.empty() ? "" : reply.lines[0])),
      ClientStage::kStartTls);
}

void ClientSession::ApplyConnectionDecision(const PolicyDecision& decision,
                                            ClientStage stage) {
  connection_policy_ = decision;
  DeliveryVerdict verdict = decision.verdict;
  if (verdict == DeliveryVerdict::kProceedTls && tls_ == nullptr) {
    verdict = DeliveryVerdict::kDefer;  // a policy cannot conjure TLS
  }
  if (verdict == DeliveryVerdict::kProceedPlaintext && mandatory_ &&
      tls_ == nullptr) {
    verdict = DeliveryVerdict::kDefer;  // nor make a mandatory policy optional
  }
  if (verdict == DeliveryVerdict::kProceedTls ||
      verdict == DeliveryVerdict::kProceedPlaintext) {
    Continue();
    return;
  }
  connection_policy_.verdict = verdict;
  const bool bounce = verdict == DeliveryVerdict::kBounce;
  const bool no_tls = decision.tlsrpt_result_type == "starttls-not-supported" ||
                      tls_ == nullptr;
  const Reply local =
      Reply::Make(bounce ? 550 : 451,
                  no_tls ? (bounce ? "5.7.4" : "4.7.4") : (bounce ? "5.7.5" : "4.7.5"),
                  absl::StrCat("TLS policy: ", Explain(decision)));
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
      FailMessage(m, status, stage, local, Explain(decision));
    }
  }
  if (!any_goes) {
    Quit();
    return;
  }
  mandatory_ = false;  // only messages that waived the policy remain
  Continue();
}

void ClientSession::Continue() {
  if (state_ != ClientState::kTlsHandshake) {
    StartAuthOrProceed();
    return;
  }
  Command ehlo;  // the first command inside TLS
  ehlo.verb = Verb::kEhlo;
  ehlo.domain = options_->helo_name;
  if (SendCommand(ehlo, Expect::kEhlo)) Transit(ClientInput::kEhloSent);
}

absl::Status ClientSession::TlsEstablished(TlsFacts facts) {
  if (state_ != ClientState::kTlsHandshake) {
    return absl::FailedPreconditionError("no STARTTLS handshake is pending");
  }
  tls_ = std::make_shared<const TlsFacts>(std::move(facts));
  // RFC 3207 §4.2: everything learnt before TLS is void.
  parser_.Reset();
  caps_ = EhloCapabilities{};
  esmtp_ = false;
  Transit(ClientInput::kTlsEstablished);
  ApplyConnectionDecision(policy_->AfterHandshake(destination_, *tls_),
                          ClientStage::kTlsHandshake);
  return absl::OkStatus();
}

absl::Status ClientSession::TlsFailed(absl::string_view reason) {
  if (state_ != ClientState::kTlsHandshake) {
    return absl::FailedPreconditionError("no STARTTLS handshake is pending");
  }
  const PolicyDecision decision =
      policy_->WithoutTls(destination_, TlsProblem::kHandshakeFailed, reason);
  connection_policy_ = decision;
  // The connection is unusable after a failed handshake; whether to retry in
  // plaintext on a new one is the policy's verdict, left to the embedder.
  const bool bounce = decision.verdict == DeliveryVerdict::kBounce;
  Abort(absl::StrCat("TLS handshake failed: ", reason), ClientStage::kTlsHandshake,
        Reply::Make(bounce ? 550 : 451, bounce ? "5.7.5" : "4.7.5",
                    absl::StrCat("TLS handshake failed: ", reason)));
  if (bounce) {
    for (MessageResult& message : results_) {
      for (RecipientResult& r : message.recipients) {
        if (r.stage == ClientStage::kTlsHandshake) {
          r.status = RecipientStatus::kPermFailed;
        }
      }
    }
  }
  return absl::OkStatus();
}

void ClientSession::StartAuthOrProceed() {
  if (options_->auth_username.empty()) {
    Proceed();
    return;
  }
  if (tls_ == nullptr && !options_->auth_in_plaintext) {
    FailRest(RecipientStatus::kTempFailed, ClientStage::kAuth,
             Reply::Make(451, "4.7.0", "refusing to send credentials without TLS"),
             "AUTH needs TLS");
    Quit();
    return;
  }
  const auto offered = [&](absl::string_view m) {
    return std::find(caps_.auth_mechanisms.begin(), caps_.auth_mechanisms.end(),
                     m) != caps_.auth_mechanisms.end();
  };
  auth_step_ = 0;
  if (offered("PLAIN")) {
    auth_mechanism_ = "PLAIN";
    const std::string response = absl::Base64Escape(absl::StrCat(
        std::string(1, '\0'), options_->auth_username, std::string(1, '\0'),
        options_->auth_password));
    if (SendRaw(absl::StrCat("AUTH PLAIN ", response, "\r\n"), Expect::kAuth)) {
      Transit(ClientInput::kAuthSent);
    }
  } else if (offered("LOGIN")) {
    auth_mechanism_ = "LOGIN";
    if (SendRaw("AUTH LOGIN\r\n", Expect::kAuth)) Transit(ClientInput::kAuthSent);
  } else {
    FailRest(RecipientStatus::kTempFailed, ClientStage::kAuth,
             Reply::Make(451, "4.7.0", "server offers neither AUTH PLAIN nor LOGIN"),
             "no usable AUTH mechanism");
    Quit();
  }
}

void ClientSession::OnAuth(const Reply& reply) {
  if (reply.code == 235) {
    Proceed();
    return;
  }
  if (reply.code == 334) {
    if (auth_mechanism_ == "LOGIN" && auth_step_ < 2) {
      const std::string& value =
          auth_step_ == 0 ? options_->auth_username : options_->auth_password;
      ++auth_step_;
      SendRaw(absl::StrCat(absl::Base64Escape(value), "\r\n"), Expect::kAuth);
      return;
    }
    SendRaw("*\r\n", Expect::kAuth);  // an unexpected challenge: cancel
    return;
  }
  // Authentication trouble is a configuration problem: defer, never bounce.
  FailRest(RecipientStatus::kTempFailed, ClientStage::kAuth, reply,
           "authentication failed");
  Quit();
}

void ClientSession::Proceed() {
  Transit(ClientInput::kProceed);
  StartNextMessage();
}

void ClientSession::Quit() {
  if (SendRaw("QUIT\r\n", Expect::kQuit)) Transit(ClientInput::kQuitSent);
}

// ---- transactions --------------------------------------------------------------

void ClientSession::StartNextMessage() {
  while (current_ < messages_.size()) {
    const OutboundMessage& message = messages_[current_];
    MessageResult& result = results_[current_];
    if (result.done) {
      ++current_;
      continue;
    }
    result.tls = tls_;
    result.policy = connection_policy_;
    std::optional<Reply> local;
    if (message.smtputf8 && !caps_.smtputf8) {
      local = Reply::Make(553, "5.6.7",
                          "server does not support SMTPUTF8; not sent");
    } else if (message.body_type == BodyType::k8BitMime && !caps_.eight_bit_mime) {
      local = Reply::Make(554, "5.6.3",
                          "8-bit message and no 8BITMIME; conversion not done");
    } else if (message.body_type == BodyType::kBinaryMime &&
               !(caps_.binary_mime && caps_.chunking)) {
      local = Reply::Make(554, "5.6.3", "binary message and no BINARYMIME");
    } else if (caps_.size.has_value() && *caps_.size > 0 &&
               message.size > *caps_.size) {
      local = Reply::Make(552, "5.3.4", "message larger than the server's SIZE");
    }
    if (local.has_value()) {
      FailMessage(current_, RecipientStatus::kPermFailed, ClientStage::kLocal,
                  *local, local->lines.front());
      ++current_;
      continue;
    }
    const PolicyDecision decision = policy_->ForMessage(
        destination_, message.tls_flags, caps_, tls_.get(), connection_policy_);
    result.policy = decision;
    if (decision.verdict == DeliveryVerdict::kBounce) {
      FailMessage(current_, RecipientStatus::kPermFailed, ClientStage::kPolicy,
                  Reply::Make(550, "5.7.10",
                              absl::StrCat("REQUIRETLS/TLS policy: ",
                                           Explain(decision))),
                  Explain(decision));
      ++current_;
      continue;
    }
    if (decision.verdict == DeliveryVerdict::kDefer ||
        decision.verdict == DeliveryVerdict::kTryNextMx) {
      FailMessage(current_, RecipientStatus::kTempFailed, ClientStage::kPolicy,
                  Reply::Make(451, "4.7.10",
                              absl::StrCat("TLS policy: ", Explain(decision))),
                  Explain(decision));
      ++current_;
      continue;
    }
    break;
  }
  if (current_ >= messages_.size()) {
    Quit();
    return;
  }

  const OutboundMessage& message = messages_[current_];
  Command mail;
  mail.verb = Verb::kMail;
  mail.path = message.sender;
  if (caps_.size.has_value() && message.size > 0) mail.mail.size = message.size;
  if (message.body_type != BodyType::k7Bit) mail.mail.body = message.body_type;
  mail.mail.smtputf8 = message.smtputf8;
  // RFC 8689 §4.1: with REQUIRETLS, a "TLS-Required: No" header is ignored.
  mail.mail.requiretls = message.tls_flags.requiretls && caps_.requiretls;
  if (caps_.dsn) {
    mail.mail.ret = message.ret;
    mail.mail.envid = message.envid;
  }
  accepted_.assign(message.recipients.size(), false);
  rcpt_replies_ = 0;
  mail_accepted_ = false;
  transaction_failed_ = false;
  data_without_recipients_ = false;
  end_reply_seen_ = false;
  body_end_read_ = false;
  end_of_data_sent_ = false;
  encoder_.reset();
  chunk_.clear();
  if (!SendCommand(mail, Expect::kMail)) return;
  Transit(ClientInput::kMailSent);
  if (!Pipelining()) return;
  for (size_t r = 0; r < message.recipients.size(); ++r) {
    if (!SendRecipient(r)) return;
  }
  if (!UseBdat()) SendRaw("DATA\r\n", Expect::kData);
}

bool ClientSession::Pipelining() const {
  return caps_.pipelining && options_->use_pipelining;
}

bool ClientSession::UseBdat() const {
  const OutboundMessage& message = messages_[current_];
  return message.body_type == BodyType::kBinaryMime ||
         (options_->prefer_bdat && caps_.chunking);
}

bool ClientSession::SendRecipient(size_t r) {
  const OutboundMessage& message = messages_[current_];
  Command rcpt;
  rcpt.verb = Verb::kRcpt;
  rcpt.path = message.recipients[r].mailbox;
  if (caps_.dsn) rcpt.rcpt = message.recipients[r].dsn;
  return SendCommand(rcpt, Expect::kRcpt, r);
}

bool ClientSession::AnyAccepted() const {
  return std::find(accepted_.begin(), accepted_.end(), true) != accepted_.end();
}

void ClientSession::OnMail(const Reply& reply) {
  if (reply.positive()) {
    mail_accepted_ = true;
    if (!Pipelining()) SendRecipient(0);
    return;
  }
  transaction_failed_ = true;
  FailMessage(current_, StatusOf(reply), ClientStage::kMail, reply,
              "sender refused");
  if (!Pipelining()) FinishTransaction();
  // Pipelined: the RCPT and DATA replies that follow are consumed first.
}

void ClientSession::OnRcpt(const Reply& reply, size_t recipient) {
  ++rcpt_replies_;
  if (!transaction_failed_) {
    if (reply.positive()) {
      accepted_[recipient] = true;
    } else {
      Resolve(current_, recipient, StatusOf(reply), ClientStage::kRcpt, reply,
              "recipient refused");
    }
  }
  const size_t count = messages_[current_].recipients.size();
  if (rcpt_replies_ < count) {
    if (!Pipelining()) SendRecipient(rcpt_replies_);
    return;
  }
  // Every RCPT reply is in.
  if (Pipelining() && !UseBdat()) return;  // the DATA reply comes next
  if (transaction_failed_ || !AnyAccepted()) {
    FinishTransaction();
    return;
  }
  if (UseBdat()) {
    StartBdat();
  } else if (SendRaw("DATA\r\n", Expect::kData)) {
    // waiting for 354
  }
}

void ClientSession::OnData(const Reply& reply) {
  if (reply.code == 354) {
    Transit(ClientInput::kDataOk);
    if (transaction_failed_ || !AnyAccepted()) {
      // RFC 2920 §3.1: DATA was accepted though no recipient was; end it
      // with an empty message and ignore its reply.
      data_without_recipients_ = true;
      if (SendRaw(".\r\n", Expect::kEndOfData)) Transit(ClientInput::kBodySent);
      return;
    }
    encoder_ = std::make_unique<BodyEncoder>(BodyEncoder::Mode::kData,
                                             options_->max_body_line);
    PumpBody();
    return;
  }
  if (!transaction_failed_) {
    for (size_t r = 0; r < accepted_.size(); ++r) {
      if (accepted_[r]) {
        Resolve(current_, r, StatusOf(reply), ClientStage::kData, reply,
                "DATA refused");
      }
    }
  }
  transaction_failed_ = true;
  FinishTransaction();
}

void ClientSession::StartBdat() {
  Transit(ClientInput::kBdatStarted);
  const bool binary = messages_[current_].body_type == BodyType::kBinaryMime;
  encoder_ = std::make_unique<BodyEncoder>(
      binary ? BodyEncoder::Mode::kBinary : BodyEncoder::Mode::kBdatText,
      binary ? 0 : options_->max_body_line);
  PumpBody();
}

bool ClientSession::SendBdatChunk(size_t size, bool last) {
  const Expect expect = last ? Expect::kEndOfData : Expect::kBdat;
  if (!SendRaw(absl::StrCat("BDAT ", size, last ? " LAST" : "", "\r\n"),
               expect)) {
    return false;
  }
  output_.append(chunk_, 0, size);
  chunk_.erase(0, size);
  // The command has left only when its chunk has.
  pending_.back().end = output_consumed_ + output_.size();
  return true;
}

void ClientSession::PumpBody() {
  const bool bdat = state_ == ClientState::kBdat;
  if ((state_ != ClientState::kBody && !bdat) || encoder_ == nullptr ||
      end_of_data_sent_ || waiting_for_body_ || transaction_failed_) {
    return;
  }
  if (PlaintextForbidden(Expect::kData)) {
    Abort("refused to send a body in plaintext under a mandatory TLS policy",
          ClientStage::kPolicy, Reply::Make(451, "4.7.0", "TLS required by policy"));
    return;
  }
  BodySource& source = *messages_[current_].body;
  const size_t chunk = std::max<size_t>(1, options_->bdat_chunk_size);
  for (;;) {
    if (bdat) {
      // Every full chunk goes when it is ready, the rest with LAST once the
      // body has ended. Without PIPELINING a BDAT is a command like any
      // other (RFC 2920 §3.1, RFC 3030 §4): it waits until the reply to the
      // previous one has been read; OnBdat resumes here.
      while (body_end_read_ || chunk_.size() >= chunk) {
        if (!Pipelining() && !pending_.empty()) return;
        const bool last = body_end_read_ && chunk_.size() <= chunk;
        if (!SendBdatChunk(last ? chunk_.size() : chunk, last)) return;
        if (last) {
          end_of_data_sent_ = true;
          return;
        }
      }
    }
    if (output_.size() >= options_->output_high_water) return;
    bool end = false;
    absl::StatusOr<absl::string_view> piece = source.Read(kBodyReadSize, &end);
    if (!piece.ok()) {
      Abort(absl::StrCat("message body could not be read: ", piece.status().message()),
            ClientStage::kData,
            Reply::Make(451, "4.3.0", "local error reading the message"));
      return;
    }
    if (piece->empty() && !end) {
      waiting_for_body_ = true;
      return;
    }
    std::string* sink = bdat ? &chunk_ : &output_;
    absl::Status encoded = encoder_->Encode(*piece, sink);
    if (encoded.ok() && end) encoded = encoder_->Finish(sink);
    if (!encoded.ok()) {
      // The message cannot be sent unchanged. Fail it for good and drop the
      // connection before any end-of-data marker, so nothing is delivered.
      FailMessage(current_, RecipientStatus::kPermFailed, ClientStage::kData,
                  Reply::Make(554, "5.6.0", encoded.message()),
                  encoded.message());
      Abort(encoded.message(), ClientStage::kData,
            Reply::Make(451, "4.3.0", "connection dropped: an earlier message "
                                      "could not be encoded"));
      return;
    }
    last_send_ = now_;
    if (!end) continue;
    body_end_read_ = true;
    if (!bdat) {
      end_of_data_sent_ = true;
      pending_.push_back({Expect::kEndOfData, 0, current_,
                          output_consumed_ + output_.size()});
      Transit(ClientInput::kBodySent);
      return;
    }
    // BDAT: the loop above sends the remaining chunks and LAST.
  }
}

void ClientSession::OnBdat(const Reply& reply) {
  if (!reply.positive() && !transaction_failed_) {
    for (size_t r = 0; r < accepted_.size(); ++r) {
      if (accepted_[r]) {
        Resolve(current_, r, StatusOf(reply), ClientStage::kData, reply,
                "BDAT refused");
      }
    }
    transaction_failed_ = true;
  }
  if (transaction_failed_) {
    if (pending_.empty()) FinishTransaction();
    return;
  }
  PumpBody();
}

void ClientSession::OnEndOfData(const Reply& reply) {
  end_reply_seen_ = true;
  if (!data_without_recipients_ && !transaction_failed_) {
    for (size_t r = 0; r < accepted_.size(); ++r) {
      if (accepted_[r]) {
        Resolve(current_, r, StatusOf(reply), ClientStage::kEndOfData, reply,
                reply.positive() ? "accepted" : "message refused");
      }
    }
  }
  FinishTransaction();
}

void ClientSession::FinishTransaction() {
  // Recipients left open (accepted, then the transaction failed) fail with
  // the transaction.
  for (size_t r = 0; r < accepted_.size(); ++r) {
    Resolve(current_, r, RecipientStatus::kTempFailed, ClientStage::kData,
            Reply::Make(451, "4.3.0", "transaction failed"), "transaction failed");
  }
  MaybeFinishMessage(current_);
  const bool need_rset = mail_accepted_ && !end_reply_seen_;
  ++current_;
  encoder_.reset();
  if (need_rset) {
    if (SendRaw("RSET\r\n", Expect::kRset)) Transit(ClientInput::kRsetSent);
    return;
  }
  Transit(ClientInput::kTransactionEnd);
  StartNextMessage();
}

// ---- time and connection loss ----------------------------------------------------

absl::Time ClientSession::NextDeadline() const {
  if (state_ == ClientState::kClosed || state_ == ClientState::kTlsHandshake ||
      waiting_for_body_) {
    return absl::InfiniteFuture();
  }
  if (pending_.empty()) {
    const bool sending = state_ == ClientState::kBody || state_ == ClientState::kBdat;
    return sending ? last_send_ + options_->block_timeout : absl::InfiniteFuture();
  }
  switch (pending_.front().expect) {
    case Expect::kGreeting: return last_send_ + options_->greeting_timeout;
    case Expect::kData: return last_send_ + options_->data_timeout;
    case Expect::kEndOfData: return last_send_ + options_->end_timeout;
    default: return last_send_ + options_->command_timeout;
  }
}

absl::Status ClientSession::OnTimeout(absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  now_ = now;
  if (state_ == ClientState::kClosed || now < NextDeadline()) {
    return absl::OkStatus();
  }
  const ClientStage stage =
      pending_.empty() ? ClientStage::kData : StageOf(pending_.front().expect);
  Abort(absl::StrCat("timeout in ", ClientStageName(stage)), stage,
        Reply::Make(451, "4.4.2",
                    absl::StrCat("timeout waiting for the server (",
                                 ClientStageName(stage), ")")));
  return absl::OkStatus();
}

void ClientSession::ConnectionLost(absl::string_view reason) {
  if (state_ == ClientState::kClosed) return;
  const ClientStage stage = pending_.empty() ? ClientStage::kMail
                                             : StageOf(pending_.front().expect);
  const std::string detail = absl::StrCat("connection lost: ", reason);
  if (state_ == ClientState::kQuit) {
    // Everything was settled; a server that hangs up on QUIT is common.
    Transit(ClientInput::kClose);
    ClientEvent event;
    event.type = ClientEventType::kClosed;
    event.reason = detail;
    Emit(std::move(event));
    return;
  }
  // Abort flags every message whose end of data left and whose reply did
  // not come back (not only when that reply is the next one expected: BDAT
  // chunk replies may still be unread).
  Abort(detail, stage, Reply::Make(451, "4.4.2", detail));
}

}  // namespace starling::smtp
