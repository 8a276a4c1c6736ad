#include "tools/net/destination.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/policy/names.h"

namespace starling::net {
namespace {

using policy::DnssecStatus;

bool HasRecords(const DnsAnswer<std::string>& answer) {
  return answer.outcome == DnsOutcome::kAnswer && !answer.records.empty();
}

// The MX status and the hosts to try, from the MX answer.
MxStatus ClassifyMx(const std::string& domain, const DnsAnswer<MxRecord>& mx,
                    std::vector<MxHost>* hosts, std::vector<std::string>* notes) {
  if (mx.dnssec == DnssecStatus::kBogus) return MxStatus::kBogus;
  switch (mx.outcome) {
    case DnsOutcome::kServFail: return MxStatus::kTemporaryError;
    case DnsOutcome::kNxDomain: return MxStatus::kNoSuchDomain;
    case DnsOutcome::kNoData: {
      MxHost implicit;
      implicit.host = domain;
      hosts->push_back(std::move(implicit));
      return MxStatus::kImplicit;
    }
    case DnsOutcome::kAnswer: break;
  }
  if (mx.records.size() == 1 && mx.records[0].host == ".") return MxStatus::kNullMx;
  std::vector<MxRecord> records = mx.records;
  std::stable_sort(records.begin(), records.end(),
                   [](const MxRecord& a, const MxRecord& b) {
                     return a.preference < b.preference;
                   });
  std::set<std::string> seen;
  for (const MxRecord& record : records) {
    if (record.host == ".") {
      notes->push_back("a null MX among other MX records is ignored (RFC 7505 §3)");
      continue;
    }
    // The name goes into TLSA lookups and certificate checks: only host
    // names that policy can match are usable.
    std::optional<std::string> host = policy::NormalizeDnsName(record.host);
    if (!host.has_value()) {
      notes->push_back(absl::StrCat("MX host '", record.host,
                                    "' is not a valid host name; skipped"));
      continue;
    }
    if (!seen.insert(*host).second) continue;  // kept at its best preference
    MxHost mx_host;
    mx_host.preference = record.preference;
    mx_host.host = *std::move(host);
    hosts->push_back(std::move(mx_host));
  }
  return MxStatus::kFound;
}

}  // namespace

absl::string_view MxStatusName(MxStatus status) {
  switch (status) {
    case MxStatus::kFound: return "found";
    case MxStatus::kImplicit: return "implicit";
    case MxStatus::kNullMx: return "null-mx";
    case MxStatus::kNoSuchDomain: return "no-such-domain";
    case MxStatus::kTemporaryError: return "temporary-error";
    case MxStatus::kBogus: return "bogus";
  }
  return "?";
}

policy::DaneState DaneStateFor(DnssecStatus mx_dnssec,
                               const DnsAnswer<std::string>& a,
                               const DnsAnswer<std::string>& aaaa,
                               const DnsAnswer<policy::TlsaRecord>& tlsa,
                               std::string* reason) {
  policy::DaneState state;
  if (mx_dnssec == DnssecStatus::kBogus) {
    state.dnssec = DnssecStatus::kBogus;
    *reason = "the MX RRset is bogus";
    return state;
  }
  if (mx_dnssec == DnssecStatus::kInsecure) {
    state.dnssec = DnssecStatus::kInsecure;
    *reason = "the MX RRset is insecure: DANE does not apply";
    return state;
  }
  for (const DnsAnswer<std::string>* address : {&a, &aaaa}) {
    if (address->dnssec == DnssecStatus::kBogus) {
      state.dnssec = DnssecStatus::kBogus;
      *reason = absl::StrCat("the address records are bogus: ", address->detail);
      return state;
    }
    if (HasRecords(*address) && address->dnssec == DnssecStatus::kInsecure) {
      state.dnssec = DnssecStatus::kInsecure;
      *reason = "the host's address records are insecure: DANE does not apply";
      return state;
    }
  }
  if (tlsa.dnssec == DnssecStatus::kBogus) {
    state.dnssec = DnssecStatus::kBogus;
    *reason = absl::StrCat("the TLSA RRset is bogus: ", tlsa.detail);
    return state;
  }
  if (tlsa.outcome == DnsOutcome::kServFail) {
    state.dnssec = DnssecStatus::kBogus;
    *reason = absl::StrCat("the TLSA lookup failed (", tlsa.detail,
                           "): treated as bogus, DANE might apply");
    return state;
  }
  state.dnssec = tlsa.dnssec;
  if (tlsa.dnssec == DnssecStatus::kInsecure) {
    *reason = "the TLSA answer is insecure: DANE does not apply";
    return state;
  }
  if (tlsa.outcome == DnsOutcome::kAnswer) {
    state.records = tlsa.records;
    *reason = absl::StrCat(tlsa.records.size(), " secure TLSA record(s)");
  } else {
    *reason = "no TLSA records (authenticated denial)";
  }
  return state;
}

policy::StsTxtLookup StsTxtLookupFor(const DnsAnswer<std::string>& txt,
                                     std::string* problem) {
  policy::StsTxtLookup lookup;
  problem->clear();
  if (txt.outcome == DnsOutcome::kServFail || txt.dnssec == DnssecStatus::kBogus) {
    lookup.status = policy::StsTxtLookup::Status::kTemporaryError;
    *problem = txt.detail;
    return lookup;
  }
  if (txt.outcome != DnsOutcome::kAnswer) return lookup;  // kAbsent
  absl::StatusOr<std::string> id = policy::StsIdFromTxtRecords(txt.records);
  if (!id.ok()) {
    *problem = std::string(id.status().message());
    return lookup;
  }
  lookup.status = policy::StsTxtLookup::Status::kFound;
  lookup.id = *std::move(id);
  return lookup;
}

TlsRptResult TlsRptResultFor(DnsAnswer<std::string> txt) {
  TlsRptResult result;
  result.txt = std::move(txt);
  if (result.txt.outcome == DnsOutcome::kServFail ||
      result.txt.dnssec == DnssecStatus::kBogus) {
    result.status = TlsRptResult::Status::kTemporaryError;
    result.problem = result.txt.detail;
    return result;
  }
  if (result.txt.outcome != DnsOutcome::kAnswer) return result;  // kAbsent
  absl::StatusOr<TlsRptRecord> record = TlsRptRecordFromTxtRecords(result.txt.records);
  if (absl::IsNotFound(record.status())) return result;
  if (!record.ok()) {
    result.status = TlsRptResult::Status::kInvalid;
    result.problem = std::string(record.status().message());
    return result;
  }
  result.status = TlsRptResult::Status::kFound;
  result.rua = std::move(record->rua);
  return result;
}

policy::DestinationState DestinationStateFor(const DestinationResolution& r,
                                             absl::Time now) {
  policy::DestinationState state;
  for (const MxHost& host : r.hosts) state.dane_by_mx[host.host] = host.dane;
  state.sts = r.mta_sts.resolution.policy;
  state.sts_failure = r.mta_sts.resolution.failure_result_type;
  state.now = now;
  return state;
}

absl::StatusOr<DestinationResolution> ResolveDestination(
    absl::string_view domain, Resolver& resolver,
    const StsPolicyFetcher& fetcher, const StsCache* cache, absl::Time now) {
  std::optional<std::string> name = policy::NormalizeDnsName(domain);
  if (!name.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", domain, "' is not a valid domain name"));
  }
  DestinationResolution r;
  r.domain = *std::move(name);

  DnsQueries first;
  first.mx = {r.domain};
  first.txt = {MtaStsTxtName(r.domain), TlsRptTxtName(r.domain)};
  absl::StatusOr<DnsAnswers> answers = resolver.Lookup(first);
  if (!answers.ok()) return answers.status();
  r.mx = std::move(answers->mx[0]);
  r.mta_sts.txt = std::move(answers->txt[0]);
  r.tls_rpt = TlsRptResultFor(std::move(answers->txt[1]));

  r.mx_status = ClassifyMx(r.domain, r.mx, &r.hosts, &r.notes);
  if (!r.hosts.empty()) {
    DnsQueries per_host;
    for (const MxHost& host : r.hosts) {
      per_host.a.push_back(host.host);
      per_host.aaaa.push_back(host.host);
      per_host.tlsa_hosts.push_back(host.host);
    }
    absl::StatusOr<DnsAnswers> host_answers = resolver.Lookup(per_host);
    if (!host_answers.ok()) return host_answers.status();
    for (size_t i = 0; i < r.hosts.size(); ++i) {
      MxHost& host = r.hosts[i];
      host.a = std::move(host_answers->a[i]);
      host.aaaa = std::move(host_answers->aaaa[i]);
      host.tlsa = std::move(host_answers->tlsa[i]);
      // For an implicit MX, the "MX RRset" is the denial of one.
      host.dane = DaneStateFor(r.mx.dnssec, host.a, host.aaaa, host.tlsa,
                               &host.dane_reason);
    }
  }

  MtaStsResult& sts = r.mta_sts;
  sts.txt_lookup = StsTxtLookupFor(sts.txt, &sts.txt_problem);
  if (cache != nullptr) {
    absl::StatusOr<std::optional<policy::StsCacheEntry>> cached = cache->Load(r.domain);
    if (cached.ok()) {
      sts.cached = *std::move(cached);
    } else {
      // Treated as no cache; a successful fetch overwrites the file.
      sts.cache_error = std::string(cached.status().message());
    }
  }
  if (policy::StsNeedsFetch(sts.txt_lookup, sts.cached, now)) {
    absl::StatusOr<policy::StsFetch> fetch = fetcher.Fetch(r.domain);
    if (!fetch.ok()) return fetch.status();
    sts.fetch = *std::move(fetch);
  }
  sts.resolution = policy::ResolveSts(sts.txt_lookup, sts.cached, sts.fetch, now);
  if (cache != nullptr && sts.resolution.cache != sts.cached) {
    const absl::Status written =
        sts.resolution.cache.has_value()
            ? cache->Store(r.domain, *sts.resolution.cache)
            : cache->Remove(r.domain);
    if (!written.ok()) {
      if (!sts.cache_error.empty()) sts.cache_error += "; ";
      sts.cache_error += std::string(written.message());
    }
  }
  return r;
}

}  // namespace starling::net
