#ifndef STARLING_SIM_CAPTURE_H_
#define STARLING_SIM_CAPTURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "sim/link.h"

namespace starling::sim {

// One thing a link delivered to one end (an owning copy of a LinkRecord).
struct CapturedEvent {
  absl::Time time;
  Side to = Side::kA;
  LinkEventType type = LinkEventType::kData;
  std::string bytes;  // kData: the octets as they crossed the wire
};

// One line of the SMTP dialogue as the sending side saw it: what its session
// wrote (from_client) and what it read, before encryption / after
// decryption, and whether TLS carried it.
struct TranscriptEntry {
  absl::Time time;
  bool from_client = true;
  bool tls = false;
  std::string text;
};

// Everything recorded about one connection of the world: the wire (for
// pcap files) and the dialogue (for transcripts).
struct CapturedConnection {
  // The connection's attempt: its 1-based position in the attempt log
  // (attempts.csv's `attempt`), which also names its pcap file and
  // transcript.
  uint64_t index = 0;
  std::string domain;
  std::string mx_host;
  absl::Time start;
  std::vector<CapturedEvent> events;        // in delivery order
  std::vector<TranscriptEntry> transcript;  // in order
};

}  // namespace starling::sim

#endif  // STARLING_SIM_CAPTURE_H_
