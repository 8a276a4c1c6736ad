// starling-send: delivers a message to one SMTP server, or to a domain's MX
// hosts (DNS, DANE and MTA-STS resolved here), under a TLS policy and says
// what happened to each recipient and why (like swaks with Starling's
// policy engine), or loads a server like Postfix's smtp-source.
// docs/sink-and-send.md.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "core/policy/dane.h"
#include "core/policy/engine.h"
#include "core/policy/hook.h"
#include "core/policy/level.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "core/smtp/client_session.h"
#include "core/smtp/text.h"
#include "core/tls/credentials.h"
#include "core/tls/rng.h"
#include "tools/cli.h"
#include "tools/destination_flags.h"
#include "tools/io/address.h"
#include "tools/io/allocator.h"
#include "tools/io/outbound.h"
#include "tools/message_options.h"
#include "tools/net/lookup.h"
#include "tools/send/domain.h"
#include "tools/send/route.h"
#include "tools/send/send.h"

ABSL_FLAG(std::string, server, "",
          "HOST:PORT to deliver to (default: the MX hosts of the recipients' "
          "domain, with DANE and MTA-STS from DNS)");
ABSL_FLAG(std::string, from, "", "envelope sender (default: "
          "starling-send@<this machine>; \"<>\" for the null reverse-path)");
ABSL_FLAG(std::vector<std::string>, to, {},
          "recipient; repeat or comma-separate for several (required)");
ABSL_FLAG(std::string, helo, "", "EHLO name (default: this machine's name)");
ABSL_FLAG(std::string, message, "",
          "file with the message, headers and body (\"-\": standard input); "
          "default: a short generated one");
ABSL_FLAG(uint64_t, size, 0,
          "generate a message of about this many octets instead");
ABSL_FLAG(std::string, policy, "",
          "the TLS policy for this destination, as a policy table entry: may, "
          "encrypt, verify, secure, dane, dane-only, \"fingerprint "
          "cert-pin=<SHA-256 hex>\", ... (docs/policy.md; default: may with "
          "--server, dane without: DANE where published, else MTA-STS, else "
          "opportunistic TLS)");
ABSL_FLAG(std::string, policy_table, "",
          "a policy table file instead of --policy (looked up by --domain)");
ABSL_FLAG(std::string, domain, "",
          "the next-hop domain the policy is looked up for, and without "
          "--server the domain delivered to (default: the recipients' domain)");
ABSL_FLAG(std::string, mx, "",
          "with --server: the MX host name certificates are checked against "
          "(default: the host of --server)");
ABSL_FLAG(std::string, trust, "",
          "CA bundle or hashed directory to validate the server's chain "
          "(default: /etc/ssl/certs/ca-certificates.crt when present)");
ABSL_FLAG(std::string, cert, "",
          "client certificate chain (PEM) for servers that ask (with --key)");
ABSL_FLAG(std::string, key, "", "the client certificate's private key");
ABSL_FLAG(std::string, key_passphrase, "", "passphrase of an encrypted --key");
ABSL_FLAG(std::vector<std::string>, tlsa, {},
          "with --server: a TLSA record for the MX, \"3 1 1 <hex>\" (as DNS "
          "would give it)");
ABSL_FLAG(std::string, dnssec, "secure",
          "with --tlsa: the DNSSEC status of the records: secure, insecure or "
          "bogus");
ABSL_FLAG(std::string, sts, "",
          "with --server: an MTA-STS policy file in force for the domain "
          "(RFC 8461)");
ABSL_FLAG(bool, pipelining, true, "pipeline commands when the server offers it");
ABSL_FLAG(bool, bdat, false, "BDAT (CHUNKING) instead of DATA when offered");
ABSL_FLAG(std::string, body_type, "7bit",
          "7bit, 8bitmime or binarymime (8-bit octets go as 8BITMIME anyway)");
ABSL_FLAG(bool, smtputf8, false, "the message needs SMTPUTF8");
ABSL_FLAG(bool, requiretls, false,
          "REQUIRETLS on the envelope (RFC 8689): TLS all the way or bounce");
ABSL_FLAG(std::string, ret, "", "DSN RET= full or hdrs");
ABSL_FLAG(std::string, envid, "", "DSN ENVID= (xtext)");
ABSL_FLAG(std::vector<std::string>, notify, {},
          "DSN NOTIFY= for every recipient: never, or success,failure,delay");
