#include "core/policy/json/facts_json.h"

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/policy/level.h"
#include "nlohmann/json.hpp"

namespace starling::policy {
namespace {

using Json = nlohmann::json;

absl::Status Bad(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("facts: ", field, ": ", why));
}

absl::Status GetString(const Json& v, absl::string_view field, std::string* out) {
  if (!v.is_string()) return Bad(field, "expected a string");
  *out = v.get<std::string>();
  return absl::OkStatus();
}

absl::Status GetHex(const Json& v, absl::string_view field, std::string* out) {
  std::string hex;
  if (absl::Status s = GetString(v, field, &hex); !s.ok()) return s;
  if (hex.size() % 2 != 0) return Bad(field, "odd number of hex digits");
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return Bad(field, "not hex");
    }
  }
  *out = absl::HexStringToBytes(hex);
  return absl::OkStatus();
}

absl::Status GetTime(const Json& v, absl::string_view field, absl::Time* out) {
  std::string text;
  if (absl::Status s = GetString(v, field, &text); !s.ok()) return s;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, out, &error)) {
    return Bad(field, absl::StrCat("not an RFC 3339 time: ", error));
  }
  return absl::OkStatus();
}

constexpr std::pair<const char*, ChainVerdict> kVerdicts[] = {
    {"not-checked", ChainVerdict::kNotChecked},
    {"trusted", ChainVerdict::kTrusted},
    {"expired", ChainVerdict::kExpired},
    {"not-yet-valid", ChainVerdict::kNotYetValid},
    {"untrusted-root", ChainVerdict::kUntrustedRoot},
    {"self-signed", ChainVerdict::kSelfSigned},
    {"bad-signature", ChainVerdict::kBadSignature},
    {"revoked", ChainVerdict::kRevoked},
    {"incomplete-chain", ChainVerdict::kIncompleteChain},
    {"weak-key-or-hash", ChainVerdict::kWeakKeyOrHash},
    {"other-failure", ChainVerdict::kOtherFailure},
};

