#ifndef STARLING_SIM_INVARIANTS_H_
#define STARLING_SIM_INVARIANTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace starling::sim {

// What the simulator checks while a world runs (docs/simulator.md,
// "Invariants"). Each kind has its own exit status in mtasim.
enum class InvariantKind : uint8_t {
  kStartTlsBoundary,         // a byte crossed the STARTTLS boundary
  kPlaintextUnderMandatory,  // envelope or body in the clear where TLS was due
  kExactlyOnce,              // a recipient lost, finished twice or duplicated
  kPartnerOverAccept,        // a partner accepted what was never sent to it
  kBufferBound,              // a buffer grew past its bound
};

absl::string_view InvariantKindName(InvariantKind kind);
// 10 + the kind's position: 10 .. 14.
int InvariantExitCode(InvariantKind kind);

struct InvariantViolation {
  InvariantKind kind = InvariantKind::kExactlyOnce;
  absl::Time time;
  std::string detail;
};

// "<kind> at <time>: <detail>".
std::string FormatViolation(const InvariantViolation& violation);

// The STARTTLS boundary for the connecting side, once its handshake has
// completed: it wrote nothing in the clear after its STARTTLS command, and
// nothing arrived in the clear after the 220 that answered it (bytes there
// were injected and a session that went on into TLS may have read them).
// `received_clear_tail` is the end of what it received in the clear.
// nullopt when the boundary held.
std::optional<std::string> CheckClientBoundary(absl::string_view sent_clear,
                                               absl::string_view
                                                   received_clear_tail);

// The same for the accepting side: its last cleartext reply is the 220 to
// STARTTLS and the cleartext it received ends with the STARTTLS command
// (a pipelined tail would have been read by a server that went into TLS).
std::optional<std::string> CheckServerBoundary(absl::string_view sent_clear,
                                               absl::string_view
                                                   received_clear_tail);

// What the connecting side wrote in the clear: under a mandatory verdict
// only EHLO, HELO, STARTTLS, RSET, NOOP and QUIT lines (a last partial line
// must begin one of them); in any case no MAIL FROM carrying REQUIRETLS.
std::optional<std::string> CheckClearText(absl::string_view sent_clear,
                                          bool mandatory);

// CheckClearText over a stream, so that an end need not keep all it sent in
// the clear (message bodies, for a plaintext delivery): Feed() it the clear
// octets as they leave, and Check() answers as CheckClearText on all of them
// would. Keeps the line being written (its first kKeep octets unless it is a
// MAIL line) and the first offending lines.
class ClearTextWatch {
 public:
  void Feed(absl::string_view bytes);
  std::optional<std::string> Check(bool mandatory) const;

 private:
  static constexpr size_t kKeep = 64;
  void AppendPartial(absl::string_view bytes);
  void Line(absl::string_view line);  // a complete line

  std::string partial_;                    // the line being written, no LF yet
  std::optional<std::string> mandatory_;   // the first line not allowed
  std::optional<std::string> requiretls_;  // the first MAIL ... REQUIRETLS
};

// Bookkeeping of the exactly-once rule across the sender and the partners:
// what was sent to whom, what partners accepted, and the connections that
// ended after the end of data but before its reply (the one window in which
// a partner may get a message twice). Messages are identified by a key the
// world writes into each body (see MessageKeyOf).
class DeliveryLedger {
 public:
  // Message `key` goes to `recipients` (full addresses).
  void Sent(const std::string& key, const std::vector<std::string>& recipients);
  // A connection carrying `recipient` of `key` ended without the reply to
  // the end of data: the partner may hold it although the sender retries.
  void OpenedWindow(const std::string& key, const std::string& recipient);
  // A partner accepted `recipients` of the message whose body is `body`.
  // Returns the first violation (over-acceptance or a duplicate outside the
  // window), if any.
  std::optional<InvariantViolation> Accepted(
      absl::Time time, absl::string_view partner, absl::string_view body,
      const std::vector<std::string>& recipients);
  // Whether some partner accepted `recipient` of `key`.
  bool WasAccepted(const std::string& key, const std::string& recipient) const;

  // Recipients a partner got more than once, all inside the window.
  int64_t duplicates_in_window() const { return duplicates_in_window_; }

 private:
  // Addresses compare without regard to case.
  struct CaseFoldHash {
    using is_transparent = void;
    size_t operator()(absl::string_view s) const;
  };
  struct CaseFoldEq {
    using is_transparent = void;
    bool operator()(absl::string_view a, absl::string_view b) const;
  };
  struct Tally {
    bool sent = false;
    int64_t accepted = 0;
    int64_t windows = 0;
  };
  struct Message {
    bool sent = false;
    absl::flat_hash_map<std::string, Tally, CaseFoldHash, CaseFoldEq>
        recipients;
  };
  // Hash tables looked up with views (every message a partner accepts comes
  // here, so no allocation per lookup); never iterated, so their order
  // cannot leak into a run.
  absl::flat_hash_map<std::string, Message> messages_;
  int64_t duplicates_in_window_ = 0;
};

// The key the world writes into every body it generates, as a
// "Message-ID: <KEY@mtasim.invalid>" header.
std::string MessageIdHeader(absl::string_view key);
// The key of a body written with MessageIdHeader; empty when there is none.
std::string MessageKeyOf(absl::string_view body);

}  // namespace starling::sim

#endif  // STARLING_SIM_INVARIANTS_H_
