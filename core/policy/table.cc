#include "core/policy/table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/policy/names.h"

namespace starling::policy {

std::string Diagnostic::ToString() const {
  return absl::StrCat(line > 0 ? absl::StrCat("line ", line, ": ") : "",
                      severity == Severity::kError ? "error" : "warning", ": ",
                      message);
}

// ---- keys and values shared with the Postfix importer ------------------------

absl::StatusOr<std::string> NormalizeTableKey(absl::string_view key) {
  if (key == "*") return std::string("*");
  if (absl::StartsWith(key, "[")) {
    // A next-hop key (Postfix's "[host]" or "[host]:port" from a relayhost
    // or transport): the host, lower case, and the port.
    auto bad = [key] {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad next-hop '", key, "' ([host] or [host]:port)"));
    };
    const size_t close = key.find(']');
    if (close == absl::string_view::npos) return bad();
    const std::optional<std::string> host =
        NormalizeDnsName(key.substr(1, close - 1));
    absl::string_view rest = key.substr(close + 1);
    if (!host.has_value()) return bad();
    if (rest.empty()) return absl::StrCat("[", *host, "]");
    uint32_t port = 0;
    if (!absl::ConsumePrefix(&rest, ":") || rest.empty() || rest[0] == '0' ||
        !absl::SimpleAtoi(rest, &port) || port > 65535) {
      return bad();
    }
    return absl::StrCat("[", *host, "]:", port);
  }
  const bool parent = absl::StartsWith(key, ".");
  std::optional<std::string> name =
      NormalizeDnsName(parent ? key.substr(1) : key);
  if (!name.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad destination '", key,
        "' (a DNS name, '.' + a DNS name, or '*'; IDNs as A-labels)"));
  }
  return parent ? absl::StrCat(".", *name) : *name;
}

absl::StatusOr<std::string> NormalizePin(absl::string_view text) {
  auto bad = [text](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad pin '", text, "' (", why,
        "; hex of a SHA-256 (64 digits), SHA-512 (128), SHA-1 (40) or MD5 "
        "(32) digest, colons allowed)"));
  };
  std::string hex;
  for (char c : text) {
    if (c == ':') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return bad("not hex");
    }
    hex.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  if (PinDigestName(hex) == "?") {
    return bad(absl::StrCat(hex.size(), " hex digits"));
  }
  return hex;
}

absl::StatusOr<IssuerSubjectPin> ParseIssuerSubjectPin(
    absl::string_view text) {
  const size_t s = text.find("<S>");
  if (!absl::StartsWith(text, "<I>") || s == absl::string_view::npos ||
      s < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad certificate name '", text, "' (expected <I>issuer<S>subject)"));
  }
  IssuerSubjectPin pin{std::string(absl::StripAsciiWhitespace(text.substr(3, s - 3))),
                       std::string(absl::StripAsciiWhitespace(text.substr(s + 3)))};
  if (pin.issuer.empty() || pin.subject.empty() ||
      absl::StrContains(pin.subject, "<S>") ||
      absl::StrContains(pin.issuer, "<I>")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad certificate name '", text, "' (expected <I>issuer<S>subject)"));
  }
  return pin;
}

std::string IssuerSubjectPinText(const IssuerSubjectPin& pin) {
  return absl::StrCat("<I>", pin.issuer, "<S>", pin.subject);
}

absl::StatusOr<std::string> NormalizeMatchPattern(absl::string_view text) {
  for (absl::string_view keyword : {"hostname", "nexthop", "dot-nexthop"}) {
    if (absl::EqualsIgnoreCase(text, keyword)) return std::string(keyword);
  }
  absl::StatusOr<std::string> key = NormalizeTableKey(text);
  if (!key.ok() || *key == "*" || absl::StartsWith(*key, "[")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad name to match '", text,
        "' (hostname, nexthop, dot-nexthop, a DNS name or .parent)"));
  }
  return key;
}

// ---- PolicyTable -------------------------------------------------------------

namespace {

// Hashes what PolicyEntry::SameRule compares (issuer/subject pins by count:
// a collision only costs sharing).
uint64_t RuleHash(const PolicyEntry& e) {
  return absl::HashOf(e.level, e.min_version, e.max_version,
                      e.excluded_versions, e.min_grade, e.exclude,
                      e.forward_secrecy, e.match, e.sni, e.trust_anchors,
                      e.cert_pins, e.spki_pins, e.issuer_subject_pins.size(),
                      e.testing, e.floor, e.mta_sts);
}

}  // namespace

PolicyTable::PolicyTable()
    : keys_(std::make_unique<std::string>()),
      names_(NewIndex()),
      parents_(NewIndex()) {}

