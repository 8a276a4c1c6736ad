// mtasim: runs a simulator scenario (docs/simulator.md, "Scenario files")
// and prints the seed, a one-line configuration summary, the outcome per
// destination domain and the trace hash; or, with --swarm, draws a random
// world per seed and checks the invariants.
// Exit status: 0; 1 when the world fails to run; 2 for bad usage or a bad
// scenario file; 3 when --check-determinism finds two runs differing;
// 10..14 when an invariant is violated (docs/simulator.md, "Invariants");
// with --swarm, the status of the first failing seed.
//
//   mtasim SCENARIO.toml [--seed=N] [--until=DURATION] [--report=DIR]
//          [--pcap=DIR] [--transcript=DOMAIN] [--json] [--check-determinism]
//          [--fingerprints]
//   mtasim --swarm --seeds=A..B [--check-determinism]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "sim/pcap.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/swarm.h"
#include "sim/transcript.h"
#include "sim/world.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, seed, "",
          "the world's seed (default: the scenario's world.seed, else 1)");
ABSL_FLAG(bool, check_determinism, false,
          "run the world twice and exit 3 if the trace hashes differ");
ABSL_FLAG(std::string, until, "",
          "run for this virtual duration instead of world.duration (\"90m\")");
ABSL_FLAG(std::string, report, "",
          "write TLS-RPT JSON per domain that publishes a TLS-RPT address, "
          "attempts.csv, attempts.json, result.json and report.html (tables, "
          "why, a timeline per domain) into this directory");
ABSL_FLAG(std::string, pcap, "",
          "write one pcap file per connection into this directory");
ABSL_FLAG(std::string, transcript, "",
          "print the SMTP dialogue of every connection to this domain "
          "(\"all\": every connection)");
ABSL_FLAG(bool, json, false, "print the result as one JSON document");
ABSL_FLAG(bool, fingerprints, false,
          "print each MX host's certificate fingerprints (SHA-256, SHA-1, "
          "MD5 of the certificate and its public key) for pins, and exit; "
          "the same world.start gives the same certificates");
ABSL_FLAG(bool, swarm, false,
          "swarm testing: draw a random world per seed of --seeds and check "
          "the invariants");
ABSL_FLAG(std::string, seeds, "1..100", "--swarm: the seeds, \"A..B\"");

namespace {

using ::starling::sim::DomainSummary;
using ::starling::sim::Scenario;
using ::starling::sim::SwarmOutcome;
using ::starling::sim::WorldOptions;
using ::starling::sim::WorldResult;

int Fail(int code, const std::string& message) {
  std::cerr << "mtasim: " << message << "\n";
  return code;
}

absl::string_view PolicySourceName(starling::sim::PolicySource source) {
  switch (source) {
    case starling::sim::PolicySource::kNone:
      return "none (every domain may)";
    case starling::sim::PolicySource::kTable:
      return "table";
    case starling::sim::PolicySource::kPostfix:
      return "postfix";
  }
  return "?";
}

std::string Summary(const Scenario& scenario, absl::string_view path) {
  size_t hosts = 0;
  for (const auto& domain : scenario.domains) hosts += domain.mx.size();
  int64_t messages = 0;
  int64_t recipients = 0;
  for (const auto& load : scenario.loads) {
    messages += load.messages;
    recipients += load.messages * load.recipients;
  }
  return absl::StrCat(
      "config: ", path, ": start ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", scenario.world.start,
                       absl::UTCTimeZone()),
      ", duration ", absl::FormatDuration(scenario.world.duration), ", sender ",
      scenario.sender.hostname, ", policy ",
      PolicySourceName(scenario.sender.policy_source), ", default ",
      starling::sim::DefaultPolicyText(scenario), ", ",
      scenario.domains.size(), " domains, ", hosts, " MX hosts, ", messages,
      " messages (", recipients, " recipients), ", scenario.faults.size(),
      " faults");
}

// Prints rows of cells as columns padded to their widest cell (the count
// columns right-aligned); `notes[i]` are indented lines printed under row i.
void PrintColumns(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<std::vector<std::string>>& notes = {}) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const bool number = i + 1 < row.size() && i + 5 >= row.size();
      const std::string pad(widths[i] - row[i].size(), ' ');
      absl::StrAppend(&line, i == 0 ? "" : "  ", number ? pad : "", row[i],
                      number || i + 1 == row.size() ? "" : pad);
    }
    std::cout << line << "\n";
    if (r < notes.size()) {
      for (const std::string& note : notes[r]) std::cout << "    " << note << "\n";
    }
  }
}

