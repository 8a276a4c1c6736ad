#include "core/tls/policy_bridge.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace starling::tls {
namespace {

using Botan::TLS::Group_Params;

// Botan 2.19 does not export group_param_from_string.
constexpr struct {
  const char* name;
  Group_Params group;
} kGroups[] = {
    {"x25519", Group_Params::X25519},
    {"secp256r1", Group_Params::SECP256R1},
    {"secp384r1", Group_Params::SECP384R1},
    {"secp521r1", Group_Params::SECP521R1},
    {"brainpool256r1", Group_Params::BRAINPOOL256R1},
    {"brainpool384r1", Group_Params::BRAINPOOL384R1},
    {"brainpool512r1", Group_Params::BRAINPOOL512R1},
    {"ffdhe/ietf/2048", Group_Params::FFDHE_2048},
    {"ffdhe/ietf/3072", Group_Params::FFDHE_3072},
    {"ffdhe/ietf/4096", Group_Params::FFDHE_4096},
    {"ffdhe/ietf/6144", Group_Params::FFDHE_6144},
    {"ffdhe/ietf/8192", Group_Params::FFDHE_8192},
};

std::optional<Group_Params> GroupFromName(const std::string& name) {
  for (const auto& entry : kGroups) {
    if (name == entry.name) return entry.group;
  }
  return std::nullopt;
}

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

void AllowForDestination(TlsVersion min_version, TlsVersion max_version,
                         bool forward_secrecy, ChannelPolicy* policy) {
  policy->min_version = std::min(policy->min_version, min_version);
  policy->max_version = std::min(policy->max_version, max_version);
  if (!forward_secrecy) {
    policy->forward_secrecy_only = false;
    policy->key_exchanges.push_back("RSA");
  }
}

std::string GroupName(uint16_t id) {
  for (const auto& entry : kGroups) {
    if (static_cast<uint16_t>(entry.group) == id) return entry.name;
  }
  return absl::StrCat("group/", id);
}

absl::StatusOr<BridgedPolicy> BridgedPolicy::Create(
    const ChannelPolicy& policy) {
  ChannelPolicy normalized = policy;
  if (normalized.max_version == TlsVersion::kTls13) {
    normalized.max_version = TlsVersion::kTls12;
  }
  if (normalized.min_version == TlsVersion::kUnknown ||
      normalized.max_version == TlsVersion::kUnknown ||
      normalized.min_version > normalized.max_version) {
    return absl::InvalidArgumentError(
        "tls policy: no protocol version in [min_version, max_version] that "
        "Botan 2 supports (TLS 1.0 to 1.2)");
  }

  for (const std::string& kex : normalized.key_exchanges) {
    if (kex != "ECDH" && kex != "DH" && kex != "RSA") {
      return absl::InvalidArgumentError(
          absl::StrCat("tls policy: unsupported key exchange '", kex, "'"));
    }
    if (kex == "RSA" && normalized.forward_secrecy_only) {
      return absl::InvalidArgumentError(
          "tls policy: RSA key exchange contradicts forward_secrecy_only");
    }
  }
  if (normalized.key_exchanges.empty()) {
    return absl::InvalidArgumentError("tls policy: no key exchange allowed");
  }

  std::vector<std::string> ciphers = normalized.ciphers;
  if (ciphers.empty()) {
    ciphers = {"ChaCha20Poly1305", "AES-256/GCM", "AES-128/GCM"};
    if (normalized.min_version < TlsVersion::kTls12) {
      ciphers.push_back("AES-256");
      ciphers.push_back("AES-128");
    }
  }
  ciphers.erase(std::remove_if(ciphers.begin(), ciphers.end(),
                               [&](const std::string& cipher) {
                                 return Contains(normalized.cipher_exclusions,
                                                 cipher);
                               }),
                ciphers.end());
  if (ciphers.empty()) {
    return absl::InvalidArgumentError("tls policy: every cipher is excluded");
  }

  std::vector<Group_Params> groups;
  for (const std::string& name : normalized.groups) {
    std::optional<Group_Params> group = GroupFromName(name);
    if (!group) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls policy: unknown key exchange group '", name, "'"));
    }
    groups.push_back(*group);
  }
  if (groups.empty()) {
    return absl::InvalidArgumentError("tls policy: no key exchange group");
  }
  return BridgedPolicy(std::move(normalized), std::move(ciphers),
                       std::move(groups));
}

BridgedPolicy::BridgedPolicy(ChannelPolicy policy,
                             std::vector<std::string> ciphers,
                             std::vector<Group_Params> groups)
    : policy_(std::move(policy)),
      ciphers_(std::move(ciphers)),
      groups_(std::move(groups)) {}

Botan::TLS::Protocol_Version BridgedPolicy::max_version() const {
  switch (policy_.max_version) {
    case TlsVersion::kTls10:
      return Botan::TLS::Protocol_Version::TLS_V10;
    case TlsVersion::kTls11:
      return Botan::TLS::Protocol_Version::TLS_V11;
    default:
      return Botan::TLS::Protocol_Version::TLS_V12;
  }
}

bool BridgedPolicy::Allows(TlsVersion version) const {
  return policy_.min_version <= version && version <= policy_.max_version;
}

std::vector<std::string> BridgedPolicy::allowed_ciphers() const {
  return ciphers_;
}

std::vector<std::string> BridgedPolicy::allowed_signature_hashes() const {
  return policy_.signature_hashes;
}

std::vector<std::string> BridgedPolicy::allowed_macs() const {
  return policy_.macs;
}

std::vector<std::string> BridgedPolicy::allowed_key_exchange_methods() const {
  return policy_.key_exchanges;
}

std::vector<std::string> BridgedPolicy::allowed_signature_methods() const {
  std::vector<std::string> methods = policy_.signature_methods;
  // Static RSA suites authenticate implicitly (no signature at all).
  if (Contains(policy_.key_exchanges, "RSA")) methods.push_back("IMPLICIT");
  return methods;
}

std::vector<Group_Params> BridgedPolicy::key_exchange_groups() const {
  return groups_;
}

Group_Params BridgedPolicy::default_dh_group() const {
  // Used when a DHE client names no FFDHE group: the first one we allow.
  for (Group_Params group : groups_) {
    if (static_cast<uint16_t>(group) >=
        static_cast<uint16_t>(Group_Params::FFDHE_2048)) {
      return group;
    }
  }
  return Group_Params::FFDHE_2048;
}

size_t BridgedPolicy::minimum_rsa_bits() const { return policy_.min_rsa_bits; }

size_t BridgedPolicy::minimum_ecdsa_group_size() const {
  return policy_.min_ecdsa_bits;
}

size_t BridgedPolicy::minimum_dh_group_size() const {
  return policy_.min_dh_bits;
}

size_t BridgedPolicy::minimum_signature_strength() const {
  return policy_.min_chain_strength;
}

bool BridgedPolicy::allow_tls10() const { return Allows(TlsVersion::kTls10); }
bool BridgedPolicy::allow_tls11() const { return Allows(TlsVersion::kTls11); }
bool BridgedPolicy::allow_tls12() const { return Allows(TlsVersion::kTls12); }

Botan::TLS::Protocol_Version BridgedPolicy::latest_supported_version(
    bool /*datagram*/) const {
  return max_version();
}

bool BridgedPolicy::require_client_certificate_authentication() const {
  return policy_.client_auth == ClientAuth::kRequire;
}

bool BridgedPolicy::request_client_certificate_authentication() const {
  return policy_.client_auth != ClientAuth::kNone;
}

}  // namespace starling::tls
