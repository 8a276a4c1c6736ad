// tlspolicy: check, convert and explain Starling TLS policy tables.
//
//   tlspolicy lint FILE
//   tlspolicy import-postfix FILE [--fingerprint-digest=sha256]
//       [--default-level=LEVEL] [--lenient]
//   tlspolicy explain --table FILE (--domain D | --nexthop [HOST]:PORT)
//       [--mx HOST] [--facts FACTS.json]
//       [--tlsa "3 1 1 HEX"]... [--dnssec secure|insecure|bogus] [--sts FILE]
//       [--requiretls] [--tls_required_no] [--server_requiretls] [--now TIME]
//
// Exit status: 0 fine, 1 errors in the input (lint/import) or a refusing
// verdict (explain), 2 bad usage or unreadable input.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/policy/dane.h"
#include "core/policy/engine.h"
#include "core/policy/json/facts_json.h"
#include "core/policy/mta_sts.h"
#include "core/policy/names.h"
#include "core/policy/postfix_import.h"
#include "core/policy/table.h"
#include "core/tls/facts.h"
#include "tools/cli.h"

ABSL_FLAG(std::string, table, "", "explain: the policy table file");
ABSL_FLAG(std::string, domain, "", "explain: the next-hop (recipient) domain");
ABSL_FLAG(std::string, nexthop, "",
          "explain: the next-hop the mail is routed through, Postfix style "
          "(\"[relay.example]:587\"): the table is searched with that key");
ABSL_FLAG(std::string, fingerprint_digest, "sha256",
          "import-postfix: main.cf's smtp_tls_fingerprint_digest (md5, sha1, "
          "sha256, sha512)");
ABSL_FLAG(std::string, default_level, "",
          "import-postfix: main.cf's smtp_tls_security_level, the level of "
          "destinations the map does not list (default: Postfix's, none)");
ABSL_FLAG(bool, lenient, false,
          "import-postfix: turn what cannot be imported exactly into something "
          "at least as strict, with a warning, instead of an error");
ABSL_FLAG(std::string, mx, "", "explain: the MX host (default: the domain)");
ABSL_FLAG(bool, last_mx, true, "explain: no further MX to try after this one");
ABSL_FLAG(std::string, facts, "",
          "explain: TlsFacts JSON of the handshake (see docs/policy.md); "
          "without it the session is judged without TLS");
ABSL_FLAG(std::string, no_tls, "not-offered",
          "explain without --facts: not-offered, refused, handshake-failed "
          "or not-attempted");
ABSL_FLAG(std::vector<std::string>, tlsa, {},
          "explain: TLSA records of the MX, \"usage selector type hex\" (comma-separated)");
ABSL_FLAG(std::string, dnssec, "secure",
          "explain: DNSSEC status of the TLSA lookup with --tlsa: secure, "
          "insecure or bogus");
ABSL_FLAG(std::string, sts, "", "explain: MTA-STS policy file in force");
ABSL_FLAG(bool, requiretls, false, "explain: the message carries REQUIRETLS");
ABSL_FLAG(bool, tls_required_no, false,
          "explain: the message has \"TLS-Required: No\"");
ABSL_FLAG(bool, server_requiretls, false,
          "explain: the server advertised REQUIRETLS after STARTTLS");
ABSL_FLAG(std::string, now, "",
          "explain: the time of the attempt, RFC 3339 (default: the wall clock)");

namespace starling::policy {
namespace {

constexpr int kUsage = 2;

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::cerr << "tlspolicy: cannot read " << path << "\n";
    return std::nullopt;
  }
  return std::string((std::istreambuf_iterator<char>(file)),
                     std::istreambuf_iterator<char>());
}

int PrintDiagnostics(const std::string& path, const std::vector<Diagnostic>& diagnostics) {
  int errors = 0, warnings = 0;
  for (const Diagnostic& d : diagnostics) {
    std::cerr << path << ": " << d.ToString() << "\n";
    (d.severity == Diagnostic::Severity::kError ? errors : warnings)++;
  }
  std::cerr << path << ": " << errors << " error(s), " << warnings << " warning(s)\n";
  return errors;
}

