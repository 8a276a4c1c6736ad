// starling-sink: an SMTP server for tests and measurements (like Postfix's
// smtp-sink, with STARTTLS, AUTH and real delivery), and the simulator's
// partner zoo on real sockets (--zoo). docs/sink-and-send.md.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "core/smtp/server_session.h"
#include "core/tls/credentials.h"
#include "core/tls/rng.h"
#include "core/tls/testing/test_pki.h"
#include "tools/cli.h"
#include "tools/io/address.h"
#include "tools/io/allocator.h"
#include "tools/io/inbound.h"
#include "tools/sink/delivery.h"
#include "tools/sink/log.h"
#include "tools/sink/sink_handler.h"
#include "tools/sink/zoo.h"

ABSL_FLAG(std::vector<std::string>, listen, {},
          "ADDR:PORT to accept connections on ([::1]:2525 for IPv6; port 0: "
          "the kernel chooses); repeat or comma-separate for several "
          "(default: 127.0.0.1:2525, none with --zoo)");
ABSL_FLAG(std::string, hostname, "",
          "the name in the greeting, EHLO reply and Received header "
          "(default: this machine's name)");
ABSL_FLAG(std::string, cert, "",
          "PEM certificate chain for STARTTLS, leaf first (with --key)");
ABSL_FLAG(std::string, key, "",
          "PEM private key: PKCS#8 (plain or encrypted), PKCS#1 or SEC1");
ABSL_FLAG(std::string, key_passphrase, "", "passphrase of an encrypted --key");
ABSL_FLAG(std::string, client_ca, "",
          "ask clients for a certificate and check it against this CA file or "
          "hashed directory (the verdict goes into the Received header)");
ABSL_FLAG(bool, require_tls, false,
          "MAIL before STARTTLS gets 530 5.7.0 (needs --cert)");
ABSL_FLAG(std::vector<std::string>, auth, {},
          "USER:PASS accepted by AUTH PLAIN/LOGIN, offered only inside TLS; "
          "repeat for several users");
ABSL_FLAG(uint64_t, max_size, 35 * 1024 * 1024,
          "largest message in octets (SIZE); 0: no limit");
ABSL_FLAG(uint64_t, max_recipients, 100, "recipients per message");
ABSL_FLAG(uint64_t, max_line, 1000,
          "longest DATA line in octets, CRLF included (see --long_lines)");
ABSL_FLAG(std::string, long_lines, "pass",
          "a DATA line over --max_line: pass (kept, read in pieces) or reject "
          "(554 5.6.0 at end of data)");
ABSL_FLAG(std::string, line_endings, "reject",
          "bare CR or LF in DATA: reject (554 5.5.2 and the connection "
          "closes) or normalize (stored as CRLF)");
ABSL_FLAG(std::vector<std::string>, disable, {},
          "extensions not to offer: pipelining, chunking, 8bitmime, smtputf8, "
          "dsn, enhancedstatuscodes, requiretls");
ABSL_FLAG(uint64_t, timeout, 300,
          "seconds a client may stay silent (commands, data, STARTTLS)");
ABSL_FLAG(std::string, deliver, "discard",
          "where accepted messages go: discard, maildir:DIR, mbox:FILE or "
          "eml:DIR (accepted only once durable)");
ABSL_FLAG(std::string, log, "stderr",
          "one line per connection and message to stderr, none, or a file");
ABSL_FLAG(uint64_t, threads, 1, "event-loop threads (not with --zoo)");
ABSL_FLAG(uint64_t, max_connections, 1000,
          "connections at once; more get 421 4.7.0");
ABSL_FLAG(std::vector<std::string>, zoo, {},
          "serve a partner profile (PROFILE or PROFILE=ADDR:PORT; \"all\" for "
          "every one, ports from the kernel); repeat for several");
ABSL_FLAG(std::string, zoo_pki, "",
          "write the zoo's CA bundle, CRL, certificates and client "
          "certificate here as PEM");