ABSL_FLAG(bool, orcpt, false, "DSN ORCPT=rfc822;<recipient> for every one");
ABSL_FLAG(std::string, auth, "", "USER:PASSWORD for AUTH (only over TLS)");
ABSL_FLAG(bool, explain, false, "print the policy's reasoning, step by step");
ABSL_FLAG(bool, json, false, "print the outcome as one JSON object");
ABSL_FLAG(uint64_t, timeout, 300, "seconds to wait for each reply");
ABSL_FLAG(uint64_t, connect_timeout, 30, "seconds to wait for the connection");
ABSL_FLAG(uint64_t, sessions, 0,
          "load mode: this many connections at once (smtp-source -s)");
ABSL_FLAG(uint64_t, messages, 1, "load mode: messages in all (smtp-source -m)");
ABSL_FLAG(uint64_t, per_connection, 1,
          "load mode: messages per connection (smtp-source -r is per "
          "message; this is its -N)");
ABSL_FLAG(uint64_t, recipients, 1, "load mode: recipients per message");

namespace starling {
namespace {

constexpr int kUsage = 2;

[[noreturn]] void Usage(absl::string_view message) {
  std::cerr << "starling-send: " << message << "\n";
  std::exit(kUsage);
}

std::string ReadFileOrDie(const std::string& path, absl::string_view flag) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin),
                       std::istreambuf_iterator<char>());
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) Usage(absl::StrCat(flag, ": cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(file),
                     std::istreambuf_iterator<char>());
}

// A message of about `size` octets: headers, then 72-octet lines.
std::string GeneratedMessage(uint64_t size, const std::string& from,
                             const std::string& to) {
  std::string text = absl::StrCat(
      "From: <", from, ">\r\nTo: <", to, ">\r\nSubject: starling-send test\r\n",
      "Date: ",
      absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", absl::Now(),
                       absl::UTCTimeZone()),
      "\r\nMessage-ID: <",
      absl::FormatTime("%Y%m%d%H%M%E6S", absl::Now(), absl::UTCTimeZone()), ".",
      ::getpid(), "@starling-send>\r\n\r\n");
  if (size == 0) return text + "A test message from starling-send.\r\n";
  const std::string line = std::string(70, 'x') + "\r\n";
  while (text.size() + line.size() <= size) text += line;
  if (text.size() + 2 < size) text += std::string(size - text.size() - 2, 'x') + "\r\n";
  return text;
}

// One body shared by every message of a load run: no copy per message.
class SharedBody : public smtp::BodySource {
 public:
  explicit SharedBody(std::shared_ptr<const std::string> body, bool eight_bit)
      : body_(std::move(body)), eight_bit_(eight_bit) {}
  absl::StatusOr<absl::string_view> Read(size_t max, bool* end) override {
    const absl::string_view piece =
        absl::string_view(*body_).substr(pos_, max);
    pos_ += piece.size();
    *end = pos_ >= body_->size();
    return piece;
  }
  std::optional<bool> HasEightBit() const override { return eight_bit_; }

 private:
  std::shared_ptr<const std::string> body_;
  bool eight_bit_;
  size_t pos_ = 0;
};

struct Setup {
  send::SendSettings settings;
  smtp::Destination destination;
  std::vector<asio::ip::tcp::endpoint> server;  // empty: deliver to the domain
  tools::MessageSpec spec;
  std::shared_ptr<const std::string> body;
  bool eight_bit = false;
};

std::string DomainOf(const std::string& address) {
  const size_t at = address.rfind('@');
  return at == std::string::npos ? "" : absl::AsciiStrToLower(address.substr(at + 1));
}

// Whether `flag` was set to something other than its default.
bool Given(absl::string_view flag) {
  const absl::CommandLineFlag* f = absl::FindCommandLineFlag(flag);
  return f != nullptr && f->CurrentValue() != f->DefaultValue();
}

// --server and --to without it take different flags.
void CheckMode(bool to_server, const tools::MessageSpec& spec) {
  if (to_server) {
    for (absl::string_view flag : tools::DestinationFlagNames()) {
      if (Given(flag)) Usage(absl::StrCat("--", flag, " is for --to without --server"));
    }
    return;
  }
  for (absl::string_view flag : {"mx", "tlsa", "dnssec", "sts"}) {
    if (Given(flag)) {
      Usage(absl::StrCat("--", flag, " goes with --server; without it DNS tells"));
    }
  }
  if (absl::GetFlag(FLAGS_sessions) > 0) Usage("load mode (--sessions) needs --server");
  if (absl::GetFlag(FLAGS_domain).empty()) {
    for (const std::string& to : spec.to) {
      if (DomainOf(to) != DomainOf(spec.to[0])) {
        Usage("without --server every recipient must be at one domain (or give --domain)");
      }
    }
  }
}