PolicyTable::PolicyTable(const PolicyTable& other)
    : keys_(std::make_unique<std::string>(*other.keys_)),
      names_(NewIndex()),
      parents_(NewIndex()),
      rules_(other.rules_),
      rule_by_hash_(other.rule_by_hash_),
      default_(other.default_),
      has_default_(other.has_default_),
      origin_(other.origin_) {
  // Same offsets into an equal text.
  names_.reserve(other.names_.size());
  names_.insert(other.names_.begin(), other.names_.end());
  parents_.reserve(other.parents_.size());
  parents_.insert(other.parents_.begin(), other.parents_.end());
}

PolicyTable& PolicyTable::operator=(const PolicyTable& other) {
  if (this != &other) *this = PolicyTable(other);
  return *this;
}

PolicyTable::PolicyTable(PolicyTable&& other) : PolicyTable() {
  *this = std::move(other);
}

PolicyTable& PolicyTable::operator=(PolicyTable&& other) {
  if (this == &other) return *this;
  // Swapping an index swaps its hash and equality too, so each index goes
  // on referring to the text that comes with it.
  std::swap(keys_, other.keys_);
  names_.swap(other.names_);
  parents_.swap(other.parents_);
  rules_.swap(other.rules_);
  rule_by_hash_.swap(other.rule_by_hash_);
  std::swap(default_, other.default_);
  std::swap(has_default_, other.has_default_);
  origin_.swap(other.origin_);
  return *this;
}

void PolicyTable::Reserve(size_t n) { names_.reserve(n); }

PolicyTable::KeyRef PolicyTable::MakeKey(absl::string_view key,
                                         std::string* text) {
  KeyRef ref = {};  // the unused octets too: copies never read garbage
  if (key.size() <= KeyRef::kInline) {
    std::memcpy(ref.bytes, key.data(), key.size());
    ref.bytes[15] = static_cast<char>(key.size());
    return ref;
  }
  const uint32_t offset = static_cast<uint32_t>(text->size());
  const uint32_t size = static_cast<uint32_t>(key.size());
  text->append(key.data(), key.size());
  std::memcpy(ref.bytes, &offset, 4);
  std::memcpy(ref.bytes + 4, &size, 4);
  ref.bytes[15] = static_cast<char>(KeyRef::kLong);
  return ref;
}

absl::string_view PolicyTable::View(const std::string& text, const KeyRef& k) {
  const uint8_t tag = static_cast<uint8_t>(k.bytes[15]);
  if (tag != KeyRef::kLong) return absl::string_view(k.bytes, tag);
  uint32_t offset, size;
  std::memcpy(&offset, k.bytes, 4);
  std::memcpy(&size, k.bytes + 4, 4);
  return absl::string_view(text).substr(offset, size);
}

void PolicyTable::KeyBatch::Add(absl::string_view key, uint32_t rule, int line) {
  keys.push_back({static_cast<uint32_t>(text.size()),
                  static_cast<uint32_t>(key.size()), rule, line, 0});
  text.append(key.data(), key.size());
}

std::string PolicyTable::DuplicateKey(absl::string_view key, int first_line) {
  return absl::StrCat("duplicate destination '", key, "' (first on line ",
                      first_line, ")");
}

absl::Status PolicyTable::Add(absl::string_view key, PolicyEntry entry) {
  absl::StatusOr<std::string> normal = NormalizeTableKey(key);
  if (!normal.ok()) return normal.status();
  if (*normal == "*") {
    if (has_default_) {
      return absl::AlreadyExistsError(DuplicateKey("*", default_.line));
    }
    default_ = std::move(entry);
    has_default_ = true;
    return absl::OkStatus();
  }
  Index& index = IndexFor(*normal);
  if (auto it = index.find(*normal); it != index.end()) {
    return absl::AlreadyExistsError(
        DuplicateKey(KeyOf(it->first), it->second.line));
  }
  const KeyRef ref = MakeKey(*normal, keys_.get());
  const int line = entry.line;
  index.emplace(ref, Slot{InternRule(std::move(entry)), line});
  return absl::OkStatus();
}

uint32_t PolicyTable::InternRule(PolicyEntry entry) {
  entry.line = 0;
  const auto [same, fresh] =
      rule_by_hash_.try_emplace(RuleHash(entry), static_cast<uint32_t>(rules_.size()));
  if (!fresh && rules_[same->second].SameRule(entry)) return same->second;
  rules_.push_back(std::move(entry));
  return static_cast<uint32_t>(rules_.size() - 1);
}

