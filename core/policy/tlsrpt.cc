#include "core/policy/tlsrpt.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace starling::policy {

absl::string_view TlsRptPolicyTypeName(TlsRptPolicyType type) {
  switch (type) {
    case TlsRptPolicyType::kTlsa: return "tlsa";
    case TlsRptPolicyType::kSts: return "sts";
    case TlsRptPolicyType::kNoPolicyFound: return "no-policy-found";
  }
  return "?";
}

TlsRptPolicy StsReportPolicy(absl::string_view domain, const StsPolicy& policy) {
  TlsRptPolicy p;
  p.type = TlsRptPolicyType::kSts;
  p.domain = absl::AsciiStrToLower(domain);
  p.policy_strings.push_back("version: STSv1");
  p.policy_strings.push_back(absl::StrCat("mode: ", StsModeName(policy.mode)));
  for (const std::string& mx : policy.mx) {
    p.policy_strings.push_back(absl::StrCat("mx: ", mx));
  }
  p.policy_strings.push_back(absl::StrCat("max_age: ", policy.max_age));
  p.mx_hosts = policy.mx;
  return p;
}

TlsRptPolicy TlsaReportPolicy(absl::string_view domain,
                              const std::vector<TlsaRecord>& records) {
  TlsRptPolicy p;
  p.type = TlsRptPolicyType::kTlsa;
  p.domain = absl::AsciiStrToLower(domain);
  for (const TlsaRecord& r : records) p.policy_strings.push_back(TlsaRecordText(r));
  return p;
}

TlsRptAggregator::TlsRptAggregator(absl::Time start, absl::Time end)
    : start_(start), end_(end) {}

bool TlsRptAggregator::Add(const TlsRptSession& session) {
  if (session.time < start_ || session.time >= end_ ||
      session.policy.domain.empty()) {
    return false;
  }
  Counts& counts = by_domain_[session.policy.domain][session.policy];
  if (session.success) {
    ++counts.successes;
  } else {
    ++counts.failures[session.failure];
  }
  return true;
}

std::vector<std::string> TlsRptAggregator::Domains() const {
  std::vector<std::string> out;
  for (const auto& [domain, unused] : by_domain_) out.push_back(domain);
  return out;
}

std::optional<TlsRptReport> TlsRptAggregator::ReportFor(
    absl::string_view domain, absl::string_view organization_name,
    absl::string_view contact_info, absl::string_view report_id) const {
  auto it = by_domain_.find(absl::AsciiStrToLower(domain));
  if (it == by_domain_.end()) return std::nullopt;
  TlsRptReport report;
  report.organization_name = std::string(organization_name);
  report.contact_info = std::string(contact_info);
  report.report_id = std::string(report_id);
  report.start = start_;
  report.end = end_;
  for (const auto& [policy, counts] : it->second) {
    TlsRptPolicyResult result;
    result.policy = policy;
    result.total_successful_session_count = counts.successes;
    for (const auto& [failure, n] : counts.failures) {
      result.total_failure_session_count += n;
      result.failure_details.push_back({failure, n});
    }
    report.policies.push_back(std::move(result));
  }
  return report;
}

}  // namespace starling::policy