Setup Configure(asio::io_context& context) {
  Setup setup;
  const std::string server = absl::GetFlag(FLAGS_server);
  const bool to_server = !server.empty();
  absl::StatusOr<io::HostPort> host_port;
  if (to_server) {
    host_port = io::SplitHostPort(server);
    if (!host_port.ok()) Usage(absl::StrCat("--server: ", host_port.status().message()));
  }

  // The message.
  tools::MessageSpec& spec = setup.spec;
  spec.from = absl::GetFlag(FLAGS_from);
  if (spec.from.empty()) spec.from = "starling-send@" + io::MachineName();
  if (spec.from == "<>") spec.from.clear();
  spec.to = absl::GetFlag(FLAGS_to);
  if (spec.to.empty()) Usage("--to is required");
  CheckMode(to_server, spec);
  spec.body_type = absl::GetFlag(FLAGS_body_type);
  spec.smtputf8 = absl::GetFlag(FLAGS_smtputf8);
  spec.requiretls = absl::GetFlag(FLAGS_requiretls);
  spec.ret = absl::GetFlag(FLAGS_ret);
  spec.envid = absl::GetFlag(FLAGS_envid);
  spec.notify = absl::GetFlag(FLAGS_notify);
  spec.orcpt = absl::GetFlag(FLAGS_orcpt);
  std::string body =
      !absl::GetFlag(FLAGS_message).empty()
          ? ReadFileOrDie(absl::GetFlag(FLAGS_message), "--message")
          : GeneratedMessage(absl::GetFlag(FLAGS_size), spec.from, spec.to[0]);
  setup.eight_bit = smtp::HasEightBit(body);
  setup.body = std::make_shared<const std::string>(std::move(body));
  // Checked once here: every message of the run is built the same way.
  if (absl::StatusOr<smtp::OutboundMessage> check =
          tools::BuildMessage(spec, std::string());
      !check.ok()) {
    Usage(check.status().message());
  }

  // The destination.
  smtp::Destination& destination = setup.destination;
  destination.next_hop_domain = absl::GetFlag(FLAGS_domain).empty()
                                    ? DomainOf(spec.to[0])
                                    : absl::GetFlag(FLAGS_domain);
  if (to_server) {
    destination.mx_host = absl::GetFlag(FLAGS_mx).empty()
                              ? absl::AsciiStrToLower(host_port->host)
                              : absl::GetFlag(FLAGS_mx);
  }

  // The policy.
  std::string table_text;
  if (!absl::GetFlag(FLAGS_policy_table).empty()) {
    table_text = ReadFileOrDie(absl::GetFlag(FLAGS_policy_table), "--policy_table");
  } else {
    const std::string level = absl::GetFlag(FLAGS_policy);
    table_text = absl::StrCat(
        "* ", !level.empty() ? level : to_server ? "may" : "dane", "\n");
  }
  absl::StatusOr<policy::PolicyTable> table = policy::ParsePolicyTable(table_text);
  if (!table.ok()) {
    Usage(absl::StrCat(absl::GetFlag(FLAGS_policy_table).empty()
                           ? "--policy"
                           : absl::GetFlag(FLAGS_policy_table),
                       ": ", table.status().message()));
  }
  send::SendSettings& settings = setup.settings;
  settings.table = std::make_shared<const policy::PolicyTable>(*std::move(table));
  settings.state.now = absl::Now();
  if (!absl::GetFlag(FLAGS_tlsa).empty() || absl::GetFlag(FLAGS_dnssec) == "bogus") {
    policy::DaneState dane;
    const std::string dnssec = absl::GetFlag(FLAGS_dnssec);
    if (dnssec == "secure") {
      dane.dnssec = policy::DnssecStatus::kSecure;
    } else if (dnssec == "insecure") {
      dane.dnssec = policy::DnssecStatus::kInsecure;
    } else if (dnssec == "bogus") {
      dane.dnssec = policy::DnssecStatus::kBogus;
    } else {
      Usage("--dnssec must be secure, insecure or bogus");
    }
    for (const std::string& record : absl::GetFlag(FLAGS_tlsa)) {
      absl::StatusOr<policy::TlsaRecord> parsed = policy::ParseTlsaRecord(record);
      if (!parsed.ok()) Usage(absl::StrCat("--tlsa: ", parsed.status().message()));
      dane.records.push_back(*parsed);
    }
    settings.state.dane_by_mx[absl::AsciiStrToLower(destination.mx_host)] = dane;
  }
  if (!absl::GetFlag(FLAGS_sts).empty()) {
    const std::string text = ReadFileOrDie(absl::GetFlag(FLAGS_sts), "--sts");
    absl::StatusOr<policy::StsPolicy> sts = policy::ParseStsPolicy(text);
    if (!sts.ok()) Usage(absl::StrCat("--sts: ", sts.status().message()));
    settings.state.sts = *sts;
  }

  // The session.
  smtp::ClientOptions& smtp = settings.smtp;
  smtp.helo_name = absl::GetFlag(FLAGS_helo).empty() ? io::MachineName()
                                                     : absl::GetFlag(FLAGS_helo);
  smtp.use_pipelining = absl::GetFlag(FLAGS_pipelining);
  smtp.prefer_bdat = absl::GetFlag(FLAGS_bdat);
  if (absl::Status auth = tools::ApplyAuth(absl::GetFlag(FLAGS_auth), &smtp);
      !auth.ok()) {
    Usage(auth.message());
  }
  const absl::Duration timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout));
  smtp.greeting_timeout = smtp.command_timeout = smtp.data_timeout =
      smtp.block_timeout = smtp.end_timeout = smtp.starttls_timeout = timeout;
  settings.connect_timeout = absl::Seconds(absl::GetFlag(FLAGS_connect_timeout));

  // TLS.
  tls::ChannelOptions& tls = settings.tls;
  tls.rng = tls::SystemRng();
  std::string trust = absl::GetFlag(FLAGS_trust);
  if (trust.empty() && ::access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
    trust = "/etc/ssl/certs/ca-certificates.crt";
  }
  if (!trust.empty()) {
    absl::StatusOr<std::shared_ptr<const tls::TrustStore>> store =
        tls::TrustStore::FromPath(trust);
    if (!store.ok()) Usage(absl::StrCat("--trust: ", store.status().message()));
    tls.trust = *std::move(store);
  }
  const std::string cert = absl::GetFlag(FLAGS_cert);
  const std::string key = absl::GetFlag(FLAGS_key);
  if (cert.empty() != key.empty()) Usage("--cert and --key go together");
  if (!cert.empty()) {
    absl::StatusOr<std::shared_ptr<const tls::Identity>> identity =
        tls::Identity::FromFiles(cert, key, absl::GetFlag(FLAGS_key_passphrase));
    if (!identity.ok()) Usage(identity.status().message());
    tls.identities = {*std::move(identity)};
  }

  if (!to_server) return setup;
  absl::StatusOr<std::vector<asio::ip::tcp::endpoint>> resolved =
      io::ResolveHostPort(context, server);
  if (!resolved.ok()) {
    std::cerr << "starling-send: " << resolved.status().message() << "\n";
    std::exit(75);
  }
  setup.server = *std::move(resolved);
  return setup;
}

