// The whole inbound session under attack: the fuzzer chooses the options, the
// client's bytes and how they are cut, the passing of time and every embedder
// decision. Invariants checked on every step (abort on violation):
//  - the output is always a sequence of well-formed replies, never a partial
//    or malformed one, and nothing is added after the session closed;
//  - a fatal error is sticky;
//  - no command event is emitted between STARTTLS and the handshake result
//    (plaintext behind STARTTLS is never executed);
//  - message data (events, or a MessageDataSink's octets when the options
//    byte's top bit is set) only occurs inside a message, its sizes add up
//    to the completed message's size, which respects the size limit;
//  - buffered memory stays bounded by the configured limits;
//  - a DATA message completes only at CRLF "." CRLF, in every line-ending
//    mode: never more completions than the client's bytes hold that sequence;
//  - a fatal error is typed.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "core/smtp/reply.h"
#include "core/smtp/server_session.h"
#include "fuzz/fuzz_input.h"

namespace {

using starling::fuzz::FuzzInput;
using starling::fuzz::Require;
using namespace starling::smtp;  // NOLINT: a fuzz harness, not an API

struct Checker : MessageDataSink {
  Checker(ServerSession* s, std::shared_ptr<const ServerOptions> o)
      : session(s), options(std::move(o)) {}

  void OnMessageData(absl::string_view bytes) override {
    Require(sink);
    Require(!in_handshake);
    Require(!bytes.empty());
    if (!in_message) {
      in_message = true;
      message_bytes = 0;
    }
    message_bytes += bytes.size();
  }

  ServerSession* session;
  std::shared_ptr<const ServerOptions> options;
  std::string output;  // everything the server sent, for reply parsing
  bool in_handshake = false;
  bool in_message = false;
  uint64_t message_bytes = 0;
  std::string fed;          // every byte given to Receive()
  bool lost = false;        // ConnectionLost(): unsent output is void
  bool sink = false;        // body octets come to OnMessageData
  size_t data_messages = 0;  // completed by DATA (not BDAT)

  size_t CrlfDotCrlf() const {
    size_t n = 0;
    for (size_t at = fed.find("\r\n.\r\n"); at != std::string::npos;
         at = fed.find("\r\n.\r\n", at + 1)) {
      ++n;
    }
    return n;
  }

  void DrainOutput(size_t max) {
    absl::string_view out = session->PendingOutput();
    const size_t n = std::min(max, out.size());
    output.append(out.data(), n);
    session->ConsumeOutput(n);
  }

  void CheckEvents() {
    while (auto event = session->NextEvent()) {
      switch (event->type) {
        case ServerEventType::kHelo:
        case ServerEventType::kMailFrom:
        case ServerEventType::kRcptTo:
        case ServerEventType::kAuth:
          Require(!in_handshake);
          Require(!in_message);
          break;
        case ServerEventType::kMessageData:
          Require(!sink);
          Require(!in_handshake);
          Require(!event->data.empty());
          if (!in_message) {
            in_message = true;
            message_bytes = 0;
          }
          message_bytes += event->data.size();
          Require(event->data.size() <= options->body_chunk_size);
          break;
        case ServerEventType::kMessageComplete:
          Require(!in_handshake);
          Require(event->message_size == message_bytes);
          Require(options->max_message_size == 0 ||
                  event->message_size <= options->max_message_size);
          if (!event->via_bdat) Require(++data_messages <= CrlfDotCrlf());
          in_message = false;
          message_bytes = 0;
          break;
        case ServerEventType::kMessageAborted:
          in_message = false;
          message_bytes = 0;
          break;
        case ServerEventType::kStartTls:
          Require(!in_message);
          in_handshake = true;
          break;
        case ServerEventType::kClosed:
          in_message = false;
          break;
      }
    }
  }

