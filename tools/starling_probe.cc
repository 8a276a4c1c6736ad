// starling-probe: what will a relay do with mail for this domain, and why?
// (posttls-finger class). Resolves the domain's MX hosts, DANE and MTA-STS,
// connects once to every MX address with a session that stops before MAIL
// FROM, and prints what it saw and the policy engine's verdict per level.
// docs/probe.md.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/policy/json/tlsrpt_json.h"
#include "core/policy/table.h"
#include "core/tls/credentials.h"
#include "core/tls/rng.h"
#include "tools/cli.h"
#include "tools/destination_flags.h"
#include "tools/io/address.h"
#include "tools/probe/probe.h"
#include "tools/probe/report.h"

ABSL_FLAG(std::string, policy_table, "",
          "judge with this policy table (looked up by the domain) instead of "
          "the levels may, encrypt, verify, secure, dane and sts");
ABSL_FLAG(bool, explain, false,
          "add the policy engine's reasoning, the MTA-STS trace and the SMTP "
          "dialogue");
ABSL_FLAG(bool, json, false, "print everything as one JSON object");
ABSL_FLAG(std::string, tlsrpt, "",
          "write the RFC 8460 TLS-RPT report of the sessions seen to this file");
ABSL_FLAG(std::string, trust, "",
          "CA bundle or hashed directory for the servers' chains (default: "
          "/etc/ssl/certs/ca-certificates.crt when present)");
ABSL_FLAG(std::string, helo, "", "EHLO name (default: this machine's name)");
ABSL_FLAG(uint64_t, timeout, 30, "seconds to wait for each reply");
ABSL_FLAG(uint64_t, connect_timeout, 10, "seconds to wait for each connection");

namespace starling {
namespace {

constexpr int kUsage = 2;

[[noreturn]] void Fail(int code, absl::string_view message) {
  std::cerr << "starling-probe: " << message << "\n";
  std::exit(code);
}

probe::ProbeSettings Settings() {
  probe::ProbeSettings settings;
  const std::string table_file = absl::GetFlag(FLAGS_policy_table);
  if (table_file.empty()) {
    settings.tables = probe::LevelTables();
    settings.connection_table = probe::ReportTable();
  } else {
    std::ifstream in(table_file, std::ios::binary);
    if (!in) Fail(kUsage, absl::StrCat("--policy-table: cannot read ", table_file));
    const std::string text((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    absl::StatusOr<policy::PolicyTable> table = policy::ParsePolicyTable(text);
    if (!table.ok()) Fail(kUsage, absl::StrCat(table_file, ": ", table.status().message()));
    settings.connection_table = {
        "table", std::make_shared<const policy::PolicyTable>(*std::move(table))};
    settings.tables = {settings.connection_table};
  }
  smtp::ClientOptions& smtp = settings.smtp;
  smtp.helo_name = absl::GetFlag(FLAGS_helo).empty() ? io::MachineName()
                                                     : absl::GetFlag(FLAGS_helo);
  const absl::Duration timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout));
  smtp.greeting_timeout = smtp.command_timeout = smtp.starttls_timeout = timeout;
  settings.connect_timeout = absl::Seconds(absl::GetFlag(FLAGS_connect_timeout));
  settings.tls.rng = tls::SystemRng();
  std::string trust = absl::GetFlag(FLAGS_trust);
  if (trust.empty() && ::access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
    trust = "/etc/ssl/certs/ca-certificates.crt";
  }
  if (!trust.empty()) {
    absl::StatusOr<std::shared_ptr<const tls::TrustStore>> store =
        tls::TrustStore::FromPath(trust);
    if (!store.ok()) Fail(kUsage, absl::StrCat("--trust: ", store.status().message()));
    settings.tls.trust = *std::move(store);
  }
  return settings;
}

int Run(const std::string& domain) {
  asio::io_context context(1);
  const probe::ProbeSettings settings = Settings();
  absl::StatusOr<send::ConnectOverrides> connect =
      tools::ConnectOverridesFromFlags(context);
  if (!connect.ok()) Fail(kUsage, connect.status().message());
  const net::LookupOptions lookup_options = tools::LookupOptionsFromFlags();
  absl::StatusOr<net::DestinationLookup> lookup =
      net::DestinationLookup::Open(lookup_options);
  if (!lookup.ok()) Fail(kUsage, lookup.status().message());

  const absl::Time now = absl::Now();
  absl::StatusOr<net::DestinationResolution> resolution = lookup->Resolve(domain, now);
  if (!resolution.ok()) {
    Fail(absl::IsInvalidArgument(resolution.status()) ? kUsage : 1,
         resolution.status().message());
  }
  const probe::ProbeReport report =
      probe::Probe(context, *std::move(resolution), *connect, settings, now);
  const probe::ReportSources sources{
      tools::DescribeResolver(lookup->resolver_options()),
      lookup_options.sts_cache_dir};

  if (absl::GetFlag(FLAGS_json)) {
    std::cout << probe::ProbeJson(report, sources).dump(2) << "\n";
  } else {
    std::cout << probe::ProbeText(report, sources, absl::GetFlag(FLAGS_explain));
  }

  const std::string tlsrpt_file = absl::GetFlag(FLAGS_tlsrpt);
  if (!tlsrpt_file.empty()) {
    // Judged under the table the probe connected with: the given policy
    // table, or DANE with MTA-STS honoured.
    const std::optional<policy::TlsRptReport> tlsrpt = probe::ProbeTlsRpt(
        report, settings.connection_table, absl::Now() + absl::Seconds(1),
        "starling-probe", absl::StrCat("postmaster@", io::MachineName()));
    if (!tlsrpt.has_value()) {
      std::cerr << "starling-probe: no TLS session to report; " << tlsrpt_file
                << " not written\n";
    } else {
      std::ofstream out(tlsrpt_file, std::ios::binary | std::ios::trunc);
      out << policy::TlsRptReportJson(*tlsrpt) << "\n";
      if (!out.flush()) Fail(1, absl::StrCat("--tlsrpt: cannot write ", tlsrpt_file));
    }
  }
  return 0;
}

}  // namespace
}  // namespace starling

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "starling-probe DOMAIN [--policy-table FILE] [--explain] [--json] "
      "[--tlsrpt FILE] [--resolver IP[@PORT]] [--trust-anchor-file FILE]\n"
      "Shows a domain's MX hosts, their DANE and MTA-STS state and what each "
      "MX address offers (EHLO, STARTTLS, TLS, certificates), and what the "
      "policy engine decides for each level. Exit: 0 probed, 1 a local "
      "failure, 2 usage.");
  const std::vector<std::string> rest = starling::tools::ParseToolFlags(
      argc, argv, "tools/starling_probe.cc",
      starling::tools::DestinationListFlags(),
      {starling::tools::kDestinationFlagsFile});
  if (rest.size() != 2) {
    starling::Fail(starling::kUsage,
                   rest.size() < 2 ? "a DOMAIN to probe is required"
                                   : absl::StrCat("unexpected argument \"", rest[2], "\""));
  }
  return starling::Run(rest[1]);
}
