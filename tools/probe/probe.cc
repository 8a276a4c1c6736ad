#include "tools/probe/probe.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/policy/engine.h"
#include "core/starttls/connection.h"
#include "tools/io/outbound.h"
#include "tools/send/send.h"

namespace starling::probe {
namespace {

using smtp::DeliveryVerdict;

constexpr size_t kMaxTranscriptLines = 200;
constexpr size_t kMaxTranscriptLine = 512;

bool Proceeds(DeliveryVerdict verdict) {
  return verdict == DeliveryVerdict::kProceedTls ||
         verdict == DeliveryVerdict::kProceedPlaintext;
}

std::shared_ptr<const policy::PolicyTable> TableOf(absl::string_view text) {
  // The texts are the probe's own: a failure here is a bug, not input.
  absl::StatusOr<policy::PolicyTable> table = policy::ParsePolicyTable(text);
  return std::make_shared<const policy::PolicyTable>(*std::move(table));
}

// The probe's side of the session: says yes to everything so that the
// server shows all it has (STARTTLS whenever offered, whatever the
// handshake gave), records it, and stops before MAIL FROM.
class ObservingHook : public smtp::TlsPolicyHook {
 public:
  ObservingHook(Observation* observation, std::string sni)
      : observation_(observation), sni_(std::move(sni)) {}

  smtp::StartTlsIntent AfterEhlo(const smtp::Destination&,
                                 const smtp::EhloCapabilities& caps) override {
    observation_->ehlo = caps;
    smtp::StartTlsIntent intent;
    intent.attempt = true;
    intent.mandatory = false;
    intent.sni = sni_;
    intent.label = "probe";
    return intent;
  }
  smtp::PolicyDecision AfterHandshake(const smtp::Destination&,
                                      const TlsFacts&) override {
    return Go(DeliveryVerdict::kProceedTls);
  }
  smtp::PolicyDecision WithoutTls(const smtp::Destination&,
                                  smtp::TlsProblem problem,
                                  absl::string_view detail) override {
    observation_->tls_problem = problem;
    observation_->tls_problem_detail = std::string(detail);
    return Go(DeliveryVerdict::kProceedPlaintext);
  }
  // Called after the EHLO that follows the handshake (or the first one
  // without TLS) and before MAIL FROM: the end of the probe.
  smtp::PolicyDecision ForMessage(const smtp::Destination&,
                                  const smtp::MessageTlsFlags&,
                                  const smtp::EhloCapabilities& caps,
                                  const TlsFacts* tls,
                                  const smtp::PolicyDecision&) override {
    if (tls != nullptr) observation_->ehlo_over_tls = caps;
    smtp::PolicyDecision stop;
    stop.verdict = DeliveryVerdict::kDefer;
    stop.label = "probe";
    stop.trace = {"the probe ends the session before MAIL FROM"};
    return stop;
  }

 private:
  static smtp::PolicyDecision Go(DeliveryVerdict verdict) {
    smtp::PolicyDecision decision;
    decision.verdict = verdict;
    decision.label = "probe";
    return decision;
  }

  Observation* observation_;
  std::string sni_;
};

// Splits the session's bytes into lines, per direction.
class Transcript {
 public:
  explicit Transcript(std::vector<TranscriptLine>* lines) : lines_(lines) {}
  void Add(bool sent, bool tls, absl::string_view bytes) {
    std::string& pending = sent ? sent_ : received_;
    pending.append(bytes.data(), bytes.size());
    size_t end;
    while ((end = pending.find("\r\n")) != std::string::npos) {
      if (lines_->size() < kMaxTranscriptLines) {
        lines_->push_back({sent, tls, pending.substr(0, std::min(end, kMaxTranscriptLine))});
      }
      pending.erase(0, end + 2);
    }
  }

