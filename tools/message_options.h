#ifndef STARLING_TOOLS_MESSAGE_OPTIONS_H_
#define STARLING_TOOLS_MESSAGE_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/smtp/client_session.h"

namespace starling::tools {

// A message as the command-line clients (smtp-replay, starling-send)
// describe it, flag by flag.
struct MessageSpec {
  std::string from;              // empty: the null reverse-path <>
  std::vector<std::string> to;
  std::string body_type = "7bit";  // 7bit, 8bitmime or binarymime
  bool smtputf8 = false;
  bool requiretls = false;
  std::string ret;                 // DSN RET: "", full or hdrs
  std::string envid;               // DSN ENVID (xtext)
  std::vector<std::string> notify; // DSN NOTIFY: never, or success/failure/delay
  bool orcpt = false;              // DSN ORCPT=rfc822;<recipient>
  // AUTH USER:PASSWORD, split into ClientOptions by ApplyAuth.
  std::string auth;
};

// The outbound message with `body` (size declared); kInvalidArgument saying
// which flag is wrong ("--notify takes never, success, ...").
absl::StatusOr<smtp::OutboundMessage> BuildMessage(const MessageSpec& spec,
                                                   std::string body);

// Sets auth_username / auth_password from "USER:PASSWORD" (nothing for "").
absl::Status ApplyAuth(const std::string& auth, smtp::ClientOptions* options);

}  // namespace starling::tools

#endif  // STARLING_TOOLS_MESSAGE_OPTIONS_H_
