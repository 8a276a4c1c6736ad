#include "core/policy/json/tlsrpt_json.h"

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace starling::policy {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

void SetIfPresent(nlohmann::json& object, const char* name,
                  const std::string& value) {
  if (!value.empty()) object[name] = value;
}

}  // namespace

std::string TlsRptReportJson(const TlsRptReport& report) {
  nlohmann::json policies = nlohmann::json::array();
  for (const TlsRptPolicyResult& result : report.policies) {
    nlohmann::json policy = {
        {"policy-type", std::string(TlsRptPolicyTypeName(result.policy.type))},
        {"policy-domain", result.policy.domain},
    };
    if (!result.policy.policy_strings.empty()) {
      policy["policy-string"] = result.policy.policy_strings;
    }
    if (!result.policy.mx_hosts.empty()) {
      policy["mx-host"] = result.policy.mx_hosts;
    }
    nlohmann::json entry = {
        {"policy", policy},
        {"summary",
         {{"total-successful-session-count",
           result.total_successful_session_count},
          {"total-failure-session-count", result.total_failure_session_count}}},
    };
    if (!result.failure_details.empty()) {
      nlohmann::json details = nlohmann::json::array();
      for (const TlsRptFailureCount& f : result.failure_details) {
        nlohmann::json d = {{"result-type", f.failure.result_type},
                            {"failed-session-count", f.failed_session_count}};
        SetIfPresent(d, "sending-mta-ip", f.failure.sending_mta_ip);
        SetIfPresent(d, "receiving-mx-hostname", f.failure.receiving_mx_hostname);
        SetIfPresent(d, "receiving-mx-helo", f.failure.receiving_mx_helo);
        SetIfPresent(d, "receiving-ip", f.failure.receiving_ip);
        SetIfPresent(d, "additional-information", f.failure.additional_information);
        SetIfPresent(d, "failure-reason-code", f.failure.failure_reason_code);
        details.push_back(std::move(d));
      }
      entry["failure-details"] = std::move(details);
    }
    policies.push_back(std::move(entry));
  }
  const nlohmann::json json = {
      {"organization-name", report.organization_name},
      {"date-range",
       {{"start-datetime", Rfc3339(report.start)},
        {"end-datetime", Rfc3339(report.end)}}},
      {"contact-info", report.contact_info},
      {"report-id", report.report_id},
      {"policies", std::move(policies)},
  };
  // Replace invalid UTF-8 rather than throw: names come from the network.
  return json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace starling::policy
