#include "sim/world.h"

#include <algorithm>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "core/smtp/client_session.h"
#include "core/smtp/command.h"
#include "core/tls/facts.h"
#include "core/tls/testing/test_pki.h"
#include "sim/attacker.h"
#include "sim/dns.h"
#include "sim/invariants.h"
#include "sim/link.h"
#include "sim/partner.h"
#include "sim/random.h"
#include "sim/scheduler.h"

namespace starling::sim {
namespace {

// The PKI's own seed: fixed, so that its keys are generated once per process
// whatever the world's seed (the TLS handshakes still follow the world seed).
constexpr uint64_t kPkiSeed = 7;
// Random(seed).Fork(kLoadStream) draws the REQUIRETLS choices.
constexpr uint64_t kLoadStream = 100;

std::string MessageKey(int64_t index) { return absl::StrCat("m", index); }

// A deterministic RFC 5322 text of exactly `size` octets (CRLF lines, no
// bare CR or LF) when size >= 2.
// It starts with the Message-ID header that names the message (see
// MessageKeyOf) unless `size` is too small for it.
std::string MakeBody(int64_t size, absl::string_view domain, int64_t index) {
  const size_t target = static_cast<size_t>(size);
  std::string body = absl::StrCat(MessageIdHeader(MessageKey(index)), "\r\n",
                                  "Subject: mtasim load ", index, " to ",
                                  domain, "\r\n\r\n");
  static constexpr absl::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  // 76 letters and CRLF per line, each line starting one letter further on.
  std::string line;
  for (size_t i = 0; i < 76 + kAlphabet.size(); ++i) {
    line.push_back(kAlphabet[i % kAlphabet.size()]);
  }
  body.reserve(target + 78);
  size_t n = static_cast<size_t>(index);
  while (body.size() < target) {
    body.append(line, n++ % kAlphabet.size(), 76);
    body += "\r\n";
  }
  body.resize(target);
  if (target >= 2) {
    body[target - 2] = '\r';
    body[target - 1] = '\n';
    if (target >= 3 && body[target - 3] == '\r') body[target - 3] = 'x';
  } else if (target == 1) {
    body[0] = 'x';
  }
  return body;
}

struct Host {
  std::unique_ptr<Partner> partner;
  LinkFaults faults;
  std::vector<absl::Time> resets;  // ascending, still to come
};

std::string FaultText(const ScenarioFault& fault) {
  std::string text = absl::StrCat(fault.host, " ", ScenarioFaultKindName(fault.kind),
                                  " at ", absl::FormatDuration(fault.at));
  if (fault.kind == ScenarioFaultKind::kStall) {
    absl::StrAppend(&text, " for ", absl::FormatDuration(fault.duration));
  }
  return text;
}

// A TLSA record with empty data stands for the record that matches what
// `profile` presents on `pki`'s host: the leaf (usage 3) or its issuer
// (usage 2), whole or its SubjectPublicKeyInfo, as is or hashed.
absl::StatusOr<TlsaRecord> ResolveTlsa(
    const TlsaRecord& tlsa,
    const std::shared_ptr<const tls::testing::TestPki>& pki,
    PartnerProfile profile) {
  if (!tlsa.data.empty()) return tlsa;
  if (pki == nullptr) return absl::InternalError("test PKI unavailable");
  const std::vector<std::string> chain =
      pki->identity(PartnerCertKind(profile))->ChainDer();
  const size_t index = tlsa.usage == 2 ? 1 : 0;
  if (index >= chain.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLSA usage 2 for profile ", PartnerProfileName(profile),
        ": its certificate is sent without an issuer"));
  }
  // The digests come from the TLS layer (Botan), like the ones DANE checks.
  absl::StatusOr<CertificateFacts> facts =
      tls::DescribeCertificateDer(chain[index]);
  if (!facts.ok()) return facts.status();
  const bool full = tlsa.selector == 0;
  TlsaRecord out = tlsa;
  switch (tlsa.matching_type) {
    case 1:
      out.data = full ? facts->sha256 : facts->spki_sha256;
      break;
    case 2:
      out.data = full ? facts->sha512 : facts->spki_sha512;
      break;
    default:
      out.data = full ? facts->der : facts->spki_der;
      break;
  }
  return out;
}

