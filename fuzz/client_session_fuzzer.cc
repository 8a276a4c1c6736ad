// The outbound session against an arbitrary (hostile) server: the fuzzer
// writes the server's bytes, cuts them, moves time, answers the TLS policy
// and the handshake. Invariants (abort on violation):
//  - under a mandatory verdict nothing but EHLO/HELO/STARTTLS/QUIT/RSET is
//    ever written before TLS: no AUTH, MAIL, RCPT, DATA, BDAT or body byte;
//  - the client never writes a bare CR or LF, a command over 512 octets or a
//    body line over 1000;
//  - a fatal error is sticky and typed; once closed, every recipient has a
//    result;
//  - an 8-bit octet never leaves without BODY=8BITMIME having been declared.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/smtp/client_session.h"
#include "fuzz/fuzz_input.h"

namespace {

using starling::fuzz::FuzzInput;
using starling::fuzz::Require;
using namespace starling::smtp;  // NOLINT: a fuzz harness, not an API
using starling::TlsFacts;

// Policy answers drawn from the fuzzer's bytes.
class FuzzPolicy : public TlsPolicyHook {
 public:
  FuzzPolicy(FuzzInput* in, bool mandatory) : in_(in), mandatory_(mandatory) {}

  StartTlsIntent AfterEhlo(const Destination&, const EhloCapabilities&) override {
    StartTlsIntent intent;
    intent.attempt = mandatory_ || in_->Below(4) != 0;
    intent.mandatory = mandatory_;
    intent.sni = "mx.fuzz.example";
    return intent;
  }
  PolicyDecision AfterHandshake(const Destination&, const TlsFacts&) override {
    return Decide();
  }
  PolicyDecision WithoutTls(const Destination&, TlsProblem,
                            absl::string_view) override {
    return Decide();
  }
  PolicyDecision ForMessage(const Destination&, const MessageTlsFlags&,
                            const EhloCapabilities&, const TlsFacts*,
                            const PolicyDecision& connection) override {
    return in_->Below(8) == 0 ? Decide() : connection;
  }

 private:
  PolicyDecision Decide() {
    PolicyDecision decision;
    decision.verdict = static_cast<DeliveryVerdict>(in_->Below(5));
    decision.label = "fuzz";
    return decision;
  }
  FuzzInput* in_;
  bool mandatory_;
};

// Checks every complete line the client wrote.
struct WireCheck {
  std::string plaintext;  // everything that left before TLS
  std::string partial;                    // an unfinished line
  bool in_body = false;

