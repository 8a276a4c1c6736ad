#ifndef STARLING_CORE_TLS_POLICY_BRIDGE_H_
#define STARLING_CORE_TLS_POLICY_BRIDGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "botan/tls_policy.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::tls {

// Whether a server asks for, or insists on, a client certificate
// (certificate-authenticated partners).
enum class ClientAuth : uint8_t {
  kNone,     // no CertificateRequest
  kRequest,  // ask; the chain and its verdict are reported, never enforced
  kRequire,  // a certificate that validates against the trust store, or fail
};

// What core/policy asks of one TLS session, in plain data. Names are Botan's
// algorithm names ("AES-256/GCM", "SHA-256", "ECDSA", "x25519"...).
struct ChannelPolicy {
  // TLS 1.2 only unless a policy (or a simulated old partner) asks for less.
  // kTls13 as the maximum means "the best available", i.e. TLS 1.2 here.
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls12;

  // Only ECDHE/DHE key exchange. When false, static RSA key exchange is
  // allowed too (for partners that offer nothing else).
  bool forward_secrecy_only = true;
  // Key exchanges in preference order; Botan's non-standard CECPQ1 is never
  // allowed. Subset of {"ECDH", "DH", "RSA"}; "RSA" needs
  // forward_secrecy_only = false.
  std::vector<std::string> key_exchanges = {"ECDH", "DH"};

  // Ciphers in preference order. Empty: AEAD ciphers, plus AES-CBC when
  // min_version is below TLS 1.2 (the only ciphers TLS 1.0/1.1 have).
  std::vector<std::string> ciphers;
  // Removed from `ciphers` (or from the default list), e.g. "AES-128".
  std::vector<std::string> cipher_exclusions;
  // MACs for non-AEAD suites; TLS 1.0/1.1 suites use "SHA-1".
  std::vector<std::string> macs = {"AEAD", "SHA-256", "SHA-384", "SHA-1"};
  // TLS 1.2 signature algorithms (TLS 1.0/1.1 signatures are fixed).
  std::vector<std::string> signature_methods = {"ECDSA", "RSA"};
  std::vector<std::string> signature_hashes = {"SHA-512", "SHA-384",
                                               "SHA-256"};
  // Key exchange groups in preference order: "x25519", "secp256r1",
  // "secp384r1", "secp521r1", "brainpool256r1", "brainpool384r1",
  // "brainpool512r1", "ffdhe/ietf/2048" ... "ffdhe/ietf/8192".
  std::vector<std::string> groups = {"x25519",          "secp256r1",
                                     "secp384r1",       "secp521r1",
                                     "ffdhe/ietf/2048", "ffdhe/ietf/3072"};

  // Smallest peer keys the handshake accepts (Botan aborts with
  // insufficient_security below them).
  size_t min_rsa_bits = 2048;
  size_t min_ecdsa_bits = 256;
  size_t min_dh_bits = 2048;
  // Path validation: the weakest signature/key strength (in bits of
  // security) a chain may use before its verdict becomes kWeakKeyOrHash.
  // 110 accepts RSA-2048 and refuses RSA-1024 and SHA-1.
  size_t min_chain_strength = 110;

  // Server role only.
  ClientAuth client_auth = ClientAuth::kNone;
};

// What a destination's policy entry asks of the handshake beyond the
// defaults: a lower protocol floor (a legacy partner's connector), a lower
// ceiling, and, without forward secrecy, static RSA key exchange. Never
// raises the floor or the ceiling.
void AllowForDestination(TlsVersion min_version, TlsVersion max_version,
                         bool forward_secrecy, ChannelPolicy* policy);

// The name ChannelPolicy::groups uses for a TLS group id ("x25519"), or
// "group/<id>" for one it does not know.
std::string GroupName(uint16_t id);

// A Botan policy that says exactly what a ChannelPolicy says, and never what
// breaks determinism: no time in the hello random, no session tickets, no
// revocation requirement (revocation is reported, see facts.h).
class BridgedPolicy final : public Botan::TLS::Policy {
 public:
  // Fails with kInvalidArgument when the policy names an unknown group, an
  // empty cipher list, an impossible version range, or RSA key exchange
  // together with forward_secrecy_only.
  static absl::StatusOr<BridgedPolicy> Create(const ChannelPolicy& policy);

  const ChannelPolicy& channel_policy() const { return policy_; }
  // The highest version allowed, which a client offers.
  Botan::TLS::Protocol_Version max_version() const;

  std::vector<std::string> allowed_ciphers() const override;
  std::vector<std::string> allowed_signature_hashes() const override;
  std::vector<std::string> allowed_macs() const override;
  std::vector<std::string> allowed_key_exchange_methods() const override;
  std::vector<std::string> allowed_signature_methods() const override;
  std::vector<Botan::TLS::Group_Params> key_exchange_groups() const override;
  Botan::TLS::Group_Params default_dh_group() const override;
  size_t minimum_rsa_bits() const override;
  size_t minimum_ecdsa_group_size() const override;
  size_t minimum_dh_group_size() const override;
  size_t minimum_signature_strength() const override;
  bool require_cert_revocation_info() const override { return false; }
  bool include_time_in_hello_random() const override { return false; }
  uint32_t session_ticket_lifetime() const override { return 0; }
  bool allow_tls10() const override;
  bool allow_tls11() const override;
  bool allow_tls12() const override;
  bool allow_dtls10() const override { return false; }
  bool allow_dtls12() const override { return false; }
  Botan::TLS::Protocol_Version latest_supported_version(
      bool datagram) const override;
  bool require_client_certificate_authentication() const override;
  bool request_client_certificate_authentication() const override;

 private:
  BridgedPolicy(ChannelPolicy policy, std::vector<std::string> ciphers,
                std::vector<Botan::TLS::Group_Params> groups);
  bool Allows(TlsVersion version) const;

  ChannelPolicy policy_;
  std::vector<std::string> ciphers_;
  std::vector<Botan::TLS::Group_Params> groups_;
};

}  // namespace starling::tls

#endif  // STARLING_CORE_TLS_POLICY_BRIDGE_H_
