#include "sim/pcap.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sim/capture.h"
#include "sim/link.h"

namespace starling::sim {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01

absl::Time At(int ms) { return kStart + absl::Milliseconds(ms); }

// ---- a small pcap / Ethernet / IPv4 / TCP parser ----------------------------

uint32_t Be16(absl::string_view b, size_t at) {
  return (static_cast<uint8_t>(b[at]) << 8) | static_cast<uint8_t>(b[at + 1]);
}
uint32_t Be32(absl::string_view b, size_t at) {
  return (Be16(b, at) << 16) | Be16(b, at + 2);
}
uint32_t Le32(absl::string_view b, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(b[at])) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 8) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[at + 3])) << 24);
}

// The ones' complement sum folded: 0xffff when a checksummed block verifies.
uint16_t OnesSum(absl::string_view data, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < data.size(); i += 2) sum += Be16(data, i);
  if (data.size() % 2 == 1) sum += static_cast<uint8_t>(data.back()) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08,
                  kAck = 0x10;

struct Packet {
  int64_t ns = 0;
  bool from_client = false;
  uint32_t src_ip = 0, dst_ip = 0;
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t mss = 0;  // 0: no option
  std::string payload;
};

// Parses the file, checking every header and checksum on the way.
std::vector<Packet> Parse(absl::string_view file) {
  std::vector<Packet> packets;
  EXPECT_GE(file.size(), 24u);
  if (file.size() < 24) return packets;
  EXPECT_EQ(Le32(file, 0), 0xa1b23c4du);  // nanosecond timestamps
  EXPECT_EQ(Le32(file, 4), 0x00040002u);  // version 2.4
  EXPECT_EQ(Le32(file, 8), 0u);
  EXPECT_EQ(Le32(file, 12), 0u);
  EXPECT_GE(Le32(file, 16), 65535u);  // snaplen
  EXPECT_EQ(Le32(file, 20), 1u);      // LINKTYPE_ETHERNET
  size_t at = 24;
  while (at < file.size()) {
    EXPECT_LE(at + 16, file.size());
    if (at + 16 > file.size()) break;
    Packet p;
    const uint32_t nsec = Le32(file, at + 4);
    EXPECT_LT(nsec, 1000000000u);
    p.ns = int64_t{Le32(file, at)} * 1000000000 + nsec;
    const uint32_t incl = Le32(file, at + 8);
    EXPECT_EQ(Le32(file, at + 12), incl);
    at += 16;
    EXPECT_LE(at + incl, file.size());
    if (at + incl > file.size()) break;
    const absl::string_view frame = file.substr(at, incl);
    at += incl;

    EXPECT_GE(frame.size(), 14u + 20 + 20);
    EXPECT_EQ(Be16(frame, 12), 0x0800u);  // IPv4
    const absl::string_view ip = frame.substr(14);
    EXPECT_EQ(static_cast<uint8_t>(ip[0]), 0x45);
    EXPECT_EQ(Be16(ip, 2), ip.size());
    EXPECT_EQ(static_cast<uint8_t>(ip[9]), 6);  // TCP
    EXPECT_EQ(OnesSum(ip.substr(0, 20)), 0xffff) << "IPv4 header checksum";
    p.src_ip = Be32(ip, 12);
    p.dst_ip = Be32(ip, 16);
    const absl::string_view tcp = ip.substr(20);
    std::string pseudo;
    pseudo.append(std::string(ip.substr(12, 8)));
    pseudo += '\0';
    pseudo += '\x06';
    pseudo += static_cast<char>(tcp.size() >> 8);
    pseudo += static_cast<char>(tcp.size() & 0xff);
    EXPECT_EQ(OnesSum(tcp, OnesSum(pseudo)), 0xffff) << "TCP checksum";
    p.src_port = static_cast<uint16_t>(Be16(tcp, 0));
    p.dst_port = static_cast<uint16_t>(Be16(tcp, 2));
    p.seq = Be32(tcp, 4);
    p.ack = Be32(tcp, 8);
    const size_t header = (static_cast<uint8_t>(tcp[12]) >> 4) * 4;
    p.flags = static_cast<uint8_t>(tcp[13]);
    if (header == 24) {
      EXPECT_EQ(static_cast<uint8_t>(tcp[20]), 2);  // MSS option
      p.mss = static_cast<uint16_t>(Be16(tcp, 22));
    } else {
      EXPECT_EQ(header, 20u);
    }
    p.payload = std::string(tcp.substr(header));
    p.from_client = p.dst_port == 25;
    packets.push_back(std::move(p));
  }
  return packets;
}

// The checks that hold for every capture: addresses and ports, a handshake
// first, sequence and acknowledgement numbers continuous per direction,
// times in order, segments within the MSS. Returns each direction's stream.
struct Streams {
  std::string client_to_server;
  std::string server_to_client;
};

