// Tables survive Print -> Parse unchanged, and lookups agree with a linear
// reference search.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/policy/table.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace starling::policy {
namespace {

rc::Gen<std::string> Domain() {
  return rc::gen::apply(
      [](std::vector<std::string> labels) { return absl::StrJoin(labels, "."); },
      rc::gen::resize(3, rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(
                             rc::gen::element<std::string>("a", "b", "mx", "example", "xn--p1ai")))));
}

rc::Gen<std::string> Hex64() {
  return rc::gen::container<std::string>(64, rc::gen::element('0', '7', 'a', 'f'));
}

rc::Gen<PolicyEntry> Entry() {
  return rc::gen::exec([] {
    PolicyEntry e;
    e.level = *rc::gen::elementOf(std::vector<Level>(std::begin(kAllLevels), std::end(kAllLevels)));
    e.min_version = *rc::gen::element(TlsVersion::kTls10, TlsVersion::kTls11,
                                      TlsVersion::kTls12, TlsVersion::kTls13);
    e.min_grade = *rc::gen::element(CipherGrade::kLow, CipherGrade::kMedium, CipherGrade::kHigh);
    e.exclude = *rc::gen::resize(3, rc::gen::container<std::vector<std::string>>(
                                        rc::gen::element<std::string>("RC4", "3DES", "SHA1")));
    e.forward_secrecy = *rc::gen::arbitrary<bool>();
    e.match = *rc::gen::resize(3, rc::gen::container<std::vector<std::string>>(rc::gen::oneOf(
                                      rc::gen::element<std::string>("hostname", "nexthop", "dot-nexthop"),
                                      Domain(),
                                      rc::gen::map(Domain(), [](std::string d) { return "." + d; }))));
    e.sni = *rc::gen::oneOf(rc::gen::element<std::string>("", "hostname", "nexthop", "none"), Domain());
    e.trust_anchors = *rc::gen::resize(2, rc::gen::container<std::vector<std::string>>(
                                              rc::gen::element<std::string>("CN=Root, O=\"X\"", "CN=a#b\\c")));
    e.cert_pins = *rc::gen::resize(2, rc::gen::container<std::vector<std::string>>(Hex64()));
    if (e.level == Level::kFingerprint && e.cert_pins.empty()) e.cert_pins.push_back(*Hex64());
    e.spki_pins = *rc::gen::resize(2, rc::gen::container<std::vector<std::string>>(Hex64()));
    e.issuer_subject_pins = *rc::gen::resize(2, rc::gen::container<std::vector<IssuerSubjectPin>>(
                                                   rc::gen::just(IssuerSubjectPin{"CN=Issuer, O=\"Q\"", "CN=mx"})));
    e.mta_sts = *rc::gen::arbitrary<bool>();
    e.testing = *rc::gen::arbitrary<bool>();
    std::vector<Level> weaker;
    for (Level l : kAllLevels) {
      if (AtLeastAsStrict(e.level, l)) weaker.push_back(l);
    }
    e.floor = *rc::gen::elementOf(weaker);
    return e;
  });
}

RC_GTEST_PROP(TableProperty, PrintParseRoundTrip, ()) {
  PolicyTable table;
  const auto keys = *rc::gen::resize(8, rc::gen::container<std::vector<std::string>>(
                                            rc::gen::oneOf(Domain(), rc::gen::map(Domain(), [](std::string d) {
                                                             return "." + d;
                                                           }), rc::gen::just<std::string>("*"))));
  for (const std::string& key : keys) {
    (void)table.Add(key, *Entry());  // duplicates are refused, which is fine
  }
  const std::string printed = PrintPolicyTable(table);
  absl::StatusOr<PolicyTable> parsed = ParsePolicyTable(printed);
  RC_ASSERT(parsed.ok());
  RC_ASSERT(parsed->SameRules(table));
  RC_ASSERT(PrintPolicyTable(*parsed) == printed);
}

RC_GTEST_PROP(TableProperty, LookupMatchesLinearModel, ()) {
  PolicyTable table;
  std::vector<std::string> keys;
  for (const std::string& key : *rc::gen::resize(10, rc::gen::container<std::vector<std::string>>(
                                     rc::gen::oneOf(Domain(), rc::gen::map(Domain(), [](std::string d) {
                                                      return "." + d;
                                                    }))))) {
    PolicyEntry e;
    e.line = static_cast<int>(keys.size()) + 1;
    if (table.Add(key, e).ok()) keys.push_back(key);
  }
  const std::string domain = *Domain();
  // Model: exact key, else the longest ".suffix" key that is a proper suffix.
  std::string expected = "*";
  for (const std::string& k : keys) {
    if (k == domain) expected = k;
  }
  if (expected == "*") {
    for (const std::string& k : keys) {
      if (k[0] == '.' && domain.size() > k.size() &&
          domain.compare(domain.size() - k.size(), k.size(), k) == 0 &&
          (expected == "*" || k.size() > expected.size())) {
        expected = k;
      }
    }
  }
  RC_ASSERT(std::string(table.Find(domain).key) == expected);
}

}  // namespace
}  // namespace starling::policy
