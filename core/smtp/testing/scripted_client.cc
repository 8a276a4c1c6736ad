#include "core/smtp/testing/scripted_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/smtp/testing/scripted_server.h"

namespace starling::smtp {

std::vector<std::string> DescribeResults(
    const std::vector<MessageResult>& results) {
  std::vector<std::string> lines;
  for (size_t m = 0; m < results.size(); ++m) {
    for (const RecipientResult& r : results[m].recipients) {
      std::string reply = SerializeReply(r.reply);
      if (reply.size() >= 2) reply.resize(reply.size() - 2);
      lines.push_back(absl::StrCat(
          "E: result message ", m, " <", r.mailbox.ToString(), "> ",
          RecipientStatusName(r.status), " at ", ClientStageName(r.stage), ": ",
          EscapeBytes(reply), results[m].tls ? " (TLS" : " (plaintext",
          results[m].policy.label.empty() ? "" : ", " + results[m].policy.label,
          ")"));
    }
  }
  return lines;
}

ScriptedClient::ScriptedClient(std::unique_ptr<ClientSession> session, Tls tls)
    : session_(std::move(session)), tls_(std::move(tls)) {
  Drain();
}

void ScriptedClient::LogLines(absl::string_view prefix, absl::string_view bytes) {
  while (!bytes.empty()) {
    const size_t lf = bytes.find('\n');
    absl::string_view line =
        lf == absl::string_view::npos ? bytes : bytes.substr(0, lf + 1);
    bytes.remove_prefix(line.size());
    if (line.size() >= 2 && line.substr(line.size() - 2) == "\r\n") {
      line.remove_suffix(2);
    }
    transcript_.push_back(absl::StrCat(prefix, EscapeBytes(line)));
  }
}

void ScriptedClient::Drain() {
  for (;;) {
    const absl::string_view out = session_->PendingOutput();
    if (!out.empty()) {
      client_bytes_.append(out.data(), out.size());
      LogLines("C: ", out);
      session_->ConsumeOutput(out.size(), now_);
      continue;
    }
    std::optional<ClientEvent> event = session_->NextEvent();
    if (!event.has_value()) break;
    switch (event->type) {
      case ClientEventType::kStartTls:
        if (tls_.handshake_succeeds) {
          transcript_.push_back(absl::StrCat(
              "E: starttls sni=", event->sni, " (handshake simulated: established)"));
          (void)session_->TlsEstablished(tls_.facts, now_);
        } else {
          transcript_.push_back(absl::StrCat(
              "E: starttls sni=", event->sni, " (handshake simulated: failed)"));
          (void)session_->TlsFailed("simulated handshake failure", now_);
        }
        break;
      case ClientEventType::kMessageDone:
        transcript_.push_back(absl::StrCat("E: message ", event->message, " done"));
        break;
      case ClientEventType::kClosed:
        transcript_.push_back(absl::StrCat("E: closed (", event->reason, ")"));
        break;
    }
  }
  if (session_->closed() && !results_logged_) {
    results_logged_ = true;
    for (std::string& line : DescribeResults(session_->results())) {
      transcript_.push_back(std::move(line));
    }
  }
}

absl::Status ScriptedClient::Feed(absl::string_view server_bytes) {
  if (session_->closed()) return session_->fatal_error();
  LogLines("S: ", server_bytes);
  const absl::Status status =
      session_->Receive(server_bytes, now_);
  Drain();
  return status;
}

absl::Status ScriptedClient::FeedPolitely(absl::string_view server_bytes) {
  while (!server_bytes.empty() && !session_->closed()) {
    // Find where the next complete reply ends.
    ReplyParser probe;
    absl::string_view rest = server_bytes;
    absl::StatusOr<std::optional<Reply>> reply = probe.Next(&rest);
    const size_t take = reply.ok() && reply->has_value()
                            ? server_bytes.size() - rest.size()
                            : server_bytes.size();
    const absl::Status status = Feed(server_bytes.substr(0, take));
    server_bytes.remove_prefix(take);
    if (!status.ok()) return status;
  }
  if (!server_bytes.empty()) {
    transcript_.push_back(absl::StrCat(
        "E: ", server_bytes.size(), " server octets not read: the client closed"));
  }
  return session_->fatal_error();
}

void ScriptedClient::Hangup() {
  if (session_->closed()) return;
  session_->ConnectionLost("the server script ended", now_);
  Drain();
}

std::string ScriptedClient::TranscriptText() const {
  return absl::StrCat(absl::StrJoin(transcript_, "\n"), "\n");
}

}  // namespace starling::smtp
