#include "tools/probe/report.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/policy/engine.h"
#include "core/policy/level.h"
#include "core/policy/mta_sts.h"
#include "tools/io/address.h"
#include "tools/net/sts_fetcher.h"

namespace starling::probe {
namespace {

using nlohmann::json;

std::string Time(absl::Time t) {
  if (t == absl::InfinitePast()) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

template <typename Record>
std::string Answer(absl::string_view type, const net::DnsAnswer<Record>& a,
                   const std::vector<std::string>& records) {
  std::string out = absl::StrCat(type, " ");
  if (a.outcome == net::DnsOutcome::kAnswer) {
    absl::StrAppend(&out, absl::StrJoin(records, ", "));
  } else {
    absl::StrAppend(&out, net::DnsOutcomeName(a.outcome));
  }
  absl::StrAppend(&out, " (", policy::DnssecStatusName(a.dnssec));
  if (!a.canonical_name.empty()) absl::StrAppend(&out, ", via CNAME ", a.canonical_name);
  if (!a.detail.empty()) absl::StrAppend(&out, ": ", a.detail);
  absl::StrAppend(&out, ")");
  return out;
}

std::vector<std::string> TlsaTexts(const std::vector<policy::TlsaRecord>& records) {
  std::vector<std::string> out;
  for (const policy::TlsaRecord& r : records) out.push_back(policy::TlsaRecordText(r));
  return out;
}

std::vector<std::string> Keywords(const smtp::EhloCapabilities& caps) {
  const smtp::Reply reply = smtp::EhloReply(caps);
  // All but the first line (the server's name).
  return std::vector<std::string>(reply.lines.begin() + 1, reply.lines.end());
}

std::string StsTxtStatus(policy::StsTxtLookup::Status status) {
  switch (status) {
    case policy::StsTxtLookup::Status::kFound: return "found";
    case policy::StsTxtLookup::Status::kAbsent: return "absent";
    case policy::StsTxtLookup::Status::kTemporaryError: return "temporary-error";
  }
  return "?";
}

std::string FetchOutcome(policy::StsFetch::Outcome outcome) {
  switch (outcome) {
    case policy::StsFetch::Outcome::kCompleted: return "completed";
    case policy::StsFetch::Outcome::kNetworkError: return "network-error";
    case policy::StsFetch::Outcome::kBadCertificate: return "bad-certificate";
  }
  return "?";
}

std::string TlsRptStatus(net::TlsRptResult::Status status) {
  switch (status) {
    case net::TlsRptResult::Status::kFound: return "found";
    case net::TlsRptResult::Status::kAbsent: return "absent";
    case net::TlsRptResult::Status::kInvalid: return "invalid";
    case net::TlsRptResult::Status::kTemporaryError: return "temporary-error";
  }
  return "?";
}

// What happened to the MTA-STS cache entry in this resolution.
std::string CacheState(const net::MtaStsResult& sts, const ReportSources& sources) {
  const std::optional<policy::StsCacheEntry>& before = sts.cached;
  const std::optional<policy::StsCacheEntry>& after = sts.resolution.cache;
  std::string state;
  if (sources.sts_cache_dir.empty()) {
    state = after.has_value() ? "not kept (no --sts-cache)" : "not used";
  } else if (!before.has_value() && !after.has_value()) {
    state = "nothing cached";
  } else if (!after.has_value()) {
    state = absl::StrCat("removed (expired ", Time(before->expires_at()), ")");
  } else if (before == after) {
    state = absl::StrCat(sts.fetch.has_value() ? "kept after a failed refresh"
                                               : "in force from the cache",
                         " (fetched ", Time(after->fetched_at), ", expires ",
                         Time(after->expires_at()), ")");
  } else {
    state = absl::StrCat("stored (id ", after->id, ", expires ",
                         Time(after->expires_at()), ")");
  }
  if (!sts.cache_error.empty()) absl::StrAppend(&state, "; error: ", sts.cache_error);
  return state;
}

std::string PolicyText(const policy::StsPolicy& p) {
  return absl::StrCat("mode ", policy::StsModeName(p.mode), ", mx ",
                      p.mx.empty() ? "(none)" : absl::StrJoin(p.mx, " "),
                      ", max_age ", p.max_age);
}

std::string Validity(const CertificateFacts& c, absl::Time now) {
  std::string out = absl::StrCat(Time(c.not_before), " to ", Time(c.not_after));
  if (now < c.not_before) {
    absl::StrAppend(&out, " (not yet valid)");
  } else if (now > c.not_after) {
    absl::StrAppend(&out, " (expired ",
                    absl::ToInt64Hours(now - c.not_after) / 24, " days ago)");
  } else {
    const int64_t days = absl::ToInt64Hours(c.not_after - now) / 24;
    absl::StrAppend(&out, " (", days, days == 1 ? " day" : " days", " left)");
  }
  return out;
}

void AppendRow(std::string* out, absl::string_view table, absl::string_view verdict,
               absl::string_view label, absl::string_view type,
               absl::string_view note) {
  std::string row = absl::StrFormat("      %-9s %-18s %-22s %s%s", table, verdict,
                                    label, type, note);
  row.erase(row.find_last_not_of(' ') + 1);
  absl::StrAppend(out, row, "\n");
}

void AppendDecision(std::string* out, absl::string_view table,
                    const smtp::PolicyDecision& d, absl::string_view note) {
  AppendRow(out, table, smtp::DeliveryVerdictName(d.verdict),
            d.label.empty() ? "-" : d.label, d.tlsrpt_result_type, note);
}

void AppendTrace(std::string* out, const std::vector<std::string>& trace,
                 absl::string_view indent) {
  for (const std::string& step : trace) absl::StrAppend(out, indent, "- ", step, "\n");
}

void AppendJudgement(std::string* out, const Judgement& j, bool explain) {
  if (!j.no_session.empty()) {
    AppendRow(out, j.table, "-", "-", "", absl::StrCat(" (", j.no_session, ")"));
    return;
  }
  if (!j.decision.has_value()) {
    AppendDecision(out, j.table, j.before, " (before connecting)");
    if (explain) AppendTrace(out, j.before.trace, "          ");
    return;
  }
  if (j.plaintext_retry.has_value()) {
    AppendDecision(out, j.table, *j.plaintext_retry,
                   absl::StrCat(" (after the handshake failed: ",
                                smtp::DeliveryVerdictName(j.decision->verdict),
                                " ", j.decision->tlsrpt_result_type,
                                "; retried without STARTTLS)"));
  } else {
    AppendDecision(out, j.table, *j.decision, "");
  }
  if (explain) {
    AppendTrace(out, j.decision->trace, "          ");
    if (j.plaintext_retry.has_value()) {
      absl::StrAppend(out, "          retry without STARTTLS:\n");
      AppendTrace(out, j.plaintext_retry->trace, "          ");
    }
  }
}

void AppendVerdicts(std::string* out, const std::vector<Judgement>& judgements,
                    bool last_mx, bool explain) {
  // Without a session there is nothing to judge but whether the MX may be
  // used at all: the rows that refused it, then one line for the rest.
  std::string no_session;
  size_t judged = 0;
  for (const Judgement& j : judgements) {
    if (j.no_session.empty()) {
      ++judged;
    } else {
      no_session = j.no_session;
    }
  }
  if (judged > 0) AppendRow(out, "policy", "verdict", "label", "TLS-RPT", "");
  for (const Judgement& j : judgements) {
    if (j.no_session.empty()) AppendJudgement(out, j, explain);
  }
  if (!no_session.empty()) {
    absl::StrAppend(out, "      ", judged > 0 ? "other policies: " : "",
                    "nothing to judge (", no_session, "); a sender ",
                    last_mx ? "defers" : "tries the next MX", "\n");
  }
}

void AppendCertificate(std::string* out, size_t index, const CertificateFacts& c,
                       absl::Time now) {
  absl::StrAppend(out, "      [", index, "] ", c.subject_dn, "\n");
  if (!c.dns_names.empty()) {
    absl::StrAppend(out, "          names: ", absl::StrJoin(c.dns_names, " "), "\n");
  }
  absl::StrAppend(out, "          issuer: ", c.issuer_dn, "\n");
  absl::StrAppend(out, "          valid: ", Validity(c, now), "\n");
  absl::StrAppend(out, "          key: ", c.key_type, " ", c.key_bits, ", signed ",
                  c.signature_algorithm, "\n");
  absl::StrAppend(out, "          as TLSA: 3 1 1 ", Hex(c.spki_sha256), "\n");
}

void AppendObservation(std::string* out, const AddressProbe& probe,
                       bool overridden, bool last_mx, absl::Time now,
                       bool explain) {
  const Observation& o = probe.observation;
  absl::StrAppend(out, "  connection to ", io::FormatEndpoint(o.address),
                  overridden ? " (--connect)" : "", "\n");
  if (!o.connected) {
    absl::StrAppend(out, "    failed: ", o.end, "\n");
  } else {
    for (const TranscriptLine& line : o.transcript) {
      if (line.sent) break;
      absl::StrAppend(out, "    greeting: ", line.text, "\n");
    }
    if (!o.ehlo.has_value()) {
      absl::StrAppend(out, "    the session ended before EHLO: ", o.end, "\n");
    } else if (o.ehlo->domain.empty()) {
      absl::StrAppend(out, "    EHLO refused; HELO\n");
    } else {
      absl::StrAppend(out, "    EHLO: ", absl::StrJoin(Keywords(*o.ehlo), ", "), "\n");
    }
    if (o.tls.has_value()) {
      const TlsFacts& tls = *o.tls;
      absl::StrAppend(out, "    STARTTLS: ", policy::TlsVersionName(tls.version), ", ",
                      tls.cipher_suite,
                      tls.key_exchange_group.empty() ? "" : ", " + tls.key_exchange_group,
                      tls.forward_secret ? "" : ", no forward secrecy",
                      o.sni.empty() ? "" : ", SNI " + o.sni, "\n");
      absl::StrAppend(out, "    certificate chain: ",
                      policy::ChainVerdictName(tls.chain_verdict),
                      tls.trust_anchor_dn.empty() ? "" : " by " + tls.trust_anchor_dn,
                      tls.chain_detail.empty() ? "" : " (" + tls.chain_detail + ")",
                      "\n");
      for (size_t i = 0; i < tls.peer_chain.size(); ++i) {
        AppendCertificate(out, i, tls.peer_chain[i], now);
      }
      if (o.ehlo_over_tls.has_value()) {
        absl::StrAppend(out, "    EHLO over TLS: ",
                        absl::StrJoin(Keywords(*o.ehlo_over_tls), ", "), "\n");
      }
    } else if (o.tls_problem.has_value()) {
      // "STARTTLS not offered" says it all; the others have the details.
      const bool details = *o.tls_problem != smtp::TlsProblem::kNotOffered &&
                           !o.tls_problem_detail.empty();
      absl::StrAppend(out, "    TLS: ", smtp::TlsProblemName(*o.tls_problem),
                      details ? ": " + o.tls_problem_detail : "", "\n");
    }
    if (probe.dane.has_value()) {
      absl::StrAppend(out, "    DANE: ",
                      probe.dane->authenticated ? "authenticated" : "no match",
                      "\n");
      AppendTrace(out, probe.dane->trace, "      ");
    }
    if (explain) {
      absl::StrAppend(out, "    dialogue:\n");
      for (const TranscriptLine& line : o.transcript) {
        absl::StrAppend(out, "      ", line.sent ? "C" : "S", line.tls ? "~ " : ": ",
                        line.text, "\n");
      }
    }
  }
  absl::StrAppend(out, "    verdicts:\n");
  AppendVerdicts(out, probe.judgements, last_mx, explain);
}

json AnswerJson(const net::DnsAnswer<std::string>& a) {
  return {{"outcome", net::DnsOutcomeName(a.outcome)},
          {"dnssec", policy::DnssecStatusName(a.dnssec)},
          {"records", a.records},
          {"canonical_name", a.canonical_name},
          {"detail", a.detail}};
}

json DecisionJson(const smtp::PolicyDecision& d) {
  return {{"verdict", smtp::DeliveryVerdictName(d.verdict)},
          {"label", d.label},
          {"tlsrpt_result_type", d.tlsrpt_result_type},
          {"trace", d.trace}};
}

json OptionalDecision(const std::optional<smtp::PolicyDecision>& d) {
  return d.has_value() ? DecisionJson(*d) : json(nullptr);
}

json JudgementJson(const Judgement& j) {
  const smtp::PolicyDecision& final_decision = j.Final();
  const bool judged = j.no_session.empty();
  return {{"policy", j.table},
          {"verdict", judged ? json(smtp::DeliveryVerdictName(final_decision.verdict))
                             : json(nullptr)},
          {"label", judged ? final_decision.label : ""},
          {"tlsrpt_result_type", judged ? final_decision.tlsrpt_result_type : ""},
          {"reported_result_type", j.reported_result_type},
          {"first_failure", j.first_failure},
          {"no_session", j.no_session},
          {"before_connect", DecisionJson(j.before)},
          {"decision", OptionalDecision(j.decision)},
          {"plaintext_retry", OptionalDecision(j.plaintext_retry)}};
}

json JudgementsJson(const std::vector<Judgement>& judgements) {
  json out = json::array();
  for (const Judgement& j : judgements) out.push_back(JudgementJson(j));
  return out;
}

json CertificateJson(const CertificateFacts& c) {
  return {{"subject", c.subject_dn},
          {"issuer", c.issuer_dn},
          {"dns_names", c.dns_names},
          {"not_before", Time(c.not_before)},
          {"not_after", Time(c.not_after)},
          {"key", absl::StrCat(c.key_type, " ", c.key_bits)},
          {"signature_algorithm", c.signature_algorithm},
          {"sha256", Hex(c.sha256)},
          {"spki_sha256", Hex(c.spki_sha256)}};
}

json ObservationJson(const AddressProbe& probe) {
  const Observation& o = probe.observation;
  json out = {{"address", io::FormatEndpoint(o.address)},
              {"connected", o.connected},
              {"end", o.end},
              {"elapsed_ms", absl::ToInt64Milliseconds(o.elapsed)},
              {"ehlo", nullptr},
              {"tls_problem", nullptr},
              {"tls", nullptr},
              {"ehlo_over_tls", nullptr},
              {"dane_match", nullptr},
              {"transcript", json::array()},
              {"verdicts", JudgementsJson(probe.judgements)}};
  if (o.connected) out["local_address"] = io::FormatEndpoint(o.local);
  if (o.ehlo.has_value()) out["ehlo"] = Keywords(*o.ehlo);
  if (o.tls_problem.has_value()) {
    out["tls_problem"] = {{"problem", smtp::TlsProblemName(*o.tls_problem)},
                          {"detail", o.tls_problem_detail}};
  }
  if (o.tls.has_value()) {
    const TlsFacts& tls = *o.tls;
    json chain = json::array();
    for (const CertificateFacts& c : tls.peer_chain) chain.push_back(CertificateJson(c));
    out["tls"] = {{"version", policy::TlsVersionName(tls.version)},
                  {"cipher_suite", tls.cipher_suite},
                  {"key_exchange_group", tls.key_exchange_group},
                  {"forward_secret", tls.forward_secret},
                  {"sni", o.sni},
                  {"chain_verdict", policy::ChainVerdictName(tls.chain_verdict)},
                  {"chain_detail", tls.chain_detail},
                  {"trust_anchor", tls.trust_anchor_dn},
                  {"chain", std::move(chain)}};
  }
  if (o.ehlo_over_tls.has_value()) out["ehlo_over_tls"] = Keywords(*o.ehlo_over_tls);
  if (probe.dane.has_value()) {
    out["dane_match"] = {{"authenticated", probe.dane->authenticated},
                         {"trace", probe.dane->trace}};
  }
  for (const TranscriptLine& line : o.transcript) {
    out["transcript"].push_back(
        {{"from", line.sent ? "client" : "server"}, {"tls", line.tls}, {"line", line.text}});
  }
  return out;
}

json StsEntryJson(const std::optional<policy::StsCacheEntry>& entry) {
  if (!entry.has_value()) return nullptr;
  return {{"id", entry->id},
          {"mode", policy::StsModeName(entry->policy.mode)},
          {"mx", entry->policy.mx},
          {"max_age", entry->policy.max_age},
          {"fetched_at", Time(entry->fetched_at)},
          {"expires_at", Time(entry->expires_at())}};
}

// The RFC 8460 policy an MX host's sessions count under.
policy::TlsRptPolicy ReportPolicyFor(const ProbeReport& report, const MxProbe& mx) {
  const policy::DaneStatus dane = policy::ClassifyDane(mx.host.dane);
  if (dane == policy::DaneStatus::kUsable || dane == policy::DaneStatus::kAllUnusable ||
      dane == policy::DaneStatus::kBogus) {
    policy::TlsRptPolicy p =
        policy::TlsaReportPolicy(report.resolution.domain, mx.host.dane.records);
    p.mx_hosts = {mx.host.host};
    return p;
  }
  const std::optional<policy::StsPolicy>& sts = report.resolution.mta_sts.resolution.policy;
  if (sts.has_value() && sts->mode != policy::StsMode::kNone) {
    return policy::StsReportPolicy(report.resolution.domain, *sts);
  }
  policy::TlsRptPolicy none;
  none.domain = report.resolution.domain;
  return none;
}

}  // namespace

std::string ProbeText(const ProbeReport& report, const ReportSources& sources,
                      bool explain) {
  const net::DestinationResolution& r = report.resolution;
  std::string out = absl::StrCat("starling-probe ", r.domain, " at ", Time(report.now), "\n");
  if (!sources.resolver.empty()) absl::StrAppend(&out, "DNS: ", sources.resolver, "\n");

  absl::StrAppend(&out, "\nMX: ", net::MxStatusName(r.mx_status), " (DNSSEC ",
                  policy::DnssecStatusName(r.mx.dnssec),
                  r.mx.detail.empty() ? "" : ": " + r.mx.detail, ")\n");
  for (const net::MxHost& host : r.hosts) {
    absl::StrAppend(&out, "  ", host.preference, " ", host.host, "\n");
  }
  for (const std::string& note : r.notes) absl::StrAppend(&out, "  note: ", note, "\n");

  const net::MtaStsResult& sts = r.mta_sts;
  absl::StrAppend(&out, "MTA-STS: TXT ", StsTxtStatus(sts.txt_lookup.status));
  if (!sts.txt_lookup.id.empty()) absl::StrAppend(&out, " (id ", sts.txt_lookup.id, ")");
  absl::StrAppend(&out, ", ", policy::DnssecStatusName(sts.txt.dnssec));
  if (!sts.txt_problem.empty()) absl::StrAppend(&out, "; ", sts.txt_problem);
  absl::StrAppend(&out, "\n");
  if (sts.fetch.has_value()) {
    const policy::StsFetch& f = *sts.fetch;
    absl::StrAppend(&out, "  fetch ", net::StsPolicyUrl(r.domain), ": ",
                    FetchOutcome(f.outcome));
    if (f.outcome == policy::StsFetch::Outcome::kCompleted) {
      absl::StrAppend(&out, ", HTTP ", f.http_status, " ", f.content_type, ", ",
                      f.body.size(), " bytes");
    }
    if (!f.detail.empty()) absl::StrAppend(&out, " (", f.detail, ")");
    absl::StrAppend(&out, "\n");
  }
  if (sts.resolution.policy.has_value()) {
    absl::StrAppend(&out, "  policy: ", PolicyText(*sts.resolution.policy), "\n");
  } else {
    absl::StrAppend(&out, "  policy: none in force\n");
  }
  if (!sts.resolution.failure_result_type.empty()) {
    absl::StrAppend(&out, "  failure: ", sts.resolution.failure_result_type, "\n");
  }
  absl::StrAppend(&out, "  cache: ", CacheState(sts, sources), "\n");
  if (explain) AppendTrace(&out, sts.resolution.trace, "  ");

  absl::StrAppend(&out, "TLS-RPT: ", TlsRptStatus(r.tls_rpt.status));
  if (!r.tls_rpt.rua.empty()) absl::StrAppend(&out, " ", absl::StrJoin(r.tls_rpt.rua, ", "));
  if (!r.tls_rpt.problem.empty()) absl::StrAppend(&out, " (", r.tls_rpt.problem, ")");
  absl::StrAppend(&out, "\n");

  switch (r.mx_status) {
    case net::MxStatus::kNullMx:
      absl::StrAppend(&out, "\n", r.domain,
                      " accepts no mail (null MX, RFC 7505): a sender bounces\n");
      break;
    case net::MxStatus::kNoSuchDomain:
      absl::StrAppend(&out, "\n", r.domain,
                      " does not exist (NXDOMAIN): a sender bounces\n");
      break;
    case net::MxStatus::kTemporaryError:
      absl::StrAppend(&out, "\nthe MX lookup failed: a sender defers\n");
      break;
    case net::MxStatus::kBogus:
      absl::StrAppend(&out, "\nthe MX RRset is DNSSEC-bogus: a sender defers "
                            "(dnssec-invalid)\n");
      break;
    case net::MxStatus::kFound:
    case net::MxStatus::kImplicit:
      break;
  }

  for (const MxProbe& mx : report.mx) {
    const net::MxHost& host = mx.host;
    absl::StrAppend(&out, "\nMX ", host.preference, " ", host.host,
                    mx.last_mx ? " (the last MX)" : "", "\n");
    absl::StrAppend(&out, "  ", Answer("A", host.a, host.a.records), "\n");
    absl::StrAppend(&out, "  ", Answer("AAAA", host.aaaa, host.aaaa.records), "\n");
    absl::StrAppend(&out, "  ",
                    Answer(absl::StrCat("TLSA ", net::TlsaName(host.host)), host.tlsa,
                           TlsaTexts(host.tlsa.records)),
                    "\n");
    absl::StrAppend(&out, "  DANE: ",
                    policy::DaneStatusName(policy::ClassifyDane(host.dane)), " (",
                    host.dane_reason, ")\n");
    for (const policy::TlsaRecord& record : host.dane.records) {
      const std::string unusable = policy::TlsaUnusableReason(record);
      if (!unusable.empty()) {
        absl::StrAppend(&out, "    ", policy::TlsaRecordText(record), ": ", unusable, "\n");
      }
    }
    if (mx.addresses.empty()) {
      absl::StrAppend(&out, "  ", mx.no_address, "\n    verdicts:\n");
      AppendVerdicts(&out, mx.judgements, mx.last_mx, explain);
    }
    for (const AddressProbe& probe : mx.addresses) {
      AppendObservation(&out, probe, mx.overridden, mx.last_mx, report.now, explain);
    }
  }
  return out;
}

json ProbeJson(const ProbeReport& report, const ReportSources& sources) {
  const net::DestinationResolution& r = report.resolution;
  json records = json::array();
  for (const net::MxRecord& record : r.mx.records) {
    records.push_back({{"preference", record.preference}, {"host", record.host}});
  }
  const net::MtaStsResult& sts = r.mta_sts;
  json fetch = nullptr;
  if (sts.fetch.has_value()) {
    fetch = {{"url", net::StsPolicyUrl(r.domain)},
             {"outcome", FetchOutcome(sts.fetch->outcome)},
             {"http_status", sts.fetch->http_status},
             {"content_type", sts.fetch->content_type},
             {"bytes", sts.fetch->body.size()},
             {"detail", sts.fetch->detail}};
  }
  json policy = nullptr;
  if (sts.resolution.policy.has_value()) {
    policy = {{"mode", policy::StsModeName(sts.resolution.policy->mode)},
              {"mx", sts.resolution.policy->mx},
              {"max_age", sts.resolution.policy->max_age}};
  }
  json hosts = json::array();
  for (const MxProbe& mx : report.mx) {
    const net::MxHost& host = mx.host;
    json tlsa = {{"outcome", net::DnsOutcomeName(host.tlsa.outcome)},
            {"dnssec", policy::DnssecStatusName(host.tlsa.dnssec)},
            {"records", TlsaTexts(host.tlsa.records)},
            {"detail", host.tlsa.detail}};
    json connections = json::array();
    for (const AddressProbe& probe : mx.addresses) {
      connections.push_back(ObservationJson(probe));
    }
    hosts.push_back(
        {{"host", host.host},
         {"preference", host.preference},
         {"last_mx", mx.last_mx},
         {"connect_override", mx.overridden},
         {"a", AnswerJson(host.a)},
         {"aaaa", AnswerJson(host.aaaa)},
         {"tlsa", std::move(tlsa)},
         {"dane", {{"status", policy::DaneStatusName(policy::ClassifyDane(host.dane))},
                   {"dnssec", policy::DnssecStatusName(host.dane.dnssec)},
                   {"reason", host.dane_reason}}},
         {"no_address", mx.no_address},
         {"verdicts", JudgementsJson(mx.judgements)},
         {"connections", std::move(connections)}});
  }
  return {
      {"domain", r.domain},
      {"time", Time(report.now)},
      {"resolver", sources.resolver},
      {"mx",
       {{"status", net::MxStatusName(r.mx_status)},
        {"dnssec", policy::DnssecStatusName(r.mx.dnssec)},
        {"detail", r.mx.detail},
        {"records", std::move(records)},
        {"notes", r.notes}}},
      {"mta_sts",
       {{"txt", AnswerJson(sts.txt)},
        {"txt_status", StsTxtStatus(sts.txt_lookup.status)},
        {"id", sts.txt_lookup.id},
        {"txt_problem", sts.txt_problem},
        {"cached_before", StsEntryJson(sts.cached)},
        {"fetch", std::move(fetch)},
        {"policy", std::move(policy)},
        {"failure_result_type", sts.resolution.failure_result_type},
        {"cache", CacheState(sts, sources)},
        {"cache_dir", sources.sts_cache_dir},
        {"trace", sts.resolution.trace}}},
      {"tls_rpt",
       {{"status", TlsRptStatus(r.tls_rpt.status)},
        {"rua", r.tls_rpt.rua},
        {"problem", r.tls_rpt.problem}}},
      {"hosts", std::move(hosts)}};
}

std::optional<policy::TlsRptReport> ProbeTlsRpt(const ProbeReport& report,
                                                const NamedTable& table,
                                                absl::Time end,
                                                absl::string_view organization,
                                                absl::string_view contact) {
  policy::TlsRptAggregator aggregator(report.now, end);
  const net::DestinationResolution& r = report.resolution;
  for (const MxProbe& mx : report.mx) {
    smtp::Destination destination;
    destination.next_hop_domain = r.domain;
    destination.mx_host = mx.host.host;
    destination.mx_preference = mx.host.preference;
    destination.last_mx = mx.last_mx;
    const policy::TlsRptPolicy report_policy = ReportPolicyFor(report, mx);
    for (const AddressProbe& probe : mx.addresses) {
      const Judgement j = Judge(table, report.state, destination, &probe.observation);
      const bool refused_before = !j.decision.has_value() && j.no_session.empty();
      // Only TLS sessions count (RFC 8460 §4.1), and refusals before one.
      if (!refused_before && (!j.decision.has_value() ||
                              (j.reported_result_type.empty() &&
                               !probe.observation.tls.has_value()))) {
        continue;
      }
      policy::TlsRptSession session;
      session.policy = report_policy;
      session.time = report.now;
      session.success = j.reported_result_type.empty();
      if (!session.success) {
        session.failure.result_type = j.reported_result_type;
        session.failure.receiving_mx_hostname = mx.host.host;
        session.failure.receiving_ip = probe.observation.address.address().to_string();
        if (probe.observation.connected) {
          session.failure.sending_mta_ip = probe.observation.local.address().to_string();
        }
      }
      aggregator.Add(session);
    }
  }
  return aggregator.ReportFor(
      r.domain, organization, contact,
      absl::StrCat(Time(report.now), "_", r.domain));
}

}  // namespace starling::probe
