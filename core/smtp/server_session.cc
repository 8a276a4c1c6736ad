#include "core/smtp/server_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/smtp/capabilities.h"
#include "core/smtp/text.h"

namespace starling::smtp {
namespace {

static_assert(static_cast<int>(ServerInput::kAuth) ==
                  static_cast<int>(Verb::kAuth),
              "ServerInput's commands must mirror Verb");

ServerInput InputOf(Verb verb) { return static_cast<ServerInput>(verb); }

// RFC 2920 §3.1 (and RFC 3207, 4954): commands after which the client must
// wait for the reply. Message content after DATA before the 354 is the
// smuggling-relevant case.
bool MustEndPipelineGroup(Verb verb) {
  switch (verb) {
    case Verb::kEhlo:
    case Verb::kHelo:
    case Verb::kData:
    case Verb::kStartTls:
    case Verb::kAuth:
      return true;
    default:
      return false;
  }
}

// An embedder's reply: a valid code and RFC 5321 textstring lines (UTF-8
// only inside an SMTPUTF8 transaction).
bool ValidReply(const Reply& reply, bool utf8) {
  if (reply.code < 200 || reply.code > 599 || reply.code % 100 / 10 > 5) {
    return false;
  }
  for (const std::string& line : reply.lines) {
    if (!IsTextString(line, utf8)) return false;
  }
  return true;
}

absl::string_view SequenceErrorText(ServerState state, Verb verb) {
  switch (verb) {
    case Verb::kMail:
      if (state == ServerState::kGreeted) return "Send HELO/EHLO first";
      if (state == ServerState::kRefused) return "Bad sequence of commands";
      return "Nested MAIL command";
    case Verb::kRcpt:
      return "Need MAIL before RCPT";
    case Verb::kData:
      return state == ServerState::kBdatIdle ? "DATA not allowed after BDAT"
                                             : "Need MAIL and RCPT before DATA";
    case Verb::kBdat:
      return "Need MAIL and RCPT before BDAT";
    case Verb::kStartTls:
      return "STARTTLS not allowed during a mail transaction";
    case Verb::kAuth:
      return state == ServerState::kGreeted
                 ? "Send EHLO first"
                 : "AUTH not allowed during a mail transaction";
    default:
      return "Bad sequence of commands";
  }
}

// The replies sent most often, built once (they are sent as they are).
const Reply& Ok() {
  static const Reply* const reply = new Reply(Reply::Make(250, "2.0.0", "OK"));
  return *reply;
}
const Reply& SenderOk() {
  static const Reply* const reply =
      new Reply(Reply::Make(250, "2.1.0", "Sender OK"));
  return *reply;
}
const Reply& RecipientOk() {
  static const Reply* const reply =
      new Reply(Reply::Make(250, "2.1.5", "Recipient OK"));
  return *reply;
}
const Reply& MessageAccepted() {
  static const Reply* const reply =
      new Reply(Reply::Make(250, "2.0.0", "Message accepted for delivery"));
  return *reply;
}
const Reply& AuthSucceeded() {
  static const Reply* const reply =
      new Reply(Reply::Make(235, "2.7.0", "Authentication successful"));
  return *reply;
}

constexpr absl::string_view kPlain = "PLAIN";
constexpr absl::string_view kLogin = "LOGIN";

}  // namespace

absl::string_view ServerEventTypeName(ServerEventType type) {
  switch (type) {
    case ServerEventType::kHelo: return "helo";
    case ServerEventType::kMailFrom: return "mail-from";
    case ServerEventType::kRcptTo: return "rcpt-to";
    case ServerEventType::kMessageData: return "message-data";
    case ServerEventType::kMessageComplete: return "message-complete";
    case ServerEventType::kMessageAborted: return "message-aborted";
    case ServerEventType::kAuth: return "auth";
    case ServerEventType::kStartTls: return "starttls";
    case ServerEventType::kClosed: return "closed";
  }
  return "?";
}

// State of one SASL exchange.
struct ServerSession::Auth {
  std::string mechanism;
  std::string username;  // LOGIN: the first response
  int round = 0;
};

ServerSession::ServerSession(std::shared_ptr<const ServerOptions> options)
    : options_(std::move(options)), lines_(options_->max_command_line) {}

ServerSession::~ServerSession() = default;

// ---- transitions and output ---------------------------------------------------

bool ServerSession::Transit(ServerInput input) {
  const std::optional<ServerState> next = NextServerState(state_, input);
  if (!next.has_value()) {
    // A bug in this file, never the client's doing: stop talking (what was
    // said so far still drains) instead of taking the process down.
    fatal_ = absl::InternalError(absl::StrCat(
        "server transition missing from the table: ", ServerStateName(state_),
        " + ", ServerInputName(input)));
    fatal_reason_ = SessionError::kInternal;
    AbortMessage("internal error");
    state_ = ServerState::kClosed;
    lines_.Reset();
    auth_.reset();
    input_.clear();
    ServerEvent& event = Emit(ServerEventType::kClosed);
    event.reason = std::string(fatal_.message());
    return false;
  }
  state_ = *next;
  UpdateLineLimit();
  return true;
}

LineExtensions ServerSession::OfferedLineExtensions() const {
  LineExtensions offered;
  offered.size = true;  // SIZE is always in the EHLO reply
  offered.body = options_->offer_8bitmime || options_->offer_chunking;
  offered.smtputf8 = options_->offer_smtputf8;
  offered.requiretls = options_->offer_requiretls && tls_ != nullptr;
  offered.dsn = options_->offer_dsn;
  offered.auth = !options_->auth_mechanisms.empty();
  return offered;
}

void ServerSession::UpdateLineLimit() {
  // The limits follow the kind of state, TLS and authentication only: most
  // transitions (one per command) change none of them.
  const uint8_t key = static_cast<uint8_t>(
      (state_ == ServerState::kData           ? 1
       : state_ == ServerState::kAuthResponse ? 2
                                              : 3) |
      (tls_ != nullptr ? 4 : 0) | (auth_user_.empty() ? 8 : 0));
  if (key == line_limits_for_) return;
  line_limits_for_ = key;
  size_t limit = options_->max_command_line;
  lines_.set_split_long_lines(state_ == ServerState::kData &&
                              options_->long_data_lines ==
                                  LongDataLines::kPassThrough);
  if (state_ == ServerState::kData) {
    limit = options_->max_data_line;
  } else if (state_ == ServerState::kAuthResponse) {
    limit = options_->max_auth_line;
  } else {
    // MAIL and RCPT may be longer by the extensions offered; the verb's own
    // limit is checked once the line is parsed.
    const LineExtensions offered = OfferedLineExtensions();
    limit = std::max({limit, MaxCommandLine(Verb::kMail, offered),
                      MaxCommandLine(Verb::kRcpt, offered)});
    // An AUTH command line may carry a long initial response.
    if (AuthOffered()) limit = std::max(limit, options_->max_auth_line);
  }
  lines_.set_max_line_length(limit);
}

void ServerSession::Send(const Reply& reply) {
  if (fatal_reason_ == SessionError::kInternal) return;
  if (reply.enhanced.has_value() && !options_->offer_enhanced_status_codes) {
    Reply plain = reply;
    plain.enhanced.reset();
    AppendReply(plain, &output_);
    return;
  }
  AppendReply(reply, &output_);
}

void ServerSession::SendLine(int code, absl::string_view enhanced,
                             absl::string_view text) {
  if (fatal_reason_ == SessionError::kInternal) return;
  AppendReplyLine(code, options_->offer_enhanced_status_codes ? enhanced : "",
                  text, &output_);
}

void ServerSession::SendError(int code, absl::string_view enhanced,
                              absl::string_view text) {
  if (++errors_ >= options_->max_errors) {
    SendLine(421, "4.7.0",
             absl::StrCat(options_->hostname,
                          " Too many errors, closing connection"));
    Close("too many errors");
    return;
  }
  SendLine(code, enhanced, text);
}

ServerEvent& ServerSession::Emit(ServerEventType type) {
  // Events already taken are void at any later call: their room is reused.
  if (next_event_ == events_.size()) {
    events_.clear();
    next_event_ = 0;
  }
  // Built in place. Room for one to start with: most commands emit one, and
  // one event's block (~600 octets) comes from glibc's per-thread cache
  // (blocks up to 1032 octets) where two would not.
  if (events_.empty()) events_.reserve(1);
  ServerEvent& event = events_.emplace_back();
  event.type = type;
  return event;
}

bool ServerSession::InMessage() const {
  switch (state_) {
    case ServerState::kData:
    case ServerState::kBdatChunk:
    case ServerState::kBdatIdle:
    case ServerState::kMessagePending:
      return true;
    default:
      return false;
  }
}

void ServerSession::AbortMessage(absl::string_view reason) {
  if (!InMessage()) return;
  body_.clear();
  ServerEvent& event = Emit(ServerEventType::kMessageAborted);
  event.reason = std::string(reason);
}

void ServerSession::ResetTransaction() {
  AbortMessage("transaction reset");
  recipients_ = 0;
  smtputf8_ = false;
  binary_body_ = false;
  saw_bdat_ = false;
  message_size_ = 0;
  message_failure_.reset();
  chunk_remaining_ = 0;
  chunk_last_ = false;
}

void ServerSession::Close(absl::string_view reason) {
  if (state_ == ServerState::kClosed) return;
  AbortMessage(reason);
  if (!Transit(ServerInput::kClose)) return;
  lines_.Reset();
  auth_.reset();
  ServerEvent& event = Emit(ServerEventType::kClosed);
  event.reason = std::string(reason);
}

void ServerSession::Fatal(SessionError error, absl::string_view reason,
                          std::optional<Reply> reply) {
  if (state_ == ServerState::kClosed) return;
  if (reply.has_value()) Send(*std::move(reply));
  fatal_ = absl::AbortedError(absl::StrCat("SMTP protocol violation: ", reason));
  fatal_reason_ = error;
  Close(reason);
}

// ---- embedder calls ----------------------------------------------------------

absl::Status ServerSession::AcceptConnection(absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (state_ != ServerState::kAwaitConnect) {
    return absl::FailedPreconditionError("connection already decided");
  }
  last_activity_ = now;
  if (!Transit(ServerInput::kAccept)) return fatal_;
  SendLine(220, "",
           absl::StrCat(options_->hostname, " ", options_->greeting_text));
  return absl::OkStatus();
}

absl::Status ServerSession::RefuseConnection(const Reply& reply,
                                             absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (state_ != ServerState::kAwaitConnect) {
    return absl::FailedPreconditionError("connection already decided");
  }
  if (!ValidReply(reply, false) || reply.code < 400) {
    return absl::InvalidArgumentError("refusal needs a 4xx/5xx reply");
  }
  last_activity_ = now;
  Send(reply);
  if (reply.code == 421) {
    Close("connection refused");
  } else {
    if (!Transit(ServerInput::kReject)) return fatal_;
  }
  return absl::OkStatus();
}

bool ServerSession::pending_decision() const {
  switch (state_) {
    case ServerState::kHeloPending:
    case ServerState::kMailPending:
    case ServerState::kRcptPending:
    case ServerState::kMessagePending:
    case ServerState::kAuthPending:
      return true;
    default:
      return false;
  }
}

bool ServerSession::Blocked() const {
  return pending_decision() || state_ == ServerState::kAwaitConnect ||
         state_ == ServerState::kTlsHandshake;
}

absl::Status ServerSession::Accept(absl::Time now) {
  return Decide(nullptr, /*accept=*/true, now);
}

absl::Status ServerSession::Accept(const Reply& reply, absl::Time now) {
  return Decide(&reply, /*accept=*/true, now);
}

absl::Status ServerSession::Reject(const Reply& reply, absl::Time now) {
  return Decide(&reply, /*accept=*/false, now);
}

absl::Status ServerSession::Decide(const Reply* reply, bool accept,
                                   absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (!pending_decision()) {
    return absl::FailedPreconditionError("no decision is pending");
  }
  if (reply != nullptr && !ValidReply(*reply, smtputf8_)) {
    return absl::InvalidArgumentError(
        "reply needs a valid code and textstring lines (no control "
        "characters; UTF-8 only with SMTPUTF8)");
  }
  if (accept && reply != nullptr && reply->code >= 300) {
    return absl::InvalidArgumentError("Accept needs a 2xx reply");
  }
  if (!accept && reply->code < 400) {
    return absl::InvalidArgumentError("Reject needs a 4xx/5xx reply");
  }
  // The decision may have taken a while: the client's timer starts now.
  last_activity_ = now;
  if (!accept) {
    pending_accept_ = nullptr;
    if (reply->code == 421) {  // RFC 5321 §3.8: the server closes after 421.
      Send(*reply);
      Close("rejected with 421");
      input_.clear();
      return fatal_;
    }
    switch (state_) {
      case ServerState::kHeloPending:
        pending_helo_.clear();
        helo_name_.clear();
        esmtp_ = false;
        break;
      case ServerState::kMailPending:
        ResetTransaction();
        break;
      case ServerState::kAuthPending:
        auth_.reset();
        break;
      default:
        break;
    }
    if (!Transit(ServerInput::kReject)) return fatal_;
    if (state_ == ServerState::kReady) ResetTransaction();
    Send(*reply);
    ResumeAfterDecision();
    return fatal_;
  }
  bool own_helo_reply = false;
  switch (state_) {
    case ServerState::kHeloPending:
      helo_name_ = std::move(pending_helo_);
      pending_helo_.clear();
      esmtp_ = pending_ehlo_;
      if (!Transit(ServerInput::kAccept)) return fatal_;
      own_helo_reply = reply == nullptr;
      break;
    case ServerState::kRcptPending:
      ++recipients_;
      if (!Transit(ServerInput::kAccept)) return fatal_;
      break;
    case ServerState::kMessagePending:
      if (!Transit(ServerInput::kAccept)) return fatal_;
      ResetTransaction();
      break;
    case ServerState::kAuthPending:
      auth_user_ = auth_->username.empty() ? absl::StrCat("(", auth_->mechanism, ")")
                                           : auth_->username;
      auth_.reset();
      if (!Transit(ServerInput::kAccept)) return fatal_;
      break;
    default:  // kMailPending
      if (!Transit(ServerInput::kAccept)) return fatal_;
      break;
  }
  if (reply != nullptr) {
    Send(*reply);
  } else if (!own_helo_reply) {
    Send(*pending_accept_);
  } else if (esmtp_) {
    SendEhloReply();
  } else {
    SendLine(250, "", options_->hostname);
  }
  pending_accept_ = nullptr;
  ResumeAfterDecision();
  return fatal_;
}

absl::Status ServerSession::AuthChallenge(absl::string_view challenge,
                                          absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (state_ != ServerState::kAuthPending || auth_ == nullptr ||
      auth_->mechanism == kPlain || auth_->mechanism == kLogin) {
    return absl::FailedPreconditionError(
        "no SASL exchange of an embedder-run mechanism is pending");
  }
  last_activity_ = now;
  ++auth_->round;
  if (!Transit(ServerInput::kAuthChallenge)) return fatal_;
  SendLine(334, "", absl::Base64Escape(challenge));
  ResumeAfterDecision();
  return fatal_;
}

absl::Status ServerSession::TlsEstablished(TlsFacts facts, absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (state_ != ServerState::kTlsHandshake) {
    return absl::FailedPreconditionError("no STARTTLS handshake is pending");
  }
  // RFC 3207 §4.2: discard all knowledge obtained from the client.
  tls_ = std::make_unique<TlsFacts>(std::move(facts));
  helo_name_.clear();
  esmtp_ = false;
  auth_user_.clear();
  auth_.reset();
  ResetTransaction();
  input_.clear();
  lines_.Reset();
  last_activity_ = now;
  Transit(ServerInput::kTlsEstablished);
  return fatal_;
}

absl::Status ServerSession::TlsFailed(absl::string_view reason,
                                      absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (state_ != ServerState::kTlsHandshake) {
    return absl::FailedPreconditionError("no STARTTLS handshake is pending");
  }
  last_activity_ = now;
  Close(absl::StrCat("TLS handshake failed: ", reason));
  input_.clear();
  return fatal_;
}

void ServerSession::ConnectionLost(absl::Time now) {
  if (state_ == ServerState::kClosed) return;
  last_activity_ = now;
  // Nothing can be sent any more: what was queued is void too.
  output_.clear();
  input_.clear();
  Close("connection lost");
}

void ServerSession::ConsumeOutput(size_t n) {
  output_.erase(0, std::min(n, output_.size()));
  // An idle session holds no buffers (it waits for its next command).
  if (output_.empty()) output_.shrink_to_fit();
}

ServerEvent* ServerSession::NextEvent() {
  if (next_event_ < events_.size()) return &events_[next_event_++];
  // Every event was taken: an idle session holds no buffers.
  std::vector<ServerEvent>().swap(events_);
  next_event_ = 0;
  return nullptr;
}

absl::Time ServerSession::NextDeadline() const {
  if (state_ == ServerState::kTlsHandshake) {
    return last_activity_ + options_->starttls_timeout;
  }
  if (state_ == ServerState::kClosed || Blocked()) return absl::InfiniteFuture();
  const bool in_data = state_ == ServerState::kData ||
                       state_ == ServerState::kBdatChunk || chunk_discard_;
  return last_activity_ +
         (in_data ? options_->data_timeout : options_->command_timeout);
}

absl::Status ServerSession::OnTimeout(absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (state_ == ServerState::kClosed || now < NextDeadline()) {
    return absl::OkStatus();
  }
  if (state_ == ServerState::kTlsHandshake) {
    // No plaintext reply can go in the middle of a handshake: just close.
    Close("STARTTLS handshake timeout");
    input_.clear();
    return fatal_;
  }
  SendLine(421, "4.4.2",
           absl::StrCat(options_->hostname,
                        " Timeout exceeded, closing connection"));
  Close("timeout");
  input_.clear();
  return absl::OkStatus();
}

void ServerSession::Shutdown(absl::Time now) {
  if (state_ == ServerState::kClosed) return;
  last_activity_ = now;
  if (state_ == ServerState::kTlsHandshake) {
    Close("shutdown");  // no plaintext 421 in the middle of a handshake
    input_.clear();
    return;
  }
  SendLine(421, "4.3.2",
           absl::StrCat(options_->hostname,
                        " Service shutting down, closing connection"));
  Close("shutdown");
  input_.clear();
}

size_t ServerSession::buffered_bytes() const {
  // Strings count only when they left their inline (small-string) buffer.
  const size_t inline_capacity = std::string().capacity();
  auto heap = [&](size_t capacity) {
    return capacity > inline_capacity ? capacity + 1 : 0;
  };
  return heap(input_.capacity()) + heap(output_.capacity()) +
         heap(body_.capacity()) + heap(lines_.buffer_capacity()) +
         heap(helo_name_.capacity()) + heap(auth_user_.capacity()) +
         events_.capacity() * sizeof(ServerEvent) +
         (tls_ ? sizeof(TlsFacts) : 0) + (auth_ ? sizeof(Auth) : 0);
}

// ---- input -------------------------------------------------------------------

absl::Status ServerSession::Receive(absl::string_view bytes, absl::Time now) {
  if (!fatal_.ok()) return fatal_;
  if (state_ == ServerState::kClosed) {
    return absl::FailedPreconditionError("session is closed");
  }
  last_activity_ = now;
  if (bytes.empty()) return absl::OkStatus();

  if (state_ == ServerState::kAwaitConnect) {
    // The client talked before the greeting (pregreet): a bot or an attack.
    Fatal(SessionError::kPregreet, "client sent data before the greeting",
          Reply::Make(554, "5.5.0", "Protocol synchronization error"));
    return fatal_;
  }
  if (state_ == ServerState::kTlsHandshake) {
    // Plaintext after our 220 to STARTTLS is never parsed (RFC 3207 §5).
    if (options_->starttls_tail == StartTlsTail::kDiscard) {
      return absl::OkStatus();
    }
    Fatal(SessionError::kPlaintextAfterStartTls,
          "plaintext received after STARTTLS", std::nullopt);
    return fatal_;
  }

  if (input_.empty() && !Blocked()) {
    Process(&bytes);
    if (bytes.empty() || state_ == ServerState::kClosed) return fatal_;
    if (bytes.size() > options_->max_buffered_input) {
      Fatal(SessionError::kTooMuchInput, "too much pipelined input",
            Reply::Make(421, "4.7.0", "Too much pipelined input"));
      return fatal_;
    }
    input_.assign(bytes.data(), bytes.size());
    return fatal_;
  }
  if (input_.size() + bytes.size() > options_->max_buffered_input) {
    Fatal(SessionError::kTooMuchInput, "too much pipelined input",
          Reply::Make(421, "4.7.0", "Too much pipelined input"));
    return fatal_;
  }
  input_.append(bytes.data(), bytes.size());
  ResumeAfterDecision();
  return fatal_;
}

void ServerSession::ResumeAfterDecision() {
  if (input_.empty() || Blocked() || state_ == ServerState::kClosed) return;
  absl::string_view view = input_;
  Process(&view);
  if (state_ == ServerState::kClosed) {
    input_.clear();
  } else {
    input_.erase(0, input_.size() - view.size());
  }
  if (input_.empty() && input_.capacity() > 1024) input_.shrink_to_fit();
}

void ServerSession::Process(absl::string_view* input) {
  while (!input->empty() && !Blocked() && state_ != ServerState::kClosed) {
    if (chunk_discard_) {
      // Octets of a refused BDAT chunk: never parsed as commands.
      const size_t n = static_cast<size_t>(
          std::min<uint64_t>(chunk_remaining_, input->size()));
      input->remove_prefix(n);
      chunk_remaining_ -= n;
      if (chunk_remaining_ == 0) {
        chunk_discard_ = false;
        Send(*chunk_reply_);
        chunk_reply_.reset();
      }
      continue;
    }
    switch (state_) {
      case ServerState::kData:
        ProcessData(input);
        break;
      case ServerState::kBdatChunk:
        ProcessBdat(input);
        break;
      case ServerState::kAuthResponse:
        ProcessAuthLine(input);
        break;
      default:
        ProcessCommandLine(input);
        break;
    }
  }
}

void ServerSession::ProcessCommandLine(absl::string_view* input) {
  const std::optional<Line> line = lines_.Next(input);
  if (!line.has_value()) return;
  switch (line->status) {
    case LineStatus::kOk:
      break;
    case LineStatus::kTooLong:
    case LineStatus::kSegment:  // split mode is only on in DATA
      SendError(500, "5.5.2", "Line too long");
      return;
    case LineStatus::kBareLf:
    case LineStatus::kBareCr:
      SendError(500, "5.5.2", "Bare CR or LF in command line");
      return;
  }
  const absl::string_view text = line->text;
  // Past the base limit only MAIL and RCPT (by the extensions offered) and
  // AUTH (its initial response) may go; the line reader bounds the rest.
  const bool long_line = text.size() + 2 > options_->max_command_line;
  if (long_line && !absl::StartsWithIgnoreCase(text, "AUTH ") &&
      !absl::StartsWithIgnoreCase(text, "MAIL ") &&
      !absl::StartsWithIgnoreCase(text, "RCPT ")) {
    SendError(500, "5.5.2", "Line too long");
    return;
  }

  CommandParseOptions parse_options = options_->command_limits;
  parse_options.utf8_addresses = smtputf8_;
  CommandView command;
  const absl::Status status = ParseCommandView(text, parse_options, command);
  if (long_line && status.ok() && command.verb != Verb::kAuth &&
      text.size() + 2 >
          options_->max_command_line - 512 +
              MaxCommandLine(command.verb, OfferedLineExtensions())) {
    SendError(500, "5.5.2", "Line too long");
    return;
  }
  if (!status.ok()) {
    if (absl::StartsWithIgnoreCase(text, "BDAT ") ||
        absl::EqualsIgnoreCase(text, "BDAT")) {
      // Without a valid size the chunk's end is unknown: its octets would be
      // read as commands. Close rather than guess (RFC 3030 §2).
      Fatal(SessionError::kMalformedBdat, "malformed BDAT command",
            Reply::Make(554, "5.5.4",
                        "Malformed BDAT command, closing connection"));
      return;
    }
    const std::optional<Reply> reply = ReplyOf(status);
    if (reply.has_value()) {
      SendError(reply->code,
                reply->enhanced ? reply->enhanced->ToString() : "",
                reply->lines.empty() ? "" : reply->lines.front());
    } else {
      SendError(500, "5.5.2", "Syntax error");
    }
    return;
  }

  const Verb verb = command.verb;
  const bool discard_tail = verb == Verb::kStartTls &&
                            options_->starttls_tail == StartTlsTail::kDiscard;
  if (!input->empty() && verb != Verb::kQuit && verb != Verb::kBdat &&
      !discard_tail && (!PipeliningAllowed() || MustEndPipelineGroup(verb))) {
    // RFC 2920: the client sent more before our reply to a command that ends
    // a pipeline group (or pipelined without PIPELINING being offered).
    Fatal(SessionError::kImproperPipelining,
          absl::StrCat("improper pipelining after ", VerbName(verb)),
          Reply::Make(554, "5.5.0", "Protocol synchronization error"));
    return;
  }
  HandleCommand(command, input);
}

void ServerSession::HandleCommand(const CommandView& command,
                                  absl::string_view* input) {
  const Verb verb = command.verb;
  if (!NextServerState(state_, InputOf(verb)).has_value()) {
    if (verb == Verb::kBdat) {
      DiscardChunk(command.chunk_size,
                   Reply::Make(503, "5.5.1", SequenceErrorText(state_, verb)));
      return;
    }
    SendError(503, "5.5.1", SequenceErrorText(state_, verb));
    return;
  }
  switch (verb) {
    case Verb::kEhlo:
    case Verb::kHelo:
      OnEhlo(command);
      return;
    case Verb::kMail:
      OnMail(command);
      return;
    case Verb::kRcpt:
      OnRcpt(command);
      return;
    case Verb::kData:
      OnData();
      return;
    case Verb::kBdat:
      OnBdat(command);
      return;
    case Verb::kStartTls:
      OnStartTls(input);
      return;
    case Verb::kAuth:
      OnAuth(command);
      return;
    case Verb::kRset:
      ResetTransaction();
      if (!Transit(ServerInput::kRset)) return;
      Send(Ok());
      return;
    case Verb::kNoop:
      if (!Transit(ServerInput::kNoop)) return;
      Send(Ok());
      return;
    case Verb::kQuit:
      SendLine(221, "2.0.0", absl::StrCat(options_->hostname, " Bye"));
      Close("client sent QUIT");
      return;
    case Verb::kVrfy:
    case Verb::kExpn:
      // RFC 5321 §7.3: a site that does not verify answers 252, which
      // neither confirms nor denies the address (Postfix does for VRFY).
      if (!Transit(InputOf(verb))) return;
      SendLine(252, "2.5.0",
               "Cannot verify the user, but will accept the message "
               "and attempt delivery");
      return;
    case Verb::kHelp:
      if (!Transit(ServerInput::kHelp)) return;
      SendLine(214, "2.0.0",
               "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP "
               "QUIT VRFY HELP STARTTLS AUTH");
      return;
  }
}

// ---- commands ----------------------------------------------------------------

bool ServerSession::AuthOffered() const {
  return !options_->auth_mechanisms.empty() && auth_user_.empty() &&
         (tls_ != nullptr || !options_->auth_requires_tls);
}

void ServerSession::SendEhloReply() {
  EhloCapabilities caps;
  caps.domain = options_->hostname;
  caps.greeting = absl::StrCat("greets ", helo_name_);
  caps.pipelining = options_->offer_pipelining;
  caps.size = options_->max_message_size;
  caps.eight_bit_mime = options_->offer_8bitmime;
  caps.smtputf8 = options_->offer_smtputf8;
  caps.enhanced_status_codes = options_->offer_enhanced_status_codes;
  caps.chunking = options_->offer_chunking;
  caps.binary_mime = options_->offer_chunking;
  caps.dsn = options_->offer_dsn;
  caps.starttls = options_->offer_starttls && tls_available_ && tls_ == nullptr;
  caps.requiretls = options_->offer_requiretls && tls_ != nullptr;
  if (AuthOffered()) {
    for (const std::string& mechanism : options_->auth_mechanisms) {
      caps.auth_mechanisms.push_back(absl::AsciiStrToUpper(mechanism));
    }
  }
  if (fatal_reason_ != SessionError::kInternal) AppendEhloReply(caps, &output_);
}

void ServerSession::OnEhlo(const CommandView& command) {
  ResetTransaction();
  pending_ehlo_ = command.verb == Verb::kEhlo;
  pending_helo_.assign(command.domain.data(), command.domain.size());
  if (!Transit(InputOf(command.verb))) return;
  ServerEvent& event = Emit(ServerEventType::kHelo);
  event.command = ToCommand(command);
}

void ServerSession::OnMail(const CommandView& command) {
  if (options_->require_tls && tls_ == nullptr) {
    SendLine(530, "5.7.0", "Must issue a STARTTLS command first");
    return;
  }
  const MailParametersView& p = command.mail;
  const bool any_parameter = p.size || p.body || p.smtputf8 || p.requiretls ||
                             p.ret || p.envid || p.auth;
  absl::string_view unsupported;
  if (any_parameter && !esmtp_) {
    unsupported = "MAIL parameters require EHLO";
  } else if (p.body == BodyType::k8BitMime && !options_->offer_8bitmime) {
    unsupported = "BODY=8BITMIME not supported";
  } else if (p.body == BodyType::kBinaryMime && !options_->offer_chunking) {
    unsupported = "BODY=BINARYMIME not supported";
  } else if (p.smtputf8 && !options_->offer_smtputf8) {
    unsupported = "SMTPUTF8 not supported";
  } else if (p.requiretls && !(options_->offer_requiretls && tls_ != nullptr)) {
    unsupported = "REQUIRETLS not offered on this connection";
  } else if ((p.ret || p.envid) && !options_->offer_dsn) {
    unsupported = "DSN parameters not supported";
  } else if (p.auth && options_->auth_mechanisms.empty()) {
    unsupported = "AUTH parameter not supported";
  }
  if (!unsupported.empty()) {
    SendLine(555, "5.5.4", unsupported);
    return;
  }
  if (p.size && options_->max_message_size != 0 &&
      *p.size > options_->max_message_size) {
    SendLine(552, "5.3.4", "Message size exceeds fixed maximum message size");
    return;
  }
  smtputf8_ = p.smtputf8;
  binary_body_ = p.body == BodyType::kBinaryMime;
  pending_accept_ = &SenderOk();
  if (!Transit(ServerInput::kMail)) return;
  ServerEvent& event = Emit(ServerEventType::kMailFrom);
  event.command = ToCommand(command);
}

void ServerSession::OnRcpt(const CommandView& command) {
  const RcptParametersView& p = command.rcpt;
  if ((p.notify || p.orcpt) && (!esmtp_ || !options_->offer_dsn)) {
    SendLine(555, "5.5.4", "DSN parameters not supported");
    return;
  }
  if (recipients_ >= options_->max_recipients) {
    // RFC 5321 §4.5.3.1.10: 452, and the client retries the rest later.
    SendLine(452, "4.5.3", "Too many recipients");
    return;
  }
  pending_accept_ = &RecipientOk();
  if (!Transit(ServerInput::kRcpt)) return;
  ServerEvent& event = Emit(ServerEventType::kRcptTo);
  event.command = ToCommand(command);
}

void ServerSession::OnData() {
  if (recipients_ == 0) {
    SendLine(554, "5.5.1", "No valid recipients");
    return;
  }
  if (binary_body_) {
    SendLine(503, "5.5.1", "BODY=BINARYMIME requires BDAT");
    return;
  }
  message_size_ = 0;
  message_failure_.reset();
  after_crlf_ = true;  // the DATA line's own CRLF
  if (!Transit(ServerInput::kData)) return;
  SendLine(354, "", "End data with <CR><LF>.<CR><LF>");
}

void ServerSession::DiscardChunk(uint64_t size, Reply reply) {
  if (size == 0) {
    Send(std::move(reply));
    return;
  }
  chunk_discard_ = true;
  chunk_remaining_ = size;
  chunk_reply_ = std::make_unique<Reply>(std::move(reply));
}

void ServerSession::OnBdat(const CommandView& command) {
  if (!esmtp_ || !options_->offer_chunking) {
    DiscardChunk(command.chunk_size,
                 Reply::Make(503, "5.5.1", "BDAT not offered"));
    return;
  }
  if (state_ == ServerState::kTransaction) {
    if (recipients_ == 0) {
      DiscardChunk(command.chunk_size,
                   Reply::Make(554, "5.5.1", "No valid recipients"));
      return;
    }
    message_size_ = 0;
    message_failure_.reset();
    saw_bdat_ = true;
  }
  if (!Transit(ServerInput::kBdat)) return;
  chunk_remaining_ = command.chunk_size;
  chunk_last_ = command.last_chunk;
  if (chunk_remaining_ == 0) ChunkComplete();
}

void ServerSession::OnStartTls(absl::string_view* input) {
  if (!options_->offer_starttls) {
    SendError(502, "5.5.1", "STARTTLS not supported");
    return;
  }
  if (tls_ != nullptr) {
    SendError(503, "5.5.1", "TLS already active");
    return;
  }
  if (!tls_available_) {
    SendLine(454, "4.7.0", "TLS not available due to temporary reason");
    return;
  }
  // Plaintext pipelined behind STARTTLS (CVE-2011-0411 class) never reaches
  // the TLS session: in kClose mode ProcessCommandLine has already closed.
  input->remove_prefix(input->size());
  ResetTransaction();
  SendLine(220, "2.0.0", "Ready to start TLS");
  if (!Transit(ServerInput::kStartTls)) return;
  lines_.Reset();
  Emit(ServerEventType::kStartTls);
}

void ServerSession::OnAuth(const CommandView& command) {
  if (!auth_user_.empty()) {
    SendError(503, "5.5.1", "Already authenticated");
    return;
  }
  if (!AuthOffered()) {
    if (!options_->auth_mechanisms.empty() && tls_ == nullptr) {
      SendLine(538, "5.7.11",
               "Encryption required for requested authentication "
               "mechanism");
    } else {
      SendError(502, "5.5.1", "AUTH not supported");
    }
    return;
  }
  const bool offered =
      std::any_of(options_->auth_mechanisms.begin(),
                  options_->auth_mechanisms.end(), [&](const std::string& m) {
                    return absl::EqualsIgnoreCase(m, command.argument);
                  });
  if (!offered) {
    SendLine(504, "5.5.4", "Unrecognized authentication type");
    return;
  }
  auth_ = std::make_unique<Auth>();
  auth_->mechanism = absl::AsciiStrToUpper(command.argument);
  if (!Transit(ServerInput::kAuth)) return;
  if (command.initial_response.has_value()) {
    OnAuthResponse(*command.initial_response);
  } else if (auth_->mechanism == kPlain) {
    output_ += "334 \r\n";  // RFC 4954: "334" SP [base64], even when empty
  } else if (auth_->mechanism == kLogin) {
    SendLine(334, "", absl::Base64Escape("Username:"));
  } else {
    OnAuthResponse("=");  // the embedder sends the first challenge
  }
}

void ServerSession::ProcessAuthLine(absl::string_view* input) {
  const std::optional<Line> line = lines_.Next(input);
  if (!line.has_value()) return;
  if (line->status == LineStatus::kTooLong) {
    auth_.reset();
    if (!Transit(ServerInput::kAuthCancel)) return;
    SendError(500, "5.5.6", "Authentication exchange line is too long");
    return;
  }
  if (line->status != LineStatus::kOk) {
    auth_.reset();
    if (!Transit(ServerInput::kAuthCancel)) return;
    SendError(501, "5.5.2", "Bare CR or LF in authentication exchange");
    return;
  }
  if (line->text == "*") {
    auth_.reset();
    if (!Transit(ServerInput::kAuthCancel)) return;
    SendLine(501, "5.7.0", "Authentication cancelled");
    return;
  }
  OnAuthResponse(line->text);
}

void ServerSession::OnAuthResponse(absl::string_view text) {
  std::string decoded;
  // "=" is an empty response (RFC 4954 §4).
  if (text != "=" && (text.empty() || !absl::Base64Unescape(text, &decoded))) {
    auth_.reset();
    if (!Transit(ServerInput::kAuthCancel)) return;
    SendError(501, "5.5.2", "Invalid base64 in authentication exchange");
    return;
  }
  // Built aside: a malformed response below emits nothing.
  ServerEvent event;
  event.type = ServerEventType::kAuth;
  event.auth.mechanism = auth_->mechanism;
  if (auth_->mechanism == kPlain) {
    // authzid NUL authcid NUL passwd (RFC 4616).
    std::vector<std::string> parts = absl::StrSplit(decoded, '\0');
    if (parts.size() != 3 || parts[1].empty()) {
      auth_.reset();
      if (!Transit(ServerInput::kAuthCancel)) return;
      SendError(501, "5.5.2", "Malformed PLAIN response");
      return;
    }
    auth_->username = parts[1];
    event.auth.authorization_id = std::move(parts[0]);
    event.auth.username = std::move(parts[1]);
    event.auth.password = std::move(parts[2]);
  } else if (auth_->mechanism == kLogin) {
    if (auth_->round == 0) {
      auth_->username = std::move(decoded);
      ++auth_->round;
      if (!Transit(ServerInput::kAuthLine)) return;
      if (!Transit(ServerInput::kAuthChallenge)) return;
      SendLine(334, "", absl::Base64Escape("Password:"));
      return;
    }
    event.auth.username = auth_->username;
    event.auth.password = std::move(decoded);
  } else {
    event.auth.response = std::move(decoded);
  }
  pending_accept_ = &AuthSucceeded();
  if (!Transit(ServerInput::kAuthLine)) return;
  Emit(event.type) = std::move(event);
}

// ---- message content ---------------------------------------------------------

void ServerSession::AppendBody(absl::string_view bytes) {
  message_size_ += bytes.size();
  if (message_failure_ != nullptr) return;
  if (options_->max_message_size != 0 &&
      message_size_ > options_->max_message_size) {
    message_failure_ = std::make_unique<Reply>(Reply::Make(
        552, "5.3.4", "Message size exceeds fixed maximum message size"));
    body_.clear();
    return;
  }
  if (data_sink_ != nullptr) {
    if (!bytes.empty()) data_sink_->OnMessageData(bytes);
    return;
  }
  // Events carry at most body_chunk_size octets each.
  const size_t chunk = std::max<size_t>(1, options_->body_chunk_size);
  // One allocation per event instead of geometric regrowth.
  if (body_.capacity() < chunk) body_.reserve(chunk);
  while (!bytes.empty()) {
    const size_t room = chunk - body_.size();
    const size_t n = std::min(room, bytes.size());
    body_.append(bytes.data(), n);
    bytes.remove_prefix(n);
    if (body_.size() >= chunk) FlushBody();
  }
}

void ServerSession::FlushBody() {
  if (body_.empty()) return;
  ServerEvent& event = Emit(ServerEventType::kMessageData);
  event.data = std::move(body_);
  body_.clear();
}

bool ServerSession::ScanPlainLines(absl::string_view* input) {
  // The common case, at memory speed: whole CRLF lines without bare CR/LF.
  // Anything else stops the scan at the start of its line, for ProcessData's
  // general path; so both paths agree by construction.
  const char* p = input->data();
  const char* const end = p + input->size();
  const char* run = p;  // start of body bytes not yet appended
  const bool reject_long = options_->long_data_lines == LongDataLines::kReject;
  bool ended = false;
  const size_t max_line = reject_long ? options_->max_data_line : 0;
  while (p < end) {
    // Whole plain lines 64 octets at a time; the line after them (a '.'
    // line, an odd one or a short tail) goes one at a time below.
    if (const size_t plain = internal::PlainCrlfLines(p, end, max_line)) {
      p += plain;
      after_crlf_ = true;
      if (p == end) break;
    }
    const char* hit = internal::FindCrOrLf(p, end);
    if (hit == end || *hit != '\r' || hit + 1 == end || hit[1] != '\n') break;
    const size_t length = hit + 2 - p;
    if (reject_long && length > options_->max_data_line) break;
    // A "." line after a bare line ending is content: the general path
    // handles it (only normalize mode gets here with after_crlf_ false).
    if (!after_crlf_ && *p == '.') break;
    after_crlf_ = true;
    if (*p == '.') {
      if (run != p) AppendBody(absl::string_view(run, p - run));
      if (length == 3) {  // CRLF . CRLF
        p = hit + 2;
        run = p;
        ended = true;
        break;
      }
      run = p + 1;  // unstuff
    }
    p = hit + 2;
  }
  if (run != p) AppendBody(absl::string_view(run, p - run));
  input->remove_prefix(p - input->data());
  if (ended) EndOfMessage();
  return ended;
}

void ServerSession::ProcessData(absl::string_view* input) {
  // Consecutive plain lines that lie in `input` are appended as one run.
  const char* const in_begin = input->data();
  const char* const in_end = in_begin + input->size();
  absl::string_view run;
  auto flush = [&] {
    if (!run.empty()) AppendBody(run);
    run = {};
  };
  while (state_ == ServerState::kData) {
    if (lines_.at_line_start()) {
      flush();
      if (ScanPlainLines(input)) return;
    }
    const std::optional<Line> line = lines_.Next(input);
    if (!line.has_value()) break;
    absl::string_view text = line->text;
    // Only CRLF "." CRLF ends the data, in every mode: a "." line counts
    // only after a line that ended in CRLF.
    const bool after_crlf = std::exchange(
        after_crlf_, line->status == LineStatus::kSegment ? after_crlf_
                                                          : line->crlf);
    if (line->status == LineStatus::kOk && !line->continued) {
      if (text == "." && after_crlf) {
        flush();
        EndOfMessage();
        return;
      }
      if (!text.empty() && text.front() == '.') text.remove_prefix(1);
      // The CRLF follows the text in the same buffer.
      const absl::string_view with_crlf(text.data(), text.size() + 2);
      if (with_crlf.data() < in_begin || with_crlf.data() >= in_end) {
        flush();  // a line reassembled inside the reader: copy it now
        AppendBody(with_crlf);
      } else if (!run.empty() && run.data() + run.size() == with_crlf.data()) {
        run = absl::string_view(run.data(), run.size() + with_crlf.size());
      } else {
        flush();
        run = with_crlf;
      }
      continue;
    }
    flush();
    // The rest of a long line starts no line: no end of data, no unstuffing.
    const bool line_start = !line->continued;
    if (line->status == LineStatus::kSegment &&
        text.find('\r') == absl::string_view::npos) {
      AppendBody(text);
      continue;
    }
    switch (line->status) {
      case LineStatus::kOk:
        AppendBody(absl::string_view(text.data(), text.size() + 2));
        break;
      case LineStatus::kTooLong:
        if (!line->crlf &&
            options_->bare_line_endings == BareLineEndings::kReject) {
          // The dropped line ended in a bare LF: as ambiguous as any other.
          Fatal(SessionError::kBareLineEnding, "bare LF in message data",
                Reply::Make(554, "5.5.2",
                            "Bare CR or LF in message data, closing "
                            "connection"));
          return;
        }
        if (message_failure_ == nullptr) {
          message_failure_ = std::make_unique<Reply>(
              Reply::Make(554, "5.6.0",
                          absl::StrCat("Message has a line longer than ",
                                       options_->max_data_line, " octets")));
        }
        break;
      case LineStatus::kBareLf:
      case LineStatus::kBareCr:
      case LineStatus::kSegment:  // one holding a bare CR
        if (options_->bare_line_endings == BareLineEndings::kReject) {
          // Where the message ends is now ambiguous (SMTP smuggling): never
          // guess, never read on as commands.
          Fatal(SessionError::kBareLineEnding, "bare CR or LF in message data",
                Reply::Make(554, "5.5.2",
                            "Bare CR or LF in message data, closing "
                            "connection"));
          return;
        }
        // Normalise: each bare CR and the line's own ending become CRLF (a
        // segment's line goes on, so it gets no ending of its own). Every
        // piece that starts a line is unstuffed, as a client that treats
        // bare CR and LF as line ends (ours does) stuffed it. A "." line
        // ended by a bare LF, or after one, is content: never an end.
        bool first = true;
        for (absl::string_view piece : absl::StrSplit(text, '\r')) {
          if (!first) AppendBody("\r\n");
          if ((line_start || !first) && !piece.empty() && piece.front() == '.') {
            piece.remove_prefix(1);
          }
          AppendBody(piece);
          first = false;
        }
        if (line->status != LineStatus::kSegment) AppendBody("\r\n");
        break;
    }
  }
  flush();
}

void ServerSession::ProcessBdat(absl::string_view* input) {
  const size_t n =
      static_cast<size_t>(std::min<uint64_t>(chunk_remaining_, input->size()));
  AppendBody(input->substr(0, n));
  input->remove_prefix(n);
  chunk_remaining_ -= n;
  if (chunk_remaining_ == 0) ChunkComplete();
}

void ServerSession::ChunkComplete() {
  if (chunk_last_ || message_failure_ != nullptr) {
    EndOfMessage();
    return;
  }
  if (!Transit(ServerInput::kChunkDone)) return;
  SendLine(250, "2.0.0",
           absl::StrCat("Chunk accepted, ", message_size_, " octets so far"));
}

void ServerSession::EndOfMessage() {
  if (message_failure_ != nullptr) {
    Reply reply = std::move(*message_failure_);
    message_failure_.reset();
    AbortMessage(reply.lines.empty() ? "message refused" : reply.lines.front());
    if (!Transit(ServerInput::kMessageFailed)) return;
    ResetTransaction();
    Send(std::move(reply));
    return;
  }
  FlushBody();
  const bool via_bdat = state_ == ServerState::kBdatChunk;
  if (!Transit(ServerInput::kEndOfData)) return;
  pending_accept_ = &MessageAccepted();
  ServerEvent& event = Emit(ServerEventType::kMessageComplete);
  event.message_size = message_size_;
  event.via_bdat = via_bdat;
}

}  // namespace starling::smtp
