// The STARTTLS boundary is sacred (docs/properties.md, design.md): bytes that
// arrive in plaintext after STARTTLS (server side) or after the 220 reply to
// it (client side) are never read as commands or replies, before or after
// the handshake, however the network cuts them.
//
// Two layers:
//  - sessions alone with a fake handshake (cheap, many cases): the embedder
//    hands every plaintext byte to the session before it reports the
//    handshake, which is the worst an embedder can do;
//  - the real byte path: smtp sessions over core/starttls connections with real
//    tls::Channels and certificates from the test PKI, and a
//    man-in-the-middle that splices the tail into the plaintext stream right
//    after the STARTTLS line (client -> server) or right after the 220
//    (server -> client). Every stream is delivered in random pieces.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"
#include "core/smtp/reply.h"
#include "core/smtp/testing/scripted_server.h"
#include "core/smtp/server_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tls/channel.h"
#include "core/tls/rng.h"
#include "core/tls/testing/test_pki.h"
#include "core/tlsfacts/tls_facts.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "core/starttls/connection.h"

namespace starling::properties {
namespace {

using smtp::ClientEventType;
using smtp::ServerEventType;

const absl::Time kReference = absl::FromUnixSeconds(1700000000);

template <typename T>
rc::Gen<T> Uniform(T lo, T hi) {
  return rc::gen::resize(100, rc::gen::inRange<T>(lo, hi));
}

template <typename T>
rc::Gen<std::vector<T>> ListOf(size_t lo, size_t hi, rc::Gen<T> element) {
  return rc::gen::exec([=] {
    return *rc::gen::container<std::vector<T>>(*Uniform<size_t>(lo, hi), element);
  });
}

rc::Gen<std::string> Garbage() {
  return rc::gen::exec([] {
    return *rc::gen::container<std::string>(*Uniform<size_t>(1, 40),
                                            rc::gen::arbitrary<char>());
  });
}

rc::Gen<std::string> Joined(rc::Gen<std::string> piece, size_t max_pieces) {
  return rc::gen::map(ListOf(0, max_pieces, piece),
                      [](const std::vector<std::string>& pieces) {
                        return absl::StrJoin(pieces, "");
                      });
}

// What an attacker appends to the client's STARTTLS (CVE-2011-0411 class).
rc::Gen<std::string> CommandTail() {
  return Joined(
      rc::gen::weightedOneOf<std::string>({
          {6, rc::gen::element<std::string>(
                  "EHLO evil.example\r\n", "HELO evil.example\r\n",
                  "MAIL FROM:<evil@attacker.example>\r\n",
                  "RCPT TO:<victim@b.example>\r\n", "DATA\r\n",
                  "BDAT 5 LAST\r\nhello", "RSET\r\n", "NOOP\r\n", "QUIT\r\n",
                  "STARTTLS\r\n", "AUTH PLAIN AHUAcA==\r\n", "VRFY root\r\n")},
          {2, rc::gen::element<std::string>("FOO\r\n", "MAIL FROM:<>>\r\n",
                                            "NOOP\n", "RCPT TO:<a@b>\r",
                                            "\r\n", ".\r\n")},
          {2, rc::gen::element<std::string>("MAIL FRO", "EHLO", "R", "\r")},
          {2, Garbage()},
          // Bytes that look like the start of a TLS record.
          {1, rc::gen::element<std::string>(std::string("\x16\x03\x01\x00\x05", 5),
                                            std::string("\x15\x03\x03\x00\x02\x02\x28", 7))},
      }),
      8);
}

// What an attacker appends to the server's 220 (CVE-2021-22947 class).
rc::Gen<std::string> ReplyTail() {
  return Joined(
      rc::gen::weightedOneOf<std::string>({
          {6, rc::gen::element<std::string>(
                  "250-mx.b.example\r\n250-REQUIRETLS\r\n250 PIPELINING\r\n",
                  "250 2.0.0 OK\r\n", "250 2.1.5 OK\r\n", "354 go ahead\r\n",
                  "220 2.0.0 Ready to start TLS\r\n", "421 4.3.2 bye\r\n",
                  "535 5.7.8 no\r\n", "235 2.7.0 welcome\r\n")},
          {2, rc::gen::element<std::string>("25", "250-", "2", "\r\n", "250 x\n")},
          {2, Garbage()},
          {1, rc::gen::element<std::string>(std::string("\x16\x03\x03\x00\x02", 5),
                                            std::string("\x15\x03\x03\x00\x02\x02\x28", 7))},
      }),
      8);
}

// Splits `bytes` at the given offsets (sorted, deduplicated) into pieces.
std::vector<std::string> Cut(const std::string& bytes, std::vector<size_t> cuts) {
  for (size_t& c : cuts) c %= bytes.size() + 1;
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(bytes.size());
  std::vector<std::string> pieces;
  size_t pos = 0;
  for (size_t c : cuts) {
    if (c > pos) pieces.push_back(bytes.substr(pos, c - pos));
    pos = std::max(pos, c);
  }
  return pieces;
}

std::string Describe(const smtp::ServerEvent& e) {
  std::string out(smtp::ServerEventTypeName(e.type));
  if (e.type == ServerEventType::kHelo) absl::StrAppend(&out, " ", e.command.domain);
  if (e.command.path.has_value() && (e.type == ServerEventType::kMailFrom ||
                                     e.type == ServerEventType::kRcptTo)) {
    absl::StrAppend(&out, " ", e.command.path->ToString());
  }
  return out;
}

// ---- sessions alone, fake handshake --------------------------------------------

// The server gets EHLO, then (optionally behind a pipelined command) STARTTLS
// and the tail, cut anywhere. After its kStartTls no command event may
// appear until the handshake; after it, exactly the legitimate client's
// commands.
RC_GTEST_PROP(StartTlsBoundary, ServerNeverExecutesPlaintextTail, ()) {
  auto options = std::make_shared<smtp::ServerOptions>();
  options->hostname = "mx.b.example";
  options->offer_starttls = true;
  options->offer_pipelining = *rc::gen::arbitrary<bool>();
  options->auth_mechanisms = {"PLAIN"};
  options->auth_requires_tls = *rc::gen::arbitrary<bool>();
  const bool discard = *rc::gen::arbitrary<bool>();
  options->starttls_tail =
      discard ? smtp::StartTlsTail::kDiscard : smtp::StartTlsTail::kClose;
  const std::string prefix =
      *rc::gen::element<std::string>("", "", "NOOP\r\n", "RSET\r\n");
  const std::string tail = *CommandTail();
  const bool late_decisions = *rc::gen::arbitrary<bool>();
  const std::string stream = prefix + "STARTTLS\r\n" + tail;
  const std::vector<std::string> pieces =
      Cut(stream, *ListOf(0, 12, rc::gen::arbitrary<size_t>()));
  RC_TAG(tail.empty() ? "no tail" : "tail", discard ? "discard" : "close");

  smtp::ServerSession server(options);
  RC_ASSERT(server.AcceptConnection(kReference).ok());
  std::vector<std::string> log;
  bool saw_starttls = false;
  std::vector<std::string> between;  // events after kStartTls, before TLS
  auto drain = [&](bool decide) {
    while (!server.pending_decision() || decide) {
      const smtp::ServerEvent* e = server.NextEvent();
      if (e == nullptr) {
        if (server.pending_decision() && decide) {
          (void)server.Accept(kReference);
          continue;
        }
        break;
      }
      log.push_back(Describe(*e));
      if (e->type == ServerEventType::kStartTls) {
        saw_starttls = true;
      } else if (saw_starttls && e->type != ServerEventType::kClosed &&
                 e->type != ServerEventType::kMessageAborted) {
        between.push_back(Describe(*e));
      }
    }
  };
  RC_ASSERT(server.Receive("EHLO relay.a.example\r\n", kReference).ok());
  drain(true);
  for (const std::string& piece : pieces) {
    if (server.closed()) break;
    (void)server.Receive(piece, kReference);
    drain(!late_decisions);
  }
  drain(true);
  RC_LOG() << "events: " << absl::StrJoin(log, ", ") << "\nserver wrote: "
           << smtp::EscapeBytes(server.PendingOutput());

  // Nothing from the tail was executed between STARTTLS and the handshake.
  RC_ASSERT(between.empty());
  // Nothing was said in plaintext after the 220 to STARTTLS.
  const std::string said(server.PendingOutput());
  const size_t ready = said.find("220 2.0.0 Ready to start TLS\r\n");
  if (ready != std::string::npos) {
    RC_ASSERT(ready + 30 == said.size());
    RC_ASSERT(saw_starttls);
  }
  if (!saw_starttls) {
    // STARTTLS was refused or the session closed first (e.g. improper
    // pipelining): no boundary was crossed, nothing more to check.
    RC_TAG("no STARTTLS accepted");
    return;
  }
  if (!tail.empty() && !discard) {
    RC_ASSERT(server.closed());  // kClose: never goes on to the handshake
    return;
  }
  RC_ASSERT(server.state() == smtp::ServerState::kTlsHandshake);
  server.ConsumeOutput(said.size());
  RC_ASSERT(server.TlsEstablished(TlsFacts{}, kReference).ok());
  RC_ASSERT(server.helo_name().empty());
  log.clear();
  for (const char* line : {"EHLO relay.a.example\r\n", "MAIL FROM:<good@a.example>\r\n",
                           "RCPT TO:<bob@b.example>\r\n", "QUIT\r\n"}) {
    RC_ASSERT(server.Receive(line, kReference).ok());
    drain(true);
  }
  RC_ASSERT(log == (std::vector<std::string>{"helo relay.a.example",
                                             "mail-from good@a.example",
                                             "rcpt-to bob@b.example", "closed"}));
  // Only the replies to those four commands were sent inside TLS.
  const std::string inside(server.PendingOutput());
  RC_ASSERT(std::count(inside.begin(), inside.end(), '\n') >= 4);
  RC_ASSERT(absl::EndsWith(inside, "221 2.0.0 mx.b.example Bye\r\n"));
  RC_ASSERT(!absl::StrContains(inside, "evil"));
}

// The client reads the greeting, the EHLO reply and the 220 to STARTTLS
// followed by the injected tail, cut anywhere. With any tail it ends with a
// protocol error before the handshake; never does it act on the tail.
RC_GTEST_PROP(StartTlsBoundary, ClientNeverParsesInjectedReplies, ()) {
  const std::string tail = *ReplyTail();
  const bool pipelining = *rc::gen::arbitrary<bool>();
  // What the server says at each turn; the last turn carries the tail.
  const std::vector<std::string> turns = {
      "220 mx.b.example ESMTP\r\n",
      absl::StrCat("250-mx.b.example\r\n", pipelining ? "250-PIPELINING\r\n" : "",
                   "250 STARTTLS\r\n"),
      absl::StrCat("220 2.0.0 Ready to start TLS\r\n", tail)};
  std::vector<std::vector<std::string>> pieces;
  for (const std::string& turn : turns) {
    pieces.push_back(Cut(turn, *ListOf(0, 6, rc::gen::arbitrary<size_t>())));
  }
  RC_TAG(tail.empty() ? "no tail" : "tail");

  auto options = std::make_shared<smtp::ClientOptions>();
  options->helo_name = "relay.a.example";
  smtp::OutboundMessage message;
  message.sender = smtp::Mailbox{"alice", "a.example"};
  message.recipients.push_back({smtp::Mailbox{"bob", "b.example"}, {}});
  message.body = std::make_shared<smtp::StringBodySource>("hi\r\n");
  std::vector<smtp::OutboundMessage> messages;
  messages.push_back(std::move(message));
  smtp::OpportunisticTlsPolicy policy;
  auto client = *smtp::ClientSession::Create(options, {"b.example", "mx.b.example"},
                                              &policy, std::move(messages), kReference);
  std::string written;
  bool starttls_event = false;
  for (const std::vector<std::string>& turn : pieces) {
    for (const std::string& piece : turn) {
      if (client->closed()) break;
      (void)client->Receive(piece, kReference);
      written += std::string(client->PendingOutput());
      client->ConsumeOutput(client->PendingOutput().size(), kReference);
      while (auto e = client->NextEvent()) {
        starttls_event |= e->type == ClientEventType::kStartTls;
      }
    }
  }
  RC_LOG() << "client wrote: " << smtp::EscapeBytes(written)
           << "\nclient status: " << client->fatal_error();
  // Whatever happened, nothing was written after STARTTLS in plaintext, and
  // no capability or reply came from the tail.
  RC_ASSERT(absl::EndsWith(written, "STARTTLS\r\n"));
  RC_ASSERT(!client->capabilities().requiretls);
  RC_ASSERT(client->results()[0].recipients[0].status !=
            smtp::RecipientStatus::kDelivered);
  if (tail.empty()) {
    RC_ASSERT(starttls_event);
    RC_ASSERT(client->state() == smtp::ClientState::kTlsHandshake);
    RC_ASSERT(client->TlsEstablished(TlsFacts{}, kReference).ok());
    RC_ASSERT(client->PendingOutput() == "EHLO relay.a.example\r\n");
    return;
  }
  RC_ASSERT(client->closed());
  RC_ASSERT(absl::StrContains(client->fatal_error().message(), "injection"));
  RC_ASSERT(client->results()[0].recipients[0].status ==
            smtp::RecipientStatus::kTempFailed);
}

// ---- the real byte path: core/starttls + tls::Channel + test PKI ---------------------

const tls::testing::TestPki& Pki() {
  static const std::shared_ptr<const tls::testing::TestPki> pki =
      tls::testing::TestPki::Get(7, kReference, "mx.b.example");
  return *pki;
}

struct Wire {
  std::string bytes;
  std::vector<size_t> pieces;  // delivery sizes, cycled
  size_t next = 0;
  size_t Take() {
    const size_t n = pieces.empty() ? bytes.size() : pieces[next++ % pieces.size()];
    return std::min(std::max<size_t>(n, 1), bytes.size());
  }
};

enum class Attack : uint8_t { kCommandTail, kReplyTail };

// One client and one server connection (core/starttls: real STARTTLS over
// real tls::Channels), a man-in-the-middle splicing `tail` into one
// direction at the boundary.
class MitmConnection {
 public:
  MitmConnection(Attack attack, std::string tail, smtp::StartTlsTail mode,
                 uint64_t seed, std::vector<size_t> c2s, std::vector<size_t> s2c)
      : attack_(attack), tail_(std::move(tail)) {
    to_server_.pieces = std::move(c2s);
    to_client_.pieces = std::move(s2c);
    auto server_options = std::make_shared<smtp::ServerOptions>();
    server_options->hostname = "mx.b.example";
    server_options->offer_starttls = true;
    server_options->starttls_tail = mode;
    tls::ChannelOptions server_tls;
    server_tls.role = tls::Role::kServer;
    server_tls.identities = {Pki().identity(tls::testing::CertKind::kGood)};
    server_tls.rng = tls::SeededRng(seed, "server");
    server_ = std::make_unique<starttls::ServerConnection>(
        starttls::ServerConnection::Options{server_options, server_tls});

    auto client_options = std::make_shared<smtp::ClientOptions>();
    client_options->helo_name = "relay.a.example";
    smtp::OutboundMessage message;
    message.sender = smtp::Mailbox{"alice", "a.example"};
    message.recipients.push_back({smtp::Mailbox{"bob", "b.example"}, {}});
    message.body = std::make_shared<smtp::StringBodySource>("Subject: t\r\n\r\n.dot\r\n");
    std::vector<smtp::OutboundMessage> messages;
    messages.push_back(std::move(message));
    tls::ChannelOptions client_tls;
    client_tls.role = tls::Role::kClient;
    client_tls.trust = Pki().trust_store();
    client_tls.rng = tls::SeededRng(seed, "client");
    client_ = *starttls::ClientConnection::Create(
        {client_options, {"b.example", "mx.b.example"}, client_tls}, &policy_,
        std::move(messages), kReference);
    Note("accept", server_->AcceptConnection(kReference));
  }