ABSL_FLAG(uint64_t, zoo_seed, 1, "the zoo PKI's seed (same seed, same keys)");
ABSL_FLAG(std::string, zoo_host, "mx.example.net",
          "the name the zoo's certificates are issued to");
ABSL_FLAG(absl::Duration, zoo_tarpit, absl::Seconds(30),
          "how long the tarpit profile holds each reply (30s, 500ms, ...)");
ABSL_FLAG(std::string, ports_file, "",
          "once listening, write the bound addresses here as JSON (for "
          "scripts that pass port 0)");

namespace starling {
namespace {

[[noreturn]] void Usage(absl::string_view message) {
  std::cerr << "starling-sink: " << message << "\n";
  std::exit(2);
}

std::shared_ptr<smtp::ServerOptions> SmtpOptions(bool tls) {
  auto options = std::make_shared<smtp::ServerOptions>();
  options->hostname = absl::GetFlag(FLAGS_hostname).empty()
                          ? io::MachineName()
                          : absl::GetFlag(FLAGS_hostname);
  options->greeting_text = "ESMTP starling-sink";
  options->offer_starttls = tls;
  options->require_tls = absl::GetFlag(FLAGS_require_tls);
  if (options->require_tls && !tls) {
    Usage("--require_tls needs --cert and --key");
  }
  if (!absl::GetFlag(FLAGS_auth).empty()) {
    if (!tls) Usage("--auth needs --cert and --key (AUTH only inside TLS)");
    options->auth_mechanisms = {"PLAIN", "LOGIN"};
  }
  options->max_message_size = absl::GetFlag(FLAGS_max_size);
  options->max_recipients = absl::GetFlag(FLAGS_max_recipients);
  options->max_data_line = absl::GetFlag(FLAGS_max_line);
  if (options->max_data_line < 3) Usage("--max_line must be at least 3");
  const std::string long_lines = absl::GetFlag(FLAGS_long_lines);
  if (long_lines == "reject") {
    options->long_data_lines = smtp::LongDataLines::kReject;
  } else if (long_lines != "pass") {
    Usage(absl::StrCat("--long_lines: \"", long_lines,
                       "\" is not pass or reject"));
  }
  const std::string endings = absl::GetFlag(FLAGS_line_endings);
  if (endings == "normalize") {
    options->bare_line_endings = smtp::BareLineEndings::kNormalize;
  } else if (endings != "reject") {
    Usage(absl::StrCat("--line_endings: \"", endings,
                       "\" is not reject or normalize"));
  }
  for (const std::string& name : absl::GetFlag(FLAGS_disable)) {
    const std::string ext = absl::AsciiStrToLower(name);
    if (ext == "pipelining") {
      options->offer_pipelining = false;
    } else if (ext == "chunking") {
      options->offer_chunking = false;
    } else if (ext == "8bitmime") {
      options->offer_8bitmime = false;
    } else if (ext == "smtputf8") {
      options->offer_smtputf8 = false;
    } else if (ext == "dsn") {
      options->offer_dsn = false;
    } else if (ext == "enhancedstatuscodes") {
      options->offer_enhanced_status_codes = false;
    } else if (ext == "requiretls") {
      options->offer_requiretls = false;
    } else {
      Usage(absl::StrCat("--disable: unknown extension \"", name, "\""));
    }
  }
  const absl::Duration timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout));
  options->command_timeout = options->data_timeout =
      options->starttls_timeout = timeout;
  return options;
}

std::shared_ptr<sink::Log> OpenLog() {
  const std::string where = absl::GetFlag(FLAGS_log);
  if (where == "stderr") return std::make_shared<sink::Log>(stderr);
  if (where == "none") return std::make_shared<sink::Log>(nullptr);
  std::FILE* file = std::fopen(where.c_str(), "a");
  if (file == nullptr) Usage(absl::StrCat("--log: cannot open ", where));
  return std::make_shared<sink::Log>(file);
}