void Count(const WorldRecipient& r, OutcomeCounts* counts) {
  switch (r.fate) {
    case RecipientFate::kDelivered:
      if (r.over_tls) {
        ++counts->tls;
        ++counts->tls_by_label[r.policy_label];
      } else {
        ++counts->plaintext;
      }
      break;
    case RecipientFate::kQueued:
      ++counts->deferred;
      break;
    case RecipientFate::kBounced:
      ++counts->bounced;
      break;
  }
}

// Why a recipient is still deferred or was bounced, from the last attempt
// that carried it: the policy check that failed, else what the connection
// or the server said.
std::string Why(const AttemptRecord* last, const smtp::RecipientResult* result,
                const BounceRecord* bounce) {
  if (last != nullptr && !last->first_failure.empty()) {
    absl::string_view why = last->first_failure;
    if (!absl::ConsumePrefix(&why, "FAIL: ")) {
      absl::ConsumePrefix(&why, "testing, would fail: ");
    }
    return std::string(why);
  }
  if (bounce != nullptr) return bounce->diagnostic;
  if (last != nullptr && !last->detail.empty() &&
      last->kind != AttemptKind::kSkipped) {
    return last->detail;
  }
  if (result != nullptr) {
    if (result->reply.code != 0) {
      return absl::StrCat(result->reply.code, " ",
                          result->reply.enhanced.has_value()
                              ? result->reply.enhanced->ToString() + " "
                              : "",
                          result->reply.lines.empty() ? ""
                                                      : result->reply.lines[0]);
    }
    return result->detail;
  }
  return "not attempted yet";
}

// The spans between the faults on a domain's hosts (start, end, and the
// end of each stall), each labelled with what began it.
std::vector<DomainPeriod> Periods(const Scenario& scenario,
                                  const ScenarioDomain& domain,
                                  absl::Time start, absl::Time end) {
  std::map<absl::Time, std::vector<std::string>> boundaries;
  for (const ScenarioFault& fault : scenario.faults) {
    bool ours = false;
    for (const ScenarioMx& mx : domain.mx) ours |= mx.host == fault.host;
    if (!ours) continue;
    const std::string what =
        absl::StrCat(fault.host, " ", ScenarioFaultKindName(fault.kind));
    boundaries[start + fault.at].push_back(what);
    if (fault.kind == ScenarioFaultKind::kStall) {
      boundaries[start + fault.at + fault.duration].push_back(
          absl::StrCat(what, " ends"));
    }
  }
  std::vector<DomainPeriod> periods;
  if (boundaries.empty()) return periods;
  periods.push_back(DomainPeriod{start, end, {}, {}, absl::ZeroDuration()});
  for (auto& [time, what] : boundaries) {
    if (time <= start || time >= end) continue;
    periods.back().to = time;
    periods.push_back(
        DomainPeriod{time, end, std::move(what), {}, absl::ZeroDuration()});
  }
  return periods;
}

}  // namespace

uint64_t Fnv1a64(absl::string_view data) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : data) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

