#ifndef STARLING_SIM_ATTACKER_H_
#define STARLING_SIM_ATTACKER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/link.h"

namespace starling::sim {

// On-path attacks between the sending MTA (Side::kA) and a partner
// (Side::kB), as LinkTampers. See docs/simulator.md, "Attackers".
enum class AttackKind : uint8_t {
  // Hides STARTTLS: the capability line of the server's EHLO reply becomes
  // "XXXXXXXA", and a STARTTLS command the client sends anyway becomes
  // "XXXXXXXA" too, which the server answers 500 (as some "SMTP inspection"
  // firewalls do).
  kStripStartTls,
  // Appends forged plaintext replies to the server's 220 to STARTTLS, in the
  // same write (the response-injection class: CVE-2021-22947 and friends).
  kInjectServerReply,
  // Appends a plaintext command to the client's STARTTLS, in the same write
  // (the command-injection class: CVE-2011-0411).
  kInjectClientCommand,
  // Rewrites the ClientHello after STARTTLS to say TLS 1.0 (record and
  // client_version), hoping for a weaker session.
  kTlsDowngrade,
};

inline constexpr size_t kAttackKindCount = 4;
std::array<AttackKind, kAttackKindCount> AllAttackKinds();

// "strip-starttls", "inject-server-reply", "inject-client-command",
// "tls-downgrade".
absl::string_view AttackKindName(AttackKind kind);
// The inverse of AttackKindName (case-insensitive); kInvalidArgument for an
// unknown name.
absl::StatusOr<AttackKind> ParseAttackKind(absl::string_view name);

// What the attacks put on the wire.
inline constexpr absl::string_view kStrippedStartTls = "XXXXXXXA";
// kInjectServerReply: a forged post-TLS EHLO reply and the replies to a
// whole transaction. A client that read them as if they had come through TLS
// would believe a message delivered that never was.
inline constexpr absl::string_view kInjectedServerReplies =
    "250-mx.attacker.example\r\n"
    "250 8BITMIME\r\n"
    "250 2.1.0 Ok\r\n"
    "250 2.1.5 Ok\r\n"
    "354 End data with <CR><LF>.<CR><LF>\r\n"
    "250 2.0.0 Ok: queued as FORGED\r\n";
// kInjectClientCommand: a transaction start a server must never execute
// inside the TLS session.
inline constexpr absl::string_view kInjectedClientCommand =
    "MAIL FROM:<attacker@evil.example>\r\n";

// One attacker on one link. It follows the plaintext SMTP dialogue (lines
// are buffered until complete, so it works whatever the segmentation of the
// writes), matches replies to commands, and knows that TLS has started when
// the server answers the client's STARTTLS with 220. From then on it leaves
// the bytes alone, except kTlsDowngrade, which rewrites the first TLS record
// the client sends.
class Attacker : public LinkTamper {
 public:
  explicit Attacker(AttackKind kind) : kind_(kind) {}

  std::string Rewrite(Side from, absl::string_view bytes) override;
  std::string Flush(Side from) override;

  AttackKind kind() const { return kind_; }
  // Times the attack changed the bytes on the wire.
  size_t strikes() const { return strikes_; }
  // The server answered STARTTLS with 220: the rest is (meant to be) TLS.
  bool tls_started() const { return tls_; }

 private:
  // What a reply of the server answers.
  enum class Awaited : uint8_t {
    kGreeting,
    kEhlo,
    kStartTls,
    kData,
    kOther,
  };

  // Complete lines of `from`'s buffered bytes, rewritten; stops at TLS.
  std::string Plaintext(Side from);
  std::string ClientLine(absl::string_view line);
  std::string ServerLine(absl::string_view line);
  // Bytes after the start of TLS.
  std::string Tls(Side from, absl::string_view bytes);

  AttackKind kind_;
  size_t strikes_ = 0;
  bool tls_ = false;
  // Plaintext bytes not yet passed on: an incomplete line, per side.
  std::array<std::string, 2> partial_;
  // Passing on a line too long to hold, uninterpreted, until its end.
  std::array<bool, 2> overlong_{};
  // The client's commands whose replies have not been seen, in order.
  std::deque<Awaited> awaited_{Awaited::kGreeting};
  // The client is sending a DATA body (after the server's 354).
  bool in_body_ = false;
  // BDAT chunk octets still to pass through unread.
  uint64_t bdat_remaining_ = 0;
  // kTlsDowngrade: the client's first TLS record, until complete.
  std::string hello_;
  bool hello_done_ = false;
};

// A fresh attacker of `kind` (for LinkFaults::tamper).
std::unique_ptr<Attacker> MakeAttacker(AttackKind kind);

}  // namespace starling::sim

#endif  // STARLING_SIM_ATTACKER_H_
