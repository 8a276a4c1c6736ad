// Writes the seed corpus of channel_fuzzer: for each role and flag set, a real
// peer's flights (as the fuzzer's channel will see them, since seeds are
// fixed), then a little application data and close_notify.
//   bazel run //fuzz/tls:make_channel_seeds -- $PWD/fuzz/tls/corpus/channel
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/tls/channel.h"
#include "fuzz/tls/channel_fuzz_setup.h"

namespace {

namespace tls = starling::tls;
using starling::fuzz::kTlsFuzzTime;
using starling::fuzz::TlsFuzzOptions;

void Drain(tls::Channel& channel) {
  while (channel.NextEvent()) {
  }
}

// The bytes the fuzzed channel's peer sends, one flight at a time.
std::vector<std::string> PeerFlights(uint8_t flags, bool fuzzed_is_server) {
  tls::Channel client = *tls::Channel::Create(TlsFuzzOptions(flags, false));
  tls::Channel server = *tls::Channel::Create(TlsFuzzOptions(flags, true));
  tls::Channel& peer = fuzzed_is_server ? client : server;
  std::vector<std::string> flights;
  bool wrote = false;
  for (int round = 0; round < 20; ++round) {
    const std::string to_server(client.PendingOutput());
    client.ConsumeOutput(to_server.size());
    if (!to_server.empty()) {
      if (&peer == &client) flights.push_back(to_server);
      (void)server.Receive(to_server, kTlsFuzzTime);
    }
    const std::string to_client(server.PendingOutput());
    server.ConsumeOutput(to_client.size());
    if (!to_client.empty()) {
      if (&peer == &server) flights.push_back(to_client);
      (void)client.Receive(to_client, kTlsFuzzTime);
    }
    Drain(client);
    Drain(server);
    if (peer.established() && !wrote) {
      (void)peer.Write("220 mx.example.net ESMTP\r\n");
      (void)peer.Close();
      wrote = true;
    }
    if (to_server.empty() && to_client.empty()) break;
  }
  return flights;
}

std::string Encode(uint8_t flags, const std::vector<std::string>& flights) {
  std::string input(1, static_cast<char>(flags));
  for (const std::string& flight : flights) {
    input += '\0';  // Receive
    input += static_cast<char>(flight.size() & 0xff);
    input += static_cast<char>(flight.size() >> 8);
    input += flight;
    input += '\2';  // drain
  }
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_channel_seeds <corpus directory>\n");
    return 2;
  }
  int written = 0;
  for (uint8_t flags = 0; flags < 16; ++flags) {
    const bool as_server = flags & 1;
    if (!as_server && (flags & 8)) continue;  // only the server's key differs
    const std::string path =
        absl::StrCat(argv[1], "/", as_server ? "server" : "client", "_flags",
                     static_cast<int>(flags));
    std::ofstream(path, std::ios::binary)
        << Encode(flags, PeerFlights(flags, as_server));
    ++written;
  }
  std::printf("wrote %d seeds to %s\n", written, argv[1]);
  return 0;
}
