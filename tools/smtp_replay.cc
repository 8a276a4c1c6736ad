// smtp-replay: plays an SMTP client's bytes against Starling's server session
// and prints the transcript (C: client bytes as consumed, S: exact reply
// lines, E: events). Exit status: 0, 1 on a fatal protocol error, 2 on bad
// usage or unreadable input.
//
//   smtp-replay [flags] [FILE|-]
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
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
#include "core/smtp/scripted_server.h"

ABSL_FLAG(bool, pipelined, false,
          "hand the input over as it is (one piece, or cut at random points "
          "with --seed) instead of one command at a time");
ABSL_FLAG(int64_t, seed, -1,
          "with --pipelined: cut the input at pseudo-random points drawn "
          "from this seed");
ABSL_FLAG(std::string, hostname, "mx.example.org", "the server's name");
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
          "accept bare CR/LF in DATA as line ends instead of closing");
ABSL_FLAG(std::vector<std::string>, users, {},
          "AUTH PLAIN/LOGIN accounts as user:password (offered after TLS)");
ABSL_FLAG(bool, auth_in_plaintext, false, "offer AUTH before TLS too");
ABSL_FLAG(bool, vrfy, false, "answer VRFY/EXPN with 252 instead of 502");
ABSL_FLAG(uint64_t, max_size, 35 * 1024 * 1024,
          "maximum message size in octets (0: no limit)");
ABSL_FLAG(int64_t, max_recipients, 100, "recipients per message");

namespace {

using starling::smtp::BareLineEndings;
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
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
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
  options->vrfy_enabled = absl::GetFlag(FLAGS_vrfy);
  options->max_message_size = absl::GetFlag(FLAGS_max_size);
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