std::string Labels(const starling::sim::OutcomeCounts& d) {
  std::string tls = absl::StrCat(d.tls);
  if (!d.tls_by_label.empty()) {
    std::vector<std::string> labels;
    for (const auto& [label, count] : d.tls_by_label) {
      labels.push_back(absl::StrCat(label, " ", count));
    }
    absl::StrAppend(&tls, " (", absl::StrJoin(labels, ", "), ")");
  }
  return tls;
}

// One row of a results table: the leading cells, then the counts.
std::vector<std::string> Cells(std::vector<std::string> lead,
                               const DomainSummary& d) {
  lead.push_back(Labels(d));
  lead.push_back(absl::StrCat(d.plaintext));
  lead.push_back(absl::StrCat(d.deferred));
  lead.push_back(absl::StrCat(d.bounced));
  lead.push_back(d.tlsrpt_result_types.empty()
                     ? "-"
                     : absl::StrJoin(d.tlsrpt_result_types, ","));
  return lead;
}

const std::vector<std::string> kCounts = {
    "delivered over TLS (label)", "plaintext", "deferred", "bounced",
    "RFC 8460 result types"};

// "10:00" (UTC) within a world of a day or less, else "03-02 10:00".
std::string Clock(absl::Time t, const WorldResult& result) {
  return absl::FormatTime(
      result.end - result.start <= absl::Hours(24) ? "%H:%M" : "%m-%d %H:%M",
      t, absl::UTCTimeZone());
}

// One line per outcome in a period, e.g. "3 over TLS (verify:verified 3)".
std::string PeriodText(const starling::sim::OutcomeCounts& c) {
  std::vector<std::string> parts;
  if (c.tls > 0) {
    std::string tls = Labels(c);
    const size_t space = tls.find(' ');
    tls.insert(space == std::string::npos ? tls.size() : space, " over TLS");
    parts.push_back(std::move(tls));
  }
  if (c.plaintext > 0) parts.push_back(absl::StrCat(c.plaintext, " plaintext"));
  if (c.deferred > 0) parts.push_back(absl::StrCat(c.deferred, " deferred"));
  if (c.bounced > 0) parts.push_back(absl::StrCat(c.bounced, " bounced"));
  return parts.empty() ? "no mail queued" : absl::StrJoin(parts, ", ");
}

// What decided a domain's outcomes: its policy rule, the outcomes before
// and after each fault, and why mail is still deferred or was bounced.
std::vector<std::string> Why(const DomainSummary& d, const WorldResult& result) {
  std::vector<std::string> notes = {
      absl::StrCat("rule ", d.policy_rule, ": ", d.policy)};
  for (const starling::sim::DomainPeriod& p : d.periods) {
    std::string line = absl::StrCat("queued ", Clock(p.from, result), "-",
                                    Clock(p.to, result));
    if (!p.after.empty()) {
      absl::StrAppend(&line, " (after ", absl::StrJoin(p.after, ", "), ")");
    }
    absl::StrAppend(&line, ": ", PeriodText(p.counts));
    if (p.max_delay > absl::Minutes(1)) {
      absl::StrAppend(&line, "; delivered within ",
                      absl::FormatDuration(absl::Trunc(p.max_delay, absl::Seconds(1))));
    }
    notes.push_back(std::move(line));
  }
  // The most common reasons first.
  std::vector<std::pair<int64_t, std::string>> reasons;
  for (const auto& [why, n] : d.why) reasons.emplace_back(-n, why);
  std::sort(reasons.begin(), reasons.end());
  for (const auto& [n, why] : reasons) {
    notes.push_back(absl::StrCat("why (", -n, " deferred or bounced): ", why));
  }
  return notes;
}

// "verify trust-anchor=\"CN=Starling Test Old Root CA, O=Starling Test PKI,
// C=NL\"" -> quoted values over 32 characters shortened, for a table cell.
std::string ShortPolicy(absl::string_view policy) {
  std::string out;
  bool quoted = false;
  size_t in_quote = 0;
  for (const char c : policy) {
    if (c == '"') {
      if (quoted && in_quote > 32) out += "...";
      quoted = !quoted;
      in_quote = 0;
      out += c;
      continue;
    }
    if (quoted && ++in_quote > 32) continue;
    out += c;
  }
  return out;
}

