// Scenario files (sim/scenario.h): arbitrary text through ParseScenario.
// Invariants (abort on violation):
//  - never crashes, hangs or throws (toml++ is built with TOML_EXCEPTIONS=0);
//  - a failure is kInvalidArgument whose message starts with
//    "fuzz.toml:<line>: " (1 <= line <= lines of the text + 1), or is one of
//    the two line-less "fuzz.toml: missing table [world]/[sender]" errors;
//  - the file name only labels errors: parsing as "other.toml" gives the
//    same verdict, and the same message with the other prefix;
//  - parsing is deterministic (a second parse gives the same summary);
//  - an accepted scenario is self-consistent: world.duration > 0; the sender
//    host name and every domain and MX host name are canonical DNS names;
//    domain names are unique and FindDomain() finds each one; MX hosts are
//    unique within a domain and one host has one partner profile across
//    domains; every profile and attacker name round-trips; every TLSA record
//    has data, or is "auto" with usage 2/3, selector 0..1, matching type
//    0..2; an MTA-STS policy is within the RFC's limits with a 1..32
//    alphanumeric id, and only a domain with one has a fetch outcome; every
//    load's `to` is a declared domain, its numbers are in range and it is
//    queued inside the world's duration (at + spread); every fault host is a
//    declared MX host, `at` is inside the world's duration, and only a stall
//    has (a positive) duration; the sender's policy text re-parses to the
//    same table; every line is inside the text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "core/policy/mta_sts.h"
#include "core/policy/names.h"
#include "core/policy/table.h"
#include "fuzz/fuzz_input.h"
#include "sim/attacker.h"
#include "sim/partner.h"
#include "sim/scenario.h"

