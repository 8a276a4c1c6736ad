// smtp-replay: plays an SMTP client's bytes against Starling's server session
// (--side=server, the default), or a scripted server's replies against
// Starling's client session delivering a message (--side=client), and prints
// the transcript (C: client bytes, S: server bytes, E: events and results).
// Exit status: 0, 1 on a fatal protocol error, 2 on bad usage or input.
//
//   smtp-replay [flags] [FILE|-]
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "botan/hash.h"
#include "botan/hex.h"
#include "core/smtp/testing/scripted_client.h"
#include "core/smtp/testing/scripted_server.h"
#include "tools/cli.h"
#include "tools/message_options.h"

ABSL_FLAG(std::string, side, "server",
          "server: FILE is client input for the server session; client: FILE "
          "is a server's replies for the client session");
ABSL_FLAG(std::string, mail_from, "sender@client.example",
          "--side=client: the envelope sender (empty for <>)");
ABSL_FLAG(std::vector<std::string>, rcpt_to, {"rcpt@server.example"},
          "--side=client: the envelope recipients");
ABSL_FLAG(std::string, message, "",
          "--side=client: file with the message to deliver (default: a short "
          "built-in one)");
ABSL_FLAG(std::string, policy, "may",
          "--side=client: may (opportunistic TLS) or encrypt (TLS mandatory)");
ABSL_FLAG(bool, prefer_bdat, false, "--side=client: BDAT when offered");
ABSL_FLAG(std::string, body_type, "7bit",
          "--side=client: the message's declared body: 7bit, 8bitmime or "
          "binarymime (a body with 8-bit octets goes as 8BITMIME anyway)");
ABSL_FLAG(bool, smtputf8, false,
          "--side=client: the message needs SMTPUTF8 (UTF-8 addresses or "
          "headers)");
ABSL_FLAG(std::string, ret, "",
          "--side=client: DSN RET= full or hdrs (sent when the server has DSN)");
ABSL_FLAG(std::string, envid, "",
          "--side=client: DSN ENVID= (xtext; sent when the server has DSN)");
ABSL_FLAG(std::vector<std::string>, notify, {},
          "--side=client: DSN NOTIFY= for every recipient: never, or any of "
          "success,failure,delay");
ABSL_FLAG(bool, orcpt, false,
          "--side=client: DSN ORCPT=rfc822;<recipient> for every recipient");
ABSL_FLAG(std::string, auth, "",
          "--side=client: AUTH credentials USER:PASSWORD (PLAIN or LOGIN, "
          "only over TLS)");
ABSL_FLAG(bool, pipelined, false,
          "hand the input over as it is (one piece, or cut at random points "
          "with --seed) instead of one command at a time");
ABSL_FLAG(int64_t, seed, -1,
          "with --pipelined: cut the input at pseudo-random points drawn "
          "from this seed");
ABSL_FLAG(std::string, hostname, "mx.example.org",
          "the server's name (--side=client: the name in our EHLO)");
ABSL_FLAG(std::vector<std::string>, reject_rcpt, {},
          "recipients (as written, without <>) refused with 550 5.1.1");
ABSL_FLAG(std::vector<std::string>, defer_rcpt, {},
          "recipients refused with 450 4.2.1");
ABSL_FLAG(std::vector<std::string>, reject_sender, {},
          "senders refused with 550 5.7.1");
ABSL_FLAG(bool, reject_messages, false, "refuse every message with 554 5.7.1");
ABSL_FLAG(bool, starttls, true,
          "offer STARTTLS and simulate a completed handshake when accepted");
ABSL_FLAG(bool, tls_fails, false, "simulate a failed TLS handshake instead");
ABSL_FLAG(bool, require_tls, false, "refuse MAIL before STARTTLS (530 5.7.0)");
ABSL_FLAG(bool, discard_after_starttls, false,
          "drop plaintext pipelined after STARTTLS instead of closing");
ABSL_FLAG(bool, normalize_line_endings, false,
          "store bare CR/LF in DATA as CRLF instead of closing (the data still "
          "ends only at CRLF.CRLF)");
ABSL_FLAG(bool, strict_helo, false,
          "EHLO/HELO names must be RFC 5321 Domains (default: also what real "
          "clients send, e.g. '_' in a label)");
ABSL_FLAG(std::vector<std::string>, users, {},
          "AUTH PLAIN/LOGIN accounts as user:password (offered after TLS)");
ABSL_FLAG(bool, auth_in_plaintext, false, "offer AUTH before TLS too");
ABSL_FLAG(uint64_t, max_size, 35 * 1024 * 1024,
          "maximum message size in octets (0: no limit)");
ABSL_FLAG(int64_t, max_recipients, 100, "recipients per message");

