// Complete transactions per second, client session <-> server session in
// memory (EHLO, MAIL, 3 RCPT, 10 KB DATA, QUIT; no TLS), both sides doing
// their full work: framing, parsing, replies, dot-stuffing and unstuffing.
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/smtp/client_session.h"
#include "core/smtp/server_session.h"

namespace starling::smtp {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

std::string Body(size_t size) {
  std::string body = "Subject: benchmark\r\nFrom: a@a.example\r\n\r\n";
  while (body.size() < size) body += std::string(76, 'q') + "\r\n";
  return body;
}

void BM_ClientServerTransaction(benchmark::State& state) {
  auto server_options = std::make_shared<ServerOptions>();
  server_options->hostname = "mx.b.example";
  auto client_options = std::make_shared<ClientOptions>();
  client_options->helo_name = "relay.a.example";
  const std::string body = Body(10 * 1024);
  OpportunisticTlsPolicy policy;
  for (auto _ : state) {
    OutboundMessage message;
    message.sender = Mailbox{"sender", "a.example"};
    for (const char* r : {"one", "two", "three"}) {
      message.recipients.push_back({Mailbox{r, "b.example"}, {}});
    }
    message.size = body.size();
    message.body = std::make_shared<StringBodySource>(body);
    std::vector<OutboundMessage> messages;
    messages.push_back(std::move(message));
    auto client = *ClientSession::Create(client_options, {"b.example", "mx.b.example"},
                                         &policy, std::move(messages), kNow);
    ServerSession server(server_options);
    (void)server.AcceptConnection(kNow);
    while (!client->closed()) {
      const absl::string_view to_client = server.PendingOutput();
      if (!to_client.empty()) {
        (void)client->Receive(to_client, kNow);
        server.ConsumeOutput(to_client.size());
      }
      while (client->NextEvent()) {
      }
      const absl::string_view to_server = client->PendingOutput();
      if (!to_server.empty()) {
        (void)server.Receive(to_server, kNow);
        client->ConsumeOutput(to_server.size(), kNow);
      }
      while (auto event = server.NextEvent()) benchmark::DoNotOptimize(event);
      while (server.pending_decision()) {
        (void)server.Accept(kNow);
        while (auto event = server.NextEvent()) benchmark::DoNotOptimize(event);
      }
      if (server.closed() && server.PendingOutput().empty() && !client->closed()) {
        client->ConnectionLost("server closed", kNow);
      }
    }
    benchmark::DoNotOptimize(client->results());
  }
  state.counters["transactions/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ClientServerTransaction);

}  // namespace
}  // namespace starling::smtp
