#ifndef STARLING_CORE_SMTP_TESTING_SCRIPTED_CLIENT_H_
#define STARLING_CORE_SMTP_TESTING_SCRIPTED_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"

namespace starling::smtp {

// A ClientSession played against a scripted server: the server's bytes come
// from a script, the TLS handshake is simulated, and a transcript records
// "C: " client lines, "S: " server bytes as the client consumed them and
// "E: " events, ending with one line per recipient result.
class ScriptedClient {
 public:
  struct Tls {
    bool handshake_succeeds = true;
    TlsFacts facts;
  };

  // `session` must have been made by ClientSession::Create.
  ScriptedClient(std::unique_ptr<ClientSession> session, Tls tls);

  // Replies one at a time, each when the client waits for one (a polite
  // server). Bytes after the last complete reply go as they are.
  absl::Status FeedPolitely(absl::string_view server_bytes);
  // Server bytes as they are, in one Receive().
  absl::Status Feed(absl::string_view server_bytes);
  // The script is over: the server hangs up.
  void Hangup();

  ClientSession& session() { return *session_; }
  const std::vector<std::string>& transcript() const { return transcript_; }
  std::string TranscriptText() const;
  const std::string& client_bytes() const { return client_bytes_; }

 private:
  void Drain();
  void LogLines(absl::string_view prefix, absl::string_view bytes);

  std::unique_ptr<ClientSession> session_;
  Tls tls_;
  absl::Time now_ = absl::FromUnixSeconds(0);  // the script has no clock
  std::vector<std::string> transcript_;
  std::string client_bytes_;
  bool results_logged_ = false;
};

// One line per recipient: "E: result <rcpt> delivered|temp-failed|... at
// STAGE: reply".
std::vector<std::string> DescribeResults(const std::vector<MessageResult>& results);

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_TESTING_SCRIPTED_CLIENT_H_
