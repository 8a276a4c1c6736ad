#ifndef STARLING_CORE_POLICY_JSON_TLSRPT_JSON_H_
#define STARLING_CORE_POLICY_JSON_TLSRPT_JSON_H_

#include <string>

#include "core/policy/tlsrpt.h"

namespace starling::policy {

// The RFC 8460 §4.4 JSON report (dates as RFC 3339 UTC "...Z"; optional
// failure-detail fields only when set). Pretty-printed with 2 spaces.
std::string TlsRptReportJson(const TlsRptReport& report);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_JSON_TLSRPT_JSON_H_
