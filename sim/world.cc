#include "sim/world.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/policy/mta_sts.h"
#include "core/smtp/client_session.h"
#include "core/smtp/command.h"
#include "core/tls/testing/test_pki.h"
#include "sim/dns.h"
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

// A deterministic RFC 5322 text of exactly `size` octets (CRLF lines, no
// bare CR or LF) when size >= 2.
std::string MakeBody(int64_t size, absl::string_view domain, int64_t index) {
  const size_t target = static_cast<size_t>(size);
  std::string body =
      absl::StrCat("Subject: mtasim load ", index, " to ", domain, "\r\n\r\n");
  static constexpr absl::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  size_t n = static_cast<size_t>(index);
  while (body.size() < target) {
    for (int i = 0; i < 76; ++i) body.push_back(kAlphabet[n++ % kAlphabet.size()]);
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

}  // namespace

uint64_t Fnv1a64(absl::string_view data) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : data) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

absl::StatusOr<WorldResult> RunScenario(const Scenario& scenario,
                                        uint64_t seed) {
  const absl::Time start = scenario.world.start;
  const std::shared_ptr<const tls::testing::TestPki> pki =
      tls::testing::TestPki::Get(kPkiSeed, start);
  if (pki == nullptr) return absl::InternalError("test PKI unavailable");

  Scheduler scheduler(start);
  DnsModel dns;
  std::map<std::string, Host> hosts;

  // DNS and partners.
  for (const ScenarioDomain& domain : scenario.domains) {
    dns.SetDnssec(domain.name, domain.dnssec);
    for (const ScenarioMx& mx : domain.mx) {
      dns.AddMx(domain.name, mx.preference, mx.host);
      for (const TlsaRecord& tlsa : domain.tlsa) dns.AddTlsa(mx.host, tlsa);
      if (!domain.tlsa.empty()) {
        dns.SetDnssec(DnsModel::TlsaName(mx.host), domain.dnssec);
      }
      Host& host = hosts[mx.host];
      if (host.partner == nullptr) {
        host.partner = std::make_unique<Partner>(
            &scheduler, PartnerOptions{mx.profile, pki, absl::Seconds(30)});
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
  SenderOptions options;
  options.seed = seed;
  options.helo_name = helo;
  options.tls.trust = pki->trust_store();
  Sender sender(&scheduler, &dns, &scenario.sender.policy, std::move(options));

  for (const ScenarioDomain& domain : scenario.domains) {
    if (!domain.mta_sts.has_value()) continue;
    policy::StsFetch fetch;
    fetch.content_type = "text/plain";
    fetch.body = policy::PrintStsPolicy(*domain.mta_sts);
    sender.SetStsFetch(domain.name, std::move(fetch));
  }

  WorldResult result;
  result.seed = seed;

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
  for (const ScenarioLoad& load : scenario.loads) {
    for (int64_t m = 0; m < load.messages; ++m) {
      OutgoingMessage message;
      message.sender = smtp::Mailbox{"mtasim", helo};
      for (int64_t r = 0; r < load.recipients; ++r) {
        message.recipients.push_back(smtp::Mailbox{
            absl::StrCat("rcpt", ++next_rcpt[load.to]), load.to});
      }
      message.body = MakeBody(load.size, load.to, ++message_index);
      message.tls_flags.requiretls = load_random.Chance(
          static_cast<uint64_t>(load.requiretls_percent), 100);
      if (message.recipients.empty()) continue;
      absl::StatusOr<uint64_t> id = sender.Enqueue(std::move(message));
      if (!id.ok()) return id.status();
      ids.push_back(*id);
    }
  }

  const absl::Status run = scheduler.RunUntil(start + scenario.world.duration);
  if (!run.ok()) return run;
  result.end = scheduler.Now();

  // Results.
  result.attempts = sender.attempts();
  result.bounces = sender.bounces();
  std::map<std::pair<uint64_t, std::string>, const AttemptRecord*> delivered_by;
  for (const AttemptRecord& attempt : result.attempts) {
    absl::StrAppend(&result.attempt_log, FormatAttempt(attempt), "\n");
    for (const AttemptRecipient& r : attempt.recipients) {
      if (r.result.status == smtp::RecipientStatus::kDelivered) {
        delivered_by[{r.message, r.result.mailbox.ToString()}] = &attempt;
      }
    }
  }
  result.trace_hash = Fnv1a64(result.attempt_log);

  std::map<std::string, size_t> domain_index;
  for (const ScenarioDomain& domain : scenario.domains) {
    DomainSummary summary;
    summary.domain = domain.name;
    std::vector<std::string> profiles;
    for (const ScenarioMx& mx : domain.mx) {
      profiles.push_back(std::string(PartnerProfileName(mx.profile)));
    }
    summary.profiles = profiles.empty() ? "-" : absl::StrJoin(profiles, ",");
    domain_index[domain.name] = result.domains.size();
    result.domains.push_back(std::move(summary));
  }
  for (const AttemptRecord& attempt : result.attempts) {
    auto it = domain_index.find(attempt.domain);
    if (it == domain_index.end() || attempt.tlsrpt_result_type.empty()) continue;
    result.domains[it->second].tlsrpt_result_types.insert(
        attempt.tlsrpt_result_type);
  }
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
      auto by = delivered_by.find({id, out.address});
      if (r.fate == RecipientFate::kDelivered && by != delivered_by.end()) {
        out.over_tls = by->second->tls;
        out.policy_label = by->second->policy_label;
      }
      auto it = domain_index.find(out.domain);
      if (it != domain_index.end()) {
        DomainSummary& summary = result.domains[it->second];
        switch (r.fate) {
          case RecipientFate::kDelivered:
            if (out.over_tls) {
              ++summary.tls;
              ++summary.tls_by_label[out.policy_label];
            } else {
              ++summary.plaintext;
            }
            break;
          case RecipientFate::kQueued:
            ++summary.deferred;
            break;
          case RecipientFate::kBounced:
            ++summary.bounced;
            break;
        }
      }
      result.recipients.push_back(std::move(out));
    }
  }
  return result;
}

}  // namespace starling::sim
