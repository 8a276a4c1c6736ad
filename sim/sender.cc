#include "sim/sender.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/policy/dane.h"
#include "core/policy/engine.h"
#include "core/policy/hook.h"
#include "core/tls/rng.h"
#include "sim/smtp_endpoint.h"

namespace starling::sim {
namespace {

// Forwards link callbacks to an endpoint, then tells the sender, so the
// sender sees every event of its connections without subclassing them.
class Tap : public LinkEndpoint {
 public:
  Tap(LinkEndpoint* target, std::function<void()> after)
      : target_(target), after_(std::move(after)) {}

  void OnConnected() override {
    target_->OnConnected();
    after_();
  }
  void OnData(absl::string_view bytes) override {
    target_->OnData(bytes);
    after_();
  }
  void OnClosed(CloseReason reason) override {
    target_->OnClosed(reason);
    after_();
  }
  void OnWritable() override {
    target_->OnWritable();
    after_();
  }

 private:
  LinkEndpoint* target_;
  std::function<void()> after_;
};

policy::DnssecStatus PolicyDnssec(DnssecStatus status) {
  switch (status) {
    case DnssecStatus::kSecure:
      return policy::DnssecStatus::kSecure;
    case DnssecStatus::kBogus:
      return policy::DnssecStatus::kBogus;
    case DnssecStatus::kInsecure:
      break;
  }
  return policy::DnssecStatus::kInsecure;
}

// DANE for one MX host (RFC 7672 §2.2): only a DNSSEC-secure MX RRset lets
// its TLSA records count. A TLSA lookup that fails (SERVFAIL) leaves the
// host's DANE status unknown, which the policy must treat like bogus.
policy::DaneState DaneFor(const DnsModel& dns, absl::string_view mx_host,
                          DnssecStatus mx_dnssec) {
  policy::DaneState state;
  if (mx_dnssec != DnssecStatus::kSecure) {
    state.dnssec = PolicyDnssec(mx_dnssec);
    return state;
  }
  absl::StatusOr<DnsAnswer<TlsaRecord>> tlsa = dns.LookupTlsa(mx_host);
  if (!tlsa.ok()) {
    state.dnssec = absl::IsNotFound(tlsa.status())
                       ? policy::DnssecStatus::kSecure
                       : policy::DnssecStatus::kBogus;
    return state;
  }
  state.dnssec = PolicyDnssec(tlsa->dnssec);
  for (const TlsaRecord& record : tlsa->records) {
    state.records.push_back(policy::TlsaRecord{
        record.usage, record.selector, record.matching_type, record.data});
  }
  return state;
}

std::string ReplyText(const smtp::Reply& reply) {
  if (reply.code == 0) return "";
  std::string text = absl::StrCat(reply.code);
  if (reply.enhanced.has_value()) {
    absl::StrAppend(&text, " ", reply.enhanced->ToString());
  }
  if (!reply.lines.empty()) absl::StrAppend(&text, " ", reply.lines[0]);
  return text;
}

std::string Describe(const smtp::RecipientResult& result) {
  const std::string reply = ReplyText(result.reply);
  if (reply.empty()) return result.detail;
  if (result.detail.empty() || absl::StrContains(reply, result.detail)) {
    return reply;
  }
  return absl::StrCat(reply, " (", result.detail, ")");
}

std::string Rfc3339(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

}  // namespace

absl::string_view RecipientFateName(RecipientFate fate) {
  switch (fate) {
    case RecipientFate::kQueued:
      return "queued";
    case RecipientFate::kDelivered:
      return "delivered";
    case RecipientFate::kBounced:
      return "bounced";
  }
  return "unknown";
}

absl::string_view AttemptKindName(AttemptKind kind) {
  switch (kind) {
    case AttemptKind::kDns:
      return "dns";
    case AttemptKind::kSkipped:
      return "skipped";
    case AttemptKind::kConnection:
      return "connection";
  }
  return "unknown";
}

std::string FormatAttempt(const AttemptRecord& record) {
  std::string out = absl::StrCat(Rfc3339(record.start), " ", record.domain);
  if (!record.mx_host.empty()) {
    absl::StrAppend(&out, " mx=", record.mx_host, "[", record.mx_preference,
                    "]");
  }
  absl::StrAppend(&out, " ", AttemptKindName(record.kind));
  if (record.kind == AttemptKind::kConnection) {
    absl::StrAppend(&out, " connected=", record.connected ? "yes" : "no",
                    " tls=", record.tls ? "yes" : "no");
    if (record.chain_verdict.has_value()) {
      absl::StrAppend(&out, " chain=",
                      policy::ChainVerdictName(*record.chain_verdict));
    }
  }
  absl::StrAppend(&out, " verdict=", smtp::DeliveryVerdictName(record.verdict),
                  " label=",
                  record.policy_label.empty() ? "-" : record.policy_label,
                  " tlsrpt=",
                  record.tlsrpt_result_type.empty() ? "-"
                                                    : record.tlsrpt_result_type);
  if (!record.detail.empty()) absl::StrAppend(&out, " detail=", record.detail);
  for (const AttemptRecipient& r : record.recipients) {
    absl::StrAppend(&out, "\n  #", r.message, " ", r.result.mailbox.ToString(),
                    " ", smtp::RecipientStatusName(r.result.status), " at ",
                    smtp::ClientStageName(r.result.stage), ": ",
                    Describe(r.result));
  }
  return out;
}

// One connection to one MX host. Members are destroyed in reverse order:
// the link first (cancelling its events), then the endpoints (their
// timers), then the hook they use.
struct Sender::Connection {
  std::unique_ptr<policy::PolicyEngineHook> hook;
  std::unique_ptr<ClientEndpoint> client;
  std::unique_ptr<PartnerConnection> server;
  std::unique_ptr<Tap> client_tap;
  std::unique_ptr<Tap> server_tap;
  std::unique_ptr<Link> link;
  EventHandle connect_timer;
  EventHandle finish_event;
  // The client session's next deadline, watched (see WatchSession).
  EventHandle session_watch;
  absl::Time session_watch_time = absl::InfiniteFuture();
  bool gave_up = false;
  bool timed_out = false;
  bool finishing = false;
  bool mandatory = false;
  const Partner* partner = nullptr;
  std::unique_ptr<CapturedConnection> capture;
  AttemptRecord record;
  // The recipients in the order of the session's results.
  std::vector<std::vector<RecipientRef>> sent;
};

// One delivery run for a domain: the recipients due, tried against each MX
// in turn.
struct Sender::Run {
  std::vector<RecipientRef> batch;  // still undecided in this run
  std::vector<MxRecord> mx;
  DnssecStatus mx_dnssec = DnssecStatus::kInsecure;
  size_t next_mx = 0;
  // The next connection to run.mx[next_mx] skips STARTTLS: its handshake
  // just failed where TLS was optional (once per MX and run).
  bool clear_retry = false;
  policy::DestinationState state;
  // What the table is searched with: the next-hop key, else the domain.
  std::string policy_key;
  std::unique_ptr<Connection> connection;
};

Sender::Sender(Scheduler* scheduler, const DnsModel* dns,
               const policy::PolicyTable* table, SenderOptions options)
    : scheduler_(scheduler),
      dns_(dns),
      table_(table),
      options_(std::move(options)),
      mx_random_(Random(options_.seed).Fork(1)),
      connection_random_(Random(options_.seed).Fork(2)) {}

Sender::~Sender() {
  for (auto& [domain, queue] : domains_) {
    if (queue.event.sequence != 0) scheduler_->Cancel(queue.event);
    if (queue.run != nullptr && queue.run->connection != nullptr) {
      scheduler_->Cancel(queue.run->connection->connect_timer);
      scheduler_->Cancel(queue.run->connection->finish_event);
      scheduler_->Cancel(queue.run->connection->session_watch);
    }
  }
}

void Sender::AddRoute(absl::string_view mx_host, Route route) {
  routes_[DnsModel::Canonical(mx_host)] = std::move(route);
}

void Sender::SetStsFetch(absl::string_view domain, policy::StsFetch fetch) {
  sts_fetches_[DnsModel::Canonical(domain)] = std::move(fetch);
}

absl::StatusOr<uint64_t> Sender::Enqueue(OutgoingMessage message) {
  if (message.recipients.empty()) {
    return absl::InvalidArgumentError("a message needs recipients");
  }
  const uint64_t id = next_id_++;
  MessageState& state = messages_[id];
  state.id = id;
  state.queued_at = scheduler_->Now();
  for (const smtp::Mailbox& mailbox : message.recipients) {
    RecipientState recipient;
    recipient.mailbox = mailbox;
    recipient.next_attempt = state.queued_at;
    recipient.backoff = options_.first_retry;
    state.recipients.push_back(std::move(recipient));
  }
  state.message = std::move(message);
  for (size_t i = 0; i < state.recipients.size(); ++i) {
    const std::string domain =
        DnsModel::Canonical(state.recipients[i].mailbox.domain);
    domains_[domain].pending.push_back({id, i});
    Schedule(domain, state.queued_at);
  }
  return id;
}

const MessageState* Sender::message(uint64_t id) const {
  auto it = messages_.find(id);
  return it == messages_.end() ? nullptr : &it->second;
}

size_t Sender::queued() const {
  size_t n = 0;
  for (const auto& [domain, queue] : domains_) n += queue.pending.size();
  return n;
}

std::string Sender::Audit() const {
  for (const auto& [domain, queue] : domains_) {
    for (const RecipientRef& ref : queue.pending) {
      const RecipientState& r =
          messages_.at(ref.message).recipients.at(ref.index);
      if (r.fate != RecipientFate::kQueued) {
        return absl::StrCat("message ", ref.message, " recipient ",
                            r.mailbox.ToString(), " is ",
                            RecipientFateName(r.fate),
                            " but still in the queue of ", domain);
      }
    }
    if (!queue.pending.empty() && queue.run == nullptr &&
        queue.event.sequence == 0) {
      return absl::StrCat(queue.pending.size(), " recipients queued for ",
                          domain, " but no delivery run is due");
    }
  }
  for (const auto& [id, message] : messages_) {
    for (size_t i = 0; i < message.recipients.size(); ++i) {
      const RecipientState& r = message.recipients[i];
      if (r.fate != RecipientFate::kQueued) continue;
      auto queue = domains_.find(DnsModel::Canonical(r.mailbox.domain));
      const RecipientRef ref{id, i};
      if (queue == domains_.end() ||
          std::count(queue->second.pending.begin(),
                     queue->second.pending.end(), ref) != 1) {
        return absl::StrCat("message ", id, " recipient ",
                            r.mailbox.ToString(),
                            " is queued but not exactly once in its "
                            "domain's queue (lost)");
      }
    }
  }
  return "";
}

RecipientState& Sender::Recipient(const RecipientRef& ref) {
  return messages_.at(ref.message).recipients[ref.index];
}

void Sender::Schedule(const std::string& domain, absl::Time time) {
  DomainQueue& queue = domains_[domain];
  // A run in progress reschedules when it ends.
  if (queue.run != nullptr || time >= queue.event_time) return;
  if (queue.event.sequence != 0) scheduler_->Cancel(queue.event);
  queue.event_time = time;
  queue.event = scheduler_->At(time, [this, domain] {
    DomainQueue& q = domains_[domain];
    q.event = EventHandle();
    q.event_time = absl::InfiniteFuture();
    StartRun(domain);
  });
}

void Sender::Reschedule(const std::string& domain) {
  absl::Time next = absl::InfiniteFuture();
  for (const RecipientRef& ref : domains_[domain].pending) {
    next = std::min(next, Recipient(ref).next_attempt);
  }
  if (next != absl::InfiniteFuture()) Schedule(domain, next);
}

void Sender::StartRun(const std::string& domain) {
  DomainQueue& queue = domains_[domain];
  auto run = std::make_unique<Run>();
  for (const RecipientRef& ref : queue.pending) {
    RecipientState& recipient = Recipient(ref);
    if (recipient.next_attempt <= scheduler_->Now()) {
      ++recipient.attempts;
      run->batch.push_back(ref);
    }
  }
  if (run->batch.empty()) {
    Reschedule(domain);
    return;
  }
  queue.run = std::move(run);
  if (Resolve(domain, *queue.run, queue)) TryNextMx(domain);
}

bool Sender::Resolve(const std::string& domain, Run& run,
                     DomainQueue& queue) {
  AttemptRecord record;
  record.kind = AttemptKind::kDns;
  record.start = record.end = scheduler_->Now();
  record.domain = domain;
  run.policy_key = domain;
  run.state.now = scheduler_->Now();

  // An explicit next-hop "[host]" or "[host]:port": that host, no MX lookup
  // and no MTA-STS (RFC 8461 is about a domain's MX hosts), DANE if its
  // name is DNSSEC-signed; the table is searched with the next-hop.
  if (auto nexthop = options_.nexthops.find(domain);
      nexthop != options_.nexthops.end()) {
    const std::string& key = nexthop->second;
    const std::string host = key.substr(1, key.find(']') - 1);
    run.policy_key = key;
    run.state.policy_key = key;
    run.mx = {MxRecord{0, host}};
    absl::StatusOr<DnsAnswer<TlsaRecord>> tlsa = dns_->LookupTlsa(host);
    run.mx_dnssec = tlsa.ok() ? tlsa->dnssec : DnssecStatus::kInsecure;
    run.state.dane_by_mx[host] = DaneFor(*dns_, host, run.mx_dnssec);
    return true;
  }

  absl::StatusOr<DnsAnswer<MxRecord>> mx = dns_->LookupMx(domain, mx_random_);
  if (mx.ok() && mx->records.empty()) {
    // RFC 5321 §5.1: no MX records, the domain itself is the implicit MX.
    mx->records.push_back(MxRecord{0, domain});
  }
  const bool null_mx =
      mx.ok() && mx->records.size() == 1 && mx->records[0].host == ".";
  if (!mx.ok() || null_mx) {
    const bool permanent = null_mx || absl::IsNotFound(mx.status());
    // RFC 3463 X.1.2 (bad destination system) for NXDOMAIN; RFC 7505 X.1.10
    // for a null MX.
    const std::string status =
        null_mx ? "5.1.10" : (permanent ? "5.1.2" : "4.4.3");
    record.detail = null_mx ? "null MX: the domain accepts no mail"
                            : absl::StrCat("MX lookup: ", mx.status().message(),
                                           permanent ? " (NXDOMAIN)"
                                                     : " (SERVFAIL)");
    record.verdict = permanent ? smtp::DeliveryVerdict::kBounce
                               : smtp::DeliveryVerdict::kDefer;
    record.recipients = FailBatch(
        run,
        permanent ? smtp::RecipientStatus::kPermFailed
                  : smtp::RecipientStatus::kTempFailed,
        smtp::ClientStage::kConnect,
        smtp::Reply::Make(permanent ? 550 : 451, status, record.detail),
        record.detail);
    Apply(run, record.recipients);
    attempts_.push_back(std::move(record));
    EndRun(domain);
    return false;
  }
  run.mx = std::move(mx->records);
  run.mx_dnssec = mx->dnssec;

  policy::DestinationState& state = run.state;
  for (const MxRecord& host : run.mx) {
    state.dane_by_mx[host.host] = DaneFor(*dns_, host.host, run.mx_dnssec);
  }
  policy::StsTxtLookup txt;
  absl::StatusOr<DnsAnswer<std::string>> sts_txt =
      dns_->LookupMtaStsTxt(domain);
  if (sts_txt.ok()) {
    absl::StatusOr<std::string> id =
        policy::StsIdFromTxtRecords(sts_txt->records);
    if (id.ok()) {
      txt.status = policy::StsTxtLookup::Status::kFound;
      txt.id = *id;
    }
  } else if (absl::IsUnavailable(sts_txt.status())) {
    txt.status = policy::StsTxtLookup::Status::kTemporaryError;
  }
  std::optional<policy::StsFetch> fetch;
  if (policy::StsNeedsFetch(txt, queue.sts_cache, state.now)) {
    auto it = sts_fetches_.find(domain);
    if (it != sts_fetches_.end()) {
      fetch = it->second;
    } else {
      fetch = policy::StsFetch{policy::StsFetch::Outcome::kNetworkError, 0,
                               "", "", "no policy host"};
    }
  }
  policy::StsResolution sts =
      policy::ResolveSts(txt, queue.sts_cache, fetch, state.now);
  state.sts = std::move(sts.policy);
  state.sts_failure = std::move(sts.failure_result_type);
  queue.sts_cache = std::move(sts.cache);
  return true;
}

void Sender::TryNextMx(const std::string& domain) {
  Run& run = *domains_[domain].run;
  while (!run.batch.empty() && run.next_mx < run.mx.size()) {
    const MxRecord& mx = run.mx[run.next_mx];
    // "nexthop" in a policy names the next-hop's host for a routed domain.
    const std::string next_hop =
        run.policy_key == domain ? domain : mx.host;
    smtp::Destination destination{next_hop, mx.host, mx.preference,
                                  run.next_mx + 1 == run.mx.size()};
    policy::PolicyEngineHook check(table_, run.state);
    smtp::PolicyDecision decision = check.BeforeConnect(destination);
    if (decision.verdict == smtp::DeliveryVerdict::kProceedTls ||
        decision.verdict == smtp::DeliveryVerdict::kProceedPlaintext) {
      if (Connect(domain, run, std::move(destination), std::move(decision))) {
        return;
      }
      ++run.next_mx;
    run.clear_retry = false;
      continue;
    }
    AttemptRecord record;
    record.kind = AttemptKind::kSkipped;
    record.start = record.end = scheduler_->Now();
    record.domain = domain;
    record.mx_host = mx.host;
    record.mx_preference = mx.preference;
    record.verdict = decision.verdict;
    record.policy_label = decision.label;
    record.tlsrpt_result_type = decision.tlsrpt_result_type;
    record.tlsrpt_reported = decision.tlsrpt_result_type;
    record.policy_rule = PolicyRule(run.policy_key);
    // The check that refused the MX, not the verdict line after it.
    for (const std::string& line : decision.trace) {
      if (absl::StartsWith(line, "FAIL: ")) {
        record.first_failure = line;
        break;
      }
    }
    record.detail = absl::StrCat(
        "policy refused the MX: ",
        record.first_failure.empty()
            ? (decision.trace.empty() ? "" : decision.trace.back())
            : record.first_failure);
    const bool bounce = decision.verdict == smtp::DeliveryVerdict::kBounce;
    record.recipients = FailBatch(
        run,
        bounce ? smtp::RecipientStatus::kPermFailed
               : smtp::RecipientStatus::kTempFailed,
        smtp::ClientStage::kPolicy,
        smtp::Reply::Make(bounce ? 550 : 451, bounce ? "5.7.1" : "4.7.5",
                          "MX refused by TLS policy"),
        record.detail);
    Apply(run, record.recipients);
    attempts_.push_back(std::move(record));
    ++run.next_mx;
    run.clear_retry = false;
  }
  EndRun(domain);
}

bool Sender::Connect(const std::string& domain, Run& run,
                     smtp::Destination destination,
                     smtp::PolicyDecision check) {
  auto connection = std::make_unique<Connection>();
  AttemptRecord& record = connection->record;
  record.kind = AttemptKind::kConnection;
  record.start = scheduler_->Now();
  record.domain = domain;
  record.mx_host = destination.mx_host;
  record.mx_preference = destination.mx_preference;
  record.verdict = check.verdict;
  record.policy_label = check.label;
  record.policy_rule = PolicyRule(run.policy_key);
  connection->mandatory = check.verdict == smtp::DeliveryVerdict::kProceedTls;

  auto route = routes_.find(destination.mx_host);
  if (route == routes_.end() || route->second.partner == nullptr) {
    record.end = record.start;
    record.detail = "no route to host";
    record.recipients = FailBatch(
        run, smtp::RecipientStatus::kTempFailed, smtp::ClientStage::kConnect,
        smtp::Reply::Make(421, "4.4.1", "no route to host"), record.detail);
    Apply(run, record.recipients);
    attempts_.push_back(std::move(record));
    return false;
  }

  // Every queued message for the domain goes over this one connection.
  std::vector<smtp::OutboundMessage> messages;
  for (const RecipientRef& ref : run.batch) {
    if (connection->sent.empty() ||
        connection->sent.back().front().message != ref.message) {
      const MessageState& state = messages_.at(ref.message);
      smtp::OutboundMessage message;
      message.sender = state.message.sender;
      message.tls_flags = state.message.tls_flags;
      message.size = state.message.body.size();
      message.body =
          std::make_shared<smtp::StringBodySource>(state.message.body);
      messages.push_back(std::move(message));
      connection->sent.emplace_back();
    }
    messages.back().recipients.push_back({Recipient(ref).mailbox, {}});
    connection->sent.back().push_back(ref);
  }

  const uint64_t seed = connection_random_.Next();
  connection->hook =
      std::make_unique<policy::PolicyEngineHook>(table_, run.state);
  ClientEndpointOptions client_options;
  auto smtp_options = std::make_shared<smtp::ClientOptions>();
  smtp_options->helo_name = options_.helo_name;
  smtp_options->attempt_starttls = !run.clear_retry;
  client_options.smtp = std::move(smtp_options);
  client_options.destination = destination;
  client_options.tls = options_.tls;
  client_options.tls.role = tls::Role::kClient;
  // The destination's entry may lower the protocol floor (a legacy partner's
  // connector) or allow static RSA key exchange.
  const policy::PolicyEntry& entry = table_->Lookup(run.policy_key);
  tls::AllowForDestination(entry.min_version, entry.max_version,
                           entry.forward_secrecy, &client_options.tls.policy);
  client_options.tls.rng = tls::SeededRng(seed, "client");
  absl::StatusOr<std::unique_ptr<ClientEndpoint>> client =
      ClientEndpoint::Create(scheduler_, std::move(client_options),
                             connection->hook.get(), std::move(messages));
  if (!client.ok()) {
    // An envelope the client refuses to write can never be sent.
    record.end = record.start;
    record.detail = std::string(client.status().message());
    record.recipients = FailBatch(
        run, smtp::RecipientStatus::kPermFailed, smtp::ClientStage::kLocal,
        smtp::Reply::Make(550, "5.1.3", "envelope cannot be sent"),
        record.detail);
    Apply(run, record.recipients);
    attempts_.push_back(std::move(record));
    return false;
  }
  connection->client = *std::move(client);
  connection->partner = route->second.partner;
  connection->server = route->second.partner->NewConnection(seed);
  // std::map nodes stay put: the queue outlives the connection.
  DomainQueue* queue = &domains_.at(domain);
  auto check_connection = [this, domain, queue] {
    CheckConnection(domain, *queue);
  };
  connection->client_tap =
      std::make_unique<Tap>(connection->client.get(), check_connection);
  connection->server_tap =
      std::make_unique<Tap>(connection->server.get(), check_connection);
  LinkOptions link_options = options_.link;
  link_options.faults = route->second.faults;
  connection->link = std::make_unique<Link>(
      scheduler_, Random(seed).Fork(1), std::move(link_options),
      connection->client_tap.get(), connection->server_tap.get());
  connection->client->Attach(connection->link.get());
  connection->server->Attach(connection->link.get());
  if (options_.capture) {
    connection->capture = std::make_unique<CapturedConnection>();
    CapturedConnection* capture = connection->capture.get();
    capture->domain = domain;
    capture->mx_host = destination.mx_host;
    capture->start = record.start;
    connection->link->set_observer([capture](const LinkRecord& r) {
      capture->events.push_back(
          CapturedEvent{r.time, r.to, r.type, std::string(r.bytes)});
    });
    connection->client->set_transcript(&capture->transcript);
  }
  connection->connect_timer =
      scheduler_->After(options_.connect_timeout, [this, domain] {
        Connection& c = *domains_[domain].run->connection;
        c.connect_timer = EventHandle();
        if (c.finishing || c.link->connected(Side::kA)) return;
        c.timed_out = true;
        c.finishing = true;
        FinishConnection(domain);
      });
  const absl::Status connect = connection->link->Connect();
  run.connection = std::move(connection);
  if (!connect.ok()) {
    run.connection->record.detail = std::string(connect.message());
  }
  return true;
}

void Sender::CheckConnection(const std::string& domain, DomainQueue& queue) {
  Connection& connection = *queue.run->connection;
  if (connection.finishing) return;
  if (!connection.link->finished()) {
    // Replies move the session's deadline, mostly later: a watch due no
    // later than the new deadline stays (it looks again when it fires), so
    // only an earlier deadline re-arms it.
    const absl::Time deadline = connection.client->session().NextDeadline();
    if (deadline < connection.session_watch_time) {
      if (connection.session_watch.sequence != 0) {
        scheduler_->Cancel(connection.session_watch);
      }
      ArmSessionWatch(domain, connection, deadline);
    }
    return;
  }
  connection.finishing = true;
  // Not from inside the link's callback: finishing destroys the link.
  connection.finish_event = scheduler_->After(
      absl::ZeroDuration(), [this, domain] { FinishConnection(domain); });
}

void Sender::ArmSessionWatch(const std::string& domain, Connection& connection,
                             absl::Time deadline) {
  connection.session_watch = EventHandle();
  connection.session_watch_time = deadline;
  if (deadline == absl::InfiniteFuture()) return;
  connection.session_watch =
      scheduler_->At(deadline, [this, domain, deadline] {
        WatchSession(domain, deadline, /*again=*/false);
      });
}

// A client whose session timer fired (RFC 5321 §4.5.3.2: greeting, command,
// DATA, end of data; STARTTLS) closes its socket and goes on to the next MX
// at once, as Postfix does: it does not wait for a stalled server to finish
// the TCP close. The endpoint runs the session's timers; this looks at the
// session once its deadline has passed. What is still in flight is lost
// with the link, as after a reset.
void Sender::WatchSession(const std::string& domain, absl::Time deadline,
                          bool again) {
  Run* run = domains_[domain].run.get();
  if (run == nullptr || run->connection == nullptr) return;
  Connection& c = *run->connection;
  c.session_watch = EventHandle();
  c.session_watch_time = absl::InfiniteFuture();
  if (c.finishing || c.link->finished()) return;
  const smtp::ClientSession& session = c.client->session();
  if (!session.closed()) {
    const absl::Time next = session.NextDeadline();
    if (next > deadline) {
      // The deadline moved on since this watch was armed: watch the new one.
      if (next != absl::InfiniteFuture()) ArmSessionWatch(domain, c, next);
    } else if (!again) {
      // The endpoint's timer for this deadline may run after this event:
      // look again once it has (events at one time run in scheduling order).
      c.session_watch_time = deadline;
      c.session_watch = scheduler_->After(
          absl::ZeroDuration(), [this, domain, deadline] {
            WatchSession(domain, deadline, /*again=*/true);
          });
    }
    return;
  }
  c.gave_up = true;
  c.finishing = true;
  FinishConnection(domain);
}

std::string Sender::PolicyRule(const std::string& key) const {
  const policy::PolicyTable::Match match = table_->Find(key);
  return absl::StrCat("'", match.key, "' (", table_->Where(match.line),
                      ")");
}

void Sender::FinishConnection(const std::string& domain) {
  Run& run = *domains_[domain].run;
  std::unique_ptr<Connection> connection = std::move(run.connection);
  if (connection->connect_timer.sequence != 0) {
    scheduler_->Cancel(connection->connect_timer);
  }
  if (connection->session_watch.sequence != 0) {
    scheduler_->Cancel(connection->session_watch);
  }
  AttemptRecord& record = connection->record;
  record.end = scheduler_->Now();
  record.connected = connection->link->connected(Side::kA);
  const smtp::ClientSession& session = connection->client->session();
  const std::optional<TlsFacts>& facts = connection->client->handshake_facts();
  record.tls = facts.has_value();
  if (facts.has_value()) record.chain_verdict = facts->chain_verdict;
  const smtp::PolicyDecision& policy = session.connection_policy();
  if (!policy.label.empty()) {
    record.verdict = policy.verdict;
    record.policy_label = policy.label;
  }
  record.tlsrpt_result_type = policy.tlsrpt_result_type;
  if (const auto& eval = connection->hook->last_evaluation();
      eval.has_value()) {
    record.first_failure = eval->first_failure;
    record.tlsrpt_reported = eval->reported_result_type;
  }
  for (const smtp::MessageResult& result : session.results()) {
    if (record.tlsrpt_result_type.empty() &&
        !result.policy.tlsrpt_result_type.empty()) {
      // A message-level refusal (REQUIRETLS): its own trace line says why.
      record.tlsrpt_result_type = result.policy.tlsrpt_result_type;
      record.tlsrpt_reported = result.policy.tlsrpt_result_type;
      for (const std::string& line : result.policy.trace) {
        if (absl::StartsWith(line, "REQUIRETLS: 5.7.10")) {
          record.first_failure = line;
        }
      }
    }
  }

  if (connection->timed_out || !session.closed()) {
    if (record.detail.empty()) {
      record.detail = connection->timed_out ? "connect timeout"
                                            : "connection ended unresolved";
    }
    record.recipients = FailBatch(
        run, smtp::RecipientStatus::kTempFailed, smtp::ClientStage::kConnect,
        smtp::Reply::Make(421, "4.4.1", record.detail), record.detail);
  } else {
    for (size_t m = 0; m < connection->sent.size(); ++m) {
      const std::vector<RecipientRef>& refs = connection->sent[m];
      for (size_t r = 0; r < refs.size(); ++r) {
        record.recipients.push_back(AttemptRecipient{
            refs[r].message, session.results()[m].recipients[r]});
      }
    }
    if (!record.connected && record.detail.empty()) {
      record.detail = "connection refused";
    }
    if (connection->gave_up && record.detail.empty()) {
      const std::vector<smtp::MessageResult>& results = session.results();
      record.detail = absl::StrCat(
          "gave up, the server stalled: ",
          results.empty() || results[0].recipients.empty()
              ? std::string("session timer")
              : results[0].recipients[0].detail);
    }
  }
  if (options_.on_connection_end) {
    ConnectionReport report;
    report.record = &record;
    report.client = connection->client.get();
    report.server = connection->server.get();
    report.partner = connection->partner;
    report.mandatory = connection->mandatory;
    report.capture = connection->capture.get();
    options_.on_connection_end(report);
  }
  // Opportunistic TLS that failed in the handshake: try the same host again
  // at once without STARTTLS (the policy still decides whether plaintext is
  // acceptable: only where TLS was optional, never for REQUIRETLS).
  bool retry_clear = !run.clear_retry && !connection->mandatory &&
                     record.connected && !record.tls &&
                     connection->client->handshake_failure().has_value() &&
                     !record.recipients.empty();
  for (const AttemptRecipient& r : record.recipients) {
    retry_clear &= r.result.stage == smtp::ClientStage::kTlsHandshake &&
                   r.result.status == smtp::RecipientStatus::kTempFailed;
  }
  Apply(run, record.recipients);
  attempts_.push_back(std::move(record));
  if (connection->capture != nullptr) {
    // One number for the attempt, its pcap file and its transcript.
    connection->capture->index = attempts_.size();
    captures_.push_back(std::move(*connection->capture));
  }
  connection.reset();
  if (retry_clear && !run.batch.empty()) {
    run.clear_retry = true;
    TryNextMx(domain);
    return;
  }
  run.clear_retry = false;
  ++run.next_mx;
  TryNextMx(domain);
}

void Sender::Apply(Run& run, const std::vector<AttemptRecipient>& results) {
  // `results` follow the batch's order (FailBatch and the session's results
  // are both built from it).
  std::vector<RecipientRef> still_open;
  for (size_t i = 0; i < run.batch.size() && i < results.size(); ++i) {
    const RecipientRef ref = run.batch[i];
    const smtp::RecipientResult& result = results[i].result;
    Recipient(ref).last = result;
    switch (result.status) {
      case smtp::RecipientStatus::kDelivered:
        Finish(ref, RecipientFate::kDelivered);
        break;
      case smtp::RecipientStatus::kPermFailed:
        Bounce(ref,
               result.reply.enhanced.has_value()
                   ? result.reply.enhanced->ToString()
                   : "5.0.0",
               Describe(result), false);
        break;
      case smtp::RecipientStatus::kTempFailed:
      case smtp::RecipientStatus::kPending:
        still_open.push_back(ref);
        break;
    }
  }
  run.batch = std::move(still_open);
}

void Sender::EndRun(const std::string& domain) {
  DomainQueue& queue = domains_[domain];
  std::unique_ptr<Run> run = std::move(queue.run);
  const absl::Time now = scheduler_->Now();
  for (const RecipientRef& ref : run->batch) {
    RecipientState& recipient = Recipient(ref);
    const absl::Time expiry =
        messages_.at(ref.message).queued_at + options_.max_queue_lifetime;
    if (now >= expiry) {
      // RFC 3463 X.4.7: delivery time expired; the last reason is kept.
      Bounce(ref, "4.4.7", Describe(recipient.last), true);
      continue;
    }
    recipient.next_attempt = std::min(now + recipient.backoff, expiry);
    recipient.backoff = std::min(recipient.backoff * 2, options_.max_retry);
  }
  Reschedule(domain);
}

void Sender::Bounce(const RecipientRef& ref, std::string status,
                    std::string diagnostic, bool expired) {
  bounces_.push_back(BounceRecord{ref.message, Recipient(ref).mailbox,
                                  scheduler_->Now(), std::move(status),
                                  std::move(diagnostic), expired});
  Finish(ref, RecipientFate::kBounced);
}

void Sender::Finish(const RecipientRef& ref, RecipientFate fate) {
  RecipientState& recipient = Recipient(ref);
  if (recipient.fate != RecipientFate::kQueued &&
      options_.on_bookkeeping_error) {
    options_.on_bookkeeping_error(absl::StrCat(
        "message ", ref.message, " recipient ", recipient.mailbox.ToString(),
        " ", RecipientFateName(fate), " after it was already ",
        RecipientFateName(recipient.fate)));
  }
  recipient.fate = fate;
  recipient.finished = scheduler_->Now();
  std::vector<RecipientRef>& pending =
      domains_[DnsModel::Canonical(recipient.mailbox.domain)].pending;
  pending.erase(std::remove(pending.begin(), pending.end(), ref),
                pending.end());
}

std::vector<AttemptRecipient> Sender::FailBatch(const Run& run,
                                                smtp::RecipientStatus status,
                                                smtp::ClientStage stage,
                                                const smtp::Reply& reply,
                                                absl::string_view detail) {
  std::vector<AttemptRecipient> results;
  for (const RecipientRef& ref : run.batch) {
    smtp::RecipientResult result;
    result.mailbox = Recipient(ref).mailbox;
    result.status = status;
    result.stage = stage;
    result.reply = reply;
    result.detail = std::string(detail);
    results.push_back(AttemptRecipient{ref.message, std::move(result)});
  }
  return results;
}

}  // namespace starling::sim