void PrintTable(const WorldResult& result) {
  std::vector<std::vector<std::string>> rows = {{"domain", "profile"}};
  rows[0].insert(rows[0].end(), kCounts.begin(), kCounts.end());
  std::vector<std::vector<std::string>> notes = {{}};
  // Per profile and policy: the MX hosts' profiles of a domain and the
  // table entry it gets, as one key.
  std::map<std::pair<std::string, std::string>, DomainSummary> by_profile;
  std::map<std::pair<std::string, std::string>, int> domains;
  for (const DomainSummary& d : result.domains) {
    rows.push_back(Cells({d.domain, d.profiles}, d));
    notes.push_back(Why(d, result));
    const std::pair<std::string, std::string> key(d.profiles, d.policy);
    ++domains[key];
    DomainSummary& p = by_profile[key];
    p.tls += d.tls;
    for (const auto& [label, count] : d.tls_by_label) {
      p.tls_by_label[label] += count;
    }
    p.plaintext += d.plaintext;
    p.deferred += d.deferred;
    p.bounced += d.bounced;
    p.tlsrpt_result_types.insert(d.tlsrpt_result_types.begin(),
                                 d.tlsrpt_result_types.end());
  }
  std::cout << "\nper domain (recipients):\n";
  PrintColumns(rows, notes);
  rows = {{"profile", "policy", "domains"}};
  rows[0].insert(rows[0].end(), kCounts.begin(), kCounts.end());
  for (const auto& [key, d] : by_profile) {
    rows.push_back(Cells({key.first, ShortPolicy(key.second),
                          absl::StrCat(domains[key])},
                         d));
  }
  std::cout << "\nper profile and policy (recipients):\n";
  PrintColumns(rows);
  std::cout << "\n";
  for (const std::string& fault : result.faults_applied) {
    std::cout << "fault applied: " << fault << "\n";
  }
  for (const std::string& fault : result.faults_not_applied) {
    std::cout << "fault not applied: " << fault << "\n";
  }
}

// Progress on stderr for runs that take a while: at most once a second,
// after the first two seconds of wall time.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  void Report(const std::string& line) {
    if (!enabled_) return;
    const absl::Time now = absl::Now();
    if (now - started_ < absl::Seconds(2) || now - last_ < absl::Seconds(1)) {
      return;
    }
    last_ = now;
    std::cerr << "mtasim: " << line << "\n";
  }

 private:
  bool enabled_;
  absl::Time started_ = absl::Now();
  absl::Time last_ = absl::InfinitePast();
};

// Colon-separated upper-case hex, as Postfix prints fingerprints.
std::string Fingerprint(absl::string_view digest) {
  std::vector<std::string> bytes;
  for (const char c : digest) {
    bytes.push_back(absl::StrFormat("%02X", static_cast<uint8_t>(c)));
  }
  return absl::StrJoin(bytes, ":");
}

int PrintFingerprints(const Scenario& scenario) {
  absl::StatusOr<std::vector<starling::sim::HostCertificate>> certificates =
      starling::sim::HostCertificates(scenario);
  if (!certificates.ok()) {
    return Fail(1, std::string(certificates.status().message()));
  }
  std::cout << "# The simulated certificates depend on world.start ("
            << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", scenario.world.start,
                                absl::UTCTimeZone())
            << ") only, not on the seed: the same start gives the same "
               "fingerprints.\n"
               "# Starling table: cert-pin=<cert sha256> or "
               "spki-pin=<spki sha256>; Postfix: match=<sha256> with "
               "smtp_tls_fingerprint_digest = sha256.\n";
  for (const auto& c : *certificates) {
    std::cout << "\n" << c.host << " (" << c.profile
              << (c.when.empty() ? "" : absl::StrCat(", ", c.when)) << ")\n"
              << "  subject " << c.leaf.subject_dn << "\n"
              << "  issuer  " << c.leaf.issuer_dn << "\n"
              << "  names   " << absl::StrJoin(c.leaf.dns_names, " ") << "\n"
              << "  valid   "
              << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", c.leaf.not_before,
                                  absl::UTCTimeZone())
              << " .. "
              << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", c.leaf.not_after,
                                  absl::UTCTimeZone())
              << "\n"
              << "  cert-pin=" << absl::BytesToHexString(c.leaf.sha256) << "\n"
              << "  spki-pin=" << absl::BytesToHexString(c.leaf.spki_sha256)
              << "\n"
              << "  Postfix match= (certificate) sha256 "
              << Fingerprint(c.leaf.sha256) << "\n"
              << "                               sha1   "
              << Fingerprint(c.leaf.sha1) << "\n"
              << "                               md5    "
              << Fingerprint(c.leaf.md5) << "\n"
              << "  Postfix match= (public key)  sha256 "
              << Fingerprint(c.leaf.spki_sha256) << "\n";
  }
  return 0;
}

