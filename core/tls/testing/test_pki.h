#ifndef STARLING_CORE_TLS_TESTING_TEST_PKI_H_
#define STARLING_CORE_TLS_TESTING_TEST_PKI_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "botan/x509_crl.h"
#include "botan/x509cert.h"
#include "core/tls/credentials.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::tls::testing {

// The certificates a test or simulated partner may present. Unless said
// otherwise a leaf is ECDSA P-256 + SHA-256, names the PKI's host name (CN
// and SAN), is valid from reference - 30 days to reference + 335 days, is
// issued by the intermediate CA (itself issued by the root) and is sent with
// that intermediate.
enum class CertKind : uint8_t {
  kGood,
  kGoodRsa,              // RSA-2048 key
  kExpired,              // reference - 400 days .. reference - 35 days
  kNotYetValid,          // reference + 30 days .. reference + 400 days
  kSelfSigned,           // its own issuer, sent alone
  kWrongName,            // names "mail.wrong.example" instead
  kWildcard,             // names "*.<parent of the host name>"
  kUntrustedIssuer,      // from a root outside the trust store (sent along)
  kRsa1024,              // RSA-1024 key
  kSha1Signed,           // signed ECDSA-with-SHA1 by the intermediate
  kRevoked,              // listed in the intermediate's CRL
  kMissingIntermediate,  // sent without its intermediate
  kRolloverOld,          // same host name, issued by the "old" root
  kRolloverNew,          // same host name, issued by the "new" root
  kClient,               // a client certificate for "client.<parent>"
};

inline constexpr size_t kCertKindCount = 15;
absl::string_view CertKindName(CertKind kind);
std::array<CertKind, kCertKindCount> AllCertKinds();

// What a client validating against trust_store() at the reference time
// should conclude about `kind` (names are not checked by the TLS layer).
ChainVerdict ExpectedVerdict(CertKind kind);

// The roots a trust store may hold: bits of the `anchors` of
// TestPki::TrustStoreOf.
enum AnchorBit : unsigned {
  kRootAnchor = 1,
  kOldRootAnchor = 2,
  kNewRootAnchor = 4,
  kUntrustedRootAnchor = 8,
};

// A deterministic PKI: the same seed and reference time give byte-identical
// certificates, keys and CRL. Keys are cached per (seed, role) in the
// process, so a new reference time costs certificates only. Thread-safe.
class TestPki {
 public:
  // The cached PKI for (seed, reference time, host name), generated on
  // first use.
  static std::shared_ptr<const TestPki> Get(
      uint64_t seed, absl::Time reference,
      absl::string_view host_name = "mx.example.net");
  // Always generates the certificates anew (keys still come from the key
  // cache). For measuring and for proving determinism.
  static std::unique_ptr<TestPki> Generate(uint64_t seed, absl::Time reference,
                                           absl::string_view host_name);
  // Empties the key cache (for measuring cold generation).
  static void ClearKeyCache();

  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // The chain the holder of `kind` sends, and its key.
  const std::shared_ptr<const Identity>& identity(CertKind kind) const {
    return identities_[static_cast<size_t>(kind)];
  }
  // Root, old root and new root as anchors; the intermediate's CRL.
  const std::shared_ptr<const TrustStore>& trust_store() const {
    return trust_;
  }
  // Anchors only, no CRL: revocation goes unnoticed.
  const std::shared_ptr<const TrustStore>& trust_store_without_crl() const {
    return trust_without_crl_;
  }
  // The roots named by `anchors` (AnchorBit values or'ed), with the CRL when
  // `crl`: built from the certificates on first use and kept, so a world
  // that runs per seed does not decode its trust store each time.
  std::shared_ptr<const TrustStore> TrustStoreOf(unsigned anchors,
                                                 bool crl) const;

  const std::string& host_name() const { return host_name_; }
  absl::Time reference() const { return reference_; }
  const std::string& root_der() const { return root_der_; }
  const std::string& intermediate_der() const { return intermediate_der_; }
  const std::string& untrusted_root_der() const { return untrusted_root_der_; }
  const std::string& old_root_der() const { return old_root_der_; }
  const std::string& new_root_der() const { return new_root_der_; }
  const std::string& crl_der() const { return crl_der_; }

 private:
  TestPki() = default;

  std::string host_name_;
  absl::Time reference_;
  std::array<std::shared_ptr<const Identity>, kCertKindCount> identities_;
  std::shared_ptr<const TrustStore> trust_;
  std::shared_ptr<const TrustStore> trust_without_crl_;
  // Root, old root, new root and untrusted root (AnchorBit order); the CRL.
  std::vector<Botan::X509_Certificate> roots_;
  Botan::X509_CRL crl_;
  mutable std::mutex stores_mutex_;
  // TrustStoreOf(anchors, crl) at [anchors * 2 + crl].
  mutable std::array<std::shared_ptr<const TrustStore>, 32> stores_;
  std::string root_der_;
  std::string intermediate_der_;
  std::string untrusted_root_der_;
  std::string old_root_der_;
  std::string new_root_der_;
  std::string crl_der_;
};

}  // namespace starling::tls::testing

#endif  // STARLING_CORE_TLS_TESTING_TEST_PKI_H_
