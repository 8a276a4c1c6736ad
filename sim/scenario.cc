#include "sim/scenario.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "core/policy/names.h"
#include "core/policy/postfix_import.h"

// toml++ 3.3.0 (Debian 12) has reachable internal assertions on malformed
// input (upstream #301): they would abort, or be undefined behaviour under
// NDEBUG. Here they throw instead, and so do its parse errors; both are
// caught in Parser::Parse and nothing escapes this file.
namespace starling::sim::internal {
struct TomlAssertion {
  const char* check;
};
[[noreturn]] inline void TomlAssertionFailed(const char* check) {
  throw TomlAssertion{check};
}
}  // namespace starling::sim::internal
#pragma push_macro("NDEBUG")
#undef NDEBUG  // keeps TOML_ASSERT_ASSUME a check, never __builtin_assume
#define TOML_EXCEPTIONS 1
#define TOML_ASSERT(expr)              \
  ((expr) ? static_cast<void>(0)       \
          : ::starling::sim::internal::TomlAssertionFailed(#expr))
#include <toml++/toml.h>
#pragma pop_macro("NDEBUG")

namespace starling::sim {
namespace {

using policy::StsMode;
using policy::StsPolicy;

// absl::string_view is not std::string_view in every Abseil build.
absl::string_view View(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

int LineOf(const toml::source_region& region) {
  return static_cast<int>(region.begin.line);
}
int LineOf(const toml::node& node) { return LineOf(node.source()); }

// "sim/scenarios/x.toml" -> "x.toml": what traces name the table by.
std::string BaseName(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path
                                                      : path.substr(slash + 1));
}

absl::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// 64 hex digits -> bytes; false on odd length or a non-hex character.
bool DecodeHex(absl::string_view hex, std::string* out) {
  if (hex.empty() || hex.size() % 2 != 0) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

class Parser {
 public:
  Parser(absl::string_view text, absl::string_view file_name)
      : text_(text), file_(file_name) {}

  absl::StatusOr<Scenario> Parse();
  // The line at which toml++ first fails one of its own checks.
  int FirstAssertionLine() const;

 private:
  template <typename... Args>
  absl::Status Error(int line, const Args&... args) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", line, ": ", args...));
  }

  // Every key of `table` must be one of `allowed`.
  absl::Status CheckKeys(const toml::table& table, absl::string_view where,
                         std::initializer_list<absl::string_view> allowed)
      const;
  // The value at `key`; null when absent and not `required`.
  absl::StatusOr<const toml::node*> Find(const toml::table& table,
                                         absl::string_view key,
                                         absl::string_view where,
                                         bool required) const;
  absl::StatusOr<std::string> String(const toml::node& node,
                                     absl::string_view what) const;
  absl::StatusOr<int64_t> Integer(const toml::node& node,
                                  absl::string_view what, int64_t min,
                                  int64_t max) const;
  absl::StatusOr<absl::Duration> Duration(const toml::node& node,
                                          absl::string_view what) const;
  absl::StatusOr<absl::Time> Time(const toml::node& node,
                                  absl::string_view what) const;
  absl::StatusOr<std::string> DnsName(const toml::node& node,
                                      absl::string_view what) const;
  absl::StatusOr<const toml::table*> Table(const toml::node& node,
                                           absl::string_view what) const;
  absl::StatusOr<const toml::array*> Array(const toml::node& node,
                                           absl::string_view what) const;
  // The file line of line 1 of a string value's text, minus one.
  int StringLineOffset(const toml::node& node) const;

  absl::Status ParseWorld(const toml::table& root, Scenario& out) const;
  absl::Status ParseSender(const toml::table& root, Scenario& out) const;
  absl::Status ParseDomain(const toml::table& table, ScenarioDomain& out);
  absl::Status ParseMtaSts(const toml::node& node, ScenarioDomain& out) const;
  absl::Status ParseLoad(const toml::table& table, const Scenario& scenario,
                         ScenarioLoad& out) const;
  absl::Status ParseFault(const toml::table& table, const Scenario& scenario,
                          ScenarioFault& out) const;
  // Each element of the array of tables at `key`, if present.
  template <typename Fn>
  absl::Status ForEachTable(const toml::table& root, absl::string_view key,
                            Fn fn) const;

  absl::string_view text_;
  std::string file_;
  // What a host is, across domains: a host is one partner.
  struct MxHost {
    PartnerProfile profile;
    std::optional<AttackKind> attacker;
    int line;
  };
  std::map<std::string, MxHost> mx_hosts_;
};

absl::Status Parser::CheckKeys(
    const toml::table& table, absl::string_view where,
    std::initializer_list<absl::string_view> allowed) const {
  for (auto&& [key, node] : table) {
    const absl::string_view name = View(key.str());
    bool known = false;
    for (absl::string_view a : allowed) known = known || name == a;
    if (!known) {
      return Error(LineOf(key.source()), "unknown key '", name, "' in ",
                   where, " (expected one of: ", absl::StrJoin(allowed, ", "),
                   ")");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<const toml::node*> Parser::Find(const toml::table& table,
                                               absl::string_view key,
                                               absl::string_view where,
                                               bool required) const {
  const toml::node* node = table.get(std::string_view(key.data(), key.size()));
  if (node == nullptr && required) {
    return Error(LineOf(table), "missing key '", key, "' in ", where);
  }
  return node;
}

absl::StatusOr<std::string> Parser::String(const toml::node& node,
                                           absl::string_view what) const {
  const auto* value = node.as_string();
  if (value == nullptr) {
    return Error(LineOf(node), what, ": expected a string, got ",
                 TypeName(node));
  }
  return value->get();
}

absl::StatusOr<int64_t> Parser::Integer(const toml::node& node,
                                        absl::string_view what, int64_t min,
                                        int64_t max) const {
  const auto* value = node.as_integer();
  if (value == nullptr) {
    return Error(LineOf(node), what, ": expected an integer, got ",
                 TypeName(node));
  }
  const int64_t v = value->get();
  if (v < min || v > max) {
    if (max == std::numeric_limits<int64_t>::max()) {
      return Error(LineOf(node), what, ": ", v, " is out of range (at least ",
                   min, ")");
    }
    return Error(LineOf(node), what, ": ", v, " is out of range (", min, "..",
                 max, ")");
  }
  return v;
}

absl::StatusOr<absl::Duration> Parser::Duration(const toml::node& node,
                                                absl::string_view what) const {
  absl::StatusOr<std::string> text = String(node, what);
  if (!text.ok()) return text.status();
  absl::Duration d;
  if (!absl::ParseDuration(*text, &d) || d == absl::InfiniteDuration() ||
      d == -absl::InfiniteDuration()) {
    return Error(LineOf(node), what, ": bad duration '", *text,
                 "' (expected e.g. \"90s\", \"10m\", \"2h30m\")");
  }
  if (d < absl::ZeroDuration()) {
    return Error(LineOf(node), what, ": negative duration '", *text, "'");
  }
  return d;
}

absl::StatusOr<absl::Time> Parser::Time(const toml::node& node,
                                        absl::string_view what) const {
  if (const auto* dt = node.as_date_time()) {
    const toml::date_time& v = dt->get();
    if (!v.offset.has_value()) {
      return Error(LineOf(node), what,
                   ": a local date-time has no time zone; add 'Z' or an "
                   "offset");
    }
    const absl::CivilSecond civil(v.date.year, v.date.month, v.date.day,
                                  v.time.hour, v.time.minute, v.time.second);
    return absl::FromCivil(civil, absl::UTCTimeZone()) -
           absl::Minutes(v.offset->minutes) + absl::Nanoseconds(v.time.nanosecond);
  }
  absl::StatusOr<std::string> text = String(node, what);
  if (!text.ok()) return text.status();
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, *text, &t, &err)) {
    return Error(LineOf(node), what, ": bad RFC 3339 time '", *text,
                 "' (expected e.g. \"2026-01-01T00:00:00Z\")");
  }
  return t;
}

absl::StatusOr<std::string> Parser::DnsName(const toml::node& node,
                                            absl::string_view what) const {
  absl::StatusOr<std::string> text = String(node, what);
  if (!text.ok()) return text.status();
  std::optional<std::string> name = policy::NormalizeDnsName(*text);
  if (!name.has_value()) {
    return Error(LineOf(node), what, ": '", *text, "' is not a DNS name");
  }
  return *std::move(name);
}

absl::StatusOr<const toml::table*> Parser::Table(const toml::node& node,
                                                 absl::string_view what) const {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return Error(LineOf(node), what, ": expected a table, got ",
                 TypeName(node));
  }
  return table;
}

absl::StatusOr<const toml::array*> Parser::Array(const toml::node& node,
                                                 absl::string_view what) const {
  const toml::array* array = node.as_array();
  if (array == nullptr) {
    return Error(LineOf(node), what, ": expected an array, got ",
                 TypeName(node));
  }
  return array;
}

int Parser::StringLineOffset(const toml::node& node) const {
  const int line = LineOf(node);
  std::vector<absl::string_view> lines = absl::StrSplit(text_, '\n');
  if (line < 1 || static_cast<size_t>(line) > lines.size()) return line - 1;
  absl::string_view src = lines[line - 1];
  // toml++ counts columns in code points, never more than bytes.
  const size_t from =
      std::min<size_t>(src.size(), node.source().begin.column - 1);
  for (absl::string_view delim : {"\"\"\"", "'''"}) {
    const size_t at = src.find(delim, from);
    if (at == absl::string_view::npos) continue;
    absl::string_view rest = src.substr(at + delim.size());
    // A newline right after the opening delimiter is not part of the string.
    if (rest.empty() || rest == "\r") return line;
    return line - 1;
  }
  return line - 1;
}

absl::Status Parser::ParseWorld(const toml::table& root, Scenario& out) const {
  const toml::node* node = root.get("world");
  if (node == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": missing table [world]"));
  }
  absl::StatusOr<const toml::table*> world = Table(*node, "world");
  if (!world.ok()) return world.status();
  const toml::table& t = **world;
  if (absl::Status s = CheckKeys(t, "[world]", {"seed", "duration", "start"});
      !s.ok()) {
    return s;
  }
  if (const toml::node* seed = t.get("seed")) {
    absl::StatusOr<int64_t> v =
        Integer(*seed, "world.seed", 0, std::numeric_limits<int64_t>::max());
    if (!v.ok()) return v.status();
    out.world.seed = static_cast<uint64_t>(*v);
  }
  absl::StatusOr<const toml::node*> duration =
      Find(t, "duration", "[world]", true);
  if (!duration.ok()) return duration.status();
  absl::StatusOr<absl::Duration> d = Duration(**duration, "world.duration");
  if (!d.ok()) return d.status();
  if (*d == absl::ZeroDuration()) {
    return Error(LineOf(**duration), "world.duration: must be positive");
  }
  out.world.duration = *d;
  absl::StatusOr<const toml::node*> start = Find(t, "start", "[world]", true);
  if (!start.ok()) return start.status();
  absl::StatusOr<absl::Time> time = Time(**start, "world.start");
  if (!time.ok()) return time.status();
  out.world.start = *time;
  return absl::OkStatus();
}

absl::Status Parser::ParseSender(const toml::table& root,
                                 Scenario& out) const {
  const toml::node* node = root.get("sender");
  if (node == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": missing table [sender]"));
  }
  absl::StatusOr<const toml::table*> sender = Table(*node, "sender");
  if (!sender.ok()) return sender.status();
  const toml::table& t = **sender;
  if (absl::Status s =
          CheckKeys(t, "[sender]",
                    {"hostname", "policy", "postfix_policy",
                     "smtp_tls_security_level", "smtp_tls_fingerprint_digest",
                     "postfix_lenient", "client_certificate", "trust", "crl"});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<const toml::node*> hostname =
      Find(t, "hostname", "[sender]", true);
  if (!hostname.ok()) return hostname.status();
  absl::StatusOr<std::string> name = DnsName(**hostname, "sender.hostname");
  if (!name.ok()) return name.status();
  out.sender.hostname = *std::move(name);
  if (const toml::node* cert = t.get("client_certificate")) {
    const std::optional<bool> value = cert->value<bool>();
    if (!value.has_value()) {
      return Error(LineOf(*cert),
                   "sender.client_certificate: expected true or false");
    }
    out.sender.client_certificate = *value;
  }
  if (const toml::node* crl = t.get("crl")) {
    const std::optional<bool> value = crl->value<bool>();
    if (!value.has_value()) {
      return Error(LineOf(*crl), "sender.crl: expected true or false");
    }
    out.sender.crl = *value;
  }
  if (const toml::node* trust = t.get("trust")) {
    absl::StatusOr<const toml::array*> array = Array(*trust, "sender.trust");
    if (!array.ok()) return array.status();
    out.sender.trust.clear();
    for (const toml::node& element : **array) {
      absl::StatusOr<std::string> name = String(element, "sender.trust");
      if (!name.ok()) return name.status();
      std::optional<TrustAnchor> anchor;
      for (TrustAnchor a : {TrustAnchor::kRoot, TrustAnchor::kOldRoot,
                            TrustAnchor::kNewRoot, TrustAnchor::kUntrustedRoot}) {
        if (TrustAnchorName(a) == *name) anchor = a;
      }
      if (!anchor.has_value()) {
        return Error(LineOf(element), "sender.trust: unknown root '", *name,
                     "' (expected root, old-root, new-root or untrusted-root)");
      }
      if (std::find(out.sender.trust.begin(), out.sender.trust.end(),
                    *anchor) != out.sender.trust.end()) {
        return Error(LineOf(element), "sender.trust: '", *name,
                     "' listed twice");
      }
      out.sender.trust.push_back(*anchor);
    }
  }

  const toml::node* table_text = t.get("policy");
  const toml::node* postfix_text = t.get("postfix_policy");
  // main.cf's settings around a Postfix map; only next to one.
  for (const char* key : {"smtp_tls_security_level",
                          "smtp_tls_fingerprint_digest", "postfix_lenient"}) {
    const toml::node* node = t.get(key);
    if (node == nullptr) continue;
    if (postfix_text == nullptr) {
      return Error(LineOf(*node), "sender.", key,
                   " goes with sender.postfix_policy (a Starling table sets "
                   "its default with a '*' line)");
    }
    if (std::string_view(key) == "postfix_lenient") {
      const std::optional<bool> value = node->value<bool>();
      if (!value.has_value()) {
        return Error(LineOf(*node), "sender.postfix_lenient: expected true or "
                                    "false");
      }
      out.sender.postfix_options.lenient = *value;
      continue;
    }
    absl::StatusOr<std::string> value =
        String(*node, absl::StrCat("sender.", key));
    if (!value.ok()) return value.status();
    if (std::string_view(key) == "smtp_tls_fingerprint_digest") {
      if (absl::StatusOr<size_t> n = policy::FingerprintDigestHexLength(*value);
          !n.ok()) {
        return Error(LineOf(*node), "sender.", key, ": ", n.status().message());
      }
      out.sender.postfix_options.fingerprint_digest = *value;
      continue;
    }
    out.sender.postfix_options.default_level = policy::ParseLevel(*value);
    if (!out.sender.postfix_options.default_level.has_value() ||
        *out.sender.postfix_options.default_level ==
            policy::Level::kFingerprint ||
        *out.sender.postfix_options.default_level == policy::Level::kPkix) {
      return Error(LineOf(*node), "sender.smtp_tls_security_level: '", *value,
                   "' is not a Postfix level for every destination (none, "
                   "may, encrypt, dane, dane-only, verify, secure)");
    }
  }
  if (table_text != nullptr && postfix_text != nullptr) {
    return Error(LineOf(*postfix_text),
                 "sender: give either policy or postfix_policy, not both "
                 "(policy is on line ",
                 LineOf(*table_text), ")");
  }
  if (table_text != nullptr) {
    absl::StatusOr<std::string> text = String(*table_text, "sender.policy");
    if (!text.ok()) return text.status();
    absl::StatusOr<policy::PolicyTable> table = policy::ParsePolicyTable(*text);
    if (!table.ok()) {
      // "line N: message" -> the file's line.
      const int offset = StringLineOffset(*table_text);
      absl::string_view message = table.status().message();
      int line = LineOf(*table_text);
      if (absl::ConsumePrefix(&message, "line ")) {
        const size_t colon = message.find(": ");
        int n = 0;
        if (colon != absl::string_view::npos &&
            absl::SimpleAtoi(message.substr(0, colon), &n)) {
          line = n + offset;
          message.remove_prefix(colon + 2);
        }
      }
      return Error(line, "sender.policy: ", message,
                   policy::LooksLikePostfixPolicyMap(*text)
                       ? " (this looks like a Postfix smtp_tls_policy_maps "
                         "file: give it as sender.postfix_policy, which "
                         "imports it)"
                       : "");
    }
    out.sender.policy_source = PolicySource::kTable;
    out.sender.policy_text = *std::move(text);
    out.sender.policy = *std::move(table);
    out.sender.policy.SetOrigin(BaseName(file_),
                                StringLineOffset(*table_text));
  } else if (postfix_text != nullptr) {
    absl::StatusOr<std::string> text =
        String(*postfix_text, "sender.postfix_policy");
    if (!text.ok()) return text.status();
    policy::PostfixImport imported =
        policy::ImportPostfixPolicyMap(*text, out.sender.postfix_options);
    const int offset = StringLineOffset(*postfix_text);
    for (const policy::Diagnostic& d : imported.diagnostics) {
      // Line 0: about the whole map; the file line of the key names it.
      const int line = d.line > 0 ? d.line + offset : LineOf(*postfix_text);
      if (d.severity == policy::Diagnostic::Severity::kError) {
        return Error(line, "sender.postfix_policy: ", d.message);
      }
      out.sender.policy_warnings.push_back(
          absl::StrCat(file_, ":", line, ": warning: sender.postfix_policy: ",
                       d.message));
    }
    out.sender.policy_source = PolicySource::kPostfix;
    out.sender.policy_text = *std::move(text);
    out.sender.policy = std::move(imported.table);
    out.sender.policy.SetOrigin(BaseName(file_), offset);
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseDomain(const toml::table& t, ScenarioDomain& out) {
  out.line = LineOf(t);
  if (absl::Status s = CheckKeys(t, "[[domain]]",
                                 {"name", "mx", "dnssec", "tlsa", "mta_sts",
                                  "nexthop", "tlsrpt"});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<const toml::node*> name = Find(t, "name", "[[domain]]", true);
  if (!name.ok()) return name.status();
  absl::StatusOr<std::string> n = DnsName(**name, "domain.name");
  if (!n.ok()) return n.status();
  out.name = *std::move(n);

  if (const toml::node* mx = t.get("mx")) {
    absl::StatusOr<const toml::array*> array = Array(*mx, "domain.mx");
    if (!array.ok()) return array.status();
    for (const toml::node& element : **array) {
      absl::StatusOr<const toml::table*> entry = Table(element, "domain.mx");
      if (!entry.ok()) return entry.status();
      const toml::table& e = **entry;
      if (absl::Status s =
              CheckKeys(e, "domain.mx",
                        {"host", "preference", "profile", "attacker"});
          !s.ok()) {
        return s;
      }
      ScenarioMx record;
      record.line = LineOf(e);
      absl::StatusOr<const toml::node*> host =
          Find(e, "host", "domain.mx", true);
      if (!host.ok()) return host.status();
      absl::StatusOr<std::string> h = DnsName(**host, "domain.mx.host");
      if (!h.ok()) return h.status();
      record.host = *std::move(h);
      absl::StatusOr<const toml::node*> preference =
          Find(e, "preference", "domain.mx", true);
      if (!preference.ok()) return preference.status();
      absl::StatusOr<int64_t> p =
          Integer(**preference, "domain.mx.preference", 0, 65535);
      if (!p.ok()) return p.status();
      record.preference = static_cast<uint16_t>(*p);
      absl::StatusOr<const toml::node*> profile =
          Find(e, "profile", "domain.mx", true);
      if (!profile.ok()) return profile.status();
      absl::StatusOr<std::string> pname =
          String(**profile, "domain.mx.profile");
      if (!pname.ok()) return pname.status();
      absl::StatusOr<PartnerProfile> parsed = ParsePartnerProfile(*pname);
      if (!parsed.ok()) {
        std::vector<std::string> names;
        for (PartnerProfile p : AllPartnerProfiles()) {
          names.emplace_back(PartnerProfileName(p));
        }
        return Error(LineOf(**profile), "unknown partner profile '", *pname,
                     "' (expected one of: ", absl::StrJoin(names, ", "),
                     "; docs/admin-guide.md describes them)");
      }
      record.profile = *parsed;
      const toml::node* attacker = e.get("attacker");
      if (attacker != nullptr) {
        absl::StatusOr<std::string> aname =
            String(*attacker, "domain.mx.attacker");
        if (!aname.ok()) return aname.status();
        absl::StatusOr<AttackKind> kind = ParseAttackKind(*aname);
        if (!kind.ok()) {
          std::vector<std::string> names;
          for (AttackKind k : AllAttackKinds()) {
            names.emplace_back(AttackKindName(k));
          }
          return Error(LineOf(*attacker), "unknown attacker '", *aname,
                       "' (expected one of: ", absl::StrJoin(names, ", "),
                       ")");
        }
        record.attacker = *kind;
      }
      for (const ScenarioMx& other : out.mx) {
        if (other.host == record.host) {
          return Error(record.line, "duplicate mx host '", record.host,
                       "' in domain '", out.name, "' (first on line ",
                       other.line, ")");
        }
      }
      auto [it, inserted] = mx_hosts_.try_emplace(
          record.host, MxHost{record.profile, record.attacker, record.line});
      if (!inserted && it->second.profile != record.profile) {
        return Error(LineOf(**profile), "mx host '", record.host,
                     "' has profile '", PartnerProfileName(record.profile),
                     "' here but '", PartnerProfileName(it->second.profile),
                     "' on line ", it->second.line,
                     " (one host is one partner)");
      }
      if (!inserted && it->second.attacker != record.attacker) {
        auto name = [](const std::optional<AttackKind>& kind) {
          return kind.has_value() ? AttackKindName(*kind)
                                  : absl::string_view("none");
        };
        return Error(attacker != nullptr ? LineOf(*attacker) : record.line,
                     "mx host '", record.host, "' has attacker '",
                     name(record.attacker), "' here but '",
                     name(it->second.attacker), "' on line ",
                     it->second.line, " (one host is one route)");
      }
      out.mx.push_back(std::move(record));
    }
  }

  if (const toml::node* dnssec = t.get("dnssec")) {
    absl::StatusOr<std::string> v = String(*dnssec, "domain.dnssec");
    if (!v.ok()) return v.status();
    if (*v == "secure") {
      out.dnssec = DnssecStatus::kSecure;
    } else if (*v == "insecure") {
      out.dnssec = DnssecStatus::kInsecure;
    } else if (*v == "bogus") {
      out.dnssec = DnssecStatus::kBogus;
    } else {
      return Error(LineOf(*dnssec), "domain.dnssec: unknown value '", *v,
                   "' (expected secure, insecure or bogus)");
    }
  }

  if (const toml::node* tlsa = t.get("tlsa")) {
    absl::StatusOr<const toml::array*> array = Array(*tlsa, "domain.tlsa");
    if (!array.ok()) return array.status();
    for (const toml::node& element : **array) {
      absl::StatusOr<std::string> text = String(element, "domain.tlsa");
      if (!text.ok()) return text.status();
      std::vector<absl::string_view> fields =
          absl::StrSplit(*text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (fields.size() < 4) {
        return Error(LineOf(element), "domain.tlsa: '", *text,
                     "' is not \"<usage> <selector> <matching type> <hex>\"");
      }
      int numbers[3] = {0, 0, 0};
      for (int i = 0; i < 3; ++i) {
        if (!absl::SimpleAtoi(fields[i], &numbers[i]) || numbers[i] < 0 ||
            numbers[i] > 255) {
          return Error(LineOf(element), "domain.tlsa: field '", fields[i],
                       "' of '", *text, "' is not a number 0..255");
        }
      }
      TlsaRecord record;
      record.usage = static_cast<uint8_t>(numbers[0]);
      record.selector = static_cast<uint8_t>(numbers[1]);
      record.matching_type = static_cast<uint8_t>(numbers[2]);
      const std::string hex = absl::StrJoin(fields.begin() + 3, fields.end(), "");
      if (fields.size() == 4 && fields[3] == "auto") {
        // The record matching what each MX presents (left empty here: the
        // runner fills it in).
        if (record.usage != 2 && record.usage != 3) {
          return Error(LineOf(element), "domain.tlsa: 'auto' data needs usage "
                       "2 or 3 in '", *text, "'");
        }
        if (record.selector > 1 || record.matching_type > 2) {
          return Error(LineOf(element), "domain.tlsa: 'auto' data needs "
                       "selector 0..1 and matching type 0..2 in '", *text, "'");
        }
        out.tlsa.push_back(std::move(record));
        continue;
      }
      if (hex.empty() || !DecodeHex(hex, &record.data)) {
        return Error(LineOf(element), "domain.tlsa: bad hex data in '", *text,
                     "'");
      }
      out.tlsa.push_back(std::move(record));
    }
  }

  if (const toml::node* sts = t.get("mta_sts")) {
    if (absl::Status s = ParseMtaSts(*sts, out); !s.ok()) return s;
  }

  if (const toml::node* nexthop = t.get("nexthop")) {
    absl::StatusOr<std::string> text = String(*nexthop, "domain.nexthop");
    if (!text.ok()) return text.status();
    absl::StatusOr<std::string> key = policy::NormalizeTableKey(*text);
    if (!key.ok() || (*key)[0] != '[') {
      return Error(LineOf(*nexthop), "domain.nexthop: '", *text,
                   "' is not [host] or [host]:port (a relayhost or transport "
                   "next-hop)");
    }
    const std::string host = key->substr(1, key->find(']') - 1);
    if (out.mx.size() != 1 || out.mx[0].host != host) {
      return Error(LineOf(*nexthop), "domain.nexthop: mail goes to ", host,
                   ": give it as the domain's one mx entry (its profile), "
                   "e.g. mx = [{ host = \"", host,
                   "\", preference = 0, profile = \"good\" }]");
    }
    if (out.mta_sts.has_value()) {
      return Error(LineOf(*nexthop), "domain.nexthop: a routed domain's "
                   "MTA-STS policy is never consulted (RFC 8461 covers MX "
                   "delivery); drop mta_sts or nexthop");
    }
    out.nexthop = *std::move(key);
  }

  if (const toml::node* tlsrpt = t.get("tlsrpt")) {
    std::vector<const toml::node*> uris;
    if (const toml::array* array = tlsrpt->as_array()) {
      for (const toml::node& element : *array) uris.push_back(&element);
    } else {
      uris.push_back(tlsrpt);
    }
    for (const toml::node* node : uris) {
      absl::StatusOr<std::string> uri = String(*node, "domain.tlsrpt");
      if (!uri.ok()) return uri.status();
      if (!absl::StartsWith(*uri, "mailto:") &&
          !absl::StartsWith(*uri, "https://")) {
        return Error(LineOf(*node), "domain.tlsrpt: '", *uri,
                     "' is not a mailto: or https:// URI (RFC 8460 rua)");
      }
      out.tlsrpt_rua.push_back(*std::move(uri));
    }
    if (out.tlsrpt_rua.empty()) {
      return Error(LineOf(*tlsrpt), "domain.tlsrpt: give at least one URI");
    }
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseMtaSts(const toml::node& node,
                                 ScenarioDomain& out) const {
  absl::StatusOr<const toml::table*> table = Table(node, "domain.mta_sts");
  if (!table.ok()) return table.status();
  const toml::table& t = **table;
  if (absl::Status s =
          CheckKeys(t, "domain.mta_sts",
                    {"mode", "mx", "max_age", "id", "fetch"});
      !s.ok()) {
    return s;
  }
  StsPolicy policy;
  absl::StatusOr<const toml::node*> mode =
      Find(t, "mode", "domain.mta_sts", true);
  if (!mode.ok()) return mode.status();
  absl::StatusOr<std::string> m = String(**mode, "domain.mta_sts.mode");
  if (!m.ok()) return m.status();
  if (*m == "enforce") {
    policy.mode = StsMode::kEnforce;
  } else if (*m == "testing") {
    policy.mode = StsMode::kTesting;
  } else if (*m == "none") {
    policy.mode = StsMode::kNone;
  } else {
    return Error(LineOf(**mode), "domain.mta_sts.mode: unknown mode '", *m,
                 "' (expected enforce, testing or none)");
  }
  if (const toml::node* mx = t.get("mx")) {
    absl::StatusOr<const toml::array*> array = Array(*mx, "domain.mta_sts.mx");
    if (!array.ok()) return array.status();
    for (const toml::node& element : **array) {
      absl::StatusOr<std::string> pattern =
          String(element, "domain.mta_sts.mx");
      if (!pattern.ok()) return pattern.status();
      absl::string_view rest = *pattern;
      const bool wildcard = absl::ConsumePrefix(&rest, "*.");
      std::optional<std::string> name = policy::NormalizeDnsName(rest);
      if (!name.has_value()) {
        return Error(LineOf(element), "domain.mta_sts.mx: '", *pattern,
                     "' is not a host name or \"*.\" pattern");
      }
      policy.mx.push_back(wildcard ? absl::StrCat("*.", *name) : *name);
    }
  }
  if (policy.mx.empty() && policy.mode != StsMode::kNone) {
    return Error(LineOf(t), "domain.mta_sts: mode '", *m,
                 "' needs at least one mx pattern");
  }
  absl::StatusOr<const toml::node*> max_age =
      Find(t, "max_age", "domain.mta_sts", true);
  if (!max_age.ok()) return max_age.status();
  // What a real domain may publish (1..10 digits); senders clamp it.
  absl::StatusOr<int64_t> age =
      Integer(**max_age, "domain.mta_sts.max_age", 0, 9999999999);
  if (!age.ok()) return age.status();
  policy.max_age = std::min<int64_t>(*age, policy::kStsMaxAgeLimit);
  if (*age != policy.max_age) out.mta_sts_published_max_age = *age;
  absl::StatusOr<const toml::node*> id = Find(t, "id", "domain.mta_sts", true);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> i = String(**id, "domain.mta_sts.id");
  if (!i.ok()) return i.status();
  // RFC 8461 §3.1: 1*32(ALPHA / DIGIT).
  if (i->empty() || i->size() > 32 ||
      !std::all_of(i->begin(), i->end(),
                   [](char c) { return absl::ascii_isalnum(c); })) {
    return Error(LineOf(**id), "domain.mta_sts.id: '", *i,
                 "' is not 1 to 32 letters and digits");
  }
  out.mta_sts = std::move(policy);
  out.mta_sts_id = *std::move(i);
  if (const toml::node* fetch = t.get("fetch")) {
    absl::StatusOr<std::string> f = String(*fetch, "domain.mta_sts.fetch");
    if (!f.ok()) return f.status();
    std::optional<StsFetchOutcome> outcome;
    for (StsFetchOutcome o :
         {StsFetchOutcome::kOk, StsFetchOutcome::kNetworkError,
          StsFetchOutcome::kBadCertificate, StsFetchOutcome::kHttp404,
          StsFetchOutcome::kBadContentType}) {
      if (StsFetchOutcomeName(o) == *f) outcome = o;
    }
    if (!outcome.has_value()) {
      return Error(LineOf(*fetch), "domain.mta_sts.fetch: unknown outcome '",
                   *f,
                   "' (expected ok, network-error, bad-certificate, http-404 "
                   "or bad-content-type)");
    }
    out.mta_sts_fetch = *outcome;
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseLoad(const toml::table& t, const Scenario& scenario,
                               ScenarioLoad& out) const {
  out.line = LineOf(t);
  if (absl::Status s = CheckKeys(t, "[[load]]",
                                 {"to", "messages", "recipients", "size",
                                  "requiretls_percent", "at", "spread"});
      !s.ok()) {
    return s;
  }
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  absl::StatusOr<const toml::node*> to = Find(t, "to", "[[load]]", true);
  if (!to.ok()) return to.status();
  absl::StatusOr<std::string> domain = String(**to, "load.to");
  if (!domain.ok()) return domain.status();
  const ScenarioDomain* declared = scenario.FindDomain(*domain);
  if (declared == nullptr) {
    return Error(LineOf(**to), "load.to: '", *domain,
                 "' is not a declared [[domain]]");
  }
  out.to = declared->name;
  absl::StatusOr<const toml::node*> messages =
      Find(t, "messages", "[[load]]", true);
  if (!messages.ok()) return messages.status();
  absl::StatusOr<int64_t> v = Integer(**messages, "load.messages", 0, kMax);
  if (!v.ok()) return v.status();
  out.messages = *v;
  if (const toml::node* n = t.get("recipients")) {
    v = Integer(*n, "load.recipients", 0, kMax);
    if (!v.ok()) return v.status();
    out.recipients = *v;
  }
  if (const toml::node* n = t.get("size")) {
    v = Integer(*n, "load.size", 0, kMax);
    if (!v.ok()) return v.status();
    out.size = *v;
  }
  if (const toml::node* n = t.get("requiretls_percent")) {
    v = Integer(*n, "load.requiretls_percent", 0, 100);
    if (!v.ok()) return v.status();
    out.requiretls_percent = static_cast<int>(*v);
  }
  if (const toml::node* n = t.get("at")) {
    absl::StatusOr<absl::Duration> at = Duration(*n, "load.at");
    if (!at.ok()) return at.status();
    if (*at >= scenario.world.duration) {
      return Error(LineOf(*n), "load.at: ", absl::FormatDuration(*at),
                   " is not before the end of the world (world.duration ",
                   absl::FormatDuration(scenario.world.duration), ")");
    }
    out.at = *at;
  }
  if (const toml::node* n = t.get("spread")) {
    absl::StatusOr<absl::Duration> spread = Duration(*n, "load.spread");
    if (!spread.ok()) return spread.status();
    if (out.at + *spread > scenario.world.duration) {
      return Error(LineOf(*n), "load.spread: the messages would be queued "
                   "after the end of the world (at + spread > world.duration)");
    }
    out.spread = *spread;
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseFault(const toml::table& t, const Scenario& scenario,
                                ScenarioFault& out) const {
  out.line = LineOf(t);
  if (absl::Status s =
          CheckKeys(t, "[[fault]]", {"host", "kind", "at", "duration"});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<const toml::node*> host = Find(t, "host", "[[fault]]", true);
  if (!host.ok()) return host.status();
  absl::StatusOr<std::string> h = String(**host, "fault.host");
  if (!h.ok()) return h.status();
  out.host = DnsModel::Canonical(*h);
  if (!mx_hosts_.contains(out.host)) {
    return Error(LineOf(**host), "fault.host: '", *h,
                 "' is not an mx host of any [[domain]]");
  }
  absl::StatusOr<const toml::node*> kind = Find(t, "kind", "[[fault]]", true);
  if (!kind.ok()) return kind.status();
  absl::StatusOr<std::string> k = String(**kind, "fault.kind");
  if (!k.ok()) return k.status();
  if (*k == "refuse") {
    out.kind = ScenarioFaultKind::kRefuse;
  } else if (*k == "timeout") {
    out.kind = ScenarioFaultKind::kTimeout;
  } else if (*k == "stall") {
    out.kind = ScenarioFaultKind::kStall;
  } else if (*k == "reset") {
    out.kind = ScenarioFaultKind::kReset;
  } else if (*k == "rollover") {
    out.kind = ScenarioFaultKind::kRollover;
  } else {
    return Error(LineOf(**kind), "fault.kind: unknown kind '", *k,
                 "' (expected refuse, timeout, stall, reset or rollover)");
  }
  absl::StatusOr<const toml::node*> at = Find(t, "at", "[[fault]]", true);
  if (!at.ok()) return at.status();
  absl::StatusOr<absl::Duration> a = Duration(**at, "fault.at");
  if (!a.ok()) return a.status();
  if (*a >= scenario.world.duration) {
    return Error(LineOf(**at), "fault.at: ", absl::FormatDuration(*a),
                 " is not before the end of the world (world.duration ",
                 absl::FormatDuration(scenario.world.duration), ")");
  }
  out.at = *a;
  const toml::node* duration = t.get("duration");
  if (out.kind == ScenarioFaultKind::kStall) {
    if (duration == nullptr) {
      return Error(LineOf(t), "fault: kind 'stall' needs a duration");
    }
    absl::StatusOr<absl::Duration> d = Duration(*duration, "fault.duration");
    if (!d.ok()) return d.status();
    if (*d == absl::ZeroDuration()) {
      return Error(LineOf(*duration), "fault.duration: must be positive");
    }
    out.duration = *d;
  } else if (duration != nullptr) {
    return Error(LineOf(*duration), "fault.duration: only kind 'stall' has a "
                                    "duration, not '", *k, "'");
  }
  return absl::OkStatus();
}

template <typename Fn>
absl::Status Parser::ForEachTable(const toml::table& root,
                                  absl::string_view key, Fn fn) const {
  const toml::node* node = root.get(std::string_view(key.data(), key.size()));
  if (node == nullptr) return absl::OkStatus();
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    return Error(LineOf(*node), key, ": expected an array of tables ([[", key,
                 "]]), got ", TypeName(*node));
  }
  for (const toml::node& element : *array) {
    absl::StatusOr<const toml::table*> table = Table(element, key);
    if (!table.ok()) return table.status();
    if (absl::Status s = fn(**table); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// toml++ 3.3.0 classifies these code points with __builtin_unreachable
// (upstream #295, #190): they must never reach it.
bool TomlUnreachableCodePoint(uint32_t c) {
  if (c < 0xA0 || c > 0xFEFF) return false;
  const uint64_t child = (c - 0xA0) / 0x3FA;
  if ((1ull << child) & 0x7FFFFFFFFFFFF75Eull) return false;
  if (c == 0xA0 || c == 0x3000 || c == 0xFEFF) return false;
  return child != 0x05 && child != 0x07;
}

// Refuses those code points anywhere in the file: toml++ reaches them in
// more places than whitespace (inside a malformed number, say), so no
// context is safe.
absl::Status CheckTomlHazards(absl::string_view text, absl::string_view file) {
  int line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t b = static_cast<uint8_t>(text[i]);
    if (b == '\n') ++line;
    size_t n = 0;
    uint32_t c = 0;
    if (b >= 0xC2 && b <= 0xDF) {
      n = 1;
      c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 2;
      c = b & 0x0F;
    } else {
      continue;
    }
    if (i + n >= text.size()) continue;
    bool ok = true;
    for (size_t k = 1; k <= n; ++k) {
      const uint8_t t = static_cast<uint8_t>(text[i + k]);
      ok = ok && (t & 0xC0) == 0x80;
      c = (c << 6) | (t & 0x3F);
    }
    if (ok && TomlUnreachableCodePoint(c)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s:%d: character U+%04X is not supported in scenario files (the "
          "TOML reader cannot classify it), not even in comments",
          file, line, c));
    }
  }
  return absl::OkStatus();
}

int Parser::FirstAssertionLine() const {
  int line = 1;
  for (size_t end = 0; end < text_.size(); ++line) {
    end = std::min(text_.size(), text_.find('\n', end) + 1);
    if (end == 0) end = text_.size();  // no newline left
    try {
      (void)toml::parse(std::string_view(text_.data(), end), file_);
    } catch (const internal::TomlAssertion&) {
      return line;
    } catch (const toml::parse_error&) {
      // An incomplete prefix: go on.
    }
  }
  return line - 1;
}

absl::StatusOr<Scenario> Parser::Parse() {
  if (absl::Status s = CheckTomlHazards(text_, file_); !s.ok()) return s;
  toml::table root;
  try {
    root = toml::parse(std::string_view(text_.data(), text_.size()), file_);
  } catch (const toml::parse_error& error) {
    return Error(LineOf(error.source()), "TOML syntax error: ",
                 View(error.description()));
  } catch (const internal::TomlAssertion& failed) {
    // The reader cannot say where: the first line whose prefix of the file
    // fails the same way is the place.
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s:%d: TOML syntax error (the reader's check '%s' failed)", file_,
        FirstAssertionLine(), failed.check));
  }
  if (absl::Status s =
          CheckKeys(root, "the file", {"world", "sender", "domain", "load",
                                       "fault"});
      !s.ok()) {
    return s;
  }
  Scenario scenario;
  if (absl::Status s = ParseWorld(root, scenario); !s.ok()) return s;
  if (absl::Status s = ParseSender(root, scenario); !s.ok()) return s;
  if (absl::Status s =
          ForEachTable(root, "domain",
                       [&](const toml::table& t) -> absl::Status {
                         ScenarioDomain domain;
                         if (absl::Status s = ParseDomain(t, domain); !s.ok()) {
                           return s;
                         }
                         if (const ScenarioDomain* first =
                                 scenario.FindDomain(domain.name)) {
                           return Error(domain.line, "duplicate domain '",
                                        domain.name, "' (first on line ",
                                        first->line, ")");
                         }
                         scenario.domains.push_back(std::move(domain));
                         return absl::OkStatus();
                       });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ForEachTable(
          root, "load",
          [&](const toml::table& t) -> absl::Status {
            ScenarioLoad load;
            if (absl::Status s = ParseLoad(t, scenario, load); !s.ok()) {
              return s;
            }
            scenario.loads.push_back(std::move(load));
            return absl::OkStatus();
          });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ForEachTable(
          root, "fault",
          [&](const toml::table& t) -> absl::Status {
            ScenarioFault fault;
            if (absl::Status s = ParseFault(t, scenario, fault); !s.ok()) {
              return s;
            }
            scenario.faults.push_back(std::move(fault));
            return absl::OkStatus();
          });
      !s.ok()) {
    return s;
  }
  return scenario;
}

}  // namespace

absl::string_view TrustAnchorName(TrustAnchor anchor) {
  switch (anchor) {
    case TrustAnchor::kRoot:
      return "root";
    case TrustAnchor::kOldRoot:
      return "old-root";
    case TrustAnchor::kNewRoot:
      return "new-root";
    case TrustAnchor::kUntrustedRoot:
      return "untrusted-root";
  }
  return "unknown";
}

absl::string_view StsFetchOutcomeName(StsFetchOutcome outcome) {
  switch (outcome) {
    case StsFetchOutcome::kOk:
      return "ok";
    case StsFetchOutcome::kNetworkError:
      return "network-error";
    case StsFetchOutcome::kBadCertificate:
      return "bad-certificate";
    case StsFetchOutcome::kHttp404:
      return "http-404";
    case StsFetchOutcome::kBadContentType:
      return "bad-content-type";
  }
  return "unknown";
}

std::string DefaultPolicyText(const Scenario& scenario) {
  const policy::PolicyTable& table = scenario.sender.policy;
  const absl::string_view level = policy::LevelName(table.default_entry().level);
  switch (scenario.sender.policy_source) {
    case PolicySource::kNone:
      return absl::StrCat(level, " (built in: the scenario has no policy)");
    case PolicySource::kTable:
      if (!table.has_default()) {
        return absl::StrCat(level, " (built in: the table has no '*' line)");
      }
      return absl::StrCat(level, " (", table.Where(table.default_entry().line), ")");
    case PolicySource::kPostfix:
      return absl::StrCat(
          level, scenario.sender.postfix_options.default_level.has_value()
                     ? " (smtp_tls_security_level)"
                     : " (Postfix's default: smtp_tls_security_level unset)");
  }
  return std::string(level);
}

absl::string_view ScenarioFaultKindName(ScenarioFaultKind kind) {
  switch (kind) {
    case ScenarioFaultKind::kRefuse:
      return "refuse";
    case ScenarioFaultKind::kTimeout:
      return "timeout";
    case ScenarioFaultKind::kStall:
      return "stall";
    case ScenarioFaultKind::kReset:
      return "reset";
    case ScenarioFaultKind::kRollover:
      return "rollover";
  }
  return "unknown";
}

const ScenarioDomain* Scenario::FindDomain(absl::string_view name) const {
  const std::string canonical = DnsModel::Canonical(name);
  for (const ScenarioDomain& domain : domains) {
    if (domain.name == canonical) return &domain;
  }
  return nullptr;
}

absl::StatusOr<Scenario> ParseScenario(absl::string_view text,
                                       absl::string_view file_name) {
  return Parser(text, file_name).Parse();
}

absl::StatusOr<Scenario> LoadScenarioFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return ParseScenario(contents.str(), path);
}

}  // namespace starling::sim