absl::Status ParseCertificate(const Json& j, CertificateFacts* cert) {
  if (!j.is_object()) return Bad("peer_chain", "expected objects");
  for (const auto& [key, v] : j.items()) {
    absl::Status s;
    if (key == "subject_dn") {
      s = GetString(v, key, &cert->subject_dn);
    } else if (key == "issuer_dn") {
      s = GetString(v, key, &cert->issuer_dn);
    } else if (key == "common_name") {
      s = GetString(v, key, &cert->common_name);
    } else if (key == "dns_names") {
      if (!v.is_array()) return Bad(key, "expected an array of strings");
      for (const Json& name : v) {
        std::string n;
        if (s = GetString(name, key, &n); !s.ok()) return s;
        cert->dns_names.push_back(std::move(n));
      }
    } else if (key == "not_before") {
      s = GetTime(v, key, &cert->not_before);
    } else if (key == "not_after") {
      s = GetTime(v, key, &cert->not_after);
    } else if (key == "key_type") {
      s = GetString(v, key, &cert->key_type);
    } else if (key == "key_bits") {
      if (!v.is_number_integer()) return Bad(key, "expected an integer");
      cert->key_bits = v.get<int>();
    } else if (key == "signature_algorithm") {
      s = GetString(v, key, &cert->signature_algorithm);
    } else if (key == "der_hex") {
      s = GetHex(v, key, &cert->der);
    } else if (key == "spki_der_hex") {
      s = GetHex(v, key, &cert->spki_der);
    } else if (key == "sha256_hex") {
      s = GetHex(v, key, &cert->sha256);
    } else if (key == "spki_sha256_hex") {
      s = GetHex(v, key, &cert->spki_sha256);
    } else if (key == "sha512_hex") {
      s = GetHex(v, key, &cert->sha512);
    } else if (key == "spki_sha512_hex") {
      s = GetHex(v, key, &cert->spki_sha512);
    } else if (key == "sha1_hex") {
      s = GetHex(v, key, &cert->sha1);
    } else if (key == "spki_sha1_hex") {
      s = GetHex(v, key, &cert->spki_sha1);
    } else if (key == "md5_hex") {
      s = GetHex(v, key, &cert->md5);
    } else if (key == "spki_md5_hex") {
      s = GetHex(v, key, &cert->spki_md5);
    } else {
      return Bad(key, "unknown field");
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Required fields that `j` lacks, prefixed with `where`.
void Missing(const Json& j, std::initializer_list<const char*> fields,
             absl::string_view where, std::vector<std::string>* missing) {
  for (const char* field : fields) {
    if (!j.contains(field)) missing->push_back(absl::StrCat(where, field));
  }
}

}  // namespace

absl::StatusOr<TlsFacts> TlsFactsFromJson(absl::string_view text) {
  const Json j = Json::parse(text.begin(), text.end(), nullptr,
                             /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("facts: not JSON");
  if (!j.is_object()) return Bad("facts", "expected an object");
  TlsFacts facts;
  // Unknown fields and bad values first (they name one field), then every
  // required field that is missing, at once.
  for (const auto& [key, v] : j.items()) {
    absl::Status s;
    if (key == "version") {
      std::string name;
      if (s = GetString(v, key, &name); !s.ok()) return s;
      std::optional<TlsVersion> version = ParseTlsVersion(name);
      if (!version.has_value()) return Bad(key, "expected TLSv1 .. TLSv1.3");
      facts.version = *version;
    } else if (key == "cipher_suite") {
      s = GetString(v, key, &facts.cipher_suite);
    } else if (key == "key_exchange_group") {
      s = GetString(v, key, &facts.key_exchange_group);
    } else if (key == "forward_secret") {
      if (!v.is_boolean()) return Bad(key, "expected true or false");
      facts.forward_secret = v.get<bool>();
    } else if (key == "sni") {
      s = GetString(v, key, &facts.sni);
    } else if (key == "chain_verdict") {
      std::string name;
      if (s = GetString(v, key, &name); !s.ok()) return s;
      bool found = false;
      for (const auto& [verdict_name, verdict] : kVerdicts) {
        if (name == verdict_name) {
          facts.chain_verdict = verdict;
          found = true;
        }
      }
      if (!found) return Bad(key, absl::StrCat("unknown verdict '", name, "'"));
    } else if (key == "trust_anchor_dn") {
      s = GetString(v, key, &facts.trust_anchor_dn);
    } else if (key == "chain_detail") {
      s = GetString(v, key, &facts.chain_detail);
    } else if (key == "peer_chain") {
      if (!v.is_array()) return Bad(key, "expected an array");
      for (const Json& c : v) {
        CertificateFacts cert;
        if (s = ParseCertificate(c, &cert); !s.ok()) return s;
        facts.peer_chain.push_back(std::move(cert));
      }
    } else {
      return Bad(key, "unknown field");
    }
    if (!s.ok()) return s;
  }
  std::vector<std::string> missing;
  Missing(j, {"version", "cipher_suite", "forward_secret", "chain_verdict",
              "peer_chain"},
          "", &missing);
  if (facts.chain_verdict == ChainVerdict::kTrusted) {
    Missing(j, {"trust_anchor_dn"}, "", &missing);
  }
  if (j.contains("peer_chain")) {
    const Json& chain = j["peer_chain"];
    for (size_t i = 0; i < chain.size(); ++i) {
      const std::string where = absl::StrCat("peer_chain[", i, "].");
      Missing(chain[i],
              {"subject_dn", "issuer_dn", "dns_names", "not_before",
               "not_after"},
              where, &missing);
      // Pins and DANE compare digests: the DER, or its SHA-256 at least.
      if (!chain[i].contains("der_hex") && !chain[i].contains("sha256_hex")) {
        missing.push_back(absl::StrCat(where, "der_hex (or sha256_hex)"));
      }
    }
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "facts: missing required field", missing.size() > 1 ? "s" : "", ": ",
        absl::StrJoin(missing, ", "), " (docs/admin-guide.md, \"Facts "
        "JSON\")"));
  }
  return facts;
}

}  // namespace starling::policy
