#ifndef STARLING_SIM_PCAP_H_
#define STARLING_SIM_PCAP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "sim/capture.h"

namespace starling::sim {

// Packet captures of simulated connections (docs/simulator-output.md,
// "Packet captures"): one classic libpcap file per connection, nanosecond
// timestamps (magic 0xa1b23c4d, little-endian), LINKTYPE_ETHERNET, with
// synthesised Ethernet + IPv4 + TCP headers whose checksums are correct, so
// Wireshark and tshark decode the plaintext part as SMTP and, after
// STARTTLS, the rest as TLS.
//
// Addressing: the client is 192.0.2.1 port 40000 + index % 25536, the
// server 198.51.100.x port 25 with x in 1..254 derived from the MX host name
// (PcapServerIp). Initial sequence numbers are derived from the connection.
//
// Packets and their times, following the link's events:
// - SYN (with an MSS option of 1460) when the connection request reached the
//   server (its kConnected), or at the connection's start when it never did;
// - SYN-ACK and the client's ACK when the client learnt it was connected;
// - kData: PSH/ACK segments of at most 1460 octets from the sender, at the
//   time the link delivered them; every segment acknowledges all the octets
//   (and FIN) delivered to its sender before it;
// - kFin: FIN/ACK from the side that closed; when both sides have closed,
//   the last FIN is acknowledged by a bare ACK;
// - kReset: one RST/ACK from the peer of the first side told;
// - kRefused: RST/ACK from the server answering the SYN.
// Events after a reset or refusal are ignored.

inline constexpr uint16_t kPcapServerPort = 25;
inline constexpr size_t kPcapMss = 1460;

// "192.0.2.1".
std::string PcapClientIp();
// "198.51.100.<1..254>", the same for every connection to `mx_host`.
std::string PcapServerIp(absl::string_view mx_host);
uint16_t PcapClientPort(const CapturedConnection& connection);

// The whole file: global header and one record per packet.
std::string PcapBytes(const CapturedConnection& connection);

// "0001-mx.example.pcap": the index (at least four digits) and the MX host
// (characters other than letters, digits, '.', '-' and '_' become '_').
std::string PcapFileName(const CapturedConnection& connection);

// Writes PcapBytes of each connection into `dir` (created when missing) as
// PcapFileName; errors name the path.
absl::Status WritePcapFiles(const std::string& dir,
                            const std::vector<CapturedConnection>& connections);

}  // namespace starling::sim

#endif  // STARLING_SIM_PCAP_H_