 private:
  std::vector<TranscriptLine>* lines_;
  std::string sent_;
  std::string received_;
};

Observation Observe(asio::io_context& context,
                    const asio::ip::tcp::endpoint& address,
                    const smtp::Destination& destination,
                    const ProbeSettings& settings) {
  Observation observation;
  observation.address = address;
  // The SNI and protocol range a sender under the connection table would
  // use, so that the server shows the certificate it shows such a sender.
  policy::PolicyEngineHook intent_of(settings.connection_table.table.get(), {});
  observation.sni = intent_of.AfterEhlo(destination, {}).sni;
  send::SendSettings channel;
  channel.table = settings.connection_table.table;
  channel.tls = settings.tls;

  ObservingHook hook(&observation, observation.sni);
  auto transcript = std::make_shared<Transcript>(&observation.transcript);
  // The session needs a message to exist; the hook ends it before MAIL
  // FROM, so nothing of this one is ever sent.
  smtp::OutboundMessage message;
  message.recipients.push_back({smtp::Mailbox{"postmaster", destination.next_hop_domain}, {}});
  message.body = std::make_shared<smtp::StringBodySource>("");
  std::vector<smtp::OutboundMessage> messages;
  messages.push_back(std::move(message));

  starttls::ClientConnection::Options options{
      std::make_shared<smtp::ClientOptions>(settings.smtp), destination,
      send::ChannelFor(channel, destination)};
  std::optional<io::OutboundResult> done;
  const absl::Status started = io::Deliver(
      context, {address}, std::move(options), &hook, std::move(messages),
      settings.connect_timeout,
      [&done](io::OutboundResult result) { done = std::move(result); },
      nullptr,
      [transcript](bool sent, bool tls, absl::string_view bytes) {
        transcript->Add(sent, tls, bytes);
      });
  if (!started.ok()) {
    observation.end = std::string(started.message());
    return observation;
  }
  context.restart();
  context.run();
  observation.connected = done->connected;
  observation.local = done->local;
  observation.end = done->close_reason;
  observation.elapsed = done->ended - done->started;
  if (done->handshake_facts.has_value()) {
    observation.tls = done->handshake_facts;
  } else if (done->tls_failure.has_value()) {
    observation.tls_problem = smtp::TlsProblem::kHandshakeFailed;
    observation.tls_problem_detail = done->tls_failure->detail;
  }
  return observation;
}

}  // namespace

std::vector<NamedTable> LevelTables() {
  std::vector<NamedTable> tables;
  for (const char* level : {"may", "encrypt", "verify", "secure", "dane"}) {
    tables.push_back({level, TableOf(absl::StrCat("* ", level, " mta-sts=no\n"))});
  }
  tables.push_back({"sts", TableOf("* may\n")});
  return tables;
}

NamedTable ReportTable() { return {"dane+sts", TableOf("* dane\n")}; }

const smtp::PolicyDecision& Judgement::Final() const {
  if (plaintext_retry.has_value()) return *plaintext_retry;
  if (decision.has_value()) return *decision;
  return before;
}

Judgement Judge(const NamedTable& table, const policy::DestinationState& state,
                const smtp::Destination& destination,
                const Observation* observation) {
  Judgement j;
  j.table = table.name;
  policy::PolicyEngineHook hook(table.table.get(), state);
  j.before = hook.BeforeConnect(destination);
  if (!Proceeds(j.before.verdict)) {
    j.reported_result_type = j.before.tlsrpt_result_type;
    return j;
  }
  if (observation == nullptr) {
    j.no_session = "no address to connect to";
    return j;
  }
  if (!observation->connected) {
    j.no_session = absl::StrCat("no connection: ", observation->end);
    return j;
  }
  if (!observation->ehlo.has_value()) {
    j.no_session = absl::StrCat("the session ended before EHLO: ", observation->end);
    return j;
  }
  const smtp::EhloCapabilities& caps = *observation->ehlo;
  const smtp::StartTlsIntent intent = hook.AfterEhlo(destination, caps);
  if (intent.attempt && caps.starttls) {
    j.decision = observation->tls.has_value()
                     ? hook.AfterHandshake(destination, *observation->tls)
                     : hook.WithoutTls(destination,
                                       observation->tls_problem.value_or(
                                           smtp::TlsProblem::kHandshakeFailed),
                                       observation->tls_problem_detail);
  } else if (caps.starttls) {
    j.decision = hook.WithoutTls(destination, smtp::TlsProblem::kNotAttempted,
                                 "not attempted");
  } else {
    j.decision = hook.WithoutTls(
        destination, smtp::TlsProblem::kNotOffered,
        observation->tls_problem_detail.empty() ? "STARTTLS not in the EHLO reply"
                                                : observation->tls_problem_detail);
  }
  if (hook.last_evaluation().has_value()) {
    j.reported_result_type = hook.last_evaluation()->reported_result_type;
    j.first_failure = hook.last_evaluation()->first_failure;
  }
  // starling-send's plaintext retry (send::SendToHost): optional TLS whose
  // handshake failed.
  if (!Proceeds(j.decision->verdict) && intent.attempt && caps.starttls &&
      !observation->tls.has_value() &&
      observation->tls_problem == smtp::TlsProblem::kHandshakeFailed &&
      j.before.verdict != DeliveryVerdict::kProceedTls) {
    policy::PolicyEngineHook retry(table.table.get(), state);
    retry.BeforeConnect(destination);
    retry.AfterEhlo(destination, caps);
    j.plaintext_retry = retry.WithoutTls(
        destination, smtp::TlsProblem::kNotAttempted, "not attempted");
  }
  return j;
}

ProbeReport Probe(asio::io_context& context,
                  net::DestinationResolution resolution,
                  const send::ConnectOverrides& connect,
                  const ProbeSettings& settings, absl::Time now) {
  ProbeReport report;
  report.resolution = std::move(resolution);
  report.now = now;
  report.state = net::DestinationStateFor(report.resolution, now);
  const net::DestinationResolution& r = report.resolution;
  const std::vector<send::MxRoute> routes = send::RoutesFor(r, connect);
  const size_t last = send::LastMxToTry(routes);
  for (size_t i = 0; i < routes.size(); ++i) {
    const send::MxRoute& route = routes[i];
    MxProbe mx;
    mx.host = *route.host;
    mx.last_mx = i == last;
    mx.overridden = route.overridden;
    smtp::Destination destination;
    destination.next_hop_domain = r.domain;
    destination.mx_host = route.host->host;
    destination.mx_preference = route.host->preference;
    destination.last_mx = mx.last_mx;
    if (route.endpoints.empty()) {
      mx.no_address = route.problem;
      for (const NamedTable& table : settings.tables) {
        mx.judgements.push_back(Judge(table, report.state, destination, nullptr));
      }
    }
    for (const asio::ip::tcp::endpoint& address : route.endpoints) {
      AddressProbe probe;
      probe.observation = Observe(context, address, destination, settings);
      for (const NamedTable& table : settings.tables) {
        probe.judgements.push_back(
            Judge(table, report.state, destination, &probe.observation));
      }
      if (probe.observation.tls.has_value() &&
          policy::ClassifyDane(route.host->dane) == policy::DaneStatus::kUsable) {
        probe.dane = policy::MatchDane(route.host->dane, *probe.observation.tls,
                                       {route.host->host, r.domain}, now);
      }
      mx.addresses.push_back(std::move(probe));
    }
    report.mx.push_back(std::move(mx));
  }
  return report;
}

}  // namespace starling::probe