  void Run() {
    for (int guard = 0; guard < 100000; ++guard) {
      bool progress = ClientTurn();
      progress |= ServerTurn();
      progress |= Deliver(&to_server_, /*to_server=*/true);
      progress |= Deliver(&to_client_, /*to_server=*/false);
      if (!progress) break;
    }
    if (!client_->session().closed()) {
      client_->ConnectionLost("no progress", kReference);
    }
  }

  // Observations.
  const smtp::ClientSession& client() const { return client_->session(); }
  const smtp::ServerSession& server() const { return server_->session(); }
  const std::vector<std::string>& server_before_tls() const { return server_before_; }
  const std::vector<std::string>& server_after_tls() const { return server_after_; }
  const std::string& body() const { return body_; }
  const std::string& client_clear() const { return client_clear_; }
  const std::string& server_clear() const { return server_clear_; }
  bool client_tls_up() const { return client_->handshake_facts().has_value(); }
  bool server_tls_up() const { return server_->session().tls() != nullptr; }
  bool injected() const { return injected_; }
  bool client_tls_failed() const { return client_->tls_failure().has_value(); }
  const std::vector<std::string>& errors() const { return errors_; }
  bool server_tls_failed() const { return server_->tls_failure().has_value(); }

 private:
  bool ClientTurn() {
    bool progress = false;
    while (client_->NextEvent()) progress = true;
    const std::string out(client_->PendingWire());
    if (out.empty()) return progress;
    Carry(client_->pipe(), out, &to_server_, &client_clear_,
          attack_ == Attack::kCommandTail ? "STARTTLS\r\n" : "");
    client_->ConsumeWire(out.size(), kReference);
    return true;
  }