  void Observe(absl::string_view bytes) {
    for (char c : bytes) {
      partial.push_back(c);
      if (c != '\n') {
        Require(partial.size() <= 1000);
        continue;
      }
      // Only CRLF ends a line; no bare CR anywhere before it.
      Require(partial.size() >= 2 && partial[partial.size() - 2] == '\r');
      Require(partial.find('\r') == partial.size() - 2);
      partial.clear();
    }
  }
};

bool AllowedInPlaintext(absl::string_view line) {
  return absl::StartsWith(line, "EHLO ") || absl::StartsWith(line, "HELO ") ||
         line == "STARTTLS\r\n" || line == "QUIT\r\n" || line == "RSET\r\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t flags = in.Byte();
  const bool mandatory = flags & 1;
  auto options = std::make_shared<ClientOptions>();
  options->helo_name = "relay.fuzz.example";
  options->use_pipelining = flags & 2;
  options->prefer_bdat = flags & 4;
  options->bdat_chunk_size = 1 + in.Below(64);
  options->output_high_water = 1 + in.Below(512);
  if (flags & 8) {
    options->auth_username = "relay";
    options->auth_password = "pw";
    options->auth_in_plaintext = flags & 16;
  }
  FuzzPolicy policy(&in, mandatory);

  std::vector<OutboundMessage> messages;
  for (int m = 0; m < 2; ++m) {
    OutboundMessage message;
    message.sender = Mailbox{"a", "a.fuzz.example"};
    message.recipients.push_back({Mailbox{"b", "b.fuzz.example"}, {}});
    message.recipients.push_back({Mailbox{"c", "b.fuzz.example"}, {}});
    message.tls_flags.requiretls = flags & 32;
    message.size = 40;
    message.body = std::make_shared<StringBodySource>(
        (flags & 64) && m == 1 ? ".leading dot\n8-bit \xe9t\xe9\r\n.\r\nend"
                               : ".leading dot\nbare LF\rbare CR\r\n.\r\nend");
    messages.push_back(std::move(message));
  }
  absl::Time now = absl::FromUnixSeconds(1700000000);
  auto created = ClientSession::Create(options, {"fuzz.example", "mx.fuzz.example"},
                                       &policy, std::move(messages), now);
  Require(created.ok());
  ClientSession& client = **created;

  WireCheck wire;
  std::string all_sent;
  absl::Status fatal;
  auto drain = [&](size_t max) {
    const absl::string_view out = client.PendingOutput();
    const size_t n = std::min(max, out.size());
    const absl::string_view sent = out.substr(0, n);
    wire.Observe(sent);
    all_sent.append(sent.data(), sent.size());
    if (client.tls() == nullptr) wire.plaintext.append(sent.data(), sent.size());
    client.ConsumeOutput(n, now);
  };
  for (int steps = 0; !in.empty() && steps < 2048; ++steps) {
    switch (in.Below(8)) {
      case 0: case 1: case 2: case 3: {
        const absl::Status status = client.Receive(in.Bytes(1 + in.Below(120)), now);
        if (!fatal.ok()) Require(status == fatal);
        if (status.code() == absl::StatusCode::kAborted) fatal = status;
        break;
      }
      case 4:
        now += absl::Seconds(in.Below(900));
        (void)client.OnTimeout(now);
        break;
      case 5:
        if (client.state() == ClientState::kTlsHandshake) {
          drain(SIZE_MAX);  // the STARTTLS exchange is over before TLS starts
          if (in.Below(4) != 0) {
            Require(client.TlsEstablished(TlsFacts{}, now).ok());
          } else {
            Require(client.TlsFailed("fuzz", now).ok());
          }
        } else if (client.state() == ClientState::kEhlo &&
                   client.tls() != nullptr && in.Below(4) == 0) {
          // The server's alert right after the handshake: accepted (and
          // judged as the handshake's failure) until a reply came over TLS.
          const absl::Status status = client.TlsFailed("fuzz alert", now);
          Require(status.ok() ||
                  status.code() == absl::StatusCode::kFailedPrecondition);
        }
        break;
      case 6:
        if (in.Below(32) == 0) client.ConnectionLost("fuzz", now);
        break;
      default:
        drain(in.Below(600));
        break;
    }
    while (client.NextEvent().has_value()) {
    }
  }
  drain(SIZE_MAX);
  // Under a mandatory policy, plaintext carried only the allowed commands.
  absl::string_view clear = wire.plaintext;
  while (mandatory && !clear.empty()) {
    const size_t lf = clear.find('\n');
    if (lf == absl::string_view::npos) {
      // A line cut short by an abort: it must be the start of an allowed one.
      bool prefix = false;
      for (absl::string_view allowed :
           {"EHLO ", "HELO ", "STARTTLS\r\n", "QUIT\r\n", "RSET\r\n"}) {
        prefix |= absl::StartsWith(allowed, clear) ||
                  (absl::EndsWith(allowed, " ") && absl::StartsWith(clear, allowed));
      }
      Require(prefix);
      break;
    }
    const absl::string_view line = clear.substr(0, lf + 1);
    Require(AllowedInPlaintext(line));
    clear.remove_prefix(line.size());
  }
  if (!fatal.ok()) Require(client.fatal_reason() != SessionError::kNone);
  if (std::any_of(all_sent.begin(), all_sent.end(),
                  [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    Require(absl::StrContains(all_sent, " BODY=8BITMIME"));
  }
  if (client.closed()) {
    for (const MessageResult& m : client.results()) {
      for (const RecipientResult& r : m.recipients) {
        Require(r.status != RecipientStatus::kPending);
      }
    }
  }
  return 0;
}