std::vector<smtp::OutboundMessage> Messages(const Setup& setup, size_t count,
                                            size_t recipients) {
  std::vector<smtp::OutboundMessage> messages;
  tools::MessageSpec spec = setup.spec;
  if (recipients > 1) {
    // Load mode: recipients 1..N at the first recipient's domain.
    const std::string domain = DomainOf(spec.to[0]);
    spec.to.clear();
    for (size_t i = 0; i < recipients; ++i) {
      spec.to.push_back(absl::StrCat("rcpt", i + 1, "@", domain));
    }
  }
  for (size_t i = 0; i < count; ++i) {
    absl::StatusOr<smtp::OutboundMessage> message =
        tools::BuildMessage(spec, std::string());
    message->size = setup.body->size();
    message->body = std::make_shared<SharedBody>(setup.body, setup.eight_bit);
    messages.push_back(*std::move(message));
  }
  return messages;
}

std::string ReplyText(const smtp::Reply& reply) {
  if (reply.code == 0) return "";
  std::string text = absl::StrCat(reply.code);
  if (reply.enhanced.has_value()) absl::StrAppend(&text, " ", reply.enhanced->ToString());
  if (!reply.lines.empty()) absl::StrAppend(&text, " ", reply.lines.back());
  return text;
}

std::string DescribeTls(const TlsFacts& facts) {
  std::string text = absl::StrCat(policy::TlsVersionName(facts.version), " ",
                                  facts.cipher_suite);
  if (!facts.key_exchange_group.empty()) {
    absl::StrAppend(&text, " ", facts.key_exchange_group);
  }
  if (!facts.peer_chain.empty()) {
    const CertificateFacts& leaf = facts.peer_chain.front();
    absl::StrAppend(&text, ", peer ",
                    leaf.subject_dn.empty() ? leaf.common_name : leaf.subject_dn);
  }
  absl::StrAppend(&text, ", chain ", policy::ChainVerdictName(facts.chain_verdict));
  if (!facts.chain_detail.empty()) absl::StrAppend(&text, " (", facts.chain_detail, ")");
  return text;
}

