#ifndef STARLING_CORE_SMTP_TESTING_SCRIPTED_SERVER_H_
#define STARLING_CORE_SMTP_TESTING_SCRIPTED_SERVER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/smtp/server_session.h"

namespace starling::smtp {

// The embedder's side of a ScriptedServer: how each decision is answered.
struct ServerScript {
  std::set<std::string> reject_senders;     // 550 5.7.1 (mailbox as written)
  std::set<std::string> reject_recipients;  // 550 5.1.1
  std::set<std::string> defer_recipients;   // 450 4.2.1
  bool reject_helo = false;                 // 550 5.7.1
  bool reject_messages = false;             // 554 5.7.1 at end of data
  std::set<std::string> reject_messages_from;  // by sender: 554 5.7.1
  std::set<std::string> defer_messages_from;   // by sender: 451 4.3.0
  bool tls_handshake_succeeds = true;       // after STARTTLS's 220
  TlsFacts tls_facts;                       // reported when it succeeds
  std::map<std::string, std::string> users;  // AUTH: username -> password
  // Adds e.g. " sha256=..." to the message-accepted event line.
  std::function<std::string(absl::string_view body)> describe_body;
  // The body through a MessageDataSink instead of kMessageData events (an
  // event then is an error in the transcript).
  bool data_sink = false;
};

// A ServerSession plus an embedder that answers every decision at once from a
// script and writes a transcript: "C: " for client bytes as the session got
// them, "S: " for the exact reply lines, "E: " for events.
class ScriptedServer : private MessageDataSink {
 public:
  ScriptedServer(std::shared_ptr<const ServerOptions> options,
                 ServerScript script, absl::Time start);

  // Hands `bytes` to the session in one Receive(), then answers events and
  // collects output. Returns the session's status (fatal errors are sticky).
  absl::Status Feed(absl::string_view bytes);

  // Polite client: one command line at a time, a DATA body or a BDAT chunk
  // whole, replies drained in between. Stops at the first fatal error.
  absl::Status FeedPolitely(absl::string_view bytes);

  // Shuts the session down (421) and collects the result.
  void Shutdown();

  // Moves the virtual clock and fires the session's timer if due.
  void AdvanceTo(absl::Time now);

  const std::vector<std::string>& transcript() const { return transcript_; }
  std::string TranscriptText() const;
  // Only the S: and E: lines (they do not depend on how input was split).
  std::vector<std::string> RepliesAndEvents() const;
  const std::string& server_bytes() const { return server_bytes_; }
  size_t messages_accepted() const { return messages_accepted_; }
  ServerSession& session() { return session_; }

 private:
  void Drain();
  void Handle(ServerEvent event);
  void OnMessageData(absl::string_view bytes) override;
  void LogClient(absl::string_view bytes);

  ServerScript script_;
  ServerSession session_;
  absl::Time now_;
  std::vector<std::string> transcript_;
  std::string server_bytes_;
  std::string body_;
  std::string sender_;  // of the current transaction
  size_t messages_accepted_ = 0;
};

// Printable form of protocol bytes: CR, LF, tab and non-ASCII as escapes.
std::string EscapeBytes(absl::string_view bytes);

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_TESTING_SCRIPTED_SERVER_H_
