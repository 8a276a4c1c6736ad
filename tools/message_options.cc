#include "tools/message_options.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace starling::tools {
namespace {

// An address as the server would read it in RCPT (quoted local parts,
// address literals and UTF-8 included).
absl::StatusOr<smtp::Mailbox> ParseAddress(const std::string& address) {
  smtp::CommandParseOptions options;
  options.utf8_addresses = true;
  absl::StatusOr<smtp::Command> command =
      smtp::ParseCommand(absl::StrCat("RCPT TO:<", address, ">"), options);
  if (!command.ok()) return command.status();
  if (!command->path.has_value()) {
    return absl::InvalidArgumentError("not an address");
  }
  return *command->path;
}

}  // namespace

absl::StatusOr<smtp::OutboundMessage> BuildMessage(const MessageSpec& spec,
                                                   std::string body) {
  smtp::OutboundMessage message;
  if (spec.body_type == "8bitmime") {
    message.body_type = smtp::BodyType::k8BitMime;
  } else if (spec.body_type == "binarymime") {
    message.body_type = smtp::BodyType::kBinaryMime;
  } else if (spec.body_type != "7bit") {
    return absl::InvalidArgumentError(
        absl::StrCat("--body_type must be 7bit, 8bitmime or binarymime, not \"",
                     spec.body_type, "\""));
  }
  message.smtputf8 = spec.smtputf8;
  message.tls_flags.requiretls = spec.requiretls;
  if (spec.ret == "full") {
    message.ret = smtp::DsnReturn::kFull;
  } else if (spec.ret == "hdrs") {
    message.ret = smtp::DsnReturn::kHeaders;
  } else if (!spec.ret.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ret must be full or hdrs, not \"", spec.ret, "\""));
  }
  if (!spec.envid.empty()) message.envid = spec.envid;
  std::optional<smtp::DsnNotify> notify;
  for (const std::string& n : spec.notify) {
    if (!notify.has_value()) notify.emplace();
    if (n == "never") {
      notify->never = true;
    } else if (n == "success") {
      notify->success = true;
    } else if (n == "failure") {
      notify->failure = true;
    } else if (n == "delay") {
      notify->delay = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--notify takes never, success, failure, delay; not \"", n, "\""));
    }
  }
  if (!spec.from.empty()) {
    absl::StatusOr<smtp::Mailbox> sender = ParseAddress(spec.from);
    if (!sender.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--from \"", spec.from, "\": ", sender.status().message()));
    }
    message.sender = *sender;
  }
  if (spec.to.empty()) return absl::InvalidArgumentError("no recipient (--to)");
  for (const std::string& to : spec.to) {
    absl::StatusOr<smtp::Mailbox> rcpt = ParseAddress(to);
    if (!rcpt.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--to \"", to, "\": ", rcpt.status().message()));
    }
    smtp::RcptParameters dsn;
    dsn.notify = notify;
    if (spec.orcpt) dsn.orcpt = absl::StrCat("rfc822;", to);
    message.recipients.push_back({*rcpt, dsn});
  }
  message.size = body.size();
  message.body = std::make_shared<smtp::StringBodySource>(std::move(body));
  return message;
}

absl::Status ApplyAuth(const std::string& auth, smtp::ClientOptions* options) {
  if (auth.empty()) return absl::OkStatus();
  const size_t colon = auth.find(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError("--auth wants USER:PASSWORD");
  }
  options->auth_username = auth.substr(0, colon);
  options->auth_password = auth.substr(colon + 1);
  return absl::OkStatus();
}

}  // namespace starling::tools