void PrintDecision(absl::string_view title, const smtp::PolicyDecision& d,
                   bool explain) {
  if (d.label.empty() && d.trace.empty()) return;
  std::cout << title << ": " << smtp::DeliveryVerdictName(d.verdict);
  if (!d.label.empty()) std::cout << " (" << d.label << ")";
  if (!d.tlsrpt_result_type.empty()) {
    std::cout << ", TLS-RPT result " << d.tlsrpt_result_type;
  }
  std::cout << "\n";
  if (explain) {
    for (const std::string& step : d.trace) std::cout << "  - " << step << "\n";
  }
}

nlohmann::json DecisionJson(const smtp::PolicyDecision& d) {
  return {{"verdict", smtp::DeliveryVerdictName(d.verdict)},
          {"label", d.label},
          {"tlsrpt_result_type", d.tlsrpt_result_type},
          {"trace", d.trace}};
}

nlohmann::json AttemptJson(const send::Attempt& attempt) {
  const io::OutboundResult& r = attempt.result;
  nlohmann::json out = {
      {"server", attempt.server},
      {"connected_to", attempt.connected ? io::FormatEndpoint(r.remote) : ""},
      {"connected", attempt.connected},
      {"plaintext_retry", attempt.plaintext_retry},
      {"refused_by_policy", attempt.refused_by_policy},
      {"before_connect", DecisionJson(attempt.before)},
      {"connection_policy", DecisionJson(r.policy)},
      {"close_reason", r.close_reason},
      {"tls", nullptr},
      {"messages", nlohmann::json::array()}};
  if (r.handshake_facts.has_value()) out["tls"] = DescribeTls(*r.handshake_facts);
  if (r.tls_failure.has_value()) out["tls_failure"] = r.tls_failure->detail;
  for (const smtp::MessageResult& message : r.results) {
    nlohmann::json m = {{"policy", DecisionJson(message.policy)},
                        {"recipients", nlohmann::json::array()}};
    for (const smtp::RecipientResult& rcpt : message.recipients) {
      m["recipients"].push_back(
          {{"address", rcpt.mailbox.ToString()},
           {"status", smtp::RecipientStatusName(rcpt.status)},
           {"stage", smtp::ClientStageName(rcpt.stage)},
           {"reply", ReplyText(rcpt.reply)},
           {"detail", rcpt.detail}});
    }
    out["messages"].push_back(std::move(m));
  }
  return out;
}

void PrintAttempt(const send::Attempt& attempt, bool explain) {
  const io::OutboundResult& r = attempt.result;
  if (attempt.plaintext_retry) {
    std::cout << "retrying without STARTTLS (the handshake failed and TLS "
                 "was optional)\n";
  }
  if (attempt.refused_by_policy) {
    PrintDecision("policy refused the host", attempt.before, true);
    return;
  }
  // Of the addresses tried, the one that answered.
  if (attempt.connected) {
    std::cout << "connected to " << io::FormatEndpoint(r.remote) << "\n";
  } else {
    std::cout << "could not connect to " << attempt.server << ": " << r.close_reason << "\n";
  }
  if (r.handshake_facts.has_value()) {
    std::cout << "TLS: " << DescribeTls(*r.handshake_facts) << "\n";
  } else if (r.tls_failure.has_value()) {
    std::cout << "TLS failed: " << r.tls_failure->detail << "\n";
  } else if (attempt.connected) {
    std::cout << "TLS: none\n";
  }
  PrintDecision("connection policy", r.policy, explain);
  for (const smtp::MessageResult& message : r.results) {
    if (message.policy.label != r.policy.label ||
        message.policy.verdict != r.policy.verdict) {
      PrintDecision("message policy", message.policy, explain);
    }
    for (const smtp::RecipientResult& rcpt : message.recipients) {
      const char* status = rcpt.status == smtp::RecipientStatus::kDelivered
                               ? "delivered"
                           : rcpt.status == smtp::RecipientStatus::kPermFailed
                               ? "refused"
                               : "deferred";
      std::cout << "<" << rcpt.mailbox.ToString() << ">: " << status;
      if (rcpt.status != smtp::RecipientStatus::kDelivered) {
        std::cout << " at " << smtp::ClientStageName(rcpt.stage);
      }
      const std::string reply = ReplyText(rcpt.reply);
      if (!reply.empty()) std::cout << ": " << reply;
      // A local reply already carries the detail in its text.
      if (!rcpt.detail.empty() && rcpt.status != smtp::RecipientStatus::kDelivered &&
          reply.find(rcpt.detail) == std::string::npos) {
        std::cout << " (" << rcpt.detail << ")";
      }
      std::cout << "\n";
    }
  }
}