int Main() {
  std::shared_ptr<sink::Log> log = OpenLog();

  // STARTTLS credentials: every problem is one line and exit 2.
  std::shared_ptr<const tls::Identity> identity;
  const std::string cert = absl::GetFlag(FLAGS_cert);
  const std::string key = absl::GetFlag(FLAGS_key);
  if (cert.empty() != key.empty()) Usage("--cert and --key go together");
  if (!cert.empty()) {
    absl::StatusOr<std::shared_ptr<const tls::Identity>> loaded =
        tls::Identity::FromFiles(cert, key, absl::GetFlag(FLAGS_key_passphrase));
    if (!loaded.ok()) Usage(loaded.status().message());
    identity = *std::move(loaded);
  }
  std::shared_ptr<const tls::TrustStore> client_ca;
  if (!absl::GetFlag(FLAGS_client_ca).empty()) {
    if (identity == nullptr) Usage("--client_ca needs --cert and --key");
    absl::StatusOr<std::shared_ptr<const tls::TrustStore>> store =
        tls::TrustStore::FromPath(absl::GetFlag(FLAGS_client_ca));
    if (!store.ok()) Usage(store.status().message());
    client_ca = *std::move(store);
  }

  auto config = std::make_shared<sink::SinkConfig>();
  absl::StatusOr<std::unique_ptr<sink::MessageStore>> store =
      sink::OpenStore(absl::GetFlag(FLAGS_deliver));
  if (!store.ok()) Usage(store.status().message());
  config->store = *std::move(store);
  for (const std::string& pair : absl::GetFlag(FLAGS_auth)) {
    const size_t colon = pair.find(':');
    if (colon == std::string::npos || colon == 0) {
      Usage(absl::StrCat("--auth \"", pair, "\": expected USER:PASS"));
    }
    config->users[pair.substr(0, colon)] = pair.substr(colon + 1);
  }
  config->log = log;
  config->client_certificate_requested = client_ca != nullptr;

  io::InboundOptions options;
  options.max_connections = absl::GetFlag(FLAGS_max_connections);
  options.threads = absl::GetFlag(FLAGS_threads);

  const std::vector<std::string> zoo = absl::GetFlag(FLAGS_zoo);
  std::vector<std::string> listen = absl::GetFlag(FLAGS_listen);
  if (listen.empty() && zoo.empty()) listen = {"127.0.0.1:2525"};
  if (!listen.empty()) {
    std::shared_ptr<smtp::ServerOptions> smtp = SmtpOptions(identity != nullptr);
    config->hostname = smtp->hostname;
    std::shared_ptr<const smtp::ServerOptions> shared = smtp;
    std::shared_ptr<const sink::SinkConfig> shared_config = config;
    for (const std::string& spec : listen) {
      absl::StatusOr<asio::ip::tcp::endpoint> address = io::ParseEndpoint(spec);
      if (!address.ok()) Usage(absl::StrCat("--listen: ", address.status().message()));
      io::Listener listener;
      listener.address = *address;
      listener.smtp = shared;
      if (identity != nullptr) {
        listener.tls = [identity, client_ca]() -> std::optional<tls::ChannelOptions> {
          tls::ChannelOptions tls;
          tls.role = tls::Role::kServer;
          tls.identities = {identity};
          tls.rng = tls::SystemRng();
          if (client_ca != nullptr) {
            tls.trust = client_ca;
            tls.policy.client_auth = tls::ClientAuth::kRequest;
          }
          return tls;
        };
      }
      listener.handler = [shared_config] {
        return std::make_unique<sink::SinkHandler>(shared_config);
      };
      options.listeners.push_back(std::move(listener));
    }
  }
  const size_t sink_listeners = options.listeners.size();

  std::vector<sink::ZooProfile> profiles;
  if (!zoo.empty()) {
    if (options.threads > 1) Usage("--zoo runs on one thread (drop --threads)");
    absl::StatusOr<std::vector<sink::ZooProfile>> parsed =
        sink::ParseZooProfiles(zoo, asio::ip::make_address("127.0.0.1"));
    if (!parsed.ok()) Usage(parsed.status().message());
    profiles = *std::move(parsed);
    sink::ZooConfig zoo_config;
    zoo_config.profiles = profiles;
    // The certificates' validity is centred on the moment the zoo starts.
    zoo_config.pki = tls::testing::TestPki::Get(
        absl::GetFlag(FLAGS_zoo_seed), absl::Now(), absl::GetFlag(FLAGS_zoo_host));
    zoo_config.tarpit_delay = absl::GetFlag(FLAGS_zoo_tarpit);
    zoo_config.log = log;
    if (!absl::GetFlag(FLAGS_zoo_pki).empty()) {
      if (absl::Status written =
              sink::WriteZooPki(*zoo_config.pki, absl::GetFlag(FLAGS_zoo_pki));
          !written.ok()) {
        Usage(written.message());
      }
    }
    for (io::Listener& listener : sink::ZooListeners(zoo_config)) {
      options.listeners.push_back(std::move(listener));
    }
  } else if (!absl::GetFlag(FLAGS_zoo_pki).empty()) {
    Usage("--zoo_pki needs --zoo");
  }

  absl::StatusOr<std::unique_ptr<io::InboundServer>> server =
      io::InboundServer::Create(std::move(options));
  if (!server.ok()) {
    std::cerr << "starling-sink: " << server.status().message() << "\n";
    return 1;
  }
  (*server)->HandleSignals();

  nlohmann::json ports = {{"listen", nlohmann::json::array()},
                          {"zoo", nlohmann::json::object()}};
  const std::vector<asio::ip::tcp::endpoint>& bound = (*server)->bound();
  for (size_t i = 0; i < bound.size(); ++i) {
    const std::string address = io::FormatEndpoint(bound[i]);
    if (i < sink_listeners) {
      ports["listen"].push_back(address);
      log->Line(absl::StrCat("starling-sink: listening on ", address));
    } else {
      const std::string name(
          sim::PartnerProfileName(profiles[i - sink_listeners].profile));
      ports["zoo"][name] = address;
      log->Line(absl::StrCat("zoo[", name, "]: listening on ", address));
    }
  }
  if (!absl::GetFlag(FLAGS_zoo_pki).empty()) {
    ports["pki"] = absl::GetFlag(FLAGS_zoo_pki);
  }
  if (const std::string path = absl::GetFlag(FLAGS_ports_file); !path.empty()) {
    // Written whole then renamed: a script polling for it never reads half.
    const std::string temporary = path + ".tmp";
    std::ofstream(temporary) << ports.dump(2) << "\n";
    std::error_code error;
    std::filesystem::rename(temporary, path, error);
    if (error) {
      std::cerr << "starling-sink: cannot write " << path << ": "
                << error.message() << "\n";
      return 1;
    }
  }
  (*server)->Run();
  log->Line("starling-sink: stopped");
  return 0;
}

}  // namespace
}  // namespace starling

int main(int argc, char** argv) {
  starling::io::KeepFreedMemoryForReuse();
  absl::SetProgramUsageMessage(
      "starling-sink [--listen ADDR:PORT] [--cert FILE --key FILE] "
      "[--deliver discard|maildir:DIR|mbox:FILE|eml:DIR] [--zoo PROFILE]...\n"
      "An SMTP sink on Starling's core, and the partner zoo on real sockets.");
  const std::vector<std::string> rest = starling::tools::ParseToolFlags(
      argc, argv, "tools/starling_sink.cc", {"listen", "auth", "zoo", "disable"});
  if (rest.size() > 1) {
    starling::Usage(absl::StrCat("unexpected argument \"", rest[1], "\""));
  }
  return starling::Main();
}
