#include "core/policy/policy_entry.h"

#include <tuple>

namespace starling::policy {

bool PolicyEntry::SameRule(const PolicyEntry& o) const {
  auto tie = [](const PolicyEntry& e) {
    return std::tie(e.level, e.min_version, e.max_version,
                    e.excluded_versions, e.min_grade, e.exclude,
                    e.forward_secrecy, e.match, e.sni, e.trust_anchors,
                    e.cert_pins, e.spki_pins, e.issuer_subject_pins,
                    e.testing, e.floor, e.mta_sts);
  };
  return tie(*this) == tie(o);
}

absl::string_view PinDigestName(absl::string_view hex_pin) {
  switch (hex_pin.size()) {
    case 32: return "MD5";
    case 40: return "SHA-1";
    case 64: return "SHA-256";
    case 128: return "SHA-512";
    default: return "?";
  }
}

}  // namespace starling::policy