// "A..B" with A <= B.
bool ParseSeeds(absl::string_view text, uint64_t* first, uint64_t* last) {
  const std::vector<absl::string_view> parts = absl::StrSplit(text, "..");
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], first) &&
         absl::SimpleAtoi(parts[1], last) && *first <= *last;
}

int RunSwarm() {
  uint64_t first = 0;
  uint64_t last = 0;
  if (!ParseSeeds(absl::GetFlag(FLAGS_seeds), &first, &last)) {
    return Fail(2, absl::StrCat("--seeds: expected A..B with A <= B, got '",
                                absl::GetFlag(FLAGS_seeds), "'"));
  }
  const bool determinism = absl::GetFlag(FLAGS_check_determinism);
  std::cout << "swarm: seeds " << first << ".." << last
            << (determinism ? ", each run twice" : "") << "\n";
  Progress progress(true);
  int status = 0;
  uint64_t failed = 0;
  int64_t delivered = 0;
  int64_t duplicates = 0;
  for (uint64_t seed = first;; ++seed) {
    const SwarmOutcome outcome = starling::sim::RunSwarmSeed(seed, determinism);
    delivered += outcome.delivered;
    duplicates += outcome.duplicates_in_window;
    if (!outcome.ok()) {
      ++failed;
      std::cout << starling::sim::SwarmFailureLine(outcome) << "\n";
      if (status == 0) {
        status = !outcome.error.ok() ? 1
                 : outcome.violation.has_value()
                     ? starling::sim::InvariantExitCode(outcome.violation->kind)
                     : 3;
      }
    } else if (first == last) {
      std::cout << absl::StrFormat(
          "seed %d: ok, %d attempts, %d delivered, %d bounced, %d queued, "
          "trace hash %016x\n",
          seed, outcome.attempts, outcome.delivered, outcome.bounced,
          outcome.queued, outcome.trace_hash);
    }
    progress.Report(absl::StrCat("swarm: seed ", seed, " of ", first, "..",
                                 last, ", ", failed, " failed so far"));
    if (seed == last) break;
  }
  std::cout << absl::StrFormat(
      "swarm: %d seeds, %d failed; %d recipients delivered, %d duplicates "
      "inside the after-end-of-data window\n",
      last - first + 1, failed, delivered, duplicates);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs a simulator scenario and prints its outcome.\n"
      "usage: mtasim SCENARIO.toml [--seed=N] [--until=DURATION] "
      "[--report=DIR] [--pcap=DIR] [--transcript=DOMAIN] [--json] "
      "[--check-determinism] [--fingerprints]\n"
      "       mtasim --swarm --seeds=A..B [--check-determinism]");
  const std::vector<std::string> args =
      starling::tools::ParseToolFlags(argc, argv, "tools/mtasim.cc", {});
  if (absl::GetFlag(FLAGS_swarm)) {
    if (args.size() != 1) return Fail(2, "--swarm takes no scenario file");
    return RunSwarm();
  }
  if (args.size() != 2) return Fail(2, "expected one scenario file");

  // Under `bazel run`, relative paths are meant from the user's directory.
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  auto from_user = [cwd](std::string path) {
    if (cwd != nullptr && !path.empty() && path[0] != '/') {
      path = absl::StrCat(cwd, "/", path);
    }
    return path;
  };
  absl::StatusOr<Scenario> scenario =
      starling::sim::LoadScenarioFile(from_user(args[1]));
  if (!scenario.ok()) return Fail(2, std::string(scenario.status().message()));

  // Import warnings (postfix_policy) on stderr whatever the output.
  for (const std::string& warning : scenario->sender.policy_warnings) {
    std::cerr << warning << "\n";
  }
  if (absl::GetFlag(FLAGS_fingerprints)) return PrintFingerprints(*scenario);

  uint64_t seed = scenario->world.seed.value_or(1);
  const std::string seed_flag = absl::GetFlag(FLAGS_seed);
  if (!seed_flag.empty() && !absl::SimpleAtoi(seed_flag, &seed)) {
    return Fail(2, absl::StrCat("--seed: not an unsigned integer: '",
                                seed_flag, "'"));
  }
  WorldOptions options;
  const std::string until = absl::GetFlag(FLAGS_until);
  if (!until.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(until, &d) || d <= absl::ZeroDuration() ||
        d == absl::InfiniteDuration()) {
      return Fail(2, absl::StrCat("--until: not a positive duration: '",
                                  until, "'"));
    }
    options.until = d;
  }
  const std::string transcript = absl::GetFlag(FLAGS_transcript);
  const std::string pcap_dir = absl::GetFlag(FLAGS_pcap);
  options.capture = !transcript.empty() || !pcap_dir.empty();
  const bool json = absl::GetFlag(FLAGS_json);
  Progress progress(true);
  options.progress_every = absl::Minutes(10);
  options.progress = [&progress](const starling::sim::WorldProgress& p) {
    progress.Report(absl::StrCat(
        "virtual ", absl::FormatDuration(p.now - p.start), " of ",
        absl::FormatDuration(p.end - p.start), " (",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", p.now, absl::UTCTimeZone()),
        "), ", p.attempts, " attempts, ", p.queued, " recipients queued"));
  };

  if (!json) {
    std::cout << "seed: " << seed << "\n"
              << Summary(*scenario, args[1]) << "\n";
  }
  absl::StatusOr<WorldResult> result =
      starling::sim::RunScenario(*scenario, seed, options);
  if (!result.ok()) {
    return Fail(1, absl::StrCat("run failed: ", result.status().ToString()));
  }
  if (json) {
    std::cout << starling::sim::ResultJson(*scenario, *result) << "\n";
  } else {
    PrintTable(*result);
    if (result->duplicates_in_window > 0) {
      std::cout << "duplicates inside the after-end-of-data window: "
                << result->duplicates_in_window << "\n";
    }
    std::cout << absl::StrFormat("trace hash: %016x (%d attempts)\n",
                                 result->trace_hash, result->attempts.size());
  }
  if (!transcript.empty()) {
    std::vector<starling::sim::CapturedConnection> chosen;
    for (const auto& c : result->captures) {
      if (transcript == "all" || absl::EqualsIgnoreCase(c.domain, transcript)) {
        chosen.push_back(c);
      }
    }
    if (chosen.empty()) {
      std::cerr << "mtasim: --transcript: no connection to " << transcript
                << "\n";
    }
    (json ? std::cerr : std::cout)
        << starling::sim::FormatTranscripts(chosen);
  }
  if (!pcap_dir.empty()) {
    const absl::Status written =
        starling::sim::WritePcapFiles(from_user(pcap_dir), result->captures);
    if (!written.ok()) return Fail(1, std::string(written.message()));
    (json ? std::cerr : std::cout)
        << "pcap: " << result->captures.size() << " files in " << pcap_dir
        << "\n";
  }
  const std::string report_dir = absl::GetFlag(FLAGS_report);
  if (!report_dir.empty()) {
    const absl::Status written =
        starling::sim::WriteReports(from_user(report_dir), *scenario, *result);
    if (!written.ok()) return Fail(1, std::string(written.message()));
    (json ? std::cerr : std::cout) << "reports: written to " << report_dir
                                   << "\n";
  }
  if (result->violation.has_value()) {
    std::cout << "INVARIANT VIOLATED: "
              << starling::sim::FormatViolation(*result->violation) << "\n"
              << "reproduce: bazel run //tools:mtasim -- " << args[1]
              << " --seed=" << seed << "\n";
    return starling::sim::InvariantExitCode(result->violation->kind);
  }

  if (absl::GetFlag(FLAGS_check_determinism)) {
    absl::StatusOr<WorldResult> again =
        starling::sim::RunScenario(*scenario, seed, options);
    if (!again.ok()) {
      return Fail(1, absl::StrCat("second run failed: ",
                                  again.status().ToString()));
    }
    if (again->trace_hash != result->trace_hash) {
      std::cout << absl::StrFormat(
          "determinism: FAILED, second run's trace hash %016x\n",
          again->trace_hash);
      return 3;
    }
    (json ? std::cerr : std::cout)
        << "determinism: ok (two runs, same trace hash)\n";
  }
  return 0;
}