namespace {

using starling::fuzz::Require;
namespace sim = starling::sim;
namespace policy = starling::policy;

// Checks "<file>:<line>: " (returns the rest) or the line-less errors.
void CheckError(const absl::Status& status, absl::string_view file,
                int max_line) {
  Require(status.code() == absl::StatusCode::kInvalidArgument);
  absl::string_view message = status.message();
  Require(absl::ConsumePrefix(&message, file));
  Require(absl::ConsumePrefix(&message, ":"));
  if (message == " missing table [world]" ||
      message == " missing table [sender]") {
    return;
  }
  const size_t colon = message.find(": ");
  Require(colon != absl::string_view::npos && colon > 0);
  int line = 0;
  Require(absl::SimpleAtoi(message.substr(0, colon), &line));
  Require(line >= 1 && line <= max_line);
  Require(message.size() > colon + 2);  // a message follows the location
}

bool IsCanonicalName(absl::string_view name) {
  return policy::IsValidDnsName(name) && !absl::EndsWith(name, ".") &&
         absl::AsciiStrToLower(name) == name;
}

// Everything a parse produced, as text (determinism check).
std::string Summary(const sim::Scenario& s) {
  std::string out = absl::StrCat(
      s.world.seed.has_value() ? absl::StrCat(*s.world.seed) : "-", " ",
      absl::FormatDuration(s.world.duration), " ",
      absl::FormatTime(absl::RFC3339_full, s.world.start, absl::UTCTimeZone()),
      "|", s.sender.hostname, " ", static_cast<int>(s.sender.policy_source),
      s.sender.client_certificate ? " cert " : " nocert ",
      policy::PrintPolicyTable(s.sender.policy), "|");
  for (const std::string& w : s.sender.policy_warnings) {
    absl::StrAppend(&out, w, ";");
  }
  for (const sim::ScenarioDomain& d : s.domains) {
    absl::StrAppend(&out, "|", d.name, "@", d.line, " ",
                    static_cast<int>(d.dnssec), " ", d.mta_sts_id, " ",
                    sim::StsFetchOutcomeName(d.mta_sts_fetch));
    for (const sim::ScenarioMx& mx : d.mx) {
      absl::StrAppend(&out, " ", mx.host, "/", mx.preference, "/",
                      sim::PartnerProfileName(mx.profile), "/",
                      mx.attacker.has_value()
                          ? sim::AttackKindName(*mx.attacker)
                          : absl::string_view("-"),
                      "@", mx.line);
    }
    for (const sim::TlsaRecord& t : d.tlsa) {
      absl::StrAppend(&out, " ", t.usage, ".", t.selector, ".", t.matching_type,
                      ".", t.data.size());
    }
    if (d.mta_sts.has_value()) {
      absl::StrAppend(&out, " sts:", policy::PrintStsPolicy(*d.mta_sts));
    }
  }
  for (const sim::ScenarioLoad& l : s.loads) {
    absl::StrAppend(&out, "|", l.to, " ", l.messages, " ", l.recipients, " ",
                    l.size, " ", l.requiretls_percent, " ",
                    absl::FormatDuration(l.at), "+",
                    absl::FormatDuration(l.spread), "@", l.line);
  }
  for (const sim::ScenarioFault& f : s.faults) {
    absl::StrAppend(&out, "|", f.host, " ", sim::ScenarioFaultKindName(f.kind),
                    " ", absl::FormatDuration(f.at), " ",
                    absl::FormatDuration(f.duration), "@", f.line);
  }
  return out;
}

void CheckScenario(const sim::Scenario& s, int max_line) {
  // [world]
  Require(s.world.duration > absl::ZeroDuration());
  Require(s.world.duration < absl::InfiniteDuration());

  // [sender]
  Require(IsCanonicalName(s.sender.hostname));
  switch (s.sender.policy_source) {
    case sim::PolicySource::kNone:
      Require(s.sender.policy_text.empty());
      Require(s.sender.policy.size() == 0);
      Require(s.sender.policy_warnings.empty());
      break;
    case sim::PolicySource::kTable: {
      const absl::StatusOr<policy::PolicyTable> again =
          policy::ParsePolicyTable(s.sender.policy_text);
      Require(again.ok());
      Require(policy::PrintPolicyTable(*again) ==
              policy::PrintPolicyTable(s.sender.policy));
      Require(s.sender.policy_warnings.empty());
      break;
    }
    case sim::PolicySource::kPostfix:
      for (const std::string& w : s.sender.policy_warnings) {
        Require(absl::StartsWith(w, "fuzz.toml:"));
        Require(absl::StrContains(w, ": warning: sender.postfix_policy: "));
      }
      break;
    default:
      Require(false);
  }

  // [[domain]]
  std::map<std::string, sim::PartnerProfile> mx_profiles;
  for (const sim::ScenarioDomain& d : s.domains) {
    Require(IsCanonicalName(d.name));
    Require(d.line >= 1 && d.line <= max_line);
    Require(s.FindDomain(d.name) == &d);  // unique
    Require(s.FindDomain(absl::AsciiStrToUpper(d.name)) == &d);
    for (size_t i = 0; i < d.mx.size(); ++i) {
      const sim::ScenarioMx& mx = d.mx[i];
      Require(IsCanonicalName(mx.host));
      Require(mx.line >= 1 && mx.line <= max_line);
      for (size_t j = 0; j < i; ++j) Require(d.mx[j].host != mx.host);
      const absl::StatusOr<sim::PartnerProfile> round_trip =
          sim::ParsePartnerProfile(sim::PartnerProfileName(mx.profile));
      Require(round_trip.ok() && *round_trip == mx.profile);
      if (mx.attacker.has_value()) {
        const absl::StatusOr<sim::AttackKind> attack =
            sim::ParseAttackKind(sim::AttackKindName(*mx.attacker));
        Require(attack.ok() && *attack == *mx.attacker);
      }
      const auto [it, inserted] = mx_profiles.try_emplace(mx.host, mx.profile);
      Require(inserted || it->second == mx.profile);
    }
    Require(d.dnssec == sim::DnssecStatus::kSecure ||
            d.dnssec == sim::DnssecStatus::kInsecure ||
            d.dnssec == sim::DnssecStatus::kBogus);
    for (const sim::TlsaRecord& t : d.tlsa) {
      // Empty data is "auto" (the runner computes the matching record).
      Require(!t.data.empty() || ((t.usage == 2 || t.usage == 3) &&
                                  t.selector <= 1 && t.matching_type <= 2));
    }
    Require(sim::StsFetchOutcomeName(d.mta_sts_fetch) != "unknown");
    if (d.mta_sts.has_value()) {
      const policy::StsPolicy& p = *d.mta_sts;
      Require(p.max_age >= 0 && p.max_age <= policy::kStsMaxAgeLimit);
      Require(p.mode == policy::StsMode::kNone || !p.mx.empty());
      for (const std::string& pattern : p.mx) {
        absl::string_view rest = pattern;
        absl::ConsumePrefix(&rest, "*.");
        Require(IsCanonicalName(rest));
      }
      Require(!d.mta_sts_id.empty() && d.mta_sts_id.size() <= 32);
      for (char c : d.mta_sts_id) Require(absl::ascii_isalnum(c));
    } else {
      Require(d.mta_sts_id.empty());
      Require(d.mta_sts_fetch == sim::StsFetchOutcome::kOk);
    }
  }

  // [[load]]
  for (const sim::ScenarioLoad& l : s.loads) {
    const sim::ScenarioDomain* to = s.FindDomain(l.to);
    Require(to != nullptr && to->name == l.to);
    Require(l.messages >= 0 && l.recipients >= 0 && l.size >= 0);
    Require(l.requiretls_percent >= 0 && l.requiretls_percent <= 100);
    Require(l.at >= absl::ZeroDuration() && l.at < s.world.duration);
    Require(l.spread >= absl::ZeroDuration() &&
            l.at + l.spread <= s.world.duration);
    Require(l.line >= 1 && l.line <= max_line);
  }

  // [[fault]]
  for (const sim::ScenarioFault& f : s.faults) {
    Require(mx_profiles.contains(f.host));
    Require(f.at >= absl::ZeroDuration() && f.at < s.world.duration);
    const absl::string_view kind = sim::ScenarioFaultKindName(f.kind);
    Require(kind != "unknown");
    if (kind == "stall") {
      Require(f.duration > absl::ZeroDuration() &&
              f.duration < absl::InfiniteDuration());
    } else {
      Require(f.duration == absl::ZeroDuration());
    }
    Require(f.line >= 1 && f.line <= max_line);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  // Lines of the text; a parser may point one past the last (at end of
  // input).
  int max_line = 1;
  for (char c : text) max_line += c == '\n' ? 1 : 0;
  max_line += 1;


  const absl::StatusOr<sim::Scenario> parsed =
      sim::ParseScenario(text, "fuzz.toml");
  // SCENARIO_FUZZER_VERBOSE=1: print each verdict (why is a seed rejected?).
  static const bool verbose = std::getenv("SCENARIO_FUZZER_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "scenario: %s\n",
                 parsed.ok() ? "ok" : parsed.status().ToString().c_str());
  }
  const absl::StatusOr<sim::Scenario> other =
      sim::ParseScenario(text, "other.toml");
  Require(parsed.ok() == other.ok());
  if (!parsed.ok()) {
    CheckError(parsed.status(), "fuzz.toml", max_line);
    CheckError(other.status(), "other.toml", max_line);
    absl::string_view a = parsed.status().message();
    absl::string_view b = other.status().message();
    Require(absl::ConsumePrefix(&a, "fuzz.toml") &&
            absl::ConsumePrefix(&b, "other.toml") && a == b);
    return 0;
  }
  CheckScenario(*parsed, max_line);
  // Warnings name the file too; everything else is identical.
  Require(parsed->sender.policy_warnings.size() ==
          other->sender.policy_warnings.size());
  sim::Scenario a = *parsed;
  sim::Scenario b = *other;
  a.sender.policy_warnings.clear();
  b.sender.policy_warnings.clear();
  Require(Summary(a) == Summary(b));
  return 0;
}
