// Server session speed and size:
//  - complete plaintext transactions per second (EHLO, MAIL, 3 RCPT, 10 KB
//    DATA, QUIT), with the embedder accepting everything at once;
//  - the DATA path (framing, unstuffing, body events) next to a memcpy of the
//    same bytes in the same run;
//  - bytes held by an idle session (sizeof plus buffers at rest).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "core/smtp/server_session.h"
#include "core/testing/benchmark_ratio.h"

namespace starling::smtp {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

std::shared_ptr<const ServerOptions> Options() {
  auto options = std::make_shared<ServerOptions>();
  options->hostname = "mx.example.org";
  options->max_message_size = 0;
  return options;
}

// Message text of about `size` octets in 76-column lines, already stuffed.
std::string Body(size_t size) {
  std::string body = "Subject: benchmark\r\nFrom: a@a.example\r\n\r\n";
  while (body.size() < size) {
    body += std::string(75, 'q');
    body += ".\r\n";
  }
  return body;
}

// Pulls every event and accepts every decision; drops the output.
void Serve(ServerSession& session) {
  for (;;) {
    while (auto event = session.NextEvent()) benchmark::DoNotOptimize(event);
    if (!session.pending_decision()) break;
    (void)session.Accept(kNow);
  }
  session.ConsumeOutput(session.PendingOutput().size());
}

void BM_Transaction(benchmark::State& state) {
  const auto options = Options();
  const std::string envelope =
      "MAIL FROM:<sender@a.example> SIZE=10240\r\n"
      "RCPT TO:<one@b.example>\r\nRCPT TO:<two@b.example>\r\n"
      "RCPT TO:<three@b.example>\r\nDATA\r\n";
  const std::string body = Body(10 * 1024) + ".\r\n";
  for (auto _ : state) {
    ServerSession session(options);
    (void)session.AcceptConnection(kNow);
    session.ConsumeOutput(session.PendingOutput().size());
    (void)session.Receive("EHLO client.example\r\n", kNow);
    Serve(session);
    (void)session.Receive(envelope, kNow);
    Serve(session);
    (void)session.Receive(body, kNow);
    Serve(session);
    (void)session.Receive("QUIT\r\n", kNow);
    Serve(session);
    benchmark::DoNotOptimize(session.closed());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["transactions/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Transaction);

constexpr size_t kDataBytes = 1 << 20;
constexpr size_t kPiece = 64 * 1024;

// Counts the octets handed to it (what an embedder's spool writer would take).
class CountingSink : public MessageDataSink {
 public:
  void OnMessageData(absl::string_view bytes) override {
    benchmark::DoNotOptimize(bytes.data());
    octets += bytes.size();
  }
  uint64_t octets = 0;
};

// The body of one 1 MiB message fed in 64 KiB pieces: as kMessageData
// events (range 0) or to a MessageDataSink (range 1).
void BM_DataPath(benchmark::State& state) {
  const auto options = Options();
  const std::string body = Body(kDataBytes);
  ServerSession session(options);
  CountingSink sink;
  if (state.range(0) == 1) session.set_message_data_sink(&sink);
  (void)session.AcceptConnection(kNow);
  (void)session.Receive("EHLO client.example\r\n", kNow);
  Serve(session);
  for (auto _ : state) {
    state.PauseTiming();
    (void)session.Receive(
        "MAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\nDATA\r\n", kNow);
    Serve(session);
    state.ResumeTiming();
    for (size_t pos = 0; pos < body.size(); pos += kPiece) {
      (void)session.Receive(absl::string_view(body).substr(pos, kPiece), kNow);
      Serve(session);
    }
    (void)session.Receive(".\r\n", kNow);
    Serve(session);
  }
  state.SetBytesProcessed(state.iterations() * body.size());
  state.SetLabel(state.range(0) == 1 ? "sink" : "events");
}
BENCHMARK(BM_DataPath)->Arg(0)->Arg(1);

void BM_MemcpyBaseline(benchmark::State& state) {
  const std::string body = Body(kDataBytes);
  std::string copy(body.size(), '\0');
  for (auto _ : state) {
    for (size_t pos = 0; pos < body.size(); pos += kPiece) {
      const size_t n = std::min(kPiece, body.size() - pos);
      std::memcpy(copy.data() + pos, body.data() + pos, n);
    }
    benchmark::DoNotOptimize(copy.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_MemcpyBaseline);
STARLING_BENCHMARK_RATIO("BM_DataPath/0", "BM_MemcpyBaseline");
STARLING_BENCHMARK_RATIO("BM_DataPath/1", "BM_MemcpyBaseline");

void BM_IdleSessionBytes(benchmark::State& state) {
  const auto options = Options();
  size_t bytes = 0;
  for (auto _ : state) {
    ServerSession session(options);
    (void)session.AcceptConnection(kNow);
    (void)session.Receive("EHLO client.example\r\n", kNow);
    Serve(session);
    bytes = sizeof(ServerSession) + session.buffered_bytes();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["bytes_per_idle_session"] = static_cast<double>(bytes);
  state.counters["sizeof_ServerSession"] = sizeof(ServerSession);
}
BENCHMARK(BM_IdleSessionBytes);

}  // namespace
}  // namespace starling::smtp
