#ifndef STARLING_SIM_WORLD_H_
#define STARLING_SIM_WORLD_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sim/capture.h"
#include "sim/invariants.h"
#include "sim/scenario.h"
#include "sim/sender.h"

namespace starling::sim {

// The final state of one queued recipient.
struct WorldRecipient {
  uint64_t message = 0;
  std::string domain;
  std::string address;
  RecipientFate fate = RecipientFate::kQueued;
  int attempts = 0;
  // For delivered recipients: over TLS or not, and the policy label of the
  // connection that delivered it.
  bool over_tls = false;
  std::string policy_label;
  absl::Time queued_at;
  // When it was delivered or bounced (InfiniteFuture while queued).
  absl::Time finished = absl::InfiniteFuture();
  // For a recipient still deferred or bounced: why, in a few words (the
  // policy check that failed, else the reply or the connection's fate).
  std::string why;
};

// Recipient outcomes: delivered over TLS (by policy label), in plaintext,
// still deferred at the end, bounced.
struct OutcomeCounts {
  int64_t tls = 0;
  std::map<std::string, int64_t> tls_by_label;
  int64_t plaintext = 0;
  int64_t deferred = 0;
  int64_t bounced = 0;
};

// The outcomes of the recipients queued for a domain in one span of virtual
// time between the faults on its hosts: what changed when (a rollover at
// 10:00 turning deliveries into deferrals).
struct DomainPeriod {
  absl::Time from;
  absl::Time to;
  // The faults that begin the span ("mx.a.example rollover", "mx.a.example
  // stall ends"); empty for the first.
  std::vector<std::string> after;
  OutcomeCounts counts;
  // The longest wait from queueing to delivery among them.
  absl::Duration max_delay;
};

// Outcome counts for one [[domain]], and why.
struct DomainSummary : OutcomeCounts {
  std::string domain;
  std::string profiles;  // the MX hosts' profiles, comma-separated
  std::set<std::string> tlsrpt_result_types;  // RFC 8460 names seen
  // The sender's policy for the domain: the table entry as our table format
  // prints it (without its key), and where it is ("'key' (file:line)").
  std::string policy;
  std::string policy_rule;
  // Recipients still deferred or bounced, by why (WorldRecipient::why).
  std::map<std::string, int64_t> why;
  // Split at the times of the faults on the domain's hosts; empty when
  // there were none.
  std::vector<DomainPeriod> periods;
};

// How far a running world has got (see WorldOptions::progress).
struct WorldProgress {
  absl::Time start;
  absl::Time now;
  absl::Time end;
  size_t attempts = 0;
  size_t queued = 0;  // recipients not yet delivered or bounced
};

struct WorldOptions {
  // Record every connection's wire events and dialogue (WorldResult::
  // captures), for pcap files and transcripts.
  bool capture = false;
  // Run for this long instead of the scenario's world.duration.
  std::optional<absl::Duration> until;
  // Called after every `progress_every` of virtual time.
  absl::Duration progress_every = absl::Hours(1);
  std::function<void(const WorldProgress&)> progress;
  // The most octets an endpoint may hold for the link's window at once
  // (the bounded-buffers invariant).
  size_t max_unsent = 1 << 20;
};

struct WorldResult {
  uint64_t seed = 0;
  absl::Time start;
  absl::Time end;
  // The first invariant violation; the run stopped there.
  std::optional<InvariantViolation> violation;
  // Recipients a partner accepted twice, each inside the documented window
  // (the connection ended after the end of data, before its reply).
  int64_t duplicates_in_window = 0;
  // Recipients the partners accepted in all.
  int64_t partner_accepted = 0;
  // Events the scheduler ran.
  uint64_t steps = 0;
  // Under WorldOptions::capture: every connection, in the order they ended.
  std::vector<CapturedConnection> captures;
  std::vector<WorldRecipient> recipients;  // in queueing order
  std::vector<AttemptRecord> attempts;
  std::vector<BounceRecord> bounces;
  std::vector<DomainSummary> domains;  // in file order
  // The TLSA records each domain published, "auto" ones resolved to what
  // its MX hosts present (TLS-RPT's policy-string), by domain.
  std::map<std::string, std::vector<TlsaRecord>> tlsa;
  // "<host> <kind> at <at>" for each [[fault]].
  std::vector<std::string> faults_applied;
  std::vector<std::string> faults_not_applied;
  // The formatted attempt log and its FNV-1a 64 hash.
  std::string attempt_log;
  uint64_t trace_hash = 0;
};

// FNV-1a, 64 bits.
uint64_t Fnv1a64(absl::string_view data);

// The certificate an MX host of a scenario presents, with the digests pins
// are made of (core/tls computes them with Botan).
struct HostCertificate {
  std::string host;
  std::string profile;
  // "" for the host's certificate; "after rollover" for the one a
  // `rollover` fault switches it to.
  std::string when;
  CertificateFacts leaf;
};

// Every MX host's certificate (hosts whose profile offers no STARTTLS are
// left out), in file order. The test PKI is derived from a fixed seed and
// world.start, so the same world.start gives the same certificates and
// fingerprints, whatever the run's seed: pins taken from here stay valid.
absl::StatusOr<std::vector<HostCertificate>> HostCertificates(
    const Scenario& scenario);

// Builds the world a scenario describes (DNS, one partner per MX host,
// routes, the sender with the scenario's policy table, the [[load]] messages
// and [[fault]]s), runs it from world.start for world.duration and collects
// the outcome. The same scenario and seed give the same result.
// Faults: refuse/timeout make connections to the host refused / unanswered
// from `at` on; stall holds every connection to the host for
// [at, at + duration); reset resets the connections open at `at`.
// Invariants (sim/invariants.h) are checked at the end of every connection
// and of the run; the first violation stops the world and is returned in the
// result (the status stays OK: the run itself worked).
absl::StatusOr<WorldResult> RunScenario(const Scenario& scenario,
                                        uint64_t seed,
                                        const WorldOptions& options = {});

}  // namespace starling::sim

#endif  // STARLING_SIM_WORLD_H_
