#ifndef STARLING_CORE_POLICY_TABLE_H_
#define STARLING_CORE_POLICY_TABLE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/policy/large_array.h"
#include "core/policy/policy_entry.h"

namespace starling::policy {

// One finding of the table parser, linter or Postfix importer.
struct Diagnostic {
  enum class Severity : uint8_t { kError, kWarning };
  int line = 0;
  Severity severity = Severity::kError;
  std::string message;
  // "line 12: error: unknown attribute 'protocls'" (no "line" part for
  // line 0: a finding about the whole input)
  std::string ToString() const;
};

// Destination -> policy. Keys are "example.com" (that domain), ".example.com"
// (every domain below it, not example.com itself), "[host]" / "[host]:port"
// (a next-hop, as Postfix's relayhost or transport names it: it matches
// only mail routed through exactly that next-hop) and "*" (the default,
// `may` unless the table says otherwise). Lookup tries the exact key, then
// (for a domain) the parent entries from the nearest up, then the default:
// one hash probe per label.
//
// Entries with the same rule share one PolicyEntry (a large table has a
// handful of distinct rules): a key keeps its line and the rule's index,
// so a million keys cost tens of megabytes, not a PolicyEntry each. The
// line of a match is therefore in Match::line, not in entry->line.
class PolicyTable {
 public:
  struct Match {
    const PolicyEntry* entry;  // never null; its `line` is not the key's
    absl::string_view key;     // "*" for the default; valid until the table changes
    int line = 0;              // where the key was defined (0: built in)
  };

  PolicyTable();
  // The indexes refer to the key text by offset: a copy rebuilds them over
  // its own copy of the text.
  PolicyTable(const PolicyTable& other);
  PolicyTable& operator=(const PolicyTable& other);
  // A moved-from table is an empty table (each index keeps the text it
  // refers to: the two tables swap both).
  PolicyTable(PolicyTable&& other);
  PolicyTable& operator=(PolicyTable&& other);

  // Adds an entry defined on `entry.line`; `key` must be "*", a DNS name or
  // "." + a DNS name (case-insensitive, a trailing dot ignored). Fails on a
  // bad or duplicate key.
  absl::Status Add(absl::string_view key, PolicyEntry entry);

  // The bulk path (the text parser's): a rule stored once, then keys that
  // name it, gathered into one text. AddKeys inserts in the order the index
  // lays keys out (by hash), so each region of a large index is written
  // while it is in cache; it returns an error per key already present (the
  // key on the later line is the duplicate).
  struct KeyBatch {
    struct Key {
      uint32_t offset;  // into text
      uint32_t size;
      uint32_t rule;  // from InternRule
      int line;
      uint64_t rank;  // AddKeys' own: the order it inserts in
    };
    // The keys, NormalizeTableKey's form, not "*".
    std::basic_string<char, std::char_traits<char>, LargeArrayAllocator<char>>
        text;
    std::vector<Key, LargeArrayAllocator<Key>> keys;
    void Add(absl::string_view key, uint32_t rule, int line);
  };
  uint32_t InternRule(PolicyEntry entry);
  std::vector<Diagnostic> AddKeys(KeyBatch batch);

  Match Find(absl::string_view domain) const;
  const PolicyEntry& Lookup(absl::string_view domain) const {
    return *Find(domain).entry;
  }

  const PolicyEntry& default_entry() const { return default_; }
  bool has_default() const { return has_default_; }
  // Keys other than the default, in no particular order, each with its
  // rule and line.
  std::vector<Match> Entries() const;
  size_t size() const {
    return names_.size() + parents_.size() + (has_default_ ? 1 : 0);
  }
  // Room for `n` keys without growing (parent keys grow as they come: they
  // are usually few, and a small index stays in cache).
  void Reserve(size_t n);

  // Same keys with the same rules (line numbers aside).
  bool SameRules(const PolicyTable& other) const;

  // Names the file the table text came from, so that traces can say
  // "file:line": the text started after line `line_offset` of `name`, and
  // every entry's line is moved by that much.
  void SetOrigin(std::string name, int line_offset);
  const std::string& origin() const { return origin_; }
  // Where a key of this table was defined (Match::line, or
  // default_entry().line): "file:line" with an origin, else "line N";
  // "built in" for line 0 (the implicit default).
  std::string Where(int line) const;