  void CheckReplies() {
    // Every byte the server ever sent parses as complete replies.
    ReplyParserOptions limits;
    limits.max_line_length = 4096;
    limits.max_lines = 256;
    ReplyParser parser(limits);
    absl::string_view rest = output;
    while (!rest.empty()) {
      auto reply = parser.Next(&rest);
      Require(reply.ok());
      if (!reply->has_value()) break;
    }
    // A connection lost mid-reply cuts the reply that was being sent.
    Require(rest.empty() && (lost || !parser.in_reply()));
  }
};

std::shared_ptr<ServerOptions> OptionsFrom(FuzzInput& in) {
  auto options = std::make_shared<ServerOptions>();
  options->hostname = "mx.fuzz.example";
  const uint8_t flags = in.Byte();
  options->offer_pipelining = flags & 1;
  options->offer_chunking = flags & 2;
  options->offer_starttls = flags & 4;
  options->starttls_tail =
      (flags & 8) ? StartTlsTail::kDiscard : StartTlsTail::kClose;
  options->bare_line_endings =
      (flags & 16) ? BareLineEndings::kNormalize : BareLineEndings::kReject;
  options->require_tls = flags & 32;
  options->auth_requires_tls = flags & 64;
  if (in.Bool()) options->auth_mechanisms = {"PLAIN", "LOGIN", "X-FUZZ"};
  options->max_message_size = in.Below(4) == 0 ? 0 : 1 + in.Below(5000);
  options->max_recipients = 1 + in.Below(8);
  options->max_errors = 1 + in.Below(30);
  options->max_data_line = 8 + in.Below(1000);
  options->long_data_lines =
      in.Bool() ? LongDataLines::kReject : LongDataLines::kPassThrough;
  options->max_buffered_input = 64 + in.Below(4096);
  options->body_chunk_size = 256 + in.Below(4096);
  return options;
}

Reply DecisionReply(FuzzInput& in) {
  switch (in.Below(4)) {
    case 0: return Reply::Make(450, "4.2.1", "later");
    case 1: return Reply::Make(550, "5.7.1", "no");
    case 2: return Reply::Make(421, "4.3.2", "bye");
    default: return Reply::Make(554, "", "refused");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  auto options = OptionsFrom(in);
  ServerSession session(options);
  Checker check(&session, options);
  // The options byte's top bit (OptionsFrom leaves it) picks the body's way.
  if (size > 0 && (data[0] & 128) != 0) {
    check.sink = true;
    session.set_message_data_sink(&check);
  }
  absl::Time now = absl::FromUnixSeconds(1700000000);
  if (in.Below(8) == 0) {
    (void)session.RefuseConnection(Reply::Make(554, "", "no service"), now);
  } else {
    Require(session.AcceptConnection(now).ok());
  }

  absl::Status fatal;
  for (int steps = 0; !in.empty() && steps < 4096; ++steps) {
    const bool was_closed = session.closed();
    const size_t pending_before = session.PendingOutput().size();
    switch (in.Below(12)) {
      case 0: case 1: case 2: case 3: case 4: case 5: {
        const absl::string_view bytes = in.Bytes(1 + in.Below(200));
        check.fed.append(bytes.data(), bytes.size());
        const absl::Status status = session.Receive(bytes, now);
        if (!fatal.ok()) Require(status == fatal);
        if (status.code() == absl::StatusCode::kAborted) fatal = status;
        break;
      }
      case 6:
        now += absl::Seconds(in.Below(400));
        (void)session.OnTimeout(now);
        break;
      case 7:
        if (session.pending_decision()) {
          // The decision is taken; buffered pipelined input it releases may
          // then end the session (that fatal error is what comes back).
          const absl::Status status = in.Bool()
                                          ? session.Accept(now)
                                          : session.Reject(DecisionReply(in), now);
          Require(status.ok() || status.code() == absl::StatusCode::kAborted);
          if (!status.ok()) fatal = status;
        } else {
          Require(!session.Accept(now).ok());
        }
        break;
      case 8:
        if (session.state() == ServerState::kAuthPending && in.Bool()) {
          (void)session.AuthChallenge(in.Bytes(in.Below(16)), now);
        }
        break;
      case 9:
        if (session.state() == ServerState::kTlsHandshake) {
          if (in.Below(4) != 0) {
            Require(session.TlsEstablished({}, now).ok());
          } else {
            Require(session.TlsFailed("fuzz", now).ok());
          }
          check.in_handshake = false;
        }
        break;
      case 10:
        if (in.Below(16) == 0) {
          session.Shutdown(now);
        } else if (in.Below(32) == 0) {
          session.ConnectionLost(now);
          check.lost = true;
        }
        break;
      default:
        check.DrainOutput(in.Below(300));
        break;
    }
    check.CheckEvents();
    // Nothing new is queued once closed.
    if (was_closed) Require(session.PendingOutput().size() <= pending_before);
    // Bounded memory once events are pulled and output is sent: pipelined
    // input, one line, one body chunk.
    if (session.PendingOutput().empty()) {
      Require(session.buffered_bytes() <=
              options->max_buffered_input + options->max_auth_line +
                  options->max_data_line + options->body_chunk_size + 8192);
    }
  }
  check.DrainOutput(SIZE_MAX);
  check.CheckEvents();
  check.CheckReplies();
  if (!fatal.ok()) Require(session.fatal_reason() != SessionError::kNone);
  return 0;
}