int SendOne() {
  asio::io_context context(1);
  Setup setup = Configure(context);
  const std::vector<send::Attempt> attempts = send::SendToHost(
      context, setup.server, setup.destination, setup.settings,
      [&setup] { return Messages(setup, 1, 0); });
  const int code = send::ExitCode(attempts.back());
  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json out = {{"attempts", nlohmann::json::array()},
                          {"exit", code}};
    for (const send::Attempt& attempt : attempts) {
      out["attempts"].push_back(AttemptJson(attempt));
    }
    std::cout << out.dump(2) << "\n";
  } else {
    for (const send::Attempt& attempt : attempts) {
      PrintAttempt(attempt, absl::GetFlag(FLAGS_explain));
    }
  }
  return code;
}

std::string DescribeRoute(const send::MxRoute& route) {
  std::string out = absl::StrCat("MX ", route.host->preference, " ", route.host->host);
  if (route.endpoints.empty()) return absl::StrCat(out, ": ", route.problem);
  std::vector<std::string> addresses;
  for (const auto& endpoint : route.endpoints) {
    addresses.push_back(io::FormatEndpoint(endpoint));
  }
  absl::StrAppend(&out, " (", absl::StrJoin(addresses, ", "),
                  route.overridden ? ", --connect" : "", "), DANE: ",
                  policy::DaneStatusName(policy::ClassifyDane(route.host->dane)));
  return out;
}

std::string DescribeSts(const net::MtaStsResult& sts) {
  std::string out = "MTA-STS: ";
  if (sts.resolution.policy.has_value()) {
    const policy::StsPolicy& p = *sts.resolution.policy;
    absl::StrAppend(&out, policy::StsModeName(p.mode), " (mx ",
                    p.mx.empty() ? "none" : absl::StrJoin(p.mx, " "), ")");
  } else {
    absl::StrAppend(&out, "no policy");
  }
  if (!sts.resolution.failure_result_type.empty()) {
    absl::StrAppend(&out, ", ", sts.resolution.failure_result_type);
  }
  return out;
}