// A Postfix map given where a Starling table is expected: say what to do.
void HintPostfix(const std::string& path, absl::string_view text) {
  if (LooksLikePostfixPolicyMap(text)) {
    std::cerr << path
              << ": this looks like a Postfix smtp_tls_policy_maps file, not "
                 "a Starling table: use import-postfix (`tlspolicy "
                 "import-postfix "
              << path << " > table.txt`)\n";
  }
}

int Lint(const std::string& path) {
  std::optional<std::string> text = ReadFile(path);
  if (!text.has_value()) return kUsage;
  const int errors = PrintDiagnostics(path, LintPolicyTable(*text));
  if (errors > 0) HintPostfix(path, *text);
  return errors > 0 ? 1 : 0;
}

int ImportPostfix(const std::string& path) {
  PostfixImportOptions options;
  options.fingerprint_digest = absl::GetFlag(FLAGS_fingerprint_digest);
  options.lenient = absl::GetFlag(FLAGS_lenient);
  const std::string level = absl::GetFlag(FLAGS_default_level);
  if (!level.empty()) {
    options.default_level = ParseLevel(level);
    if (!options.default_level.has_value()) {
      std::cerr << "tlspolicy import-postfix: --default-level: unknown level '"
                << level
                << "' (none, may, encrypt, dane, dane-only, verify, secure)\n";
      return kUsage;
    }
  }
  std::optional<std::string> text = ReadFile(path);
  if (!text.has_value()) return kUsage;
  const PostfixImport result = ImportPostfixPolicyMap(*text, options);
  if (PrintDiagnostics(path, result.diagnostics) > 0) {
    // Nothing on stdout: a partial table would silently weaken the lines
    // that failed to the default.
    std::cerr << path << ": not converted (fix the errors"
              << (options.lenient ? "" : ", or see --lenient") << ")\n";
    return 1;
  }
  std::cout << "# converted from " << path << " by tlspolicy import-postfix\n"
            << "# smtp_tls_security_level = " << LevelName(result.default_level)
            << (result.default_level_given
                    ? " (--default-level)"
                    : " (Postfix's default; --default-level sets main.cf's)")
            << "\n# smtp_tls_fingerprint_digest = "
            << options.fingerprint_digest << "\n"
            << PrintPolicyTable(result.table);
  return 0;
}

void PrintDecision(absl::string_view title, const smtp::PolicyDecision& d) {
  std::cout << title << ": " << smtp::DeliveryVerdictName(d.verdict)
            << "\n  label: " << d.label << "\n";
  if (!d.tlsrpt_result_type.empty()) {
    std::cout << "  tls-rpt result: " << d.tlsrpt_result_type << "\n";
  }
  for (const std::string& step : d.trace) std::cout << "  - " << step << "\n";
}

