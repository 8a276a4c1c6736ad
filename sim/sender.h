#ifndef STARLING_SIM_SENDER_H_
#define STARLING_SIM_SENDER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "core/smtp/client_session.h"
#include "core/smtp/command.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tls/channel.h"
#include "core/tlsfacts/tls_facts.h"
#include "sim/capture.h"
#include "sim/dns.h"
#include "sim/link.h"
#include "sim/partner.h"
#include "sim/random.h"
#include "sim/scheduler.h"

namespace starling::sim {

// A message handed to the sending MTA.
struct OutgoingMessage {
  std::optional<smtp::Mailbox> sender;  // nullopt: the null reverse-path
  std::vector<smtp::Mailbox> recipients;
  std::string body;               // RFC 5322 text
  smtp::MessageTlsFlags tls_flags;  // REQUIRETLS, "TLS-Required: No"
};

enum class RecipientFate : uint8_t { kQueued, kDelivered, kBounced };

absl::string_view RecipientFateName(RecipientFate fate);

struct RecipientState {
  smtp::Mailbox mailbox;
  RecipientFate fate = RecipientFate::kQueued;
  // The latest result from any attempt (what a bounce reports).
  smtp::RecipientResult last;
  int attempts = 0;  // delivery runs that included this recipient
  absl::Time next_attempt = absl::InfinitePast();
  absl::Duration backoff;            // the delay before the next retry
  absl::Time finished = absl::InfiniteFuture();
};

struct MessageState {
  uint64_t id = 0;
  OutgoingMessage message;
  absl::Time queued_at;
  std::vector<RecipientState> recipients;
};

// A delivery status notification for one recipient (RFC 3464 in spirit).
struct BounceRecord {
  uint64_t message = 0;
  smtp::Mailbox recipient;
  absl::Time time;
  std::string status;      // enhanced status code, e.g. "5.1.2"
  std::string diagnostic;  // the last reply or reason
  bool expired = false;    // the queue lifetime ran out on temp failures
};

enum class AttemptKind : uint8_t {
  kDns,         // the MX lookup failed or forbids mail (no host tried)
  kSkipped,     // the policy refused this MX before connecting
  kConnection,  // a connection was attempted
};

absl::string_view AttemptKindName(AttemptKind kind);

struct AttemptRecipient {
  uint64_t message = 0;
  smtp::RecipientResult result;
};

// One entry of the attempt log: a DNS failure, an MX the policy skipped, or
// a connection and what it did for each recipient it carried.
struct AttemptRecord {
  AttemptKind kind = AttemptKind::kConnection;
  absl::Time start;
  absl::Time end;
  std::string domain;
  std::string mx_host;  // empty for kDns
  uint32_t mx_preference = 0;
  bool connected = false;
  bool tls = false;  // a handshake completed
  std::optional<ChainVerdict> chain_verdict;
  smtp::DeliveryVerdict verdict = smtp::DeliveryVerdict::kDefer;
  std::string policy_label;        // "secure:verified", "may:plaintext", ...
  std::string tlsrpt_result_type;  // RFC 8460 name, empty when none
  // The policy table entry that applied: "'key' (file:line)".
  std::string policy_rule;
  // The check that decided a refusal, as the policy trace says it ("FAIL:
  // sts-mx (mta-sts): MX ... matches no MTA-STS mx pattern ...
  // [validation-failure]"); empty when no check failed.
  std::string first_failure;
  // What the attempt reports to the recipient domain in TLS-RPT (not the
  // sender's own pins, anchors or testing entries:
  // policy::ConnectionEvaluation::reported_result_type); empty: nothing.
  std::string tlsrpt_reported;
  std::string detail;
  std::vector<AttemptRecipient> recipients;
};

// One line per attempt, then one indented line per recipient.
std::string FormatAttempt(const AttemptRecord& record);

// Where an MX host name leads: a partner, reached over a link with these
// faults (e.g. a refused connection).
struct Route {
  Partner* partner = nullptr;
  LinkFaults faults;
};

// What the sender shows its observer when a connection has ended, before
// the results are applied (pointers valid during the call only).
struct ConnectionReport {
  const AttemptRecord* record = nullptr;
  const ClientEndpoint* client = nullptr;
  const PartnerConnection* server = nullptr;
  const Partner* partner = nullptr;
  // The policy's check before connecting made TLS mandatory.
  bool mandatory = false;
  // Null unless SenderOptions::capture.
  const CapturedConnection* capture = nullptr;
};

struct SenderOptions {
  uint64_t seed = 1;
  std::string helo_name = "relay.example.org";
  // The client TLS settings (trust store, policy); the RNG is replaced per
  // connection by one seeded from `seed`.
  tls::ChannelOptions tls;
  // Per-connection link settings; the faults come from the Route.
  LinkOptions link;
  // A connection attempt that nothing answers is given up after this.
  absl::Duration connect_timeout = absl::Seconds(30);
  // Retries after every MX failed temporarily: first_retry, doubling up to
  // max_retry, until max_queue_lifetime after queueing, then a bounce.
  absl::Duration first_retry = absl::Minutes(5);
  absl::Duration max_retry = absl::Hours(4);
  absl::Duration max_queue_lifetime = absl::Hours(24 * 5);
  // Record every connection's wire events and dialogue (captures()).
  bool capture = false;
  // Postfix-style next-hops ("[relay.example]:587") per recipient domain:
  // mail for the domain goes to that host without an MX lookup, and the
  // policy table is searched with the next-hop as the key.
  std::map<std::string, std::string> nexthops;
  // Called at the end of every connection (see ConnectionReport).
  std::function<void(const ConnectionReport&)> on_connection_end;
  // Called when the sender's own bookkeeping breaks (a recipient finished
  // twice, a queued recipient nobody will retry).
  std::function<void(absl::string_view)> on_bookkeeping_error;
};

// The simulator's sending MTA: a queue of messages per destination domain,
// MX lookup, the policy engine's MX check, DANE and MTA-STS state from the
// DNS model, one connection per MX tried carrying every queued message for
// the domain, retries with backoff and bounces. Everything runs on the
// scheduler; randomness comes from the seed. The scheduler, DNS model,
// table and partners must outlive the sender.
class Sender {
 public:
  Sender(Scheduler* scheduler, const DnsModel* dns,
         const policy::PolicyTable* table, SenderOptions options);
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // Connections to `mx_host` go to `route.partner` (case-insensitive). An MX
  // without a route behaves like a refused connection.
  void AddRoute(absl::string_view mx_host, Route route);
  // What fetching https://mta-sts.<domain>/.well-known/mta-sts.txt returns;
  // without one a needed fetch is a network error.
  void SetStsFetch(absl::string_view domain, policy::StsFetch fetch);

