#include "sim/pcap.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sim/link.h"
#include "sim/output_files.h"

namespace starling::sim {
namespace {

constexpr uint32_t kClientIp = 0xc0000201;      // 192.0.2.1
constexpr uint32_t kServerNet = 0xc6336400;     // 198.51.100.0/24
constexpr uint16_t kClientPortBase = 40000;
constexpr uint16_t kWindow = 65535;
constexpr uint32_t kSnapLen = 262144;
constexpr uint32_t kLinkTypeEthernet = 1;
constexpr uint32_t kNanosecondMagic = 0xa1b23c4d;

constexpr uint8_t kFin = 0x01;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kRst = 0x04;
constexpr uint8_t kPsh = 0x08;
constexpr uint8_t kAck = 0x10;

uint64_t Fnv1a(absl::string_view data, uint64_t hash = 0xcbf29ce484222325ULL) {
  for (const char c : data) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

uint32_t ServerIp(absl::string_view mx_host) {
  return kServerNet +
         1 + static_cast<uint32_t>(Fnv1a(absl::AsciiStrToLower(mx_host)) % 254);
}

std::string Dotted(uint32_t ip) {
  return absl::StrCat(ip >> 24, ".", (ip >> 16) & 0xff, ".", (ip >> 8) & 0xff,
                      ".", ip & 0xff);
}

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}
void Put32(std::string* out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v & 0xffff));
}
void PutLe16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}
void PutLe32(std::string* out, uint32_t v) {
  PutLe16(out, static_cast<uint16_t>(v & 0xffff));
  PutLe16(out, static_cast<uint16_t>(v >> 16));
}

// The Internet checksum (RFC 1071) of `data` added to a running `sum`.
uint32_t SumWords(absl::string_view data, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < data.size(); i += 2) {
    sum += (static_cast<uint8_t>(data[i]) << 8) | static_cast<uint8_t>(data[i + 1]);
  }
  if (data.size() % 2 == 1) sum += static_cast<uint8_t>(data.back()) << 8;
  return sum;
}
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

struct Endpoint {
  std::array<uint8_t, 6> mac;
  uint32_t ip = 0;
  uint16_t port = 0;
  uint32_t next_seq = 0;  // the next sequence number this side sends
  uint16_t ip_id = 0;
  bool fin_sent = false;
};

class PcapWriter {
 public:
  explicit PcapWriter(const CapturedConnection& connection) {
    PutLe32(&out_, kNanosecondMagic);
    PutLe16(&out_, 2);  // version 2.4
    PutLe16(&out_, 4);
    PutLe32(&out_, 0);  // thiszone
    PutLe32(&out_, 0);  // sigfigs
    PutLe32(&out_, kSnapLen);
    PutLe32(&out_, kLinkTypeEthernet);

    const uint64_t hash =
        Fnv1a(connection.mx_host,
              Fnv1a(absl::StrCat(connection.index, "/", connection.domain)));
    client_.mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    client_.ip = kClientIp;
    client_.port = PcapClientPort(connection);
    client_.next_seq = static_cast<uint32_t>(hash);
    client_.ip_id = static_cast<uint16_t>(hash >> 32);
    server_.mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
    server_.ip = ServerIp(connection.mx_host);
    server_.port = kPcapServerPort;
    server_.next_seq = static_cast<uint32_t>(hash >> 16) ^ 0x5a5a5a5a;
    server_.ip_id = static_cast<uint16_t>(hash >> 48);
  }

  Endpoint& end(Side side) { return side == Side::kA ? client_ : server_; }

  // Sends one TCP segment from `from`; SYN and FIN take a sequence number.
  void Segment(absl::Time time, Side from, uint8_t flags,
               absl::string_view payload = {}, bool with_mss = false) {
    Endpoint& src = end(from);
    const Endpoint& dst = end(Peer(from));
    const uint32_t ack = (flags & kAck) ? dst.next_seq : 0;
    Packet(time, src, dst, src.next_seq, ack, flags, payload, with_mss);
    src.next_seq += static_cast<uint32_t>(payload.size());
    if (flags & (kSyn | kFin)) ++src.next_seq;
    if (flags & kFin) src.fin_sent = true;
  }