namespace {

// Sorts keys by rank. A large batch is first spread in place over buckets by
// the rank's top bits (each bucket a region of the index), then each small
// bucket is sorted while it is in cache: a comparison sort over the whole
// batch walked it from memory some twenty times.
void SortByRank(decltype(PolicyTable::KeyBatch::keys)& keys) {
  using Key = PolicyTable::KeyBatch::Key;
  auto by_rank = [](const Key& a, const Key& b) { return a.rank < b.rank; };
  constexpr int kBucketBits = 12;
  constexpr size_t kBuckets = size_t{1} << kBucketBits;
  if (keys.size() < 16 * kBuckets) {
    std::sort(keys.begin(), keys.end(), by_rank);
    return;
  }
  auto bucket = [](const Key& k) {
    return static_cast<size_t>(k.rank >> (64 - kBucketBits));
  };
  std::vector<size_t> start(kBuckets + 1, 0);
  for (const Key& k : keys) ++start[bucket(k) + 1];
  for (size_t b = 0; b < kBuckets; ++b) start[b + 1] += start[b];
  std::vector<size_t> next(start.begin(), start.end() - 1);
  for (size_t b = 0; b < kBuckets; ++b) {
    while (next[b] < start[b + 1]) {
      Key& k = keys[next[b]];
      const size_t home = bucket(k);
      if (home == b) {
        ++next[b];
      } else {
        std::swap(k, keys[next[home]++]);
      }
    }
  }
  for (size_t b = 0; b < kBuckets; ++b) {
    std::sort(keys.begin() + start[b], keys.begin() + start[b + 1], by_rank);
  }
}

}  // namespace

std::vector<Diagnostic> PolicyTable::AddKeys(KeyBatch batch) {
  // Inserting a million keys at random slots of a large index costs a cache
  // (and TLB) miss per key. Abseil's SwissTable starts a key's probe at the
  // hash bits above its 7-bit tag, masked by the capacity (a per-table salt
  // XORed in maps aligned regions onto aligned regions): inserting in the
  // order of those bits writes the index region by region. Were the layout
  // to change, the order would only cost speed. Equal keys sort by line, so
  // the later one is the duplicate.
  const absl::string_view text = batch.text;
  auto key_of = [&](const KeyBatch::Key& k) {
    return text.substr(k.offset, k.size);
  };
  size_t parents = 0;
  for (const KeyBatch::Key& k : batch.keys) {
    parents += IsParentKey(key_of(k));
  }
  names_.reserve(names_.size() + batch.keys.size() - parents);
  parents_.reserve(parents_.size() + parents);
  // One 64-bit rank: parent keys last, then the place (its top 31 bits),
  // then the line.
  for (KeyBatch::Key& k : batch.keys) {
    const absl::string_view key = key_of(k);
    const bool parent = IsParentKey(key);
    const size_t capacity = IndexFor(key).capacity();
    // The place's top bits at the top of its 31-bit field, so that the
    // rank's top bits spread keys evenly over SortByRank's buckets.
    const int width = static_cast<int>(std::bit_width(capacity));
    const uint64_t start =
        (absl::Hash<absl::string_view>()(key) >> 7) & capacity;
    const uint64_t place =
        width > 31 ? start >> (width - 31) : start << (31 - width);
    k.rank = (uint64_t{parent} << 63) | (place << 32) |
             static_cast<uint32_t>(k.line);
  }
  auto& order = batch.keys;
  SortByRank(order);
  std::vector<Diagnostic> duplicates;
  for (size_t i = 0; i < order.size(); ++i) {
    // The keys' text is read in index order, i.e. at random: fetch ahead.
    constexpr size_t kAhead = 8;
    if (i + kAhead < order.size()) {
      __builtin_prefetch(text.data() + order[i + kAhead].offset);
    }
    const KeyBatch::Key& k = order[i];
    Index& index = k.rank >> 63 ? parents_ : names_;
    const size_t text_size = keys_->size();
    auto [it, inserted] =
        index.try_emplace(MakeKey(key_of(k), keys_.get()), Slot{k.rule, k.line});
    if (!inserted) {
      keys_->resize(text_size);
      duplicates.push_back({k.line, Diagnostic::Severity::kError,
                            DuplicateKey(KeyOf(it->first), it->second.line)});
    }
  }
  return duplicates;
}