// Without --server: resolve the domain, then its MX hosts in turn.
int DeliverToDomain() {
  asio::io_context context(1);
  Setup setup = Configure(context);
  absl::StatusOr<send::ConnectOverrides> connect =
      tools::ConnectOverridesFromFlags(context);
  if (!connect.ok()) Usage(connect.status().message());
  absl::StatusOr<net::DestinationLookup> lookup =
      net::DestinationLookup::Open(tools::LookupOptionsFromFlags());
  if (!lookup.ok()) Usage(lookup.status().message());
  const std::string& domain = setup.destination.next_hop_domain;
  absl::StatusOr<net::DestinationResolution> r =
      lookup->Resolve(domain, setup.settings.state.now);
  if (!r.ok()) {
    if (absl::IsInvalidArgument(r.status())) Usage(r.status().message());
    std::cerr << "starling-send: " << r.status().message() << "\n";
    return 75;
  }
  const std::vector<send::MxRoute> routes = send::RoutesFor(*r, *connect);
  const send::DomainDelivery delivery = send::SendToDomain(
      context, *r, routes, setup.settings, [&setup] { return Messages(setup, 1, 0); });

  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json hosts = nlohmann::json::array();
    for (const send::HostAttempts& host : delivery.hosts) {
      nlohmann::json attempts = nlohmann::json::array();
      for (const send::Attempt& attempt : host.attempts) {
        attempts.push_back(AttemptJson(attempt));
      }
      hosts.push_back({{"mx", host.route.host->host},
                       {"preference", host.route.host->preference},
                       {"dane", policy::DaneStatusName(
                                    policy::ClassifyDane(host.route.host->dane))},
                       {"problem", host.route.problem},
                       {"attempts", std::move(attempts)}});
    }
    nlohmann::json sts_policy = nullptr;
    if (const std::optional<policy::StsPolicy>& p = r->mta_sts.resolution.policy;
        p.has_value()) {
      sts_policy = {{"mode", policy::StsModeName(p->mode)},
                    {"mx", p->mx},
                    {"max_age", p->max_age}};
    }
    const nlohmann::json out = {
        {"domain", r->domain},
        {"mx_status", net::MxStatusName(r->mx_status)},
        {"mx_dnssec", policy::DnssecStatusName(r->mx.dnssec)},
        {"mta_sts_policy", std::move(sts_policy)},
        {"mta_sts_failure", r->mta_sts.resolution.failure_result_type},
        {"hosts", std::move(hosts)},
        {"outcome", delivery.outcome},
        {"tlsrpt_result_type", delivery.tlsrpt_result_type},
        {"exit", delivery.exit_code}};
    std::cout << out.dump(2) << "\n";
    return delivery.exit_code;
  }
  std::cout << r->domain << ": MX " << net::MxStatusName(r->mx_status) << " (DNSSEC "
            << policy::DnssecStatusName(r->mx.dnssec) << "), "
            << DescribeSts(r->mta_sts) << "\n";
  for (const send::HostAttempts& host : delivery.hosts) {
    std::cout << DescribeRoute(host.route) << "\n";
    for (const send::Attempt& attempt : host.attempts) {
      PrintAttempt(attempt, absl::GetFlag(FLAGS_explain));
    }
  }
  std::cout << "result: " << delivery.outcome
            << (delivery.tlsrpt_result_type.empty()
                    ? ""
                    : " [" + delivery.tlsrpt_result_type + "]")
            << "\n";
  return delivery.exit_code;
}

// Load mode: `sessions` connections at once, each delivering up to
// `per_connection` messages, until `messages` have been sent.
class Load {
 public:
  Load(asio::io_context& context, const Setup& setup)
      : context_(context), setup_(setup), progress_(context) {}

  int Run() {
    total_ = absl::GetFlag(FLAGS_messages);
    per_connection_ = std::max<uint64_t>(1, absl::GetFlag(FLAGS_per_connection));
    recipients_ = std::max<uint64_t>(1, absl::GetFlag(FLAGS_recipients));
    start_ = absl::Now();
    const uint64_t sessions = absl::GetFlag(FLAGS_sessions);
    for (uint64_t i = 0; i < sessions && remaining_ > 0; ++i) Next();
    Progress();
    context_.run();
    return Summary();
  }

 private:
  void Next() {
    if (remaining_ == 0 || failed_setup_) return;
    const uint64_t count = std::min(remaining_, per_connection_);
    remaining_ -= count;
    ++connections_;
    ++open_;
    const absl::Time started = absl::Now();
    auto last = std::make_shared<absl::Time>(started);
    auto policy = std::make_shared<policy::PolicyEngineHook>(
        setup_.settings.table.get(), setup_.settings.state);
    auto smtp = std::make_shared<smtp::ClientOptions>(setup_.settings.smtp);
    starttls::ClientConnection::Options options{
        std::move(smtp), setup_.destination,
        send::ChannelFor(setup_.settings, setup_.destination)};
    const absl::Status status = io::Deliver(
        context_, setup_.server, std::move(options), policy.get(),
        Messages(setup_, count, recipients_), setup_.settings.connect_timeout,
        [this, policy](io::OutboundResult result) { Done(std::move(result)); },
        [this, last](size_t, absl::Time when) {
          latencies_.push_back(when - *last);
          *last = when;
        });
    if (!status.ok()) {
      std::cerr << "starling-send: " << status.message() << "\n";
      failed_setup_ = true;
      --open_;
    }
  }

  void Done(io::OutboundResult result) {
    --open_;
    if (result.handshake_facts.has_value()) ++handshakes_;
    if (!result.connected) {
      ++connect_failures_;
      if (first_error_.empty()) first_error_ = result.close_reason;
    }
    for (const smtp::MessageResult& message : result.results) {
      bool delivered = false, deferred = false;
      for (const smtp::RecipientResult& r : message.recipients) {
        delivered |= r.status == smtp::RecipientStatus::kDelivered;
        deferred |= r.status != smtp::RecipientStatus::kDelivered &&
                    r.status != smtp::RecipientStatus::kPermFailed;
        if (r.status != smtp::RecipientStatus::kDelivered && first_error_.empty()) {
          first_error_ = absl::StrCat("<", r.mailbox.ToString(), ">: ",
                                      ReplyText(r.reply), " ", r.detail);
        }
      }
      ++(delivered ? delivered_ : deferred ? deferred_ : refused_);
    }
    Next();
    if (open_ == 0) {
      asio::error_code ignored;
      progress_.cancel(ignored);
    }
  }