namespace {

using starling::smtp::BareLineEndings;
using starling::smtp::ClientOptions;
using starling::smtp::ClientSession;
using starling::smtp::OpportunisticTlsPolicy;
using starling::smtp::OutboundMessage;
using starling::smtp::ScriptedClient;
using starling::smtp::ScriptedServer;
using starling::smtp::ServerOptions;
using starling::smtp::ServerScript;
using starling::smtp::StartTlsTail;

int Fail(const std::string& message) {
  std::cerr << "smtp-replay: " << message << "\n";
  return 2;
}

// splitmix64: a fixed, portable sequence for --seed.
uint64_t NextRandom(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Postfix "encrypt": TLS is mandatory, any certificate will do.
class EncryptPolicy : public OpportunisticTlsPolicy {
 public:
  starling::smtp::StartTlsIntent AfterEhlo(
      const starling::smtp::Destination& destination,
      const starling::smtp::EhloCapabilities& caps) override {
    starling::smtp::StartTlsIntent intent =
        OpportunisticTlsPolicy::AfterEhlo(destination, caps);
    intent.mandatory = true;
    intent.label = "encrypt";
    return intent;
  }
  starling::smtp::PolicyDecision WithoutTls(
      const starling::smtp::Destination&, starling::smtp::TlsProblem problem,
      absl::string_view detail) override {
    starling::smtp::PolicyDecision decision;
    decision.verdict = starling::smtp::DeliveryVerdict::kDefer;
    decision.label = "encrypt";
    decision.tlsrpt_result_type = "starttls-not-supported";
    decision.trace.push_back(absl::StrCat(
        "level encrypt: ", starling::smtp::TlsProblemName(problem), ": ", detail));
    return decision;
  }
};

// Plays `script` (a server's bytes) against a client session.
int ReplayClient(const std::string& script) {
  const std::string policy_name = absl::GetFlag(FLAGS_policy);
  std::unique_ptr<OpportunisticTlsPolicy> policy;
  if (policy_name == "may") {
    policy = std::make_unique<OpportunisticTlsPolicy>();
  } else if (policy_name == "encrypt") {
    policy = std::make_unique<EncryptPolicy>();
  } else {
    return Fail(absl::StrCat("--policy must be may or encrypt, not \"",
                             policy_name, "\""));
  }
  std::string body = "Subject: smtp-replay\r\n\r\nHello.\r\n";
  if (!absl::GetFlag(FLAGS_message).empty()) {
    std::ifstream file(absl::GetFlag(FLAGS_message), std::ios::binary);
    if (!file) return Fail(absl::StrCat("cannot read ", absl::GetFlag(FLAGS_message)));
    body.assign(std::istreambuf_iterator<char>(file),
                std::istreambuf_iterator<char>());
  }
  starling::tools::MessageSpec spec;
  spec.from = absl::GetFlag(FLAGS_mail_from);
  spec.to = absl::GetFlag(FLAGS_rcpt_to);
  spec.body_type = absl::GetFlag(FLAGS_body_type);
  spec.smtputf8 = absl::GetFlag(FLAGS_smtputf8);
  spec.ret = absl::GetFlag(FLAGS_ret);
  spec.envid = absl::GetFlag(FLAGS_envid);
  spec.notify = absl::GetFlag(FLAGS_notify);
  spec.orcpt = absl::GetFlag(FLAGS_orcpt);
  absl::StatusOr<OutboundMessage> message =
      starling::tools::BuildMessage(spec, std::move(body));
  if (!message.ok()) return Fail(std::string(message.status().message()));

  auto options = std::make_shared<ClientOptions>();
  options->helo_name = absl::GetFlag(FLAGS_hostname);
  options->prefer_bdat = absl::GetFlag(FLAGS_prefer_bdat);
  if (absl::Status auth = starling::tools::ApplyAuth(absl::GetFlag(FLAGS_auth),
                                                    options.get());
      !auth.ok()) {
    return Fail(std::string(auth.message()));
  }
  std::vector<OutboundMessage> messages;
  messages.push_back(*std::move(message));
  absl::StatusOr<std::unique_ptr<ClientSession>> session = ClientSession::Create(
      options, {"server.example", "mx.server.example"}, policy.get(),
      std::move(messages), absl::FromUnixSeconds(0));
  if (!session.ok()) return Fail(std::string(session.status().message()));
  ScriptedClient::Tls tls;
  tls.handshake_succeeds = !absl::GetFlag(FLAGS_tls_fails);
  ScriptedClient client(*std::move(session), tls);

  if (!absl::GetFlag(FLAGS_pipelined)) {
    (void)client.FeedPolitely(script);
  } else if (absl::GetFlag(FLAGS_seed) < 0) {
    (void)client.Feed(script);
  } else {
    uint64_t state = static_cast<uint64_t>(absl::GetFlag(FLAGS_seed));
    absl::string_view rest = script;
    while (!rest.empty() && !client.session().closed()) {
      const size_t take = 1 + NextRandom(state) % std::min<size_t>(rest.size(), 64);
      if (!client.Feed(rest.substr(0, take)).ok()) break;
      rest.remove_prefix(take);
    }
  }
  client.Hangup();
  std::cout << client.TranscriptText();
  if (!client.session().fatal_error().ok()) {
    std::cerr << "smtp-replay: " << client.session().fatal_error().message() << "\n";
    return 1;
  }
  return 0;
}

std::string Sha256Hex(absl::string_view body) {
  std::unique_ptr<Botan::HashFunction> hash =
      Botan::HashFunction::create("SHA-256");
  if (hash == nullptr) return "";
  hash->update(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  return Botan::hex_encode(hash->final(), /*uppercase=*/false);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Replays SMTP client input against Starling's server session.\n"
      "usage: smtp-replay [flags] [FILE|-]");
  const std::vector<std::string> args = starling::tools::ParseToolFlags(
      argc, argv, "tools/smtp_replay.cc", {"rcpt_to", "notify"});
  if (args.size() > 2) return Fail("at most one input file");

  std::string input;
  if (args.size() < 2 || std::string(args[1]) == "-") {
    input.assign(std::istreambuf_iterator<char>(std::cin),
                 std::istreambuf_iterator<char>());
  } else {
    // Under `bazel run`, relative paths are meant from the user's directory.
    std::string path = args[1];
    const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
    if (cwd != nullptr && !path.empty() && path[0] != '/') {
      path = absl::StrCat(cwd, "/", path);
    }
    std::ifstream file(path, std::ios::binary);
    if (!file) return Fail(absl::StrCat("cannot read ", args[1]));
    input.assign(std::istreambuf_iterator<char>(file),
                 std::istreambuf_iterator<char>());
  }

  const std::string side = absl::GetFlag(FLAGS_side);
  if (side == "client") return ReplayClient(input);
  if (side != "server") {
    return Fail(absl::StrCat("--side must be server or client, not \"", side, "\""));
  }

  auto options = std::make_shared<ServerOptions>();
  options->hostname = absl::GetFlag(FLAGS_hostname);
  options->offer_starttls = absl::GetFlag(FLAGS_starttls);
  options->require_tls = absl::GetFlag(FLAGS_require_tls);
  options->starttls_tail = absl::GetFlag(FLAGS_discard_after_starttls)
                               ? StartTlsTail::kDiscard
                               : StartTlsTail::kClose;
  options->bare_line_endings = absl::GetFlag(FLAGS_normalize_line_endings)
                                   ? BareLineEndings::kNormalize
                                   : BareLineEndings::kReject;
  options->max_message_size = absl::GetFlag(FLAGS_max_size);
  options->command_limits.strict_helo = absl::GetFlag(FLAGS_strict_helo);
  if (absl::GetFlag(FLAGS_max_recipients) < 1) {
    return Fail("--max_recipients must be at least 1");
  }
  options->max_recipients = absl::GetFlag(FLAGS_max_recipients);
  options->auth_requires_tls = !absl::GetFlag(FLAGS_auth_in_plaintext);

  ServerScript script;
  for (const std::string& r : absl::GetFlag(FLAGS_reject_rcpt)) {
    script.reject_recipients.insert(r);
  }
  for (const std::string& r : absl::GetFlag(FLAGS_defer_rcpt)) {
    script.defer_recipients.insert(r);
  }
  for (const std::string& s : absl::GetFlag(FLAGS_reject_sender)) {
    script.reject_senders.insert(s);
  }
  script.reject_messages = absl::GetFlag(FLAGS_reject_messages);
  script.tls_handshake_succeeds = !absl::GetFlag(FLAGS_tls_fails);
  for (const std::string& account : absl::GetFlag(FLAGS_users)) {
    std::vector<std::string> parts = absl::StrSplit(account, absl::MaxSplits(':', 1));
    if (parts.size() != 2 || parts[0].empty()) {
      return Fail(absl::StrCat("--users wants user:password, got \"", account, "\""));
    }
    script.users[parts[0]] = parts[1];
  }
  if (!script.users.empty()) options->auth_mechanisms = {"PLAIN", "LOGIN"};
  script.describe_body = [](absl::string_view body) {
    return absl::StrCat(" sha256=", Sha256Hex(body));
  };

  ScriptedServer server(options, script, absl::FromUnixSeconds(0));
  absl::Status status;
  if (!absl::GetFlag(FLAGS_pipelined)) {
    status = server.FeedPolitely(input);
  } else if (absl::GetFlag(FLAGS_seed) < 0) {
    status = server.Feed(input);
  } else {
    uint64_t state = static_cast<uint64_t>(absl::GetFlag(FLAGS_seed));
    absl::string_view rest = input;
    while (!rest.empty() && !server.session().closed()) {
      const size_t take = 1 + NextRandom(state) % std::min<size_t>(rest.size(), 64);
      status = server.Feed(rest.substr(0, take));
      rest.remove_prefix(take);
      if (!status.ok()) break;
    }
  }
  std::cout << server.TranscriptText();
  if (!server.session().fatal_error().ok()) {
    std::cerr << "smtp-replay: " << server.session().fatal_error().message()
              << "\n";
    return 1;
  }
  if (!status.ok() && status.code() != absl::StatusCode::kFailedPrecondition) {
    std::cerr << "smtp-replay: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
