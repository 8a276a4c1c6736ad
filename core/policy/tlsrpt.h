#ifndef STARLING_CORE_POLICY_TLSRPT_H_
#define STARLING_CORE_POLICY_TLSRPT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/time.h"
#include "core/policy/dane.h"
#include "core/policy/mta_sts.h"

namespace starling::policy {

// TLS-RPT (RFC 8460) aggregation: session results in, one report per policy
// domain out. The JSON rendering lives in core/policy/json.

enum class TlsRptPolicyType : uint8_t { kTlsa, kSts, kNoPolicyFound };
absl::string_view TlsRptPolicyTypeName(TlsRptPolicyType type);  // "sts", ...

// §4.4 "policy": what was applied.
struct TlsRptPolicy {
  TlsRptPolicyType type = TlsRptPolicyType::kNoPolicyFound;
  std::string domain;                       // policy-domain
  std::vector<std::string> policy_strings;  // policy-string
  std::vector<std::string> mx_hosts;        // mx-host (sts only)
  auto Key() const { return std::tie(type, domain, policy_strings, mx_hosts); }
};

// The policy of an MTA-STS domain: policy-string is the policy's lines.
TlsRptPolicy StsReportPolicy(absl::string_view domain, const StsPolicy& policy);
// The policy of a DANE domain: policy-string is the TLSA records.
TlsRptPolicy TlsaReportPolicy(absl::string_view domain,
                              const std::vector<TlsaRecord>& records);

// §4.4 "failure-details" key fields (all but the count).
struct TlsRptFailure {
  std::string result_type;  // RFC 8460 §4.3 name
  std::string sending_mta_ip;
  std::string receiving_mx_hostname;
  std::string receiving_mx_helo;
  std::string receiving_ip;
  std::string additional_information;
  std::string failure_reason_code;
  auto Key() const {
    return std::tie(result_type, sending_mta_ip, receiving_mx_hostname,
                    receiving_mx_helo, receiving_ip, additional_information,
                    failure_reason_code);
  }
};

// One TLS session attempt's result.
struct TlsRptSession {
  TlsRptPolicy policy;
  absl::Time time;
  bool success = true;
  TlsRptFailure failure;  // when !success
};

struct TlsRptFailureCount {
  TlsRptFailure failure;
  int64_t failed_session_count = 0;
};

struct TlsRptPolicyResult {
  TlsRptPolicy policy;
  int64_t total_successful_session_count = 0;
  int64_t total_failure_session_count = 0;
  std::vector<TlsRptFailureCount> failure_details;
};

struct TlsRptReport {
  std::string organization_name;
  absl::Time start;  // date-range
  absl::Time end;
  std::string contact_info;
  std::string report_id;
  std::vector<TlsRptPolicyResult> policies;
};

// Counts sessions in the window [start, end) per policy domain and policy.
class TlsRptAggregator {
 public:
  TlsRptAggregator(absl::Time start, absl::Time end);

  // False (and nothing counted) when the session is outside the window or
  // has no policy domain.
  bool Add(const TlsRptSession& session);

  std::vector<std::string> Domains() const;

  // The report for one policy domain; nullopt when it has no sessions.
  std::optional<TlsRptReport> ReportFor(absl::string_view domain,
                                        absl::string_view organization_name,
                                        absl::string_view contact_info,
                                        absl::string_view report_id) const;

 private:
  struct PolicyKeyLess {
    bool operator()(const TlsRptPolicy& a, const TlsRptPolicy& b) const {
      return a.Key() < b.Key();
    }
  };
  struct FailureKeyLess {
    bool operator()(const TlsRptFailure& a, const TlsRptFailure& b) const {
      return a.Key() < b.Key();
    }
  };
  struct Counts {
    int64_t successes = 0;
    std::map<TlsRptFailure, int64_t, FailureKeyLess> failures;
  };

  absl::Time start_;
  absl::Time end_;
  std::map<std::string, std::map<TlsRptPolicy, Counts, PolicyKeyLess>>
      by_domain_;
};

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_TLSRPT_H_
