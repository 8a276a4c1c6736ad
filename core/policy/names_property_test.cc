// Name matching against small reference models written from the RFC text.
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/policy/names.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace starling::policy {
namespace {

// Labels from a small alphabet so that matches happen often; some upper-case,
// some "*", some partial wildcards, some A-labels.
rc::Gen<std::string> Label() {
  return rc::gen::weightedOneOf<std::string>(
      {{6, rc::gen::element<std::string>("a", "b", "mx", "MX", "mail", "xn--bcher-kva")},
       {1, rc::gen::just<std::string>("*")},
       {1, rc::gen::element<std::string>("m*", "*x", "")}});
}

rc::Gen<std::vector<std::string>> Labels() {
  return rc::gen::resize(4, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(Label())));
}

// Lower-cased, with one trailing empty label (a root dot) dropped.
std::vector<std::string> Lower(const std::vector<std::string>& labels) {
  std::vector<std::string> out;
  for (const std::string& l : labels) out.push_back(absl::AsciiStrToLower(l));
  if (out.size() > 1 && out.back().empty()) out.pop_back();
  return out;
}

bool LabelOk(const std::string& l) {
  if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
  for (char c : l) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

bool NameOk(const std::vector<std::string>& labels) {
  for (const std::string& l : labels) {
    if (!LabelOk(l)) return false;
  }
  return true;
}

// RFC 6125 DNS-ID reference model, label by label.
bool ModelDnsId(std::vector<std::string> presented, std::vector<std::string> reference) {
  presented = Lower(presented);
  reference = Lower(reference);
  if (!NameOk(reference)) return false;
  if (presented.size() != reference.size()) return false;
  if (presented[0] == "*") {
    std::vector<std::string> rest(presented.begin() + 1, presented.end());
    if (rest.size() < 2 || !NameOk(rest)) return false;
    return std::equal(rest.begin(), rest.end(), reference.begin() + 1);
  }
  return NameOk(presented) && presented == reference;
}

// RFC 8461 MX pattern model.
bool ModelSts(std::vector<std::string> pattern, std::vector<std::string> host) {
  pattern = Lower(pattern);
  host = Lower(host);
  if (!NameOk(host)) return false;
  if (pattern[0] == "*") {
    std::vector<std::string> rest(pattern.begin() + 1, pattern.end());
    if (rest.empty() || !NameOk(rest) || host.size() != pattern.size()) return false;
    return std::equal(rest.begin(), rest.end(), host.begin() + 1);
  }
  return NameOk(pattern) && pattern == host;
}

RC_GTEST_PROP(NamesProperty, DnsIdMatchesModel, ()) {
  const auto presented = *Labels();
  const auto reference = *rc::gen::weightedOneOf<std::vector<std::string>>(
      {{1, Labels()},
       {2, rc::gen::apply(
               [presented](std::string first) {
                 std::vector<std::string> r = presented;
                 r[0] = first;
                 return r;
               },
               Label())}});
  RC_ASSERT(MatchDnsId(absl::StrJoin(presented, "."), absl::StrJoin(reference, ".")) ==
            ModelDnsId(presented, reference));
}

RC_GTEST_PROP(NamesProperty, StsMxMatchesModel, ()) {
  const auto pattern = *Labels();
  const auto host = *rc::gen::weightedOneOf<std::vector<std::string>>(
      {{1, Labels()},
       {2, rc::gen::apply(
               [pattern](std::string first) {
                 std::vector<std::string> h = pattern;
                 h[0] = first;
                 return h;
               },
               Label())}});
  RC_ASSERT(MatchStsMxPattern(absl::StrJoin(pattern, "."), absl::StrJoin(host, ".")) ==
            ModelSts(pattern, host));
}

}  // namespace
}  // namespace starling::policy
