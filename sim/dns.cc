#include "sim/dns.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace starling::sim {

absl::string_view DnssecStatusName(DnssecStatus status) {
  switch (status) {
    case DnssecStatus::kSecure:
      return "secure";
    case DnssecStatus::kInsecure:
      return "insecure";
    case DnssecStatus::kBogus:
      return "bogus";
  }
  return "unknown";
}

std::string DnsModel::Canonical(absl::string_view name) {
  if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
  return absl::AsciiStrToLower(name);
}

std::string DnsModel::TlsaName(absl::string_view mx_host) {
  return absl::StrCat("_25._tcp.", Canonical(mx_host));
}

std::string DnsModel::MtaStsName(absl::string_view domain) {
  return absl::StrCat("_mta-sts.", Canonical(domain));
}

std::string DnsModel::TlsRptName(absl::string_view domain) {
  return absl::StrCat("_smtp._tls.", Canonical(domain));
}

void DnsModel::AddMx(absl::string_view domain, uint16_t preference,
                     absl::string_view host) {
  names_[Canonical(domain)].mx.push_back(MxRecord{preference, Canonical(host)});
}

void DnsModel::AddA(absl::string_view name, absl::string_view address) {
  names_[Canonical(name)].a.emplace_back(address);
}

void DnsModel::AddAaaa(absl::string_view name, absl::string_view address) {
  names_[Canonical(name)].aaaa.emplace_back(address);
}

void DnsModel::AddTlsa(absl::string_view mx_host, TlsaRecord record) {
  names_[TlsaName(mx_host)].tlsa.push_back(std::move(record));
}

void DnsModel::AddTxt(absl::string_view name, absl::string_view text) {
  names_[Canonical(name)].txt.emplace_back(text);
}

void DnsModel::AddMtaStsTxt(absl::string_view domain, absl::string_view text) {
  AddTxt(MtaStsName(domain), text);
}

void DnsModel::AddTlsRptTxt(absl::string_view domain, absl::string_view text) {
  AddTxt(TlsRptName(domain), text);
}

void DnsModel::SetDnssec(absl::string_view name, DnssecStatus status) {
  names_[Canonical(name)].dnssec = status;
}

void DnsModel::SetFault(absl::string_view name, NameFault fault) {
  names_[Canonical(name)].fault = fault;
}

absl::StatusOr<const DnsModel::Node*> DnsModel::Resolve(
    const std::string& name, absl::string_view type) const {
  const auto it = names_.find(name);
  const Node* node = it == names_.end() ? nullptr : &it->second;
  if (node != nullptr && node->fault == NameFault::kServFail) {
    return absl::UnavailableError(
        absl::StrCat("dns: SERVFAIL for ", name, " ", type));
  }
  if (node == nullptr || node->fault == NameFault::kNxDomain ||
      !node->HasRecords()) {
    return absl::NotFoundError(
        absl::StrCat("dns: NXDOMAIN for ", name, " ", type));
  }
  return node;
}

absl::StatusOr<DnsAnswer<MxRecord>> DnsModel::LookupMx(absl::string_view domain,
                                                       Random& random) const {
  absl::StatusOr<const Node*> node = Resolve(Canonical(domain), "MX");
  if (!node.ok()) return node.status();
  DnsAnswer<MxRecord> answer{(*node)->mx, (*node)->dnssec};
  std::vector<MxRecord>& hosts = answer.records;
  std::stable_sort(hosts.begin(), hosts.end(),
                   [](const MxRecord& x, const MxRecord& y) {
                     return x.preference < y.preference;
                   });
  // Fisher-Yates within each run of equal preference; a run of one draws
  // nothing, so a domain without ties leaves `random` untouched.
  for (size_t begin = 0; begin < hosts.size();) {
    size_t end = begin + 1;
    while (end < hosts.size() &&
           hosts[end].preference == hosts[begin].preference) {
      ++end;
    }
    for (size_t i = end - begin; i > 1; --i) {
      std::swap(hosts[begin + i - 1], hosts[begin + random.Below(i)]);
    }
    begin = end;
  }
  return answer;
}

absl::StatusOr<DnsAnswer<std::string>> DnsModel::LookupA(
    absl::string_view name) const {
  absl::StatusOr<const Node*> node = Resolve(Canonical(name), "A");
  if (!node.ok()) return node.status();
  return DnsAnswer<std::string>{(*node)->a, (*node)->dnssec};
}

absl::StatusOr<DnsAnswer<std::string>> DnsModel::LookupAaaa(
    absl::string_view name) const {
  absl::StatusOr<const Node*> node = Resolve(Canonical(name), "AAAA");
  if (!node.ok()) return node.status();
  return DnsAnswer<std::string>{(*node)->aaaa, (*node)->dnssec};
}

absl::StatusOr<DnsAnswer<TlsaRecord>> DnsModel::LookupTlsa(
    absl::string_view mx_host) const {
  absl::StatusOr<const Node*> node = Resolve(TlsaName(mx_host), "TLSA");
  if (!node.ok()) return node.status();
  return DnsAnswer<TlsaRecord>{(*node)->tlsa, (*node)->dnssec};
}

absl::StatusOr<DnsAnswer<std::string>> DnsModel::LookupTxt(
    absl::string_view name) const {
  absl::StatusOr<const Node*> node = Resolve(Canonical(name), "TXT");
  if (!node.ok()) return node.status();
  return DnsAnswer<std::string>{(*node)->txt, (*node)->dnssec};
}

absl::StatusOr<DnsAnswer<std::string>> DnsModel::LookupMtaStsTxt(
    absl::string_view domain) const {
  return LookupTxt(MtaStsName(domain));
}

absl::StatusOr<DnsAnswer<std::string>> DnsModel::LookupTlsRptTxt(
    absl::string_view domain) const {
  return LookupTxt(TlsRptName(domain));
}

}  // namespace starling::sim