PolicyTable::Match PolicyTable::Find(absl::string_view domain) const {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  std::string lowered;
  if (std::any_of(domain.begin(), domain.end(), absl::ascii_isupper)) {
    lowered = absl::AsciiStrToLower(domain);
    domain = lowered;
  }
  const Match fallback{&default_, "*", default_.line};
  if (auto it = names_.find(domain); it != names_.end()) return MatchOf(*it);
  if (!parents_.empty()) {
    // A next-hop key matches only itself, as in Postfix: parent domains
    // belong to recipient domains.
    if (absl::StartsWith(domain, "[")) return fallback;
    for (size_t dot = domain.find('.'); dot != absl::string_view::npos;
         dot = domain.find('.', dot + 1)) {
      auto it = parents_.find(domain.substr(dot));
      if (it != parents_.end()) return MatchOf(*it);
    }
  }
  return fallback;
}

std::vector<PolicyTable::Match> PolicyTable::Entries() const {
  std::vector<Match> out;
  out.reserve(names_.size() + parents_.size());
  for (const Index* index : {&names_, &parents_}) {
    for (const auto& kv : *index) out.push_back(MatchOf(kv));
  }
  return out;
}

bool PolicyTable::SameRules(const PolicyTable& other) const {
  if (has_default_ != other.has_default_ ||
      !default_.SameRule(other.default_) || size() != other.size()) {
    return false;
  }
  for (const Match& m : Entries()) {
    const Index& index = other.IndexFor(m.key);
    auto it = index.find(m.key);
    if (it == index.end() || !m.entry->SameRule(other.rules_[it->second.rule])) {
      return false;
    }
  }
  return true;
}

void PolicyTable::SetOrigin(std::string name, int line_offset) {
  origin_ = std::move(name);
  if (line_offset == 0) return;
  if (default_.line > 0) default_.line += line_offset;
  for (Index* index : {&names_, &parents_}) {
    for (auto& [key, slot] : *index) {
      if (slot.line > 0) slot.line += line_offset;
    }
  }
}

std::string PolicyTable::Where(int line) const {
  if (line <= 0) return "built in";
  if (origin_.empty()) return absl::StrCat("line ", line);
  return absl::StrCat(origin_, ":", line);
}

absl::Status CheckProtocols(const PolicyEntry& entry) {
  if (entry.max_version < entry.min_version) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max-protocol=", TlsVersionName(entry.max_version),
        " is below min-protocol=", TlsVersionName(entry.min_version)));
  }
  for (TlsVersion v : {TlsVersion::kTls10, TlsVersion::kTls11,
                       TlsVersion::kTls12, TlsVersion::kTls13}) {
    if (v >= entry.min_version && v <= entry.max_version &&
        std::find(entry.excluded_versions.begin(),
                  entry.excluded_versions.end(),
                  v) == entry.excluded_versions.end()) {
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      "the protocol settings leave no TLS version to use");
}

// ---- text format -------------------------------------------------------------

namespace {

using Severity = Diagnostic::Severity;

struct Token {
  std::string text;   // quotes removed
  bool quoted = false;
};

// Splits one physical line into tokens: whitespace separates, '#' at the
// start of a token begins a comment, `name="value"` may quote its value
// (with \" and \\ escapes).
// Appends to *tokens (the caller's, reused line after line).
absl::Status Tokenize(absl::string_view line, std::vector<Token>* tokens) {
  size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == ' ' || c == '\t') {
      ++i;
      continue;
    }
    if (c == '#') break;
    // Most tokens hold no quote: take them whole. Anything else (a quote, a
    // control character) goes through the octet-by-octet path below.
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' &&
           line[j] != '"' && static_cast<unsigned char>(line[j]) >= 0x20 &&
           line[j] != 0x7f) {
      ++j;
    }
    if (j == line.size() || line[j] == ' ' || line[j] == '\t') {
      tokens->emplace_back().text.assign(line.data() + i, j - i);
      i = j;
      continue;
    }
    Token token;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
      const unsigned char u = static_cast<unsigned char>(line[i]);
      if (u < 0x20 || u == 0x7f) {
        return absl::InvalidArgumentError("control character in line");
      }
      if (line[i] == '"') {
        token.quoted = true;
        ++i;
        bool closed = false;
        while (i < line.size()) {
          if (line[i] == '\\' && i + 1 < line.size() &&
              (line[i + 1] == '"' || line[i + 1] == '\\')) {
            token.text.push_back(line[i + 1]);
            i += 2;
          } else if (line[i] == '"') {
            closed = true;
            ++i;
            break;
          } else {
            const unsigned char q = static_cast<unsigned char>(line[i]);
            if (q < 0x20 || q == 0x7f) {
              return absl::InvalidArgumentError("control character in line");
            }
            token.text.push_back(line[i++]);
          }
        }
        if (!closed) return absl::InvalidArgumentError("unterminated quote");
        continue;
      }
      token.text.push_back(line[i++]);
    }
    tokens->push_back(std::move(token));
  }
  return absl::OkStatus();
}