  // A segment with explicit numbers (the RST answering a refused SYN).
  void Packet(absl::Time time, Endpoint& src, const Endpoint& dst,
              uint32_t seq, uint32_t ack, uint8_t flags,
              absl::string_view payload, bool with_mss) {
    std::string tcp;
    Put16(&tcp, src.port);
    Put16(&tcp, dst.port);
    Put32(&tcp, seq);
    Put32(&tcp, ack);
    const uint8_t header_words = with_mss ? 6 : 5;
    tcp.push_back(static_cast<char>(header_words << 4));
    tcp.push_back(static_cast<char>(flags));
    Put16(&tcp, kWindow);
    Put16(&tcp, 0);  // checksum, below
    Put16(&tcp, 0);  // urgent pointer
    if (with_mss) {
      tcp.push_back(2);  // kind: maximum segment size
      tcp.push_back(4);
      Put16(&tcp, static_cast<uint16_t>(kPcapMss));
    }
    tcp.append(payload.data(), payload.size());
    std::string pseudo;
    Put32(&pseudo, src.ip);
    Put32(&pseudo, dst.ip);
    Put16(&pseudo, 6);
    Put16(&pseudo, static_cast<uint16_t>(tcp.size()));
    const uint16_t tcp_sum = Fold(SumWords(tcp, SumWords(pseudo)));
    tcp[16] = static_cast<char>(tcp_sum >> 8);
    tcp[17] = static_cast<char>(tcp_sum & 0xff);

    std::string ip;
    ip.push_back(0x45);  // IPv4, 5 words
    ip.push_back(0);
    Put16(&ip, static_cast<uint16_t>(20 + tcp.size()));
    Put16(&ip, src.ip_id++);
    Put16(&ip, 0x4000);  // don't fragment
    ip.push_back(64);    // TTL
    ip.push_back(6);     // TCP
    Put16(&ip, 0);       // checksum, below
    Put32(&ip, src.ip);
    Put32(&ip, dst.ip);
    const uint16_t ip_sum = Fold(SumWords(ip));
    ip[10] = static_cast<char>(ip_sum >> 8);
    ip[11] = static_cast<char>(ip_sum & 0xff);

    std::string frame;
    frame.append(reinterpret_cast<const char*>(dst.mac.data()), 6);
    frame.append(reinterpret_cast<const char*>(src.mac.data()), 6);
    Put16(&frame, 0x0800);
    frame += ip;
    frame += tcp;

    int64_t ns = absl::ToUnixNanos(time);
    if (ns < 0) ns = 0;
    PutLe32(&out_, static_cast<uint32_t>(ns / 1000000000));
    PutLe32(&out_, static_cast<uint32_t>(ns % 1000000000));
    PutLe32(&out_, static_cast<uint32_t>(frame.size()));
    PutLe32(&out_, static_cast<uint32_t>(frame.size()));
    out_ += frame;
  }

  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
  Endpoint client_;
  Endpoint server_;
};

}  // namespace

std::string PcapClientIp() { return Dotted(kClientIp); }

std::string PcapServerIp(absl::string_view mx_host) {
  return Dotted(ServerIp(mx_host));
}

uint16_t PcapClientPort(const CapturedConnection& connection) {
  return static_cast<uint16_t>(kClientPortBase + connection.index % 25536);
}

std::string PcapBytes(const CapturedConnection& connection) {
  PcapWriter w(connection);
  bool syn_sent = false;
  bool established = false;
  auto send_syn = [&](absl::Time time) {
    if (syn_sent) return;
    syn_sent = true;
    w.Segment(time, Side::kA, kSyn, {}, /*with_mss=*/true);
  };
  auto establish = [&](absl::Time time) {
    if (established) return;
    send_syn(time);
    established = true;
    w.Segment(time, Side::kB, kSyn | kAck, {}, /*with_mss=*/true);
    w.Segment(time, Side::kA, kAck);
  };
  for (const CapturedEvent& event : connection.events) {
    const Side from = Peer(event.to);
    switch (event.type) {
      case LinkEventType::kConnected:
        if (event.to == Side::kB) {
          send_syn(event.time);
        } else {
          establish(event.time);
        }
        break;
      case LinkEventType::kData: {
        establish(event.time);
        absl::string_view bytes = event.bytes;
        while (!bytes.empty()) {
          const size_t n = std::min(bytes.size(), kPcapMss);
          w.Segment(event.time, from, kPsh | kAck, bytes.substr(0, n));
          bytes.remove_prefix(n);
        }
        break;
      }
      case LinkEventType::kFin:
        establish(event.time);
        if (w.end(from).fin_sent) break;
        w.Segment(event.time, from, kFin | kAck);
        if (w.end(event.to).fin_sent) w.Segment(event.time, event.to, kAck);
        break;
      case LinkEventType::kReset:
        if (!syn_sent) send_syn(connection.start);
        w.Segment(event.time, from, kRst | kAck);
        return w.Take();
      case LinkEventType::kRefused: {
        send_syn(connection.start);
        Endpoint& server = w.end(Side::kB);
        w.Packet(event.time, server, w.end(Side::kA), 0,
                 w.end(Side::kA).next_seq, kRst | kAck, {}, false);
        return w.Take();
      }
    }
  }
  send_syn(connection.start);  // nothing answered
  return w.Take();
}

std::string PcapFileName(const CapturedConnection& connection) {
  std::string host = connection.mx_host.empty() ? "unknown" : connection.mx_host;
  for (char& c : host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') c = '_';
  }
  return absl::StrFormat("%04d-%s.pcap", connection.index, host);
}

absl::Status WritePcapFiles(const std::string& dir,
                            const std::vector<CapturedConnection>& connections) {
  if (absl::Status made = MakeDirectory(dir); !made.ok()) return made;
  for (const CapturedConnection& connection : connections) {
    const absl::Status written = WriteFile(
        (std::filesystem::path(dir) / PcapFileName(connection)).string(),
        PcapBytes(connection));
    if (!written.ok()) return written;
  }
  return absl::OkStatus();
}

}  // namespace starling::sim
