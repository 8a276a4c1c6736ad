// Model-based test of the client session (rc::state). The model is a server
// whose verdicts were drawn at random: which senders it refuses, which
// recipients it refuses or defers, which messages it refuses or defers at end
// of data. From that table the model predicts every recipient's final result.
// The commands move bytes between the client and a server session that
// follows the table, in random amounts; after every command no result may
// contradict the prediction, and at the end every result must equal it.
// A second property: cutting the bytes differently changes no result, over
// an in-memory connection. A third: the same server bytes, replayed in any
// segmentation - with or without a surplus reply slipped in anywhere - give
// identical per-recipient results (the reply to the oldest outstanding
// command decides, never the timing).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/smtp/client_session.h"
#include "core/smtp/testing/loopback.h"
#include "core/smtp/testing/scripted_client.h"
#include "core/smtp/testing/scripted_server.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"
#include "rapidcheck/state.h"

namespace starling::smtp {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

enum class Verdict : int { kAccept, kTemp, kPerm };

struct Expected {
  RecipientStatus status;
  ClientStage stage;
  friend bool operator==(const Expected&, const Expected&) = default;
};

// The model server's verdict table and what it implies.
struct World {
  std::vector<Verdict> mail;                     // per message
  std::vector<std::vector<Verdict>> rcpt;        // per message, per recipient
  std::vector<Verdict> message;                  // at end of data
  bool pipelining = true;
  bool chunking = true;
  bool prefer_bdat = false;

  static std::string Sender(size_t m) { return absl::StrCat("s", m, "@a.example"); }
  static std::string Recipient(size_t m, size_t r) {
    return absl::StrCat("m", m, "r", r, "@b.example");
  }

  Expected Predict(size_t m, size_t r) const {
    if (mail[m] == Verdict::kPerm) return {RecipientStatus::kPermFailed, ClientStage::kMail};
    if (mail[m] == Verdict::kTemp) return {RecipientStatus::kTempFailed, ClientStage::kMail};
    if (rcpt[m][r] == Verdict::kPerm) return {RecipientStatus::kPermFailed, ClientStage::kRcpt};
    if (rcpt[m][r] == Verdict::kTemp) return {RecipientStatus::kTempFailed, ClientStage::kRcpt};
    switch (message[m]) {
      case Verdict::kAccept: return {RecipientStatus::kDelivered, ClientStage::kEndOfData};
      case Verdict::kTemp: return {RecipientStatus::kTempFailed, ClientStage::kEndOfData};
      case Verdict::kPerm: return {RecipientStatus::kPermFailed, ClientStage::kEndOfData};
    }
    return {};
  }

  ServerScript Script() const {
    ServerScript script;
    for (size_t m = 0; m < mail.size(); ++m) {
      // The scripted server rejects senders permanently; model temp MAIL
      // failures as perm here and keep the table honest.
      if (mail[m] != Verdict::kAccept) script.reject_senders.insert(Sender(m));
      if (message[m] == Verdict::kPerm) script.reject_messages_from.insert(Sender(m));
      if (message[m] == Verdict::kTemp) script.defer_messages_from.insert(Sender(m));
      for (size_t r = 0; r < rcpt[m].size(); ++r) {
        if (rcpt[m][r] == Verdict::kPerm) script.reject_recipients.insert(Recipient(m, r));
        if (rcpt[m][r] == Verdict::kTemp) script.defer_recipients.insert(Recipient(m, r));
      }
    }
    return script;
  }