absl::StatusOr<std::vector<HostCertificate>> HostCertificates(
    const Scenario& scenario) {
  std::vector<HostCertificate> out;
  std::set<std::string> seen;
  auto describe = [&](const ScenarioMx& mx, tls::testing::CertKind kind,
                      std::string when) -> absl::Status {
    std::shared_ptr<const tls::testing::TestPki> pki =
        tls::testing::TestPki::Get(kPkiSeed, scenario.world.start, mx.host);
    if (pki == nullptr) return absl::InternalError("test PKI unavailable");
    const std::vector<std::string> chain = pki->identity(kind)->ChainDer();
    if (chain.empty()) return absl::InternalError("empty chain");
    absl::StatusOr<CertificateFacts> leaf = tls::DescribeCertificateDer(chain[0]);
    if (!leaf.ok()) return leaf.status();
    out.push_back(HostCertificate{mx.host,
                                  std::string(PartnerProfileName(mx.profile)),
                                  std::move(when), *std::move(leaf)});
    return absl::OkStatus();
  };
  for (const ScenarioDomain& domain : scenario.domains) {
    for (const ScenarioMx& mx : domain.mx) {
      if (mx.profile == PartnerProfile::kNoStartTls || !seen.insert(mx.host).second) {
        continue;
      }
      if (absl::Status s = describe(mx, PartnerCertKind(mx.profile), "");
          !s.ok()) {
        return s;
      }
      for (const ScenarioFault& fault : scenario.faults) {
        if (fault.host != mx.host ||
            fault.kind != ScenarioFaultKind::kRollover) {
          continue;
        }
        if (absl::Status s = describe(mx, tls::testing::CertKind::kRolloverNew,
                                      "after rollover");
            !s.ok()) {
          return s;
        }
        break;
      }
    }
  }
  return out;
}

