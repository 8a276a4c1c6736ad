#ifndef STARLING_SIM_REPORT_HTML_H_
#define STARLING_SIM_REPORT_HTML_H_

#include <string>

#include "sim/scenario.h"
#include "sim/world.h"

namespace starling::sim {

// `report.html` (docs/admin-guide.md, "The HTML report"): one self-contained
// page (inline CSS and SVG, no script, no external asset) with the
// per-domain and per-profile tables, what decided each domain's outcomes
// (policy rule, outcomes between faults, why mail is deferred or bounced)
// and a timeline per domain: recipients delivered over TLS, delivered in
// plaintext, deferred and bounced across virtual time, with the faults
// marked. Each timeline is an <svg class="timeline"> with one
// <polyline class="series series-KIND"> per outcome (KIND: tls, plaintext,
// deferred, bounced) and one <line class="fault"> per fault. A pure
// function of its inputs: the same run gives the same bytes.
std::string ReportHtml(const Scenario& scenario, const WorldResult& result);

// The four outcome series of the timelines, in drawing order.
inline constexpr const char* kTimelineSeries[] = {"tls", "plaintext",
                                                  "deferred", "bounced"};

}  // namespace starling::sim

#endif  // STARLING_SIM_REPORT_HTML_H_