Streams CheckTcp(const std::vector<Packet>& packets,
                 const CapturedConnection& connection) {
  Streams streams;
  std::map<bool, uint32_t> next;  // next sequence number by from_client
  std::map<bool, bool> started;
  int64_t last_ns = 0;
  for (size_t i = 0; i < packets.size(); ++i) {
    const Packet& p = packets[i];
    SCOPED_TRACE(absl::StrCat("packet ", i + 1));
    EXPECT_GE(p.ns, last_ns);
    last_ns = p.ns;
    const uint16_t client_port = PcapClientPort(connection);
    if (p.from_client) {
      EXPECT_EQ(p.src_ip, 0xc0000201u);
      EXPECT_EQ(p.src_port, client_port);
      EXPECT_EQ(p.dst_port, 25);
    } else {
      EXPECT_EQ(p.dst_ip, 0xc0000201u);
      EXPECT_EQ(p.src_port, 25);
      EXPECT_EQ(p.dst_port, client_port);
    }
    const uint32_t server_ip = p.from_client ? p.dst_ip : p.src_ip;
    EXPECT_EQ(server_ip >> 8, 0xc63364u);  // 198.51.100.0/24
    EXPECT_EQ(absl::StrCat("198.51.100.", server_ip & 0xff),
              PcapServerIp(connection.mx_host));
    EXPECT_LE(p.payload.size(), kPcapMss);

    const bool refused_rst = !p.from_client && (p.flags & kRst) &&
                             !started[false];
    if (p.flags & kSyn) {
      EXPECT_FALSE(started[p.from_client]) << "second SYN";
      EXPECT_EQ(p.mss, kPcapMss);
      started[p.from_client] = true;
      next[p.from_client] = p.seq + 1;
    } else if (refused_rst) {
      EXPECT_EQ(p.seq, 0u);
    } else {
      EXPECT_TRUE(started[p.from_client]) << "segment before SYN";
      EXPECT_EQ(p.seq, next[p.from_client]) << "sequence gap";
      next[p.from_client] += static_cast<uint32_t>(p.payload.size());
      if (p.flags & kFin) ++next[p.from_client];
    }
    if (p.flags & kAck) {
      EXPECT_EQ(p.ack, next[!p.from_client]) << "ack";
    } else {
      EXPECT_TRUE((p.flags & kSyn) && p.from_client) << "only the SYN lacks ACK";
    }
    if (!p.payload.empty()) {
      EXPECT_EQ(p.flags, kPsh | kAck);
      (p.from_client ? streams.client_to_server : streams.server_to_client) +=
          p.payload;
    }
  }
  return streams;
}

// ---- connections -------------------------------------------------------------

CapturedConnection Base() {
  CapturedConnection c;
  c.index = 3;
  c.domain = "good.example";
  c.mx_host = "mx.good.example";
  c.start = kStart;
  return c;
}

void Event(CapturedConnection* c, int ms, Side to, LinkEventType type,
           std::string bytes = "") {
  c->events.push_back({At(ms), to, type, std::move(bytes)});
}

std::string Pattern(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('a' + i % 26));
  return s;
}

// A minimal TLS 1.2 ClientHello record (one cipher suite, no extensions).
std::string ClientHello() {
  std::string body = {'\x03', '\x03'};  // client_version
  body += std::string(32, '\x42');      // random
  body += '\0';                         // session id
  body += std::string("\x00\x02\xc0\x2f", 4);  // ECDHE_RSA_AES128_GCM_SHA256
  body += std::string("\x01\x00", 2);          // compression: null
  std::string handshake = {'\x01', '\0', '\0', static_cast<char>(body.size())};
  handshake += body;
  std::string record = {'\x16', '\x03', '\x01', '\0',
                        static_cast<char>(handshake.size())};
  return record + handshake;
}

// A STARTTLS dialogue, a ClientHello, a long TLS-ish stream and a clean close.
CapturedConnection Dialogue() {
  CapturedConnection c = Base();
  Event(&c, 10, Side::kB, LinkEventType::kConnected);
  Event(&c, 20, Side::kA, LinkEventType::kConnected);
  Event(&c, 30, Side::kA, LinkEventType::kData, "220 mx.good.example ESMTP\r\n");
  Event(&c, 40, Side::kB, LinkEventType::kData, "EHLO relay.example.org\r\n");
  Event(&c, 50, Side::kA, LinkEventType::kData, "250-mx.good.example\r\n");
  Event(&c, 51, Side::kA, LinkEventType::kData, "250 STARTTLS\r\n");
  Event(&c, 60, Side::kB, LinkEventType::kData, "STARTTLS\r\n");
  Event(&c, 70, Side::kA, LinkEventType::kData, "220 2.0.0 ready\r\n");
  Event(&c, 80, Side::kB, LinkEventType::kData, ClientHello());
  Event(&c, 90, Side::kB, LinkEventType::kData, Pattern(4000));
  Event(&c, 100, Side::kB, LinkEventType::kFin);
  Event(&c, 110, Side::kA, LinkEventType::kData, Pattern(1460));
  Event(&c, 120, Side::kA, LinkEventType::kFin);
  return c;
}

