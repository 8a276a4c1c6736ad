#ifndef STARLING_TOOLS_PROBE_REPORT_H_
#define STARLING_TOOLS_PROBE_REPORT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/tlsrpt.h"
#include "nlohmann/json.hpp"
#include "tools/probe/probe.h"

namespace starling::probe {

// Where the report's inputs came from, for its header.
struct ReportSources {
  std::string resolver;       // e.g. "127.0.0.1@5353, trust anchor FILE"
  std::string sts_cache_dir;  // "" when no MTA-STS cache was used
};

// For people: the MX set, MTA-STS and TLS-RPT, then per MX host its
// addresses, TLSA records and DANE state, per address what the connection
// showed (EHLO, STARTTLS, TLS, the certificate chain, the DANE match) and
// the policy engine's verdict per table. `explain` adds the engine's trace,
// the MTA-STS trace and the SMTP dialogue.
std::string ProbeText(const ProbeReport& report, const ReportSources& sources,
                      bool explain);

// The same, complete, for machines.
nlohmann::json ProbeJson(const ProbeReport& report,
                         const ReportSources& sources);

// The RFC 8460 report of what the probe saw, judged under `table`: one
// session per address connected to (or refused before connecting), counted
// under the policy the domain published for that MX (its TLSA records when
// DANE applies, else the MTA-STS policy, else none). nullopt: no session
// to report.
std::optional<policy::TlsRptReport> ProbeTlsRpt(const ProbeReport& report,
                                                const NamedTable& table,
                                                absl::Time end,
                                                absl::string_view organization,
                                                absl::string_view contact);

}  // namespace starling::probe

#endif  // STARLING_TOOLS_PROBE_REPORT_H_
