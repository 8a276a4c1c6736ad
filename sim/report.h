#ifndef STARLING_SIM_REPORT_H_
#define STARLING_SIM_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/policy/tlsrpt.h"
#include "sim/scenario.h"
#include "sim/sender.h"
#include "sim/world.h"

namespace starling::sim {

// Machine-readable outputs of a simulated world (docs/simulator-output.md):
// TLS-RPT reports, the attempt log as CSV and JSON, and the whole result as
// JSON. Pure functions of the scenario and the result: the same inputs give
// the same bytes.

// ---- TLS-RPT (RFC 8460) ------------------------------------------------------

// The policy a domain's sessions are reported under: "tlsa" when the sender's
// table entry for the domain uses DANE (level dane or dane-only, or such a
// testing floor) and the domain has TLSA records under DNSSEC (secure);
// else "sts" when the domain publishes an MTA-STS policy and the entry honours
// MTA-STS; else "no-policy-found". (DANE outranks MTA-STS, RFC 8461 §2.)
// The tlsa policy-string is the records as published: "auto" ones as the
// world resolved them (WorldResult::tlsa).
policy::TlsRptPolicy ReportPolicyFor(const Scenario& scenario,
                                     const WorldResult& result,
                                     const ScenarioDomain& domain);

// How one attempt counts in TLS-RPT.
// What counts is AttemptRecord::tlsrpt_reported: the sender's own pins,
// trust anchors, cert-names and its table's testing entries are not the
// recipient's policy and are not reported (a TLS session refused only by
// them counts as successful); DANE and MTA-STS failures are, in testing
// mode too.
enum class TlsRptCount : uint8_t {
  kNone,     // not a TLS session (DNS failure, refused or timed-out
             // connection, a plaintext session the policy did not fault)
  kSuccess,  // a TLS session, and nothing reportable failed
  kFailure,  // the attempt reports an RFC 8460 result type: a connection,
             // or an MX the policy refused before connecting
};

TlsRptCount CountAttempt(const AttemptRecord& attempt);

struct TlsRptOptions {
  // Empty: "Starling mtasim".
  std::string organization_name;
  // Empty: "postmaster@<sender hostname>" (relay.example.org by default).
  std::string contact_info;
};

struct TlsRptDomainReport {
  std::string domain;
  std::vector<std::string> rua;  // where it would be sent
  policy::TlsRptReport report;
  std::string json;  // RFC 8460 §4.4, core/policy/json's rendering
};

// One report per declared domain that publishes a TLS-RPT record (`tlsrpt`
// rua) and had at least one counted session, in scenario order. Date range: [world.start, result.end); sessions are placed
// at their attempt's start. report-id: "<start RFC 3339>_<domain>".
// failure-details: result-type, sending-mta-ip (PcapClientIp),
// receiving-mx-hostname, receiving-ip (PcapServerIp of the MX).
std::vector<TlsRptDomainReport> TlsRptReports(
    const Scenario& scenario, const WorldResult& result,
    const TlsRptOptions& options = {});

// ---- attempt log ------------------------------------------------------------

// CSV (RFC 4180: CRLF line ends, fields with a comma, quote, CR or LF
// quoted, quotes doubled), header row first, then one row per attempt and
// recipient it carried (an attempt without recipients has one row with
// empty recipient columns). Columns: attempt (1-based), kind, start, end,
// domain, mx_host, mx_preference, connected, tls, chain_verdict, verdict,
// policy_label, tlsrpt_result_type, detail, message, recipient, status,
// stage, reply_code, reply_enhanced, reply_text (lines joined by LF),
// recipient_detail, then tlsrpt_reported, policy_rule, first_failure (the
// attempt's, repeated on each of its rows).
std::string AttemptsCsv(const WorldResult& result);

// A JSON array with one object per attempt carrying every AttemptRecord
// field, recipients nested.
std::string AttemptsJson(const WorldResult& result);

// ---- the whole result -------------------------------------------------------

// What `mtasim --json` prints: seed, start/end, trace hash (16 hex digits),
// recipient fate counts, attempt counts, per-domain summaries (counts, labels,
// RFC 8460 result types, policy type, TLS-RPT session counts), bounces and
// faults.
std::string ResultJson(const Scenario& scenario, const WorldResult& result);

// Writes into `dir` (created when missing): tlsrpt-<domain>.json per report,
// attempts.csv, attempts.json, result.json and report.html (ReportHtml).
// Errors name the path.
absl::Status WriteReports(const std::string& dir, const Scenario& scenario,
                          const WorldResult& result,
                          const TlsRptOptions& options = {});

}  // namespace starling::sim

#endif  // STARLING_SIM_REPORT_H_