bool NeedsQuotes(absl::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '"' || c == '#' || c == '\\') return true;
  }
  return false;
}

std::string Quote(absl::string_view value) {
  if (!NeedsQuotes(value)) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::optional<bool> ParseYesNo(absl::string_view value) {
  if (absl::EqualsIgnoreCase(value, "yes")) return true;
  if (absl::EqualsIgnoreCase(value, "no")) return false;
  return std::nullopt;
}

// One destination being parsed: its first line and its tokens so far.
struct PendingEntry {
  int line = 0;  // 0: none
  std::vector<std::pair<Token, int>> tokens;  // token, physical line
};

class TableParser {
 public:
  explicit TableParser(std::vector<Diagnostic>* diagnostics)
      : diagnostics_(diagnostics) {}

  void Parse(absl::string_view text) {
    // At most one entry per line: the index never has to grow.
    const size_t lines = std::count(text.begin(), text.end(), '\n') + 1;
    table_.Reserve(lines);
    keys_.keys.reserve(lines);
    keys_.text.reserve(text.size());  // keys are shorter than their lines
    int line_number = 0;
    // Reused line after line: their buffers are allocated once.
    PendingEntry pending;
    std::vector<Token> tokens;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      ++line_number;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      tokens.clear();
      if (absl::Status status = Tokenize(line, &tokens); !status.ok()) {
        Error(line_number, std::string(status.message()));
        continue;
      }
      if (tokens.empty()) continue;
      const bool continuation = line[0] == ' ' || line[0] == '\t';
      if (continuation) {
        if (pending.line == 0) {
          Error(line_number, "continuation line without a destination");
          continue;
        }
      } else {
        if (pending.line != 0) Finish(pending);
        pending.line = line_number;
        pending.tokens.clear();
      }
      for (Token& t : tokens) pending.tokens.emplace_back(std::move(t), line_number);
    }
    if (pending.line != 0) Finish(pending);
    for (Diagnostic& d : table_.AddKeys(std::move(keys_))) {
      Error(d.line, std::move(d.message));
    }
    keys_ = {};
  }

  PolicyTable& table() { return table_; }

 private:
  // A rule text seen before on a line without errors: its rule and the
  // warnings it drew (the same for every line that repeats it).
  struct KnownRule {
    uint32_t rule;
    std::vector<std::string> warnings;
  };
  // Large tables repeat a handful of rules; a few thousand texts cover them
  // without letting a table of distinct rules grow the memo without bound.
  static constexpr size_t kMaxKnownRules = 4096;

  void Error(int line, std::string message) {
    diagnostics_->push_back({line, Severity::kError, std::move(message)});
    ++errors_;
  }

  // The entry's tokens after the key, each with its quoting: equal texts
  // parse to equal rules with equal warnings.
  static std::string RuleText(const std::vector<std::pair<Token, int>>& tokens) {
    std::string text;
    for (size_t i = 1; i < tokens.size(); ++i) {
      text.push_back(tokens[i].first.quoted ? '\1' : '\2');
      text.append(tokens[i].first.text);
    }
    return text;
  }

  void Finish(const PendingEntry& pending) {
    const std::vector<std::pair<Token, int>>& tokens = pending.tokens;
    const size_t errors_before = errors_;
    absl::StatusOr<std::string> key = NormalizeTableKey(tokens[0].first.text);
    if (!key.ok()) Error(pending.line, std::string(key.status().message()));
    if (tokens.size() < 2) {
      Error(pending.line, absl::StrCat("destination '", tokens[0].first.text,
                                       "' has no security level"));
      return;
    }
    // The default is added at once (the parser reports its duplicate
    // there), every other key in bulk at the end.
    const bool is_default = key.ok() && *key == "*";
    std::string rule_text = RuleText(tokens);
    if (auto known = known_rules_.find(rule_text);
        known != known_rules_.end() && !is_default) {
      if (!key.ok()) return;
      for (const std::string& warning : known->second.warnings) {
        diagnostics_->push_back({pending.line, Severity::kWarning, warning});
      }
      keys_.Add(*key, known->second.rule, pending.line);
      return;
    }
    PolicyEntry entry;
    entry.line = pending.line;
    std::optional<Level> level = ParseLevel(tokens[1].first.text);
    if (!level.has_value()) {
      Error(tokens[1].second,
            absl::StrCat("unknown security level '", tokens[1].first.text, "'"));
      return;
    }
    entry.level = *level;
    const bool domain_validation =
        absl::EqualsIgnoreCase(tokens[1].first.text, "domain-validation");
    bool saw_tls_domain = false;
    absl::flat_hash_map<std::string, int> seen;
    for (size_t i = 2; i < tokens.size(); ++i) {
      const Token& token = tokens[i].first;
      const int line = tokens[i].second;
      if (!token.quoted && absl::EqualsIgnoreCase(token.text, "testing")) {
        if (entry.testing) Error(line, "duplicate attribute 'testing'");
        entry.testing = true;
        continue;
      }
      const size_t eq = token.text.find('=');
      if (eq == std::string::npos) {
        Error(line, absl::StrCat("expected name=value, got '", token.text, "'"));
        continue;
      }
      const std::string name = absl::AsciiStrToLower(token.text.substr(0, eq));
      const absl::string_view value = absl::string_view(token.text).substr(eq + 1);
      const bool repeatable = name == "trust-anchor" || name == "cert-pin" ||
                              name == "spki-pin" || name == "cert-name" ||
                              name == "tls-domain";
      if (!repeatable && ++seen[name] > 1) {
        Error(line, absl::StrCat("duplicate attribute '", name, "'"));
        continue;
      }
      if (name == "tls-domain") saw_tls_domain = true;
      absl::Status status = Apply(name, value, &entry);
      if (!status.ok()) Error(line, std::string(status.message()));
    }
    if (domain_validation && !saw_tls_domain) {
      Error(pending.line, "domain-validation needs tls-domain=NAME");
    }
    if (errors_ != errors_before || !key.ok()) return;
    const size_t warnings_before = diagnostics_->size();
    if (absl::Status versions = CheckProtocols(entry); !versions.ok()) {
      Error(pending.line, std::string(versions.message()));
      return;
    }
    if (entry.level == Level::kFingerprint && entry.cert_pins.empty() &&
        entry.spki_pins.empty()) {
      Error(pending.line, "level fingerprint needs cert-pin= or spki-pin=");
      return;
    }
    if (seen.contains("floor") && !AtLeastAsStrict(entry.level, entry.floor)) {
      Error(pending.line,
            absl::StrCat("floor=", LevelName(entry.floor),
                         " is not weaker than level ", LevelName(entry.level)));
      return;
    }
    if (seen.contains("floor") && !entry.testing) {
      diagnostics_->push_back({pending.line, Severity::kWarning,
                               "floor= only matters with testing"});
    }
    LintEntry(entry, diagnostics_);
    KnownRule known;
    for (size_t i = warnings_before; i < diagnostics_->size(); ++i) {
      known.warnings.push_back((*diagnostics_)[i].message);
    }
    if (is_default) {
      absl::Status added = table_.Add(*key, std::move(entry));
      if (!added.ok()) Error(pending.line, std::string(added.message()));
      return;
    }
    known.rule = table_.InternRule(std::move(entry));
    keys_.Add(*key, known.rule, pending.line);
    if (known_rules_.size() < kMaxKnownRules) {
      known_rules_.emplace(std::move(rule_text), std::move(known));
    }
  }


  static absl::Status Apply(const std::string& name, absl::string_view value,
                            PolicyEntry* entry) {
    auto bad = [&](absl::string_view expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad value '", value, "' for ", name, " (", expected, ")"));
    };
    if (name == "min-protocol" || name == "max-protocol") {
      std::optional<TlsVersion> v = ParseTlsVersion(value);
      if (!v.has_value()) return bad("TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3");
      (name == "min-protocol" ? entry->min_version : entry->max_version) = *v;
    } else if (name == "exclude-protocols") {
      for (absl::string_view p : absl::StrSplit(value, ':')) {
        std::optional<TlsVersion> v = ParseTlsVersion(p);
        if (!v.has_value()) {
          return bad("TLS versions separated by ':', e.g. TLSv1:TLSv1.1");
        }
        entry->excluded_versions.push_back(*v);
      }
      std::sort(entry->excluded_versions.begin(), entry->excluded_versions.end());
      entry->excluded_versions.erase(
          std::unique(entry->excluded_versions.begin(),
                      entry->excluded_versions.end()),
          entry->excluded_versions.end());
    } else if (name == "ciphers") {
      std::optional<CipherGrade> g = ParseCipherGrade(value);
      if (!g.has_value()) return bad("high, medium, low, export or null");
      entry->min_grade = *g;
    } else if (name == "exclude") {
      for (absl::string_view t : absl::StrSplit(value, ':')) {
        if (t.empty()) return bad("cipher tokens separated by ':'");
        for (char c : t) {
          if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) {
            return bad("cipher tokens separated by ':'");
          }
        }
        entry->exclude.push_back(absl::AsciiStrToUpper(t));
      }
    } else if (name == "forward-secrecy" || name == "mta-sts" ||
               name == "testing") {
      std::optional<bool> b = ParseYesNo(value);
      if (!b.has_value()) return bad("yes or no");
      (name == "forward-secrecy" ? entry->forward_secrecy
       : name == "mta-sts"       ? entry->mta_sts
                                 : entry->testing) = *b;
    } else if (name == "match") {
      for (absl::string_view p : absl::StrSplit(value, ':')) {
        absl::StatusOr<std::string> pattern = NormalizeMatchPattern(p);
        if (!pattern.ok()) return pattern.status();
        entry->match.push_back(*pattern);
      }
    } else if (name == "tls-domain") {
      absl::string_view domain = value;
      const bool wildcard = absl::StartsWith(domain, "*.");
      if (wildcard) domain.remove_prefix(1);  // "*.x" covers names below x
      absl::StatusOr<std::string> pattern = NormalizeMatchPattern(domain);
      if (!pattern.ok() || (!wildcard && absl::StartsWith(*pattern, ".")) ||
          *pattern == "hostname" || *pattern == "nexthop" ||
          *pattern == "dot-nexthop") {
        return bad("a DNS name or *.name");
      }
      entry->match.push_back(*pattern);
    } else if (name == "sni") {
      if (absl::EqualsIgnoreCase(value, "hostname") ||
          absl::EqualsIgnoreCase(value, "nexthop") ||
          absl::EqualsIgnoreCase(value, "none")) {
        entry->sni = absl::AsciiStrToLower(value);
      } else {
        std::optional<std::string> n = NormalizeDnsName(value);
        if (!n.has_value()) return bad("hostname, nexthop, none or a DNS name");
        entry->sni = *n;
      }
    } else if (name == "trust-anchor") {
      if (value.empty()) return bad("a distinguished name");
      entry->trust_anchors.emplace_back(value);
    } else if (name == "cert-pin" || name == "spki-pin") {
      absl::StatusOr<std::string> pin = NormalizePin(value);
      if (!pin.ok()) return pin.status();
      (name == "cert-pin" ? entry->cert_pins : entry->spki_pins).push_back(*pin);
    } else if (name == "cert-name") {
      absl::StatusOr<IssuerSubjectPin> pin = ParseIssuerSubjectPin(value);
      if (!pin.ok()) return pin.status();
      entry->issuer_subject_pins.push_back(*pin);
    } else if (name == "floor") {
      std::optional<Level> level = ParseLevel(value);
      if (!level.has_value()) return bad("a security level");
      entry->floor = *level;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown attribute '", name, "'"));
    }
    return absl::OkStatus();
  }

  std::vector<Diagnostic>* diagnostics_;
  size_t errors_ = 0;
  PolicyTable table_;
  PolicyTable::KeyBatch keys_;
  absl::flat_hash_map<std::string, KnownRule> known_rules_;
};

