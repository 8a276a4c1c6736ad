// Drives a ServerSession through one transaction with the C++ API of an
// installed Starling (starling::core) and checks the replies.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "core/smtp/server_session.h"

int main() {
  namespace smtp = starling::smtp;
  auto options = std::make_shared<smtp::ServerOptions>();
  options->hostname = "mx.consumer.example";
  smtp::ServerSession session(options);
  const absl::Time now = absl::FromUnixSeconds(1798761600);
  std::string wire;
  // Debian's Abseil: absl::string_view is not std::string_view.
  auto take_output = [&] {
    const absl::string_view out = session.PendingOutput();
    wire.append(out.data(), out.size());
    session.ConsumeOutput(out.size());
  };
  auto drain = [&] {
    take_output();
    while (auto event = session.NextEvent()) {
      if (session.pending_decision()) (void)session.Accept(now);
      take_output();
    }
  };
  (void)session.AcceptConnection(now);
  for (const char* line : {"EHLO c.example\r\n", "MAIL FROM:<a@a.example>\r\n",
                           "RCPT TO:<b@b.example>\r\n", "DATA\r\n",
                           "Subject: x\r\n\r\nhi\r\n.\r\n", "QUIT\r\n"}) {
    drain();
    (void)session.Receive(line, now);
  }
  drain();
  const bool ok = wire.find("250 2.0.0") != std::string::npos &&
                  wire.find("221 ") != std::string::npos && session.closed();
  std::printf("%s", wire.c_str());
  std::printf("session_check: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