  std::vector<OutboundMessage> Messages() const {
    std::vector<OutboundMessage> messages;
    for (size_t m = 0; m < mail.size(); ++m) {
      OutboundMessage message;
      message.sender = Mailbox{absl::StrCat("s", m), "a.example"};
      for (size_t r = 0; r < rcpt[m].size(); ++r) {
        message.recipients.push_back(
            {Mailbox{absl::StrCat("m", m, "r", r), "b.example"}, {}});
      }
      message.body = std::make_shared<StringBodySource>(
          absl::StrCat("Subject: ", m, "\r\n\r\n.dot\nbody ", m, "\r\n"));
      messages.push_back(std::move(message));
    }
    return messages;
  }
};

rc::Gen<Verdict> GenVerdict() {
  return rc::gen::weightedOneOf<Verdict>({{6, rc::gen::just(Verdict::kAccept)},
                                          {1, rc::gen::just(Verdict::kTemp)},
                                          {1, rc::gen::just(Verdict::kPerm)}});
}

rc::Gen<World> GenWorld() {
  return rc::gen::exec([] {
    World world;
    const size_t messages = *rc::gen::inRange<size_t>(1, 4);
    for (size_t m = 0; m < messages; ++m) {
      const Verdict mail = *GenVerdict();
      // MAIL refusals are permanent in the scripted server.
      world.mail.push_back(mail == Verdict::kAccept ? Verdict::kAccept : Verdict::kPerm);
      world.rcpt.push_back(*rc::gen::container<std::vector<Verdict>>(
          *rc::gen::inRange<size_t>(1, 4), GenVerdict()));
      world.message.push_back(*GenVerdict());
    }
    world.pipelining = *rc::gen::arbitrary<bool>();
    world.chunking = *rc::gen::arbitrary<bool>();
    world.prefer_bdat = *rc::gen::arbitrary<bool>();
    return world;
  });
}

struct Sut {
  explicit Sut(const World& world) {
    auto server_options = std::make_shared<ServerOptions>();
    server_options->hostname = "mx.b.example";
    server_options->offer_starttls = true;
    server_options->offer_pipelining = world.pipelining;
    server_options->offer_chunking = world.chunking;
    auto client_options = std::make_shared<ClientOptions>();
    client_options->helo_name = "relay.a.example";
    client_options->prefer_bdat = world.prefer_bdat;
    client_options->bdat_chunk_size = 7;
    client = *ClientSession::Create(client_options,
                                    {"b.example", "mx.b.example"}, &policy,
                                    world.Messages(), kStart);
    server = std::make_unique<ScriptedServer>(server_options, world.Script(), kStart);
  }

  void PumpEvents() {
    while (auto event = client->NextEvent()) {
      if (event->type == ClientEventType::kStartTls) {
        RC_ASSERT(client->TlsEstablished(TlsFacts{}, kStart).ok());
      }
    }
  }

  void ClientToServer(size_t n) {
    const absl::string_view out = client->PendingOutput();
    n = std::min(n, out.size());
    if (n == 0) return;
    const std::string piece(out.substr(0, n));
    client->ConsumeOutput(n, kStart);
    if (!server->session().closed()) RC_ASSERT(server->Feed(piece).ok());
    PumpEvents();
  }

  void ServerToClient(size_t n) {
    const std::string& bytes = server->server_bytes();
    n = std::min(n, bytes.size() - delivered);
    if (n == 0 || client->closed()) return;
    RC_ASSERT(client->Receive(absl::string_view(bytes).substr(delivered, n), kStart).ok());
    delivered += n;
    PumpEvents();
  }