 private:
  // A key in the index: up to 15 octets inline (the size in the last
  // octet), a longer one as {offset, size} into keys_ (last octet kLong).
  // 16 octets instead of a std::string's 32 and its own allocation.
  struct KeyRef {
    static constexpr uint8_t kLong = 0xff;
    static constexpr size_t kInline = 15;
    char bytes[16];
  };
  // A KeyRef for `key`, appending it to *text when it does not fit inline.
  static KeyRef MakeKey(absl::string_view key, std::string* text);
  struct Slot {
    uint32_t rule;  // index into rules_
    int line;
  };
  // Hash and equality over KeyRefs and plain names alike (lookups pass
  // names).
  struct KeyHash {
    using is_transparent = void;
    const std::string* text;
    size_t operator()(const KeyRef& k) const { return (*this)(View(*text, k)); }
    size_t operator()(absl::string_view k) const {
      return absl::Hash<absl::string_view>()(k);
    }
  };
  struct KeyEq {
    using is_transparent = void;
    const std::string* text;
    bool operator()(const KeyRef& a, const KeyRef& b) const {
      return View(*text, a) == View(*text, b);
    }
    bool operator()(const KeyRef& a, absl::string_view b) const {
      return View(*text, a) == b;
    }
    bool operator()(absl::string_view a, const KeyRef& b) const {
      return a == View(*text, b);
    }
  };
  // The key's text: inside `k` itself when inline.
  static absl::string_view View(const std::string& text, const KeyRef& k);
  absl::string_view KeyOf(const KeyRef& k) const { return View(*keys_, k); }
  Match MatchOf(const std::pair<const KeyRef, Slot>& kv) const {
    return {&rules_[kv.second.rule], KeyOf(kv.first), kv.second.line};
  }

  using Index =
      absl::flat_hash_map<KeyRef, Slot, KeyHash, KeyEq,
                          LargeArrayAllocator<std::pair<const KeyRef, Slot>>>;
  Index NewIndex() const {
    return Index(0, KeyHash{keys_.get()}, KeyEq{keys_.get()});
  }
  static bool IsParentKey(absl::string_view key) {
    return !key.empty() && key[0] == '.';
  }
  // "duplicate destination 'KEY' (first on line N)".
  static std::string DuplicateKey(absl::string_view key, int first_line);
  // ".parent" keys apart from the others: a lookup that misses its name
  // probes parents only, in an index that is usually much smaller.
  Index& IndexFor(absl::string_view key) {
    return IsParentKey(key) ? parents_ : names_;
  }
  const Index& IndexFor(absl::string_view key) const {
    return IsParentKey(key) ? parents_ : names_;
  }

  // The text of keys too long to be inline, back to back (on the heap:
  // moving the table keeps the indexes' pointer to it valid).
  std::unique_ptr<std::string> keys_;
  Index names_;    // names and [next-hop] keys
  Index parents_;  // ".parent" keys
  std::deque<PolicyEntry> rules_;  // distinct rules, line 0
  // Rule hash -> the first rule with that hash (a collision only costs a
  // rule that is not shared).
  absl::flat_hash_map<uint64_t, uint32_t> rule_by_hash_;
  PolicyEntry default_;
  bool has_default_ = false;
  std::string origin_;
};

// Parses the table text format (docs/policy.md has the grammar). Fails with
// the first error, e.g. "line 12: unknown attribute 'protocls'".
absl::StatusOr<PolicyTable> ParsePolicyTable(absl::string_view text);

// Every error and warning of `text`, in line order.
std::vector<Diagnostic> LintPolicyTable(absl::string_view text);

// Warnings about one entry that parses (used by the linter and the Postfix
// importer).
void LintEntry(const PolicyEntry& entry, std::vector<Diagnostic>* out);

// The canonical text of a table: default first, then keys in order, one line
// each; ParsePolicyTable(PrintPolicyTable(t)) has t's rules.
std::string PrintPolicyTable(const PolicyTable& table);
std::string PrintEntry(absl::string_view key, const PolicyEntry& entry);

// Shared by the parsers: normalises a table key ("*", "name", ".name",
// "[host]", "[host]:port").
absl::StatusOr<std::string> NormalizeTableKey(absl::string_view key);
// "AB:cd:..." (the hex of an MD5, SHA-1, SHA-256 or SHA-512 digest, colons
// allowed) -> lower-case hex.
absl::StatusOr<std::string> NormalizePin(absl::string_view text);
// "<I>issuer<S>subject".
absl::StatusOr<IssuerSubjectPin> ParseIssuerSubjectPin(absl::string_view text);
std::string IssuerSubjectPinText(const IssuerSubjectPin& pin);
// min-protocol <= max-protocol and some version left after the exclusions.
absl::Status CheckProtocols(const PolicyEntry& entry);
// A match pattern: hostname, nexthop, dot-nexthop, a DNS name, ".name".
absl::StatusOr<std::string> NormalizeMatchPattern(absl::string_view text);

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_TABLE_H_