  bool ServerTurn() {
    bool progress = false;
    while (const smtp::ServerEvent* e = server_->NextEvent()) {
      progress = true;
      // After the server's STARTTLS event, with TLS up: it came over TLS (a
      // failed handshake's "closed" did not).
      const bool over_tls =
          after_starttls_ && server_->session().tls() != nullptr;
      (over_tls ? server_after_ : server_before_).push_back(Describe(*e));
      switch (e->type) {
        case ServerEventType::kMessageData:
          body_ += e->data;
          break;
        case ServerEventType::kStartTls:
          after_starttls_ = true;
          break;
        case ServerEventType::kMessageAborted:
        case ServerEventType::kClosed:
          break;
        default:
          Note("server accept", server_->Accept(kReference));
      }
    }
    const std::string out(server_->PendingWire());
    if (out.empty()) return progress;
    Carry(server_->pipe(), out, &to_client_, &server_clear_,
          attack_ == Attack::kReplyTail ? "Ready to start TLS\r\n" : "");
    server_->ConsumeWire(out.size());
    return true;
  }

  // Puts wire output on a wire; the man in the middle adds the tail right
  // after the plaintext ending in `boundary`.
  void Carry(const starttls::TlsPipe& pipe, absl::string_view out, Wire* wire,
             std::string* clear, absl::string_view boundary) {
    const uint64_t at = pipe.network_consumed();
    const size_t in_clear =
        pipe.tls_start() <= at
            ? 0
            : static_cast<size_t>(std::min<uint64_t>(out.size(), pipe.tls_start() - at));
    clear->append(out.data(), in_clear);
    wire->bytes.append(out.data(), in_clear);
    if (!injected_ && !boundary.empty() && absl::EndsWith(*clear, boundary)) {
      injected_ = true;
      wire->bytes += tail_;
    }
    wire->bytes.append(out.data() + in_clear, out.size() - in_clear);
  }