  OpportunisticTlsPolicy policy;
  std::unique_ptr<ClientSession> client;
  std::unique_ptr<ScriptedServer> server;
  size_t delivered = 0;
};

struct Model {
  World world;
};

// No result may contradict the model's prediction, at any time.
void CheckAgainstModel(const Model& model, const Sut& sut, bool final) {
  const auto& results = sut.client->results();
  for (size_t m = 0; m < results.size(); ++m) {
    for (size_t r = 0; r < results[m].recipients.size(); ++r) {
      const RecipientResult& got = results[m].recipients[r];
      if (got.status == RecipientStatus::kPending) {
        RC_ASSERT(!final);
        continue;
      }
      const Expected want = model.world.Predict(m, r);
      RC_ASSERT((Expected{got.status, got.stage} == want));
    }
  }
}

struct MoveToServer : rc::state::Command<Model, Sut> {
  size_t n = *rc::gen::inRange<size_t>(1, 200);
  void run(const Model& model, Sut& sut) const override {
    sut.ClientToServer(n);
    CheckAgainstModel(model, sut, false);
  }
  void show(std::ostream& os) const override { os << "client->server " << n; }
};

struct MoveToClient : rc::state::Command<Model, Sut> {
  size_t n = *rc::gen::inRange<size_t>(1, 200);
  void run(const Model& model, Sut& sut) const override {
    sut.ServerToClient(n);
    CheckAgainstModel(model, sut, false);
  }
  void show(std::ostream& os) const override { os << "server->client " << n; }
};

RC_GTEST_PROP(ClientSessionModel, ResultsFollowTheServersVerdicts, ()) {
  Model model{*GenWorld()};
  Sut sut(model.world);
  rc::state::check(model, sut,
                   rc::state::gen::execOneOfWithArgs<MoveToServer, MoveToClient>());
  // Let the conversation finish, then every result must be the predicted one.
  for (int i = 0; i < 100000 && !sut.client->closed(); ++i) {
    sut.ClientToServer(SIZE_MAX);
    sut.ServerToClient(SIZE_MAX);
  }
  RC_ASSERT(sut.client->closed());
  CheckAgainstModel(model, sut, true);
  RC_ASSERT(sut.server->messages_accepted() ==
            static_cast<size_t>(std::count_if(
                sut.client->results().begin(), sut.client->results().end(),
                [](const MessageResult& m) {
                  for (const auto& r : m.recipients) {
                    if (r.status == RecipientStatus::kDelivered) return true;
                  }
                  return false;
                })));
}

RC_GTEST_PROP(ClientSessionProperty, ChunkingChangesNoResult, ()) {
  const World world = *GenWorld();
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  auto run = [&](bool chunked) {
    LoopbackConfig config;
    auto server_options = std::make_shared<ServerOptions>();
    server_options->offer_starttls = true;
    server_options->offer_pipelining = world.pipelining;
    server_options->offer_chunking = world.chunking;
    auto client_options = std::make_shared<ClientOptions>();
    client_options->prefer_bdat = world.prefer_bdat;
    config.server_options = server_options;
    config.client_options = client_options;
    config.server_script = world.Script();
    config.destination = {"b.example", "mx.b.example"};
    uint64_t state = seed;
    if (chunked) {
      config.chunker = [state](size_t available) mutable {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return 1 + (state >> 33) % available;
      };
    }
    OpportunisticTlsPolicy policy;
    absl::StatusOr<LoopbackOutcome> outcome =
        RunLoopback(config, &policy, world.Messages(), kStart);
    RC_ASSERT(outcome.ok());
    std::vector<std::string> summary;
    for (const MessageResult& m : outcome->results) {
      for (const RecipientResult& r : m.recipients) {
        summary.push_back(absl::StrCat(r.mailbox.ToString(), " ",
                                       RecipientStatusName(r.status), " ",
                                       ClientStageName(r.stage), " ", r.reply.code));
      }
    }
    return summary;
  };
  RC_ASSERT(run(true) == run(false));
}

// Each recipient's status and reply code; with `stage`, where it was decided.
std::vector<std::string> Summary(const std::vector<MessageResult>& results,
                                 bool stage = true) {
  std::vector<std::string> out;
  for (const MessageResult& m : results) {
    for (const RecipientResult& r : m.recipients) {
      out.push_back(absl::StrCat(r.mailbox.ToString(), " ",
                                 RecipientStatusName(r.status), " ",
                                 stage ? ClientStageName(r.stage) : "", " ",
                                 r.reply.code));
    }
  }
  return out;
}

std::shared_ptr<ClientOptions> ReplayClientOptions(const World& world) {
  auto options = std::make_shared<ClientOptions>();
  options->helo_name = "relay.a.example";
  options->prefer_bdat = world.prefer_bdat;
  options->bdat_chunk_size = 7;
  return options;
}

// An honest server's bytes, recorded from a real exchange (no STARTTLS: a
// replayed handshake is not an honest one), and the results it gave.
std::pair<std::string, std::vector<std::string>> Record(const World& world) {
  auto server_options = std::make_shared<ServerOptions>();
  server_options->hostname = "mx.b.example";
  server_options->offer_pipelining = world.pipelining;
  server_options->offer_chunking = world.chunking;
  OpportunisticTlsPolicy policy;
  auto client = *ClientSession::Create(ReplayClientOptions(world),
                                       {"b.example", "mx.b.example"}, &policy,
                                       world.Messages(), kStart);
  ScriptedServer server(server_options, world.Script(), kStart);
  size_t delivered = 0;
  for (int i = 0; i < 100000 && !client->closed(); ++i) {
    const std::string out(client->PendingOutput());
    client->ConsumeOutput(out.size(), kStart);
    if (!out.empty() && !server.session().closed()) (void)server.Feed(out);
    const std::string& bytes = server.server_bytes();
    if (delivered < bytes.size()) {
      (void)client->Receive(absl::string_view(bytes).substr(delivered), kStart);
      delivered = bytes.size();
    } else if (out.empty()) {
      client->ConnectionLost("server closed", kStart);
    }
    while (client->NextEvent()) {
    }
  }
  return {server.server_bytes(), Summary(client->results())};
}

// Replays `bytes` against a fresh client: politely (reply by reply), in one
// piece, or cut at `cuts`; the client's output is drained after each piece.
std::vector<std::string> Replay(const World& world, absl::string_view bytes,
                                int mode, const std::vector<size_t>& cuts,
                                bool stage) {
  OpportunisticTlsPolicy policy;
  auto session = *ClientSession::Create(ReplayClientOptions(world),
                                        {"b.example", "mx.b.example"}, &policy,
                                        world.Messages(), kStart);
  ScriptedClient client(std::move(session), ScriptedClient::Tls{});
  if (mode == 0) {
    (void)client.FeedPolitely(bytes);
  } else if (mode == 1) {
    (void)client.Feed(bytes);
  } else {
    size_t pos = 0;
    for (size_t cut : cuts) {
      if (client.session().closed()) break;
      (void)client.Feed(bytes.substr(pos, cut - pos));
      pos = cut;
    }
    if (!client.session().closed()) (void)client.Feed(bytes.substr(pos));
  }
  client.Hangup();
  return Summary(client.session().results(), stage);
}

RC_GTEST_PROP(ClientSessionProperty, SegmentationOfTheSameServerBytesChangesNoResult,
              ()) {
  const World world = *GenWorld();
  auto [bytes, honest] = Record(world);
  const bool inject = *rc::gen::arbitrary<bool>();
  if (inject) {
    // A surplus reply at a reply boundary (or the very start).
    std::vector<size_t> boundaries = {0};
    for (size_t at = bytes.find("\r\n"); at != std::string::npos;
         at = bytes.find("\r\n", at + 2)) {
      if (at + 5 < bytes.size() && bytes[at + 5] != '-') {
        boundaries.push_back(at + 2);
      }
    }
    const size_t at = *rc::gen::elementOf(boundaries);
    bytes.insert(at, *rc::gen::element<std::string>(
                         "250 2.0.0 surplus\r\n", "554 5.7.1 surplus\r\n",
                         "451 4.3.0 surplus\r\n", "354 surplus\r\n",
                         "221 surplus\r\n"));
  }
  std::vector<size_t> cuts = *rc::gen::container<std::vector<size_t>>(
      rc::gen::inRange<size_t>(0, bytes.size() + 1));
  std::sort(cuts.begin(), cuts.end());
  // With a surplus reply the stage of a failure may say whether the end of
  // data had left when the replies went out of step ("possibly delivered"):
  // a fact of the timing. Status and reply are the same in every cut.
  const bool stage = !inject;
  const std::vector<std::string> polite = Replay(world, bytes, 0, {}, stage);
  RC_ASSERT(Replay(world, bytes, 1, {}, stage) == polite);
  RC_ASSERT(Replay(world, bytes, 2, cuts, stage) == polite);
  if (!inject) RC_ASSERT(polite == honest);
}

}  // namespace
}  // namespace starling::smtp
