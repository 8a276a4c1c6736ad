#include "core/policy/policy_entry.h"

#include <tuple>

namespace starling::policy {

bool PolicyEntry::SameRule(const PolicyEntry& o) const {
  auto tie = [](const PolicyEntry& e) {
    return std::tie(e.level, e.min_version, e.min_grade, e.exclude,
                    e.forward_secrecy, e.match, e.sni, e.trust_anchors,
                    e.cert_pins, e.spki_pins, e.issuer_subject_pins,
                    e.testing, e.floor, e.mta_sts);
  };
  return tie(*this) == tie(o);
}

}  // namespace starling::policy
