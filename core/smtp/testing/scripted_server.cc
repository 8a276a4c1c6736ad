#include "core/smtp/testing/scripted_server.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace starling::smtp {
namespace {

std::string DescribeCommand(const Command& command) {
  switch (command.verb) {
    case Verb::kEhlo:
    case Verb::kHelo:
      return absl::StrCat(VerbName(command.verb), " ", command.domain);
    case Verb::kMail:
      return absl::StrCat(
          "<", command.path ? command.path->ToString() : "", ">",
          command.mail.size ? absl::StrCat(" SIZE=", *command.mail.size) : "",
          command.mail.smtputf8 ? " SMTPUTF8" : "",
          command.mail.requiretls ? " REQUIRETLS" : "");
    case Verb::kRcpt:
      return absl::StrCat("<", command.path ? command.path->ToString() : "",
                          ">");
    default:
      return std::string(VerbName(command.verb));
  }
}

}  // namespace

std::string EscapeBytes(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    switch (c) {
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\x%02x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

ScriptedServer::ScriptedServer(std::shared_ptr<const ServerOptions> options,
                               ServerScript script, absl::Time start)
    : script_(std::move(script)), session_(std::move(options)), now_(start) {
  if (script_.data_sink) session_.set_message_data_sink(this);
  if (!session_.AcceptConnection(now_).ok()) return;
  Drain();
}

void ScriptedServer::LogClient(absl::string_view bytes) {
  while (!bytes.empty()) {
    size_t lf = bytes.find('\n');
    absl::string_view line =
        lf == absl::string_view::npos ? bytes : bytes.substr(0, lf + 1);
    bytes.remove_prefix(line.size());
    if (line.size() >= 2 && line.substr(line.size() - 2) == "\r\n") {
      line.remove_suffix(2);
    }
    transcript_.push_back(absl::StrCat("C: ", EscapeBytes(line)));
  }
}

absl::Status ScriptedServer::Feed(absl::string_view bytes) {
  LogClient(bytes);
  const absl::Status status = session_.Receive(bytes, now_);
  Drain();
  // A decision taken while draining may have met a fatal error further on.
  return status.ok() ? session_.fatal_error() : status;
}

absl::Status ScriptedServer::FeedPolitely(absl::string_view bytes) {
  while (!bytes.empty()) {
    if (session_.closed()) {
      transcript_.push_back(absl::StrCat(
          "E: ", bytes.size(), " octets not sent: the session is closed"));
      return session_.fatal_error();
    }
    size_t take;
    if (session_.chunk_octets_expected() > 0) {
      take = static_cast<size_t>(
          std::min<uint64_t>(session_.chunk_octets_expected(), bytes.size()));
      transcript_.push_back(absl::StrCat("C: [", take, " octets of BDAT data]"));
      const absl::Status status = session_.Receive(bytes.substr(0, take), now_);
      bytes.remove_prefix(take);
      Drain();
      if (!status.ok()) return status;
      continue;
    }
    if (session_.state() == ServerState::kData) {
      // The whole body up to and including the CRLF.CRLF terminator.
      if (absl::StartsWith(bytes, ".\r\n")) {
        take = 3;
      } else {
        const size_t end = bytes.find("\r\n.\r\n");
        take = end == absl::string_view::npos ? bytes.size() : end + 5;
      }
    } else {
      const size_t lf = bytes.find('\n');
      take = lf == absl::string_view::npos ? bytes.size() : lf + 1;
    }
    const absl::Status status = Feed(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

void ScriptedServer::Shutdown() {
  session_.Shutdown(now_);
  Drain();
}

void ScriptedServer::AdvanceTo(absl::Time now) {
  now_ = now;
  if (now_ >= session_.NextDeadline()) {
    transcript_.push_back("E: timer fired");
    (void)session_.OnTimeout(now_);
    Drain();
  }
}

void ScriptedServer::Drain() {
  for (;;) {
    const absl::string_view out = session_.PendingOutput();
    if (!out.empty()) {
      server_bytes_.append(out.data(), out.size());
      absl::string_view rest = out;
      while (!rest.empty()) {
        const size_t lf = rest.find('\n');
        absl::string_view line =
            lf == absl::string_view::npos ? rest : rest.substr(0, lf + 1);
        rest.remove_prefix(line.size());
        if (line.size() >= 2 && line.substr(line.size() - 2) == "\r\n") {
          line.remove_suffix(2);
        }
        transcript_.push_back(absl::StrCat("S: ", EscapeBytes(line)));
      }
      session_.ConsumeOutput(out.size());
    }
    ServerEvent* event = session_.NextEvent();
    if (event == nullptr) {
      if (session_.PendingOutput().empty()) return;
      continue;
    }
    Handle(std::move(*event));
  }
}

void ScriptedServer::Handle(ServerEvent event) {
  const std::string name(ServerEventTypeName(event.type));
  absl::Status status;
  switch (event.type) {
    case ServerEventType::kHelo:
      transcript_.push_back(
          absl::StrCat("E: ", name, " ", DescribeCommand(event.command)));
      status = script_.reject_helo
                   ? session_.Reject(Reply::Make(550, "5.7.1", "Go away"), now_)
                   : session_.Accept(now_);
      break;
    case ServerEventType::kMailFrom: {
      transcript_.push_back(
          absl::StrCat("E: ", name, " ", DescribeCommand(event.command)));
      const std::string who =
          event.command.path ? event.command.path->ToString() : "";
      status = script_.reject_senders.count(who)
                   ? session_.Reject(
                         Reply::Make(550, "5.7.1", "Sender rejected"), now_)
                   : session_.Accept(now_);
      sender_ = who;
      body_.clear();
      break;
    }
    case ServerEventType::kRcptTo: {
      transcript_.push_back(
          absl::StrCat("E: ", name, " ", DescribeCommand(event.command)));
      const std::string who =
          event.command.path ? event.command.path->ToString() : "";
      if (script_.reject_recipients.count(who)) {
        status = session_.Reject(
            Reply::Make(550, "5.1.1", "Recipient address rejected"), now_);
      } else if (script_.defer_recipients.count(who)) {
        status = session_.Reject(
            Reply::Make(450, "4.2.1", "Recipient temporarily unavailable"),
            now_);
      } else {
        status = session_.Accept(now_);
      }
      break;
    }
    case ServerEventType::kMessageData:
      if (script_.data_sink) {
        transcript_.push_back("E: message-data despite a data sink");
      }
      body_ += event.data;
      break;
    case ServerEventType::kMessageComplete: {
      std::string line =
          absl::StrCat("E: ", name, " ", event.message_size, " octets",
                       event.via_bdat ? " via BDAT" : " via DATA");
      if (script_.describe_body) line += script_.describe_body(body_);
      transcript_.push_back(std::move(line));
      if (script_.reject_messages || script_.reject_messages_from.count(sender_)) {
        status = session_.Reject(
            Reply::Make(554, "5.7.1", "Message rejected by policy"), now_);
      } else if (script_.defer_messages_from.count(sender_)) {
        status = session_.Reject(
            Reply::Make(451, "4.3.0", "Try again later"), now_);
      } else {
        ++messages_accepted_;
        status = session_.Accept(now_);
      }
      body_.clear();
      break;
    }
    case ServerEventType::kMessageAborted:
      transcript_.push_back(absl::StrCat("E: ", name, " (", event.reason, ")"));
      body_.clear();
      break;
    case ServerEventType::kAuth: {
      transcript_.push_back(absl::StrCat("E: ", name, " ", event.auth.mechanism,
                                         " user=", event.auth.username));
      auto it = script_.users.find(event.auth.username);
      status = it != script_.users.end() && it->second == event.auth.password
                   ? session_.Accept(now_)
                   : session_.Reject(Reply::Make(
                         535, "5.7.8", "Authentication credentials invalid"), now_);
      break;
    }
    case ServerEventType::kStartTls:
      // Drain() has already taken the 220, so the handshake may begin.
      if (script_.tls_handshake_succeeds) {
        transcript_.push_back("E: starttls (handshake simulated: established)");
        status = session_.TlsEstablished(script_.tls_facts, now_);
      } else {
        transcript_.push_back("E: starttls (handshake simulated: failed)");
        status = session_.TlsFailed("simulated handshake failure", now_);
      }
      break;
    case ServerEventType::kClosed:
      transcript_.push_back(absl::StrCat("E: ", name, " (", event.reason, ")"));
      break;
  }
  if (!status.ok()) {
    transcript_.push_back(absl::StrCat("E: embedder error: ", status.ToString()));
  }
}

void ScriptedServer::OnMessageData(absl::string_view bytes) {
  body_.append(bytes.data(), bytes.size());
}

std::string ScriptedServer::TranscriptText() const {
  return absl::StrCat(absl::StrJoin(transcript_, "\n"), "\n");
}

std::vector<std::string> ScriptedServer::RepliesAndEvents() const {
  std::vector<std::string> out;
  for (const std::string& line : transcript_) {
    if (line.rfind("C: ", 0) != 0) out.push_back(line);
  }
  return out;
}

}  // namespace starling::smtp