  void Progress() {
    progress_.expires_after(std::chrono::seconds(1));
    progress_.async_wait([this](const asio::error_code& error) {
      if (error || open_ == 0) return;
      const double seconds = absl::ToDoubleSeconds(absl::Now() - start_);
      std::cerr << absl::StrFormat(
          "starling-send: %d/%d messages, %d connections, %d not delivered, "
          "%.0f msgs/s\n",
          delivered_ + deferred_ + refused_, total_, connections_,
          deferred_ + refused_, (delivered_ + deferred_ + refused_) / seconds);
      Progress();
    });
  }

  int Summary() {
    const double seconds =
        std::max(1e-9, absl::ToDoubleSeconds(absl::Now() - start_));
    std::cout << absl::StrFormat(
        "messages: %d delivered, %d deferred, %d refused in %.3f s\n",
        delivered_, deferred_, refused_, seconds);
    std::cout << absl::StrFormat(
        "rate: %.1f msgs/s, %.1f connections/s, %.1f TLS handshakes/s\n",
        delivered_ / seconds, connections_ / seconds, handshakes_ / seconds);
    if (!latencies_.empty()) {
      std::sort(latencies_.begin(), latencies_.end());
      auto at = [this](double q) {
        const size_t i = std::min(latencies_.size() - 1,
                                  static_cast<size_t>(q * latencies_.size()));
        return absl::ToDoubleMilliseconds(latencies_[i]);
      };
      std::cout << absl::StrFormat(
          "latency per message (ms): p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
          at(0.5), at(0.9), at(0.99),
          absl::ToDoubleMilliseconds(latencies_.back()));
    }
    if (connect_failures_ > 0) {
      std::cout << "connections failed: " << connect_failures_ << "\n";
    }
    if (!first_error_.empty()) std::cout << "first failure: " << first_error_ << "\n";
    if (failed_setup_) return kUsage;
    return deferred_ > 0 || connect_failures_ > 0 ? 75 : refused_ > 0 ? 69 : 0;
  }

  asio::io_context& context_;
  const Setup& setup_;
  asio::steady_timer progress_;
  uint64_t total_ = 0;
  uint64_t remaining_ = absl::GetFlag(FLAGS_messages);
  uint64_t per_connection_ = 1;
  uint64_t recipients_ = 1;
  absl::Time start_;
  uint64_t connections_ = 0;
  uint64_t open_ = 0;
  uint64_t handshakes_ = 0;
  uint64_t connect_failures_ = 0;
  uint64_t delivered_ = 0;
  uint64_t deferred_ = 0;
  uint64_t refused_ = 0;
  bool failed_setup_ = false;
  std::string first_error_;
  std::vector<absl::Duration> latencies_;
};

}  // namespace
}  // namespace starling

int main(int argc, char** argv) {
  starling::io::KeepFreedMemoryForReuse();
  absl::SetProgramUsageMessage(
      "starling-send [--server HOST:PORT] --to ADDRESS [--policy LEVEL] "
      "[--message FILE | --size N] [--sessions N --messages M]\n"
      "Delivers mail over SMTP under a TLS policy, to one server or to the "
      "recipients' domain (its MX hosts, DANE and MTA-STS), and reports each "
      "recipient's fate. Exit: 0 delivered, 75 deferred, 69 refused, 2 usage.");
  std::vector<absl::string_view> list_flags = {"to", "tlsa", "notify"};
  for (absl::string_view flag : starling::tools::DestinationListFlags()) {
    list_flags.push_back(flag);
  }
  const std::vector<std::string> rest = starling::tools::ParseToolFlags(
      argc, argv, "tools/starling_send.cc", list_flags,
      {starling::tools::kDestinationFlagsFile});
  if (rest.size() > 1) {
    starling::Usage(absl::StrCat("unexpected argument \"", rest[1], "\""));
  }
  if (absl::GetFlag(FLAGS_server).empty()) return starling::DeliverToDomain();
  if (absl::GetFlag(FLAGS_sessions) == 0) return starling::SendOne();
  asio::io_context context(1);
  starling::Setup setup = starling::Configure(context);
  starling::Load load(context, setup);
  return load.Run();
}