absl::StatusOr<WorldResult> RunScenario(const Scenario& scenario,
                                        uint64_t seed,
                                        const WorldOptions& world_options) {
  const absl::Time start = scenario.world.start;
  const std::shared_ptr<const tls::testing::TestPki> pki =
      tls::testing::TestPki::Get(kPkiSeed, start);
  if (pki == nullptr) return absl::InternalError("test PKI unavailable");
  // Each MX host presents certificates for its own name. The roots depend on
  // the seed and time only, so one trust store serves every host.
  auto pki_for = [&](const std::string& host)
      -> std::shared_ptr<const tls::testing::TestPki> {
    std::shared_ptr<const tls::testing::TestPki> own =
        tls::testing::TestPki::Get(kPkiSeed, start, host);
    if (own == nullptr || own->root_der() != pki->root_der()) return nullptr;
    return own;
  };

  Scheduler scheduler(start);
  DnsModel dns;
  std::map<std::string, Host> hosts;

  WorldResult result;
  // DNS and partners.
  for (const ScenarioDomain& domain : scenario.domains) {
    dns.SetDnssec(domain.name, domain.dnssec);
    if (!domain.tlsrpt_rua.empty()) {
      dns.AddTlsRptTxt(domain.name,
                       absl::StrCat("v=TLSRPTv1; rua=",
                                    absl::StrJoin(domain.tlsrpt_rua, ",")));
    }
    std::vector<TlsaRecord>& published = result.tlsa[domain.name];
    for (const ScenarioMx& mx : domain.mx) {
      dns.AddMx(domain.name, mx.preference, mx.host);
      for (const TlsaRecord& tlsa : domain.tlsa) {
        absl::StatusOr<TlsaRecord> record =
            ResolveTlsa(tlsa, pki_for(mx.host), mx.profile);
        if (!record.ok()) return record.status();
        if (std::find(published.begin(), published.end(), *record) ==
            published.end()) {
          published.push_back(*record);
        }
        dns.AddTlsa(mx.host, *std::move(record));
      }

      if (!domain.tlsa.empty()) {
        dns.SetDnssec(DnsModel::TlsaName(mx.host), domain.dnssec);
      }
      Host& host = hosts[mx.host];
      if (host.partner == nullptr) {
        std::shared_ptr<const tls::testing::TestPki> own = pki_for(mx.host);
        if (own == nullptr) {
          return absl::InternalError(
              absl::StrCat("test PKI for ", mx.host, " unavailable"));
        }
        host.partner = std::make_unique<Partner>(
            &scheduler, PartnerOptions{mx.profile, own, absl::Seconds(30)});
        // An on-path attacker: a fresh one on each link to the host.
        if (mx.attacker.has_value()) {
          host.faults.tamper = [kind = *mx.attacker] {
            return MakeAttacker(kind);
          };
        }
      }
    }
    if (domain.mta_sts.has_value()) {
      dns.AddMtaStsTxt(domain.name,
                       absl::StrCat("v=STSv1; id=", domain.mta_sts_id));
    }
  }

  const std::string helo = scenario.sender.hostname.empty()
                               ? std::string("relay.example.org")
                               : scenario.sender.hostname;
  result.seed = seed;
  result.start = start;

  // Invariants: the first violation stops the world.
  DeliveryLedger ledger;
  std::map<uint64_t, std::string> keys;  // message id -> key
  std::map<const Partner*, size_t> partner_seen;
  auto violate = [&result, &scheduler](InvariantKind kind, std::string detail) {
    if (result.violation.has_value()) return;
    result.violation =
        InvariantViolation{kind, scheduler.Now(), std::move(detail)};
    scheduler.Stop(FormatViolation(*result.violation));
  };
  auto check_connection = [&](const ConnectionReport& report) {
    const ClientEndpoint& client = *report.client;
    const PartnerConnection& server = *report.server;
    const std::string where = absl::StrCat(report.record->domain, " via ",
                                           report.record->mx_host, ": ");
    std::optional<std::string> broken;
    if (client.tls_established()) {
      broken = CheckClientBoundary(client.sent_clear_tail(),
                                   client.received_clear_tail());
    }
    if (!broken.has_value() && server.tls_established()) {
      broken = CheckServerBoundary(server.sent_clear_tail(),
                                   server.received_clear_tail());
    }
    if (broken.has_value()) {
      violate(InvariantKind::kStartTlsBoundary, where + *broken);
    }
    if (std::optional<std::string> clear =
            client.clear_text().Check(report.mandatory)) {
      violate(InvariantKind::kPlaintextUnderMandatory, where + *clear);
    }
    for (const SessionEndpoint* end :
         {static_cast<const SessionEndpoint*>(&client),
          static_cast<const SessionEndpoint*>(&server)}) {
      if (end->max_unsent() > world_options.max_unsent) {
        violate(InvariantKind::kBufferBound,
                absl::StrCat(where, end == &client ? "client" : "server",
                             " held ", end->max_unsent(),
                             " octets for the link (bound ",
                             world_options.max_unsent, ")"));
      }
    }
    for (const AttemptRecipient& r : report.record->recipients) {
      if (r.result.status == smtp::RecipientStatus::kTempFailed &&
          r.result.stage == smtp::ClientStage::kEndOfData) {
        ledger.OpenedWindow(keys[r.message], r.result.mailbox.ToString());
      }
    }
    const std::vector<ReceivedMessage>& received = report.partner->messages();
    for (size_t& i = partner_seen[report.partner]; i < received.size(); ++i) {
      result.partner_accepted +=
          static_cast<int64_t>(received[i].recipients.size());
      if (std::optional<InvariantViolation> v =
              ledger.Accepted(scheduler.Now(), report.record->mx_host,
                              received[i].body, received[i].recipients)) {
        violate(v->kind, where + v->detail);
      }
    }
    for (const AttemptRecipient& r : report.record->recipients) {
      if (r.result.status == smtp::RecipientStatus::kDelivered &&
          !ledger.WasAccepted(keys[r.message], r.result.mailbox.ToString())) {
        violate(InvariantKind::kExactlyOnce,
                absl::StrCat(where, r.result.mailbox.ToString(), " of message ",
                             keys[r.message],
                             " counted delivered but no partner accepted it"));
      }
    }
  };

  SenderOptions options;
  options.seed = seed;
  options.helo_name = helo;
  unsigned anchors = 0;
  for (const TrustAnchor anchor : scenario.sender.trust) {
    switch (anchor) {
      case TrustAnchor::kRoot:
        anchors |= tls::testing::kRootAnchor;
        break;
      case TrustAnchor::kOldRoot:
        anchors |= tls::testing::kOldRootAnchor;
        break;
      case TrustAnchor::kNewRoot:
        anchors |= tls::testing::kNewRootAnchor;
        break;
      case TrustAnchor::kUntrustedRoot:
        anchors |= tls::testing::kUntrustedRootAnchor;
        break;
    }
  }
  options.tls.trust = pki->TrustStoreOf(anchors, scenario.sender.crl);
  // Like Exchange Online and most relays with a certificate configured, the
  // sender presents one when a server asks (require-client-cert partners).
  if (scenario.sender.client_certificate) {
    options.tls.identities = {pki->identity(tls::testing::CertKind::kClient)};
  }
  options.capture = world_options.capture;
  for (const ScenarioDomain& domain : scenario.domains) {
    if (!domain.nexthop.empty()) options.nexthops[domain.name] = domain.nexthop;
  }
  options.on_connection_end = check_connection;
  options.on_bookkeeping_error = [&violate](absl::string_view what) {
    violate(InvariantKind::kExactlyOnce, std::string(what));
  };
  Sender sender(&scheduler, &dns, &scenario.sender.policy, std::move(options));

  for (const ScenarioDomain& domain : scenario.domains) {
    if (!domain.mta_sts.has_value()) continue;
    policy::StsFetch fetch;
    fetch.content_type = "text/plain";
    // Served as the domain publishes it; the sender clamps max_age.
    policy::StsPolicy published = *domain.mta_sts;
    published.max_age =
        domain.mta_sts_published_max_age.value_or(published.max_age);
    fetch.body = policy::PrintStsPolicy(published);
    switch (domain.mta_sts_fetch) {
      case StsFetchOutcome::kOk:
        break;
      case StsFetchOutcome::kNetworkError:
        fetch.outcome = policy::StsFetch::Outcome::kNetworkError;
        fetch.detail = absl::StrCat("mta-sts.", domain.name, ": no answer");
        break;
      case StsFetchOutcome::kBadCertificate:
        fetch.outcome = policy::StsFetch::Outcome::kBadCertificate;
        fetch.detail = absl::StrCat("mta-sts.", domain.name,
                                    ": certificate not trusted");
        break;
      case StsFetchOutcome::kHttp404:
        fetch.http_status = 404;
        fetch.content_type = "text/html";
        fetch.body = "<h1>Not Found</h1>";
        break;
      case StsFetchOutcome::kBadContentType:
        fetch.content_type = "text/html";
        break;
    }
    sender.SetStsFetch(domain.name, std::move(fetch));
  }

  // Faults. Routes copy their faults into each new link, so a fault that
  // starts later is installed by an event at that time.
  auto install = [&sender](const std::string& name, const Host& host) {
    sender.AddRoute(name, Route{host.partner.get(), host.faults});
  };
  for (const ScenarioFault& fault : scenario.faults) {
    auto it = hosts.find(fault.host);
    if (it == hosts.end()) {
      result.faults_not_applied.push_back(
          absl::StrCat(FaultText(fault), " (no such MX host)"));
      continue;
    }
    Host* host = &it->second;
    const std::string* name = &it->first;
    const absl::Time at = start + fault.at;
    switch (fault.kind) {
      case ScenarioFaultKind::kRefuse:
      case ScenarioFaultKind::kTimeout: {
        const ConnectFault connect = fault.kind == ScenarioFaultKind::kRefuse
                                         ? ConnectFault::kRefused
                                         : ConnectFault::kTimeout;
        if (fault.at <= absl::ZeroDuration()) {
          host->faults.connect = connect;
        } else {
          scheduler.At(at, [host, name, connect, &install] {
            host->faults.connect = connect;
            install(*name, *host);
          });
        }
        break;
      }
      case ScenarioFaultKind::kStall:
        host->faults.stalls.push_back(StallFault{at, fault.duration});
        break;
      case ScenarioFaultKind::kReset:
        host->resets.push_back(at);
        break;
      case ScenarioFaultKind::kRollover:
        // Connections made from `at` on get the new issuer's certificate.
        scheduler.At(at, [host] {
          host->partner->SwitchCertificate(
              tls::testing::CertKind::kRolloverNew);
        });
        break;
    }
    result.faults_applied.push_back(FaultText(fault));
  }
  for (auto& [name, host] : hosts) {
    std::sort(host.resets.begin(), host.resets.end());
    host.resets.erase(std::unique(host.resets.begin(), host.resets.end()),
                      host.resets.end());
    if (!host.resets.empty()) host.faults.reset_at = host.resets.front();
    // Links made at or after a reset time must not carry it: move on to the
    // next one.
    for (size_t i = 0; i < host.resets.size(); ++i) {
      Host* h = &host;
      const std::string* n = &name;
      scheduler.At(host.resets[i], [h, n, i, &install] {
        if (i + 1 < h->resets.size()) {
          h->faults.reset_at = h->resets[i + 1];
        } else {
          h->faults.reset_at.reset();
        }
        install(*n, *h);
      });
    }
    install(name, host);
  }

  // Load.
  Random load_random = Random(seed).Fork(kLoadStream);
  std::vector<uint64_t> ids;
  std::map<std::string, int64_t> next_rcpt;
  int64_t message_index = 0;
  // Messages queued later than the start wait here for their event.
  struct Later {
    OutgoingMessage message;
    std::string key;
    std::vector<std::string> addresses;
  };
  std::vector<std::unique_ptr<Later>> later;
  for (const ScenarioLoad& load : scenario.loads) {
    for (int64_t m = 0; m < load.messages; ++m) {
      const absl::Duration offset =
          load.at + (load.messages > 0 ? load.spread * m / load.messages
                                       : absl::ZeroDuration());
      OutgoingMessage message;
      message.sender = smtp::Mailbox{"mtasim", helo};
      for (int64_t r = 0; r < load.recipients; ++r) {
        message.recipients.push_back(smtp::Mailbox{
            absl::StrCat("rcpt", ++next_rcpt[load.to]), load.to});
      }
      message.body = MakeBody(load.size, load.to, ++message_index);
      std::vector<std::string> addresses;
      for (const smtp::Mailbox& m : message.recipients) {
        addresses.push_back(m.ToString());
      }
      message.tls_flags.requiretls = load_random.Chance(
          static_cast<uint64_t>(load.requiretls_percent), 100);
      if (message.recipients.empty()) continue;
      if (offset > absl::ZeroDuration()) {
        later.push_back(std::make_unique<Later>(
            Later{std::move(message), MessageKey(message_index),
                  std::move(addresses)}));
        Later* pending = later.back().get();
        scheduler.At(start + offset, [&, pending] {
          ledger.Sent(pending->key, pending->addresses);
          absl::StatusOr<uint64_t> id =
              sender.Enqueue(std::move(pending->message));
          if (!id.ok()) return;  // cannot happen: it has recipients
          ids.push_back(*id);
          keys[*id] = pending->key;
        });
        continue;
      }
      absl::StatusOr<uint64_t> id = sender.Enqueue(std::move(message));
      if (!id.ok()) return id.status();
      ids.push_back(*id);
      keys[*id] = MessageKey(message_index);
      ledger.Sent(keys[*id], addresses);
    }
  }

  const absl::Time end =
      start + world_options.until.value_or(scenario.world.duration);
  const absl::Duration slice = world_options.progress_every > absl::ZeroDuration()
                                   ? world_options.progress_every
                                   : scenario.world.duration;
  while (scheduler.Now() < end) {
    const absl::Status run =
        scheduler.RunUntil(std::min(end, scheduler.Now() + slice));
    if (!run.ok() && !result.violation.has_value()) return run;
    if (result.violation.has_value()) break;
    if (world_options.progress) {
      world_options.progress(WorldProgress{start, scheduler.Now(), end,
                                           sender.attempts().size(),
                                           sender.queued()});
    }
  }
  if (!result.violation.has_value()) {
    const std::string audit = sender.Audit();
    if (!audit.empty()) violate(InvariantKind::kExactlyOnce, audit);
  }
  result.end = scheduler.Now();
  result.steps = scheduler.steps();
  result.duplicates_in_window = ledger.duplicates_in_window();
  result.captures = sender.TakeCaptures();

  // Results.
  result.attempts = sender.TakeAttempts();
  result.bounces = sender.TakeBounces();
  // Per recipient: the attempt that delivered it, and the last one it was in.
  struct Seen {
    const AttemptRecord* delivered = nullptr;
    const AttemptRecord* last = nullptr;
    const smtp::RecipientResult* result = nullptr;
  };
  std::map<std::pair<uint64_t, std::string>, Seen> seen;
  for (const AttemptRecord& attempt : result.attempts) {
    absl::StrAppend(&result.attempt_log, FormatAttempt(attempt), "\n");
    for (const AttemptRecipient& r : attempt.recipients) {
      Seen& s = seen[{r.message, r.result.mailbox.ToString()}];
      s.last = &attempt;
      s.result = &r.result;
      if (r.result.status == smtp::RecipientStatus::kDelivered) {
        s.delivered = &attempt;
      }
    }
  }
  result.trace_hash = Fnv1a64(result.attempt_log);
  std::map<std::pair<uint64_t, std::string>, const BounceRecord*> bounced;
  for (const BounceRecord& b : result.bounces) {
    bounced[{b.message, b.recipient.ToString()}] = &b;
  }

  std::map<std::string, size_t> domain_index;
  for (const ScenarioDomain& domain : scenario.domains) {
    DomainSummary summary;
    summary.domain = domain.name;
    std::vector<std::string> profiles;
    for (const ScenarioMx& mx : domain.mx) {
      std::string profile(PartnerProfileName(mx.profile));
      if (mx.attacker.has_value()) {
        absl::StrAppend(&profile, "+", AttackKindName(*mx.attacker));
      }
      profiles.push_back(std::move(profile));
    }
    summary.profiles = profiles.empty() ? "-" : absl::StrJoin(profiles, ",");
    const std::string key = domain.nexthop.empty() ? domain.name : domain.nexthop;
    const policy::PolicyTable& table = scenario.sender.policy;
    const policy::PolicyTable::Match match = table.Find(key);
    summary.policy = policy::PrintEntry("", *match.entry).substr(1);
    summary.policy_rule =
        absl::StrCat("'", match.key, "' (", table.Where(match.line), ")");
    summary.periods = Periods(scenario, domain, start, end);
    domain_index[domain.name] = result.domains.size();
    result.domains.push_back(std::move(summary));
  }
  for (const AttemptRecord& attempt : result.attempts) {
    auto it = domain_index.find(attempt.domain);
    if (it == domain_index.end() || attempt.tlsrpt_result_type.empty()) continue;
    result.domains[it->second].tlsrpt_result_types.insert(
        attempt.tlsrpt_result_type);
  }
  size_t recipients = 0;
  for (const uint64_t id : ids) {
    if (const MessageState* state = sender.message(id)) {
      recipients += state->recipients.size();
    }
  }
  result.recipients.reserve(recipients);
  for (const uint64_t id : ids) {
    const MessageState* state = sender.message(id);
    if (state == nullptr) continue;
    for (const RecipientState& r : state->recipients) {
      WorldRecipient out;
      out.message = id;
      out.domain = r.mailbox.domain;
      out.address = r.mailbox.ToString();
      out.fate = r.fate;
      out.attempts = r.attempts;
      out.queued_at = state->queued_at;
      out.finished = r.finished;
      const Seen& s = seen[{id, out.address}];
      if (r.fate == RecipientFate::kDelivered && s.delivered != nullptr) {
        out.over_tls = s.delivered->tls;
        out.policy_label = s.delivered->policy_label;
      } else if (r.fate != RecipientFate::kDelivered) {
        out.why = Why(s.last, s.result, bounced[{id, out.address}]);
      }
      auto it = domain_index.find(out.domain);
      if (it != domain_index.end()) {
        DomainSummary& summary = result.domains[it->second];
        Count(out, &summary);
        if (!out.why.empty()) ++summary.why[out.why];
        for (DomainPeriod& period : summary.periods) {
          if (out.queued_at < period.from || out.queued_at >= period.to) {
            continue;
          }
          Count(out, &period.counts);
          if (out.fate == RecipientFate::kDelivered) {
            period.max_delay =
                std::max(period.max_delay, out.finished - out.queued_at);
          }
        }
      }
      result.recipients.push_back(std::move(out));
    }
  }
  return result;
}

}  // namespace starling::sim
