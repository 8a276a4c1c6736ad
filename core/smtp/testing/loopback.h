#ifndef STARLING_CORE_SMTP_TESTING_LOOPBACK_H_
#define STARLING_CORE_SMTP_TESTING_LOOPBACK_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"
#include "core/smtp/testing/scripted_server.h"
#include "core/smtp/server_session.h"

namespace starling::smtp {

// A client session talking to a scripted server session in one process, over
// an in-memory "network" that may cut the bytes into arbitrary pieces. TLS is
// faked: when both sides reach the STARTTLS handshake it simply succeeds (or
// fails) and each side is told the facts configured here. Used by tests,
// properties and benchmarks; the real TLS comes from core/tls.
struct LoopbackConfig {
  std::shared_ptr<const ServerOptions> server_options;
  ServerScript server_script;  // its tls_* fields drive the fake handshake
  std::shared_ptr<const ClientOptions> client_options;
  Destination destination;
  TlsFacts server_facts;  // what the client learns from the fake handshake
  // Octets to move in one step out of `available` (1..available); empty: all.
  std::function<size_t(size_t available)> chunker;
};

struct LoopbackOutcome {
  std::vector<MessageResult> results;
  std::vector<std::string> server_transcript;
  size_t server_messages_accepted = 0;
  std::string client_plaintext;  // what the client sent before TLS
  std::string client_encrypted;  // ... and after (still cleartext here)
  absl::Status client_status;
  absl::Status server_status;
  bool client_used_tls = false;
};

absl::StatusOr<LoopbackOutcome> RunLoopback(
    const LoopbackConfig& config, TlsPolicyHook* policy,
    std::vector<OutboundMessage> messages, absl::Time start);

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_TESTING_LOOPBACK_H_