std::string Sent(const CapturedConnection& c, Side to) {
  std::string out;
  for (const CapturedEvent& e : c.events) {
    if (e.to == to && e.type == LinkEventType::kData) out += e.bytes;
  }
  return out;
}

TEST(PcapTest, DialogueHandshakeDataAndClose) {
  const CapturedConnection c = Dialogue();
  const std::vector<Packet> packets = Parse(PcapBytes(c));
  const Streams streams = CheckTcp(packets, c);
  EXPECT_EQ(streams.client_to_server, Sent(c, Side::kB));
  EXPECT_EQ(streams.server_to_client, Sent(c, Side::kA));

  ASSERT_GE(packets.size(), 3u);
  EXPECT_EQ(packets[0].flags, kSyn);
  EXPECT_TRUE(packets[0].from_client);
  EXPECT_EQ(packets[0].ns, absl::ToUnixNanos(At(10)));
  EXPECT_EQ(packets[1].flags, kSyn | kAck);
  EXPECT_FALSE(packets[1].from_client);
  EXPECT_EQ(packets[1].ns, absl::ToUnixNanos(At(20)));
  EXPECT_EQ(packets[2].flags, kAck);
  EXPECT_TRUE(packets[2].from_client);
  EXPECT_EQ(packets[2].ns, absl::ToUnixNanos(At(20)));

  // 4000 octets from the client: 1460 + 1460 + 1080, at one time.
  int big = 0;
  for (const Packet& p : packets) {
    if (p.ns == absl::ToUnixNanos(At(90))) {
      ++big;
      EXPECT_EQ(p.payload.size(), big < 3 ? 1460u : 1080u);
    }
  }
  EXPECT_EQ(big, 3);

  // The client's FIN, then the server's data and FIN, then the last ACK.
  ASSERT_GE(packets.size(), 3u);
  const Packet& last = packets.back();
  const Packet& server_fin = packets[packets.size() - 2];
  EXPECT_EQ(server_fin.flags, kFin | kAck);
  EXPECT_FALSE(server_fin.from_client);
  EXPECT_EQ(last.flags, kAck);
  EXPECT_TRUE(last.from_client);
  EXPECT_EQ(last.ack, server_fin.seq + 1);
  int fins = 0;
  for (const Packet& p : packets) fins += (p.flags & kFin) ? 1 : 0;
  EXPECT_EQ(fins, 2);
}

TEST(PcapTest, RefusedIsSynThenRstAck) {
  CapturedConnection c = Base();
  Event(&c, 25, Side::kA, LinkEventType::kRefused);
  const std::vector<Packet> packets = Parse(PcapBytes(c));
  CheckTcp(packets, c);
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(packets[0].flags, kSyn);
  EXPECT_EQ(packets[0].ns, absl::ToUnixNanos(kStart));
  EXPECT_EQ(packets[1].flags, kRst | kAck);
  EXPECT_EQ(packets[1].ack, packets[0].seq + 1);
  EXPECT_EQ(packets[1].ns, absl::ToUnixNanos(At(25)));
}

TEST(PcapTest, UnansweredIsALoneSyn) {
  const CapturedConnection c = Base();
  const std::vector<Packet> packets = Parse(PcapBytes(c));
  CheckTcp(packets, c);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0].flags, kSyn);
}

TEST(PcapTest, ResetIsOneRstAndEndsTheCapture) {
  CapturedConnection c = Base();
  Event(&c, 10, Side::kB, LinkEventType::kConnected);
  Event(&c, 20, Side::kA, LinkEventType::kConnected);
  Event(&c, 30, Side::kA, LinkEventType::kData, "220 hi\r\n");
  Event(&c, 40, Side::kA, LinkEventType::kReset);
  Event(&c, 40, Side::kB, LinkEventType::kReset);
  Event(&c, 50, Side::kA, LinkEventType::kData, "late");
  const std::vector<Packet> packets = Parse(PcapBytes(c));
  const Streams streams = CheckTcp(packets, c);
  EXPECT_EQ(streams.server_to_client, "220 hi\r\n");
  ASSERT_EQ(packets.size(), 5u);
  EXPECT_EQ(packets[4].flags, kRst | kAck);
  EXPECT_FALSE(packets[4].from_client);  // to A, from its peer
}