  // Queues a message; delivery starts at the current time, together with
  // whatever else is queued for the same domains then. kInvalidArgument
  // without recipients.
  absl::StatusOr<uint64_t> Enqueue(OutgoingMessage message);

  // Null for an unknown id.
  const MessageState* message(uint64_t id) const;
  const std::vector<AttemptRecord>& attempts() const { return attempts_; }
  const std::vector<BounceRecord>& bounces() const { return bounces_; }
  // Recipients not yet delivered or bounced.
  size_t queued() const;
  // Every queued recipient is waiting in its domain's queue or in the run
  // in progress, and nothing else is: the first discrepancy, else empty.
  std::string Audit() const;
  // The connections recorded under SenderOptions::capture, in the order
  // they ended; each one's index is its attempt's 1-based position in
  // attempts().
  const std::vector<CapturedConnection>& captures() const { return captures_; }
  // The same three, moved out when a run is over (the sender keeps none).
  std::vector<AttemptRecord> TakeAttempts() {
    return std::exchange(attempts_, {});
  }
  std::vector<BounceRecord> TakeBounces() {
    return std::exchange(bounces_, {});
  }
  std::vector<CapturedConnection> TakeCaptures() {
    return std::exchange(captures_, {});
  }

 private:
  struct RecipientRef {
    uint64_t message;
    size_t index;
    friend bool operator==(const RecipientRef&, const RecipientRef&) = default;
  };
  struct Connection;
  struct Run;
  struct DomainQueue {
    std::vector<RecipientRef> pending;  // queued recipients of this domain
    EventHandle event;
    absl::Time event_time = absl::InfiniteFuture();
    std::unique_ptr<Run> run;  // the delivery run in progress, if any
    std::optional<policy::StsCacheEntry> sts_cache;
  };

  RecipientState& Recipient(const RecipientRef& ref);
  // Makes sure a run for `domain` starts no later than `time`.
  void Schedule(const std::string& domain, absl::Time time);
  void Reschedule(const std::string& domain);
  void StartRun(const std::string& domain);
  // Fills the run's MX list and DestinationState; false when the run ended.
  bool Resolve(const std::string& domain, Run& run, DomainQueue& queue);
  // Connects to the next usable MX or ends the run.
  void TryNextMx(const std::string& domain);
  // Starts a connection to run.mx[run.next_mx]; false when none was made.
  bool Connect(const std::string& domain, Run& run,
               smtp::Destination destination, smtp::PolicyDecision check);
  void CheckConnection(const std::string& domain, DomainQueue& queue);
  // Schedules WatchSession at `deadline` (none for InfiniteFuture()).
  void ArmSessionWatch(const std::string& domain, Connection& connection,
                       absl::Time deadline);
  // Ends the connection when its client session gave up on a timer while
  // the link is still open (a stalled server).
  // `again`: the second look at the same deadline.
  void WatchSession(const std::string& domain, absl::Time deadline,
                    bool again);
  void FinishConnection(const std::string& domain);
  // Applies `results` to the run's batch: delivered and bounced recipients
  // leave it, temp failures stay.
  void Apply(Run& run, const std::vector<AttemptRecipient>& results);
  void EndRun(const std::string& domain);
  // "'key' (file:line)": the table entry `key` finds.
  std::string PolicyRule(const std::string& key) const;
  void Bounce(const RecipientRef& ref, std::string status,
              std::string diagnostic, bool expired);
  void Finish(const RecipientRef& ref, RecipientFate fate);
  // A temp or perm failure for every recipient of the batch.
  std::vector<AttemptRecipient> FailBatch(const Run& run,
                                          smtp::RecipientStatus status,
                                          smtp::ClientStage stage,
                                          const smtp::Reply& reply,
                                          absl::string_view detail);

  Scheduler* scheduler_;
  const DnsModel* dns_;
  const policy::PolicyTable* table_;
  SenderOptions options_;
  Random mx_random_;
  Random connection_random_;
  std::map<std::string, Route> routes_;
  std::map<std::string, policy::StsFetch> sts_fetches_;
  std::map<uint64_t, MessageState> messages_;
  std::map<std::string, DomainQueue> domains_;
  std::vector<AttemptRecord> attempts_;
  std::vector<BounceRecord> bounces_;
  std::vector<CapturedConnection> captures_;
  uint64_t next_id_ = 1;
};

}  // namespace starling::sim

#endif  // STARLING_SIM_SENDER_H_
