#ifndef STARLING_CORE_SMTP_TRANSITION_TABLE_H_
#define STARLING_CORE_SMTP_TRANSITION_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

// What the server's and the client's transition tables share: a dense lookup
// built at compile time from the rows, and the Graphviz rendering that
// docs/smtp-*.dot are generated from. `Row` has `from`, `input` and `to`.
namespace starling::smtp::internal {

template <typename Row, int kStates, int kInputs>
class TransitionLookup {
 public:
  using State = decltype(Row::from);
  using Input = decltype(Row::input);

  template <size_t N>
  constexpr explicit TransitionLookup(const Row (&rows)[N]) : next_() {
    for (auto& row : next_) {
      for (auto& cell : row) cell = kNone;
    }
    for (const Row& t : rows) {
      next_[static_cast<int>(t.from)][static_cast<int>(t.input)] =
          static_cast<uint8_t>(t.to);
    }
  }

  std::optional<State> Next(State from, Input input) const {
    const uint8_t next = next_[static_cast<int>(from)][static_cast<int>(input)];
    if (next == kNone) return std::nullopt;
    return static_cast<State>(next);
  }

 private:
  static constexpr uint8_t kNone = 0xff;
  uint8_t next_[kStates][kInputs];
};

// A table in which (from, input) may allow several targets (the session
// picks one by its data): a bit per allowed target, built at compile time.
template <typename Row, int kStates, int kInputs>
class TransitionRelation {
 public:
  using State = decltype(Row::from);
  using Input = decltype(Row::input);
  static_assert(kStates <= 32, "one bit per state");

  template <size_t N>
  constexpr explicit TransitionRelation(const Row (&rows)[N]) : allowed_() {
    for (auto& row : allowed_) {
      for (auto& cell : row) cell = 0;
    }
    for (const Row& t : rows) {
      allowed_[static_cast<int>(t.from)][static_cast<int>(t.input)] |=
          uint32_t{1} << static_cast<int>(t.to);
    }
  }

  bool Any(State from, Input input) const {
    return allowed_[static_cast<int>(from)][static_cast<int>(input)] != 0;
  }

  bool Allows(State from, Input input, State to) const {
    return (allowed_[static_cast<int>(from)][static_cast<int>(input)] >>
            static_cast<int>(to)) & 1;
  }

 private:
  uint32_t allowed_[kStates][kInputs];
};

// One edge per (from, to) pair labelled with all its inputs; the `shared`
// input that every open state has (closing) is drawn once, as `note`.
// States whose name ends in "Pending" (waiting for the embedder) are dashed.
template <typename Row, typename StateName, typename InputName>
std::string TransitionsDot(absl::Span<const Row> rows, int state_count,
                           absl::string_view graph, absl::string_view command,
                           decltype(Row::input) shared, absl::string_view note,
                           StateName state_name, InputName input_name) {
  using State = decltype(Row::from);
  std::map<std::pair<int, int>, std::vector<absl::string_view>> edges;
  for (const Row& t : rows) {
    if (t.input == shared) continue;
    edges[{static_cast<int>(t.from), static_cast<int>(t.to)}].push_back(
        input_name(t.input));
  }
  std::string dot = absl::StrCat(
      "// Generated from the transition table by\n// `", command,
      "`. Do not edit.\ndigraph ", graph,
      " {\n  rankdir=LR;\n"
      "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
      "  edge [fontname=\"Helvetica\", fontsize=10];\n"
      "  note [shape=note, label=\"",
      note, "\"];\n");
  for (int s = 0; s < state_count; ++s) {
    const absl::string_view name = state_name(static_cast<State>(s));
    absl::StrAppend(&dot, "  ", name,
                    absl::EndsWith(name, "Pending") ? " [style=\"rounded,dashed\"]"
                                                    : "",
                    ";\n");
  }
  for (const auto& [key, labels] : edges) {
    absl::StrAppend(&dot, "  ", state_name(static_cast<State>(key.first)),
                    " -> ", state_name(static_cast<State>(key.second)),
                    " [label=\"", absl::StrJoin(labels, ", "), "\"];\n");
  }
  dot += "}\n";
  return dot;
}

}  // namespace starling::smtp::internal

#endif  // STARLING_CORE_SMTP_TRANSITION_TABLE_H_