TEST(PcapTest, HalfCloseThenServerKeepsTalking) {
  CapturedConnection c = Base();
  Event(&c, 10, Side::kB, LinkEventType::kConnected);
  Event(&c, 20, Side::kA, LinkEventType::kConnected);
  Event(&c, 30, Side::kA, LinkEventType::kFin);  // the server closed first
  Event(&c, 40, Side::kB, LinkEventType::kData, "QUIT\r\n");
  Event(&c, 50, Side::kB, LinkEventType::kFin);
  const std::vector<Packet> packets = Parse(PcapBytes(c));
  const Streams streams = CheckTcp(packets, c);
  EXPECT_EQ(streams.client_to_server, "QUIT\r\n");
  ASSERT_EQ(packets.size(), 7u);
  EXPECT_EQ(packets.back().flags, kAck);
  EXPECT_FALSE(packets.back().from_client);
}

TEST(PcapTest, DeterministicAddressesAndNames) {
  CapturedConnection c = Dialogue();
  EXPECT_EQ(PcapBytes(c), PcapBytes(c));
  EXPECT_EQ(PcapClientIp(), "192.0.2.1");
  EXPECT_EQ(PcapClientPort(c), 40003);
  EXPECT_EQ(PcapServerIp("mx.good.example"), PcapServerIp("MX.Good.Example"));
  EXPECT_EQ(PcapFileName(c), "0003-mx.good.example.pcap");
  c.index = 12345;
  c.mx_host = "mx/../x";
  EXPECT_EQ(PcapFileName(c), "12345-mx_.._x.pcap");
  for (int i = 0; i < 300; ++i) {
    const std::string ip = PcapServerIp(absl::StrCat("mx", i, ".example"));
    EXPECT_TRUE(absl::StartsWith(ip, "198.51.100.")) << ip;
    const std::string last = ip.substr(11);
    EXPECT_NE(last, "0");
    EXPECT_NE(last, "255");
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream s;
  s << file.rdbuf();
  return s.str();
}

TEST(PcapTest, WritesOneFilePerConnection) {
  std::vector<CapturedConnection> connections = {Dialogue(), Base()};
  connections[1].index = 4;
  connections[1].mx_host = "mx2.good.example";
  const std::string dir = absl::StrCat(testing::TempDir(), "/pcap/a");
  ASSERT_TRUE(WritePcapFiles(dir, connections).ok());
  EXPECT_EQ(ReadFile(dir + "/0003-mx.good.example.pcap"),
            PcapBytes(connections[0]));
  EXPECT_EQ(ReadFile(dir + "/0004-mx2.good.example.pcap"),
            PcapBytes(connections[1]));
  const std::string blocked = dir + "/0003-mx.good.example.pcap/sub";
  const absl::Status status = WritePcapFiles(blocked, connections);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), blocked)) << status;
}

// ---- tshark, when installed ---------------------------------------------------

bool HaveTshark() {
  return std::system("command -v tshark > /dev/null 2>&1") == 0;
}

std::string Shell(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

TEST(PcapTest, TsharkDecodesSmtpAndTls) {
  if (!HaveTshark()) GTEST_SKIP() << "tshark is not on PATH";
  // Kept with the test's outputs when Bazel provides a place for them.
  const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  const std::string dir =
      outputs != nullptr ? std::string(outputs) : testing::TempDir();
  const CapturedConnection c = Dialogue();
  ASSERT_TRUE(WritePcapFiles(dir, {c}).ok());
  const std::string file = absl::StrCat(dir, "/", PcapFileName(c));
  const std::string tshark = absl::StrCat("tshark -n -r '", file, "' ");

  // (Wireshark 4.0 splits STARTTLS into command "STAR" and "TLS": match the
  // whole command lines instead.)
  const std::string commands = Shell(
      tshark + "-Y smtp.req -T fields -e smtp.command_line 2>/dev/null");
  EXPECT_TRUE(absl::StartsWith(commands, "EHLO relay.example.org"))
      << commands << Shell(tshark + "2>&1");
  EXPECT_TRUE(absl::StrContains(commands, "\nSTARTTLS")) << commands;
  const std::string replies =
      Shell(tshark + "-Y smtp.response -T fields -e smtp.response.code 2>/dev/null");
  EXPECT_TRUE(absl::StrContains(replies, "220")) << replies;
  EXPECT_TRUE(absl::StrContains(replies, "250")) << replies;
  const std::string hello = Shell(
      tshark + "-Y 'tls.handshake.type == 1' -T fields -e frame.number 2>/dev/null");
  EXPECT_FALSE(hello.empty()) << Shell(tshark + "-V 2>&1");
  // Wireshark's own TCP analysis and checksum validation find nothing wrong.
  const std::string problems =
      Shell(tshark +
          "-o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE "
          "-Y 'tcp.analysis.flags || tcp.checksum.status == 0 || "
          "ip.checksum.status == 0 || _ws.malformed' 2>/dev/null");
  EXPECT_EQ(problems, "") << problems;
}

}  // namespace
}  // namespace starling::sim