void SortDiagnostics(std::vector<Diagnostic>* diagnostics) {
  std::stable_sort(diagnostics->begin(), diagnostics->end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return a.line < b.line;
                   });
}

}  // namespace

void LintEntry(const PolicyEntry& e, std::vector<Diagnostic>* out) {
  auto warn = [&](std::string message) {
    out->push_back({e.line, Severity::kWarning, std::move(message)});
  };
  const absl::string_view level = LevelName(e.level);
  const bool uses_tls = e.level != Level::kNone;
  if (!uses_tls && (!e.match.empty() || !e.cert_pins.empty() ||
                    !e.spki_pins.empty() || !e.issuer_subject_pins.empty() ||
                    !e.trust_anchors.empty() || !e.sni.empty())) {
    warn("level none never uses TLS: its TLS attributes are ignored");
  }
  if (uses_tls && e.min_version < TlsVersion::kTls12) {
    warn(absl::StrCat("min-protocol=", TlsVersionName(e.min_version),
                      " allows deprecated TLS versions (RFC 8996)"));
  }
  if (uses_tls && !e.forward_secrecy) {
    warn("forward-secrecy=no accepts sessions without forward secrecy");
  }
  if (uses_tls && e.min_grade < CipherGrade::kMedium) {
    warn(absl::StrCat("ciphers=", CipherGradeName(e.min_grade),
                      " accepts weak ciphers"));
  }
  if (!e.match.empty() && e.level != Level::kVerify &&
      e.level != Level::kSecure && uses_tls) {
    warn(absl::StrCat("match= is not used by level ", level));
  }
  const bool has_pins = !e.cert_pins.empty() || !e.spki_pins.empty() ||
                        !e.issuer_subject_pins.empty();
  if (has_pins && uses_tls && !MandatoryTls(e.level)) {
    warn(absl::StrCat("pins are not enforced at level ", level,
                      " (TLS is optional there)"));
  }
  for (const std::vector<std::string>* pins : {&e.cert_pins, &e.spki_pins}) {
    for (const std::string& pin : *pins) {
      if (pin.size() == 32 || pin.size() == 40) {
        warn(absl::StrCat("pin ", pin, " is ", PinDigestName(pin),
                          ", a digest with practical collisions; prefer "
                          "SHA-256"));
      }
    }
  }
  if (!e.trust_anchors.empty() && uses_tls &&
      !AtLeastAsStrict(e.level, Level::kPkix)) {
    warn(absl::StrCat("trust-anchor= is not used by level ", level));
  }
  if (e.testing && !AtLeastAsStrict(e.level, Level::kEncrypt) &&
      e.level != Level::kDane && e.level != Level::kDaneOnly && !has_pins) {
    warn(absl::StrCat("testing has nothing to test at level ", level));
  }
}