  bool Deliver(Wire* wire, bool to_server) {
    if (wire->bytes.empty()) return false;
    const size_t n = wire->Take();
    const std::string piece = wire->bytes.substr(0, n);
    wire->bytes.erase(0, n);
    if (to_server) {
      if (server_->finished()) return true;  // dropped
      const bool clear = server_->pipe().channel() == nullptr;
      const absl::Status status = server_->ReceiveWire(piece, kReference);
      if (clear) Note("server receive", status);
    } else {
      if (client_->finished()) return true;
      const bool clear = client_->pipe().channel() == nullptr;
      const absl::Status status = client_->ReceiveWire(piece, kReference);
      if (clear) Note("client receive", status);
    }
    return true;
  }

  void Note(absl::string_view what, const absl::Status& status) {
    if (!status.ok()) errors_.push_back(absl::StrCat(what, ": ", status.ToString()));
  }

  Attack attack_;
  std::string tail_;
  bool injected_ = false;
  bool after_starttls_ = false;
  smtp::OpportunisticTlsPolicy policy_;
  std::unique_ptr<starttls::ClientConnection> client_;
  std::unique_ptr<starttls::ServerConnection> server_;
  Wire to_server_;
  Wire to_client_;
  std::string client_clear_;
  std::string server_clear_;
  std::vector<std::string> server_before_;
  std::vector<std::string> server_after_;
  std::string body_;
  std::vector<std::string> errors_;
};

rc::Gen<std::vector<size_t>> Pieces() {
  return ListOf(1, 8, rc::gen::weightedOneOf<size_t>(
                          {{3, Uniform<size_t>(1, 8)},
                           {3, Uniform<size_t>(1, 200)},
                           {2, rc::gen::just<size_t>(100000)}}));
}

const std::vector<std::string> kLegitimateAfterTls = {
    "helo relay.a.example", "mail-from alice@a.example", "rcpt-to bob@b.example",
    "message-data", "message-complete", "closed"};

RC_GTEST_PROP(StartTlsBoundaryRealTls, ServerNeverExecutesInjectedCommands, ()) {
  const std::string tail = *CommandTail();
  const bool discard = *rc::gen::arbitrary<bool>();
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  MitmConnection c(Attack::kCommandTail, tail,
                   discard ? smtp::StartTlsTail::kDiscard : smtp::StartTlsTail::kClose,
                   seed, *Pieces(), *Pieces());
  c.Run();
  RC_LOG() << "server before TLS: " << absl::StrJoin(c.server_before_tls(), ", ")
           << "\nserver after TLS: " << absl::StrJoin(c.server_after_tls(), ", ")
           << "\nserver clear: " << smtp::EscapeBytes(c.server_clear())
           << "\nclient clear: " << smtp::EscapeBytes(c.client_clear());
  RC_ASSERT(c.injected());
  const auto delivered = c.client().results()[0].recipients[0].status ==
                         smtp::RecipientStatus::kDelivered;
  RC_TAG(tail.empty() ? "no tail" : "tail", discard ? "discard" : "close",
         delivered ? "delivered" : "not delivered");

  // Before TLS the server acted on the client's EHLO and STARTTLS only.
  for (const std::string& e : c.server_before_tls()) {
    RC_ASSERT(e == "helo relay.a.example" || e == "starttls" || e == "closed");
  }
  // It said nothing in plaintext after its 220 to STARTTLS.
  const size_t ready = c.server_clear().find("220 2.0.0 Ready to start TLS\r\n");
  if (ready != std::string::npos) {
    RC_ASSERT(ready + 30 == c.server_clear().size());
  }
  // After TLS: exactly the legitimate conversation, or nothing at all.
  if (tail.empty()) {
    RC_ASSERT(c.errors().empty());
    RC_ASSERT(c.server_after_tls() == kLegitimateAfterTls);
    RC_ASSERT(delivered);
    RC_ASSERT(c.body() == "Subject: t\r\n\r\n.dot\r\n");
    return;
  }
  if (!c.server_after_tls().empty()) {
    RC_ASSERT(discard);  // kClose never lets a handshake follow a tail
    RC_ASSERT(c.server_after_tls() == kLegitimateAfterTls);
    RC_ASSERT(c.body() == "Subject: t\r\n\r\n.dot\r\n");
  } else {
    RC_ASSERT(!delivered);
  }
}

RC_GTEST_PROP(StartTlsBoundaryRealTls, ClientNeverReadsInjectedReplies, ()) {
  const std::string tail = *ReplyTail();
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  MitmConnection c(Attack::kReplyTail, tail, smtp::StartTlsTail::kClose, seed,
                   *Pieces(), *Pieces());
  c.Run();
  RC_LOG() << "server before TLS: " << absl::StrJoin(c.server_before_tls(), ", ")
           << "\nserver after TLS: " << absl::StrJoin(c.server_after_tls(), ", ")
           << "\nclient status: " << c.client().fatal_error()
           << "\nclient clear: " << smtp::EscapeBytes(c.client_clear())
           << "\nerrors: " << absl::StrJoin(c.errors(), "; ");
  RC_ASSERT(c.injected());
  const smtp::RecipientResult& result = c.client().results()[0].recipients[0];
  RC_TAG(tail.empty()                  ? "no tail"
         : c.client().fatal_error().ok() ? "tail: TLS failed or stalled"
                                         : "tail: injection detected");

  // The client never wrote in plaintext after STARTTLS.
  RC_ASSERT(absl::EndsWith(c.client_clear(), "STARTTLS\r\n"));
  if (tail.empty()) {
    RC_ASSERT(c.errors().empty());
    RC_ASSERT(c.client_tls_up());
    RC_ASSERT(result.status == smtp::RecipientStatus::kDelivered);
    RC_ASSERT(c.server_after_tls() == kLegitimateAfterTls);
    return;
  }
  // With a tail, no TLS session (the tail came before the server's first TLS
  // byte), no delivery, no command reached the server after STARTTLS.
  RC_ASSERT(!c.client_tls_up());
  RC_ASSERT(result.status == smtp::RecipientStatus::kTempFailed);
  RC_ASSERT(c.server_after_tls().empty());
  for (const std::string& e : c.server_before_tls()) {
    RC_ASSERT(e == "helo relay.a.example" || e == "starttls" || e == "closed");
  }
  // When the tail came in the same read as the 220, the session says why.
  if (!c.client_tls_failed()) {
    RC_ASSERT(!c.client().fatal_error().ok() || c.client().closed());
  }
}

}  // namespace
}  // namespace starling::properties