int Explain() {
  const std::string table_path = absl::GetFlag(FLAGS_table);
  std::string domain = absl::GetFlag(FLAGS_domain);
  const std::string nexthop_flag = absl::GetFlag(FLAGS_nexthop);
  if (table_path.empty() || (domain.empty() && nexthop_flag.empty())) {
    std::cerr << "tlspolicy explain: --table and --domain (or --nexthop) are "
                 "required\n";
    return kUsage;
  }
  // A next-hop "[host]:port" is the lookup key; its host is the name that
  // "nexthop" matches and the MX (Postfix connects to it without an MX
  // lookup).
  std::string lookup_key = domain;
  if (!nexthop_flag.empty()) {
    absl::StatusOr<std::string> key = NormalizeTableKey(nexthop_flag);
    if (!key.ok() || (*key)[0] != '[') {
      std::cerr << "tlspolicy explain: --nexthop '" << nexthop_flag
                << "': expected [host] or [host]:port\n";
      return kUsage;
    }
    lookup_key = *key;
    domain = key->substr(1, key->find(']') - 1);
  }
  if (!IsValidDnsName(domain)) {
    std::cerr << "tlspolicy explain: --domain '" << domain << "' is not a DNS name\n";
    return kUsage;
  }
  std::optional<std::string> text = ReadFile(table_path);
  if (!text.has_value()) return kUsage;
  absl::StatusOr<PolicyTable> table = ParsePolicyTable(*text);
  if (!table.ok()) {
    std::cerr << table_path << ": " << table.status().message() << "\n";
    HintPostfix(table_path, *text);
    return 1;
  }
  absl::Time now = absl::Now();
  if (!absl::GetFlag(FLAGS_now).empty()) {
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, absl::GetFlag(FLAGS_now), &now, &error)) {
      std::cerr << "tlspolicy explain: --now '" << absl::GetFlag(FLAGS_now)
                << "': expected an RFC 3339 time such as 2026-03-02T08:00:00Z "
                   "(or with an offset, +01:00) ("
                << error << ")\n";
      return kUsage;
    }
  }
  smtp::Destination destination;
  destination.next_hop_domain = domain;
  destination.mx_host = absl::GetFlag(FLAGS_mx).empty() ? domain : absl::GetFlag(FLAGS_mx);
  destination.last_mx = absl::GetFlag(FLAGS_last_mx);

  std::optional<DaneState> dane;
  if (!absl::GetFlag(FLAGS_tlsa).empty() || absl::GetFlag(FLAGS_dnssec) == "bogus") {
    dane.emplace();
    const std::string dnssec = absl::GetFlag(FLAGS_dnssec);
    if (dnssec == "secure") {
      dane->dnssec = DnssecStatus::kSecure;
    } else if (dnssec == "insecure") {
      dane->dnssec = DnssecStatus::kInsecure;
    } else if (dnssec == "bogus") {
      dane->dnssec = DnssecStatus::kBogus;
    } else {
      std::cerr << "tlspolicy explain: --dnssec must be secure, insecure or bogus\n";
      return kUsage;
    }
    for (const std::string& record : absl::GetFlag(FLAGS_tlsa)) {
      absl::StatusOr<TlsaRecord> r = ParseTlsaRecord(record);
      if (!r.ok()) {
        std::cerr << "tlspolicy explain: --tlsa: " << r.status().message() << "\n";
        return kUsage;
      }
      dane->records.push_back(*r);
    }
  }
  std::optional<StsPolicy> sts;
  if (!absl::GetFlag(FLAGS_sts).empty()) {
    std::optional<std::string> body = ReadFile(absl::GetFlag(FLAGS_sts));
    if (!body.has_value()) return kUsage;
    std::vector<std::string> notes;
    absl::StatusOr<StsPolicy> parsed = ParseStsPolicy(*body, &notes);
    if (!parsed.ok()) {
      std::cerr << absl::GetFlag(FLAGS_sts) << ": " << parsed.status().message() << "\n";
      return 1;
    }
    for (const std::string& note : notes) {
      std::cerr << absl::GetFlag(FLAGS_sts) << ": " << note << "\n";
    }
    std::cout << "mta-sts policy: mode " << StsModeName(parsed->mode)
              << ", max_age " << parsed->max_age << "\n";
    sts = *parsed;
  }
  std::optional<TlsFacts> facts;
  if (!absl::GetFlag(FLAGS_facts).empty()) {
    std::optional<std::string> json = ReadFile(absl::GetFlag(FLAGS_facts));
    if (!json.has_value()) return kUsage;
    absl::StatusOr<TlsFacts> parsed = TlsFactsFromJson(*json);
    if (!parsed.ok()) {
      std::cerr << absl::GetFlag(FLAGS_facts) << ": " << parsed.status().message() << "\n";
      return 1;
    }
    // Digests the file leaves out are computed from its DER (with Botan, in
    // core/tls: policy itself never hashes).
    for (CertificateFacts& cert : parsed->peer_chain) {
      if (cert.sha256.empty() && cert.sha512.empty() && cert.sha1.empty() &&
          cert.md5.empty() && cert.spki_sha256.empty()) {
        tls::FillDigests(&cert);
      }
    }
    facts = *parsed;
  }
  smtp::TlsProblem problem;
  const std::string no_tls = absl::GetFlag(FLAGS_no_tls);
  if (no_tls == "not-offered") {
    problem = smtp::TlsProblem::kNotOffered;
  } else if (no_tls == "refused") {
    problem = smtp::TlsProblem::kRefused;
  } else if (no_tls == "handshake-failed") {
    problem = smtp::TlsProblem::kHandshakeFailed;
  } else if (no_tls == "not-attempted") {
    problem = smtp::TlsProblem::kNotAttempted;
  } else {
    std::cerr << "tlspolicy explain: bad --no_tls '" << no_tls << "'\n";
    return kUsage;
  }

  const PolicyTable::Match match = table->Find(lookup_key);
  PolicyInputs in;
  in.entry = match.entry;
  in.entry_key = match.key;
  in.entry_line = match.line;
  in.dane = dane.has_value() ? &*dane : nullptr;
  in.sts = sts.has_value() ? &*sts : nullptr;
  in.now = now;

  std::cout << "destination: " << domain
            << (lookup_key != domain ? absl::StrCat(" (next-hop ", lookup_key, ")")
                                     : std::string())
            << " via MX " << destination.mx_host << "\n"
            << "entry: " << PrintEntry(match.key, *match.entry) << " ("
            << table->Where(match.line) << ")\n"
            << "default: " << LevelName(table->default_entry().level)
            << (table->has_default() ? absl::StrCat(" ('*', ", table->Where(table->default_entry().line), ")")
                                     : std::string(" (built in: the table has no '*' entry)"))
            << "\n";
  const smtp::PolicyDecision mx = CheckMx(in, destination);
  PrintDecision("mx check", mx);
  if (mx.verdict == smtp::DeliveryVerdict::kTryNextMx ||
      mx.verdict == smtp::DeliveryVerdict::kDefer) {
    return 1;
  }
  const smtp::StartTlsIntent intent = DecideStartTls(in, destination);
  std::cout << "starttls: " << (intent.attempt ? "attempt" : "do not attempt")
            << (intent.mandatory ? ", mandatory" : ", optional")
            << (intent.sni.empty() ? "" : absl::StrCat(", sni ", intent.sni)) << "\n";
  const ConnectionEvaluation connection =
      facts.has_value() ? EvaluateHandshake(in, destination, *facts)
                        : EvaluateWithoutTls(in, destination, problem, "");
  PrintDecision("connection", connection.decision);
  smtp::PolicyDecision final_decision = connection.decision;
  if (absl::GetFlag(FLAGS_requiretls) || absl::GetFlag(FLAGS_tls_required_no)) {
    smtp::MessageTlsFlags flags;
    flags.requiretls = absl::GetFlag(FLAGS_requiretls);
    flags.tls_required_no = absl::GetFlag(FLAGS_tls_required_no);
    smtp::EhloCapabilities caps;
    caps.starttls = true;
    caps.requiretls = absl::GetFlag(FLAGS_server_requiretls);
    final_decision = DecideMessage(flags, caps, facts.has_value() ? &*facts : nullptr,
                                   connection);
    PrintDecision("message", final_decision);
  }
  return final_decision.verdict == smtp::DeliveryVerdict::kProceedTls ||
                 final_decision.verdict == smtp::DeliveryVerdict::kProceedPlaintext
             ? 0
             : 1;
}

}  // namespace
}  // namespace starling::policy

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "check, convert and explain TLS policy tables\n"
      "  tlspolicy lint FILE\n"
      "  tlspolicy import-postfix FILE [--fingerprint-digest=sha256] "
      "[--default-level=LEVEL] [--lenient]\n"
      "  tlspolicy explain --table FILE (--domain D | --nexthop [HOST]:PORT) "
      "[--mx HOST] [--facts FACTS.json]\n"
      "      [--tlsa \"3 1 1 HEX\"] [--dnssec secure|insecure|bogus] [--sts FILE]\n"
      "      [--requiretls] [--tls_required_no] [--server_requiretls] [--now TIME]");
  const std::vector<std::string> args = starling::tools::ParseToolFlags(
      argc, argv, "tools/tlspolicy/tlspolicy.cc", {"tlsa"});
  if (args.size() < 2) {
    std::cerr << absl::ProgramUsageMessage() << "\n";
    return 2;
  }
  const std::string command = args[1];
  if ((command == "lint" || command == "import-postfix") && args.size() != 3) {
    std::cerr << "tlspolicy " << command << ": expected one FILE\n";
    return 2;
  }
  if (command == "lint") return starling::policy::Lint(args[2]);
  if (command == "import-postfix") return starling::policy::ImportPostfix(args[2]);
  if (command == "explain") {
    if (args.size() != 2) {
      std::cerr << "tlspolicy explain: unexpected argument '" << args[2] << "'\n";
      return 2;
    }
    return starling::policy::Explain();
  }
  std::cerr << "tlspolicy: unknown command '" << command << "'\n"
            << absl::ProgramUsageMessage() << "\n";
  return 2;
}