absl::StatusOr<PolicyTable> ParsePolicyTable(absl::string_view text) {
  std::vector<Diagnostic> diagnostics;
  TableParser parser(&diagnostics);
  parser.Parse(text);
  SortDiagnostics(&diagnostics);
  for (const Diagnostic& d : diagnostics) {
    if (d.severity == Severity::kError) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", d.line, ": ", d.message));
    }
  }
  return std::move(parser.table());
}

std::vector<Diagnostic> LintPolicyTable(absl::string_view text) {
  std::vector<Diagnostic> diagnostics;
  TableParser parser(&diagnostics);
  parser.Parse(text);
  SortDiagnostics(&diagnostics);
  return diagnostics;
}

std::string PrintEntry(absl::string_view key, const PolicyEntry& e) {
  const PolicyEntry defaults;
  std::string out = absl::StrCat(key, " ", LevelName(e.level));
  if (e.min_version != defaults.min_version) {
    absl::StrAppend(&out, " min-protocol=", TlsVersionName(e.min_version));
  }
  if (e.max_version != defaults.max_version) {
    absl::StrAppend(&out, " max-protocol=", TlsVersionName(e.max_version));
  }
  if (!e.excluded_versions.empty()) {
    std::vector<absl::string_view> names;
    for (TlsVersion v : e.excluded_versions) names.push_back(TlsVersionName(v));
    absl::StrAppend(&out, " exclude-protocols=", absl::StrJoin(names, ":"));
  }
  if (e.min_grade != defaults.min_grade) {
    absl::StrAppend(&out, " ciphers=", CipherGradeName(e.min_grade));
  }
  if (!e.exclude.empty()) {
    absl::StrAppend(&out, " exclude=", absl::StrJoin(e.exclude, ":"));
  }
  if (!e.forward_secrecy) absl::StrAppend(&out, " forward-secrecy=no");
  if (!e.match.empty()) {
    absl::StrAppend(&out, " match=", absl::StrJoin(e.match, ":"));
  }
  if (!e.sni.empty()) absl::StrAppend(&out, " sni=", e.sni);
  for (const std::string& ta : e.trust_anchors) {
    absl::StrAppend(&out, " trust-anchor=", Quote(ta));
  }
  for (const std::string& pin : e.cert_pins) {
    absl::StrAppend(&out, " cert-pin=", pin);
  }
  for (const std::string& pin : e.spki_pins) {
    absl::StrAppend(&out, " spki-pin=", pin);
  }
  for (const IssuerSubjectPin& pin : e.issuer_subject_pins) {
    absl::StrAppend(&out, " cert-name=", Quote(IssuerSubjectPinText(pin)));
  }
  if (!e.mta_sts) absl::StrAppend(&out, " mta-sts=no");
  if (e.testing) absl::StrAppend(&out, " testing");
  if (e.floor != defaults.floor) {
    absl::StrAppend(&out, " floor=", LevelName(e.floor));
  }
  return out;
}

std::string PrintPolicyTable(const PolicyTable& table) {
  std::string out;
  if (table.has_default()) {
    absl::StrAppend(&out, PrintEntry("*", table.default_entry()), "\n");
  }
  std::vector<PolicyTable::Match> sorted = table.Entries();
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.key < b.key; });
  for (const PolicyTable::Match& m : sorted) {
    absl::StrAppend(&out, PrintEntry(m.key, *m.entry), "\n");
  }
  return out;
}

}  // namespace starling::policy
