#include "core/tls/testing/test_pki.h"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "botan/ber_dec.h"
#include "botan/bigint.h"
#include "botan/der_enc.h"
#include "botan/ec_group.h"
#include "botan/ecdsa.h"
#include "botan/rng.h"
#include "botan/rsa.h"
#include "botan/x509_ca.h"
#include "botan/x509_crl.h"
#include "botan/x509_ext.h"
#include "botan/x509self.h"
#include "core/tls/rng.h"

namespace starling::tls::testing {
namespace {

// Botan 2's CRL_Entry(cert, reason) stamps the revocation with the wall
// clock; build the entry's DER with the given time instead and decode it.
Botan::CRL_Entry RevokedAt(const Botan::X509_Certificate& cert,
                           std::chrono::system_clock::time_point when) {
  Botan::Extensions extensions;
  extensions.add(
      new Botan::Cert_Extension::CRL_ReasonCode(Botan::CRL_Code::KEY_COMPROMISE));
  std::vector<uint8_t> der;
  Botan::DER_Encoder(der)
      .start_cons(Botan::SEQUENCE)
      .encode(Botan::BigInt::decode(cert.serial_number()))
      .encode(Botan::X509_Time(when))
      .start_cons(Botan::SEQUENCE)
      .encode(extensions)
      .end_cons()
      .end_cons();
  Botan::CRL_Entry entry;
  Botan::BER_Decoder(der).decode(entry);
  return entry;
}

constexpr absl::Duration kDay = absl::Hours(24);

std::string ToString(const std::vector<uint8_t>& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

// ---- key cache: RSA generation is what costs, so keys outlive PKIs ----

enum class KeyAlgo : uint8_t { kEcdsaP256, kRsa2048, kRsa1024 };

std::mutex& CacheMutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}

using KeyCache =
    std::map<std::pair<uint64_t, std::string>,
             std::shared_ptr<const Botan::Private_Key>>;

KeyCache& Keys() {
  static auto* keys = new KeyCache;
  return *keys;
}

// Each key comes from its own RNG stream, so it does not depend on which
// keys were generated before it (or cached).
std::shared_ptr<const Botan::Private_Key> Key(uint64_t seed,
                                              const std::string& role,
                                              KeyAlgo algo) {
  std::lock_guard<std::mutex> lock(CacheMutex());
  auto [it, inserted] = Keys().try_emplace({seed, role}, nullptr);
  if (!inserted) return it->second;
  auto rng = SeededRng(seed, absl::StrCat("test-pki-key:", role));
  switch (algo) {
    case KeyAlgo::kEcdsaP256:
      it->second = std::make_shared<Botan::ECDSA_PrivateKey>(
          *rng, Botan::EC_Group("secp256r1"));
      break;
    case KeyAlgo::kRsa2048:
      it->second = std::make_shared<Botan::RSA_PrivateKey>(*rng, 2048);
      break;
    case KeyAlgo::kRsa1024:
      it->second = std::make_shared<Botan::RSA_PrivateKey>(*rng, 1024);
      break;
  }
  return it->second;
}

// ---- certificates ----

struct Validity {
  absl::Time from;
  absl::Time until;
};

// Options carry validity from the reference time (their constructor's own
// clock reading is overwritten).
Botan::X509_Cert_Options Options(const std::string& common_name,
                                 const std::string& dns, Validity validity) {
  Botan::X509_Cert_Options options;
  options.common_name = common_name;
  options.organization = "Starling Test PKI";
  options.country = "NL";
  options.dns = dns;
  options.start = Botan::X509_Time(absl::ToChronoTime(validity.from));
  options.end = Botan::X509_Time(absl::ToChronoTime(validity.until));
  return options;
}

Botan::X509_Cert_Options LeafOptions(const std::string& name,
                                     Validity validity) {
  Botan::X509_Cert_Options options = Options(name, name, validity);
  options.add_ex_constraint("PKIX.ServerAuth");
  options.add_ex_constraint("PKIX.ClientAuth");
  return options;
}

struct Ca {
  Botan::X509_Certificate cert;
  std::shared_ptr<const Botan::Private_Key> key;
};

Ca MakeRoot(uint64_t seed, const std::string& role, const std::string& name,
            Validity validity) {
  auto key = Key(seed, role, KeyAlgo::kEcdsaP256);
  auto rng = SeededRng(seed, absl::StrCat("test-pki-cert:", role));
  Botan::X509_Cert_Options options = Options(name, "", validity);
  options.CA_key(1);
  return Ca{Botan::X509::create_self_signed_cert(options, *key, "SHA-256", *rng),
            key};
}

Botan::X509_Certificate Issue(const Ca& issuer, const std::string& hash,
                              const Botan::X509_Cert_Options& options,
                              const Botan::Private_Key& key,
                              Botan::RandomNumberGenerator& rng) {
  const Botan::PKCS10_Request request =
      Botan::X509::create_cert_req(options, key, "SHA-256", rng);
  // Botan 2.19 wants a hash other than its default spelled out in the
  // padding too (every issuer here is ECDSA).
  const std::map<std::string, std::string> padding = {
      {"padding", absl::StrCat("EMSA1(", hash, ")")}};
  const Botan::X509_CA ca(issuer.cert, *issuer.key, padding, hash, rng);
  return ca.sign_request(request, rng, options.start, options.end);
}

// The parent domain of a host name: "mx.example.net" -> "example.net".
std::string Parent(const std::string& host) {
  const size_t dot = host.find('.');
  return dot == std::string::npos ? host : host.substr(dot + 1);
}

using PkiKey = std::tuple<uint64_t, int64_t, std::string>;

std::map<PkiKey, std::shared_ptr<const TestPki>>& Pkis() {
  static auto* pkis = new std::map<PkiKey, std::shared_ptr<const TestPki>>;
  return *pkis;
}

}  // namespace

absl::string_view CertKindName(CertKind kind) {
  switch (kind) {
    case CertKind::kGood: return "good";
    case CertKind::kGoodRsa: return "good_rsa";
    case CertKind::kExpired: return "expired";
    case CertKind::kNotYetValid: return "not_yet_valid";
    case CertKind::kSelfSigned: return "self_signed";
    case CertKind::kWrongName: return "wrong_name";
    case CertKind::kWildcard: return "wildcard";
    case CertKind::kUntrustedIssuer: return "untrusted_issuer";
    case CertKind::kRsa1024: return "rsa1024";
    case CertKind::kSha1Signed: return "sha1_signed";
    case CertKind::kRevoked: return "revoked";
    case CertKind::kMissingIntermediate: return "missing_intermediate";
    case CertKind::kRolloverOld: return "rollover_old";
    case CertKind::kRolloverNew: return "rollover_new";
    case CertKind::kClient: return "client";
  }
  return "unknown";
}

std::array<CertKind, kCertKindCount> AllCertKinds() {
  std::array<CertKind, kCertKindCount> kinds;
  for (size_t i = 0; i < kCertKindCount; ++i) {
    kinds[i] = static_cast<CertKind>(i);
  }
  return kinds;
}

ChainVerdict ExpectedVerdict(CertKind kind) {
  switch (kind) {
    case CertKind::kExpired: return ChainVerdict::kExpired;
    case CertKind::kNotYetValid: return ChainVerdict::kNotYetValid;
    case CertKind::kSelfSigned: return ChainVerdict::kSelfSigned;
    case CertKind::kUntrustedIssuer: return ChainVerdict::kUntrustedRoot;
    case CertKind::kRsa1024:
    case CertKind::kSha1Signed: return ChainVerdict::kWeakKeyOrHash;
    case CertKind::kRevoked: return ChainVerdict::kRevoked;
    case CertKind::kMissingIntermediate: return ChainVerdict::kIncompleteChain;
    default: return ChainVerdict::kTrusted;
  }
}

std::shared_ptr<const TestPki> TestPki::Get(uint64_t seed, absl::Time reference,
                                            absl::string_view host_name) {
  const PkiKey key{seed, absl::ToUnixNanos(reference), std::string(host_name)};
  {
    std::lock_guard<std::mutex> lock(CacheMutex());
    auto it = Pkis().find(key);
    if (it != Pkis().end()) return it->second;
  }
  std::shared_ptr<const TestPki> pki = Generate(seed, reference, host_name);
  std::lock_guard<std::mutex> lock(CacheMutex());
  return Pkis().try_emplace(key, std::move(pki)).first->second;
}

void TestPki::ClearKeyCache() {
  std::lock_guard<std::mutex> lock(CacheMutex());
  Keys().clear();
}

TestPki::~TestPki() = default;

std::unique_ptr<TestPki> TestPki::Generate(uint64_t seed, absl::Time reference,
                                           absl::string_view host_name) {
  std::unique_ptr<TestPki> pki(new TestPki);
  pki->host_name_ = std::string(host_name);
  pki->reference_ = reference;
  const std::string host = pki->host_name_;
  const std::string parent = Parent(host);

  const Validity ca_validity{reference - 3650 * kDay, reference + 3650 * kDay};
  const Validity leaf_validity{reference - 30 * kDay, reference + 335 * kDay};

  const Ca root = MakeRoot(seed, "root", "Starling Test Root CA", ca_validity);
  const Ca untrusted = MakeRoot(seed, "untrusted-root",
                                "Starling Untrusted Root CA", ca_validity);
  const Ca old_root =
      MakeRoot(seed, "old-root", "Starling Test Old Root CA", ca_validity);
  const Ca new_root =
      MakeRoot(seed, "new-root", "Starling Test New Root CA", ca_validity);

  Ca intermediate{Botan::X509_Certificate(),
                  Key(seed, "intermediate", KeyAlgo::kEcdsaP256)};
  {
    auto rng = SeededRng(seed, "test-pki-cert:intermediate");
    Botan::X509_Cert_Options options =
        Options("Starling Test Intermediate CA", "", ca_validity);
    options.CA_key(0);
    intermediate.cert = Issue(root, "SHA-256", options, *intermediate.key, *rng);
  }

  for (CertKind kind : AllCertKinds()) {
    const std::string role(CertKindName(kind));
    auto rng = SeededRng(seed, absl::StrCat("test-pki-cert:", role));
    KeyAlgo algo = KeyAlgo::kEcdsaP256;
    if (kind == CertKind::kGoodRsa) algo = KeyAlgo::kRsa2048;
    if (kind == CertKind::kRsa1024) algo = KeyAlgo::kRsa1024;
    auto key = Key(seed, role, algo);

    std::string name = host;
    Validity validity = leaf_validity;
    const Ca* issuer = &intermediate;
    std::string hash = "SHA-256";
    bool send_issuer = true;
    switch (kind) {
      case CertKind::kExpired:
        validity = {reference - 400 * kDay, reference - 35 * kDay};
        break;
      case CertKind::kNotYetValid:
        validity = {reference + 30 * kDay, reference + 400 * kDay};
        break;
      case CertKind::kWrongName:
        name = "mail.wrong.example";
        break;
      case CertKind::kWildcard:
        name = absl::StrCat("*.", parent);
        break;
      case CertKind::kUntrustedIssuer:
        issuer = &untrusted;
        break;
      case CertKind::kSha1Signed:
        hash = "SHA-160";
        break;
      case CertKind::kMissingIntermediate:
        send_issuer = false;
        break;
      case CertKind::kRolloverOld:
        issuer = &old_root;
        send_issuer = false;
        break;
      case CertKind::kRolloverNew:
        issuer = &new_root;
        send_issuer = false;
        break;
      case CertKind::kClient:
        name = absl::StrCat("client.", parent);
        break;
      default:
        break;
    }

    std::vector<Botan::X509_Certificate> chain;
    const Botan::X509_Cert_Options options = LeafOptions(name, validity);
    if (kind == CertKind::kSelfSigned) {
      chain.push_back(
          Botan::X509::create_self_signed_cert(options, *key, "SHA-256", *rng));
    } else {
      chain.push_back(Issue(*issuer, hash, options, *key, *rng));
      if (send_issuer) chain.push_back(issuer->cert);
    }
    pki->identities_[static_cast<size_t>(kind)] =
        std::make_shared<const Identity>(std::move(chain), key);
  }

  // The intermediate revokes the kRevoked leaf; the CRL is current from
  // reference - 400 days to reference + 400 days, like the leaves.
  Botan::X509_CRL crl;
  {
    auto rng = SeededRng(seed, "test-pki-cert:crl");
    const Botan::X509_CA ca(intermediate.cert, *intermediate.key, "SHA-256",
                            *rng);
    const auto issued = absl::ToChronoTime(reference - 400 * kDay);
    const std::chrono::seconds next_update = std::chrono::hours(24 * 800);
    crl = ca.new_crl(*rng, issued, next_update);
    const Botan::X509_Certificate& revoked =
        pki->identity(CertKind::kRevoked)->chain().front();
    crl = ca.update_crl(crl, {RevokedAt(revoked, issued)}, *rng, issued,
                        next_update);
  }

  const std::vector<Botan::X509_Certificate> anchors = {
      root.cert, old_root.cert, new_root.cert};
  pki->trust_ = std::make_shared<const TrustStore>(
      anchors, std::vector<Botan::X509_CRL>{crl});
  pki->trust_without_crl_ = std::make_shared<const TrustStore>(
      anchors, std::vector<Botan::X509_CRL>{});
  pki->roots_ = {root.cert, old_root.cert, new_root.cert, untrusted.cert};
  pki->crl_ = crl;
  // The default set is the two stores above: TrustStoreOf hands them out.
  constexpr unsigned kDefault = kRootAnchor | kOldRootAnchor | kNewRootAnchor;
  pki->stores_[kDefault * 2 + 1] = pki->trust_;
  pki->stores_[kDefault * 2] = pki->trust_without_crl_;
  pki->root_der_ = ToString(root.cert.BER_encode());
  pki->intermediate_der_ = ToString(intermediate.cert.BER_encode());
  pki->untrusted_root_der_ = ToString(untrusted.cert.BER_encode());
  pki->old_root_der_ = ToString(old_root.cert.BER_encode());
  pki->new_root_der_ = ToString(new_root.cert.BER_encode());
  pki->crl_der_ = ToString(crl.BER_encode());
  return pki;
}

std::shared_ptr<const TrustStore> TestPki::TrustStoreOf(unsigned anchors,
                                                        bool crl) const {
  anchors &= 15;
  std::lock_guard<std::mutex> lock(stores_mutex_);
  std::shared_ptr<const TrustStore>& store = stores_[anchors * 2 + crl];
  if (store == nullptr) {
    std::vector<Botan::X509_Certificate> certs;
    for (size_t i = 0; i < roots_.size(); ++i) {
      if (anchors & (1u << i)) certs.push_back(roots_[i]);
    }
    store = std::make_shared<const TrustStore>(
        certs, crl ? std::vector<Botan::X509_CRL>{crl_}
                   : std::vector<Botan::X509_CRL>{});
  }
  return store;
}

}  // namespace starling::tls::testing
