#include "core/tls/facts.h"

#include <chrono>
#include <exception>
#include <initializer_list>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "botan/asn1_obj.h"
#include "botan/ber_dec.h"
#include "botan/bigint.h"
#include "botan/hash.h"
#include "botan/pk_keys.h"
#include "botan/workfactor.h"
#include "botan/x509path.h"

namespace starling::tls {
namespace {

// Botan's digest of `bytes` ("SHA-256", "SHA-512", "SHA-160", "MD5"); empty
// for empty input (nothing to describe).
std::string Digest(const char* algorithm, absl::string_view bytes) {
  if (bytes.empty()) return std::string();
  std::unique_ptr<Botan::HashFunction> hash =
      Botan::HashFunction::create_or_throw(algorithm);
  hash->update(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  const Botan::secure_vector<uint8_t> digest = hash->final();
  return std::string(digest.begin(), digest.end());
}

// Botan spells signature algorithms "ECDSA/EMSA1(SHA-256)"; TlsFacts says
// "SHA-256/ECDSA" (and "SHA-256/RSA-PSS" for EMSA4).
std::string SignatureName(const std::string& botan_name) {
  const size_t slash = botan_name.find('/');
  const size_t open = botan_name.find('(', slash);
  const size_t close = botan_name.rfind(')');
  if (slash == std::string::npos || open == std::string::npos ||
      close == std::string::npos || close < open) {
    return botan_name;
  }
  std::string hash = botan_name.substr(open + 1, close - open - 1);
  // EMSA4(SHA-256,MGF1,32): the hash is the first parameter.
  hash = hash.substr(0, hash.find(','));
  if (hash == "SHA-160") hash = "SHA-1";
  std::string algo = botan_name.substr(0, slash);
  if (botan_name.compare(slash + 1, 5, "EMSA4") == 0) algo += "-PSS";
  return absl::StrCat(hash, "/", algo);
}

// Revocation data that is missing, stale or not yet valid means "not
// checked", which is allowed: a stale CRL must not mask the chain's verdict.
bool AboutRevocationData(Botan::Certificate_Status_Code code) {
  using Code = Botan::Certificate_Status_Code;
  switch (code) {
    case Code::NO_REVOCATION_DATA:
    case Code::NO_MATCHING_CRLDP:
    case Code::CRL_NOT_YET_VALID:
    case Code::CRL_HAS_EXPIRED:
    case Code::OCSP_NOT_YET_VALID:
    case Code::OCSP_HAS_EXPIRED:
    case Code::OCSP_IS_TOO_OLD:
      return true;
    default:
      return false;
  }
}

// One verdict for the whole path, most serious first: a revoked or forged
// chain is that whatever else is wrong with it; an untrusted chain is
// untrusted even when also expired.
ChainVerdict VerdictFor(const std::set<Botan::Certificate_Status_Code>& codes,
                        const Botan::X509_Certificate& leaf) {
  using Code = Botan::Certificate_Status_Code;
  auto has = [&](std::initializer_list<Code> any) {
    for (Code code : any) {
      if (codes.count(code) > 0) return true;
    }
    return false;
  };
  if (has({Code::CERT_IS_REVOKED})) return ChainVerdict::kRevoked;
  if (has({Code::CRL_BAD_SIGNATURE, Code::SIGNATURE_ERROR,
           Code::CERT_PUBKEY_INVALID, Code::SIGNATURE_ALGO_UNKNOWN,
           Code::SIGNATURE_ALGO_BAD_PARAMS})) {
    return ChainVerdict::kBadSignature;
  }
  if (has({Code::CANNOT_ESTABLISH_TRUST, Code::CHAIN_LACKS_TRUST_ROOT})) {
    return leaf.is_self_signed() ? ChainVerdict::kSelfSigned
                                 : ChainVerdict::kUntrustedRoot;
  }
  if (has({Code::CERT_ISSUER_NOT_FOUND})) return ChainVerdict::kIncompleteChain;
  if (has({Code::CERT_HAS_EXPIRED})) return ChainVerdict::kExpired;
  if (has({Code::CERT_NOT_YET_VALID})) return ChainVerdict::kNotYetValid;
  if (has({Code::SIGNATURE_METHOD_TOO_WEAK, Code::UNTRUSTED_HASH})) {
    return ChainVerdict::kWeakKeyOrHash;
  }
  for (Code code : codes) {
    if (code >= Code::FIRST_ERROR_STATUS) return ChainVerdict::kOtherFailure;
  }
  return ChainVerdict::kTrusted;
}

struct KeyFacts {
  std::string type = "unknown";  // a key Botan cannot load is still a fact
  size_t bits = 0;
  size_t strength = 0;  // bits of security
};

// An RSA key is read from its SubjectPublicKeyInfo rather than loaded:
// loading precomputes Montgomery parameters, which cost more than the rest
// of the facts together.
KeyFacts KeyFactsOf(const Botan::X509_Certificate& cert) {
  KeyFacts facts;
  try {
    if (cert.subject_public_key_algo().get_oid() ==
        Botan::OID::from_string("RSA")) {
      Botan::BigInt modulus;
      Botan::BigInt exponent;
      Botan::BER_Decoder(cert.subject_public_key_bitstring())
          .start_cons(Botan::SEQUENCE)
          .decode(modulus)
          .decode(exponent)
          .end_cons();
      facts.type = "RSA";
      facts.bits = modulus.bits();
      facts.strength = Botan::if_work_factor(facts.bits);
      return facts;
    }
    std::unique_ptr<Botan::Public_Key> key = cert.load_subject_public_key();
    facts.type = key->algo_name();
    facts.bits = key->key_length();
    facts.strength = key->estimated_strength();
  } catch (const std::exception&) {
    facts.type = "unknown";
  }
  return facts;
}

}  // namespace

CertificateFacts DescribeCertificate(const Botan::X509_Certificate& cert) {
  CertificateFacts facts;
  facts.subject_dn = cert.subject_dn().to_string();
  facts.issuer_dn = cert.issuer_dn().to_string();
  const std::vector<std::string> cn = cert.subject_info("X520.CommonName");
  if (!cn.empty()) facts.common_name = cn.front();
  facts.dns_names = cert.subject_alt_name().get_attribute("DNS");
  facts.not_before = absl::FromUnixSeconds(
      static_cast<int64_t>(cert.not_before().time_since_epoch()));
  facts.not_after = absl::FromUnixSeconds(
      static_cast<int64_t>(cert.not_after().time_since_epoch()));
  const KeyFacts key = KeyFactsOf(cert);
  facts.key_type = key.type;
  facts.key_bits = static_cast<int>(key.bits);
  facts.signature_algorithm =
      SignatureName(cert.signature_algorithm().get_oid().to_formatted_string());
  const std::vector<uint8_t> der = cert.BER_encode();
  facts.der.assign(der.begin(), der.end());
  const std::vector<uint8_t>& spki = cert.subject_public_key_info();
  facts.spki_der.assign(spki.begin(), spki.end());
  FillDigests(&facts);
  return facts;
}

void FillDigests(CertificateFacts* cert) {
  cert->sha256 = Digest("SHA-256", cert->der);
  cert->spki_sha256 = Digest("SHA-256", cert->spki_der);
  cert->sha512 = Digest("SHA-512", cert->der);
  cert->spki_sha512 = Digest("SHA-512", cert->spki_der);
  cert->sha1 = Digest("SHA-160", cert->der);
  cert->spki_sha1 = Digest("SHA-160", cert->spki_der);
  cert->md5 = Digest("MD5", cert->der);
  cert->spki_md5 = Digest("MD5", cert->spki_der);
}

absl::StatusOr<CertificateFacts> DescribeCertificateDer(absl::string_view der) {
  try {
    const Botan::X509_Certificate cert(
        reinterpret_cast<const uint8_t*>(der.data()), der.size());
    return DescribeCertificate(cert);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate does not parse: ", e.what()));
  }
}

TlsVersion ToTlsVersion(Botan::TLS::Protocol_Version version) {
  if (version == Botan::TLS::Protocol_Version::TLS_V10) {
    return TlsVersion::kTls10;
  }
  if (version == Botan::TLS::Protocol_Version::TLS_V11) {
    return TlsVersion::kTls11;
  }
  if (version == Botan::TLS::Protocol_Version::TLS_V12) {
    return TlsVersion::kTls12;
  }
  return TlsVersion::kUnknown;
}

ChainCheck CheckChain(const std::vector<Botan::X509_Certificate>& chain,
                      const TrustStore& trust, absl::Time at,
                      Botan::Usage_Type usage, size_t min_strength) {
  ChainCheck check;
  if (chain.empty()) {
    check.verdict = ChainVerdict::kOtherFailure;
    check.detail = "no certificate";
    return check;
  }
  try {
    // The leaf itself is an anchor (a self-signed certificate given as the
    // trust store, as admins pin partners): trusted by identity, as OpenSSL
    // does, once it is valid now and strong enough. Botan would not build a
    // path from an end entity to itself.
    const Botan::X509_Certificate& leaf = chain.front();
    const std::shared_ptr<const Botan::X509_Certificate> anchor =
        trust.store()->find_cert(leaf.subject_dn(), leaf.subject_key_id());
    if (anchor != nullptr && *anchor == leaf) {
      const KeyFacts key = KeyFactsOf(leaf);
      const absl::Time not_before = absl::FromUnixSeconds(
          static_cast<int64_t>(leaf.not_before().time_since_epoch()));
      const absl::Time not_after = absl::FromUnixSeconds(
          static_cast<int64_t>(leaf.not_after().time_since_epoch()));
      if (at < not_before) {
        check.verdict = ChainVerdict::kNotYetValid;
        check.detail = "the trusted certificate is not yet valid";
      } else if (at > not_after) {
        check.verdict = ChainVerdict::kExpired;
        check.detail = "the trusted certificate has expired";
      } else if (key.strength < min_strength) {
        check.verdict = ChainVerdict::kWeakKeyOrHash;
        check.detail = absl::StrCat("trusted certificate's ", key.type, " key of ",
                                    key.bits, " bits is too weak");
      } else {
        check.verdict = ChainVerdict::kTrusted;
        check.trust_anchor_dn = leaf.subject_dn().to_string();
      }
      return check;
    }
    const Botan::Path_Validation_Restrictions restrictions(
        /*require_rev=*/false, min_strength);
    const Botan::Path_Validation_Result result = Botan::x509_path_validate(
        chain, restrictions, {trust.store()}, /*hostname=*/"", usage,
        absl::ToChronoTime(at));
    std::set<Botan::Certificate_Status_Code> codes;
    for (const auto& per_cert : result.all_statuses()) {
      for (Botan::Certificate_Status_Code code : per_cert) {
        if (!AboutRevocationData(code)) codes.insert(code);
      }
    }
    if (codes.empty()) codes.insert(result.result());
    check.verdict = VerdictFor(codes, chain.front());
    if (check.verdict != ChainVerdict::kTrusted) {
      for (Botan::Certificate_Status_Code code : codes) {
        if (code < Botan::Certificate_Status_Code::FIRST_ERROR_STATUS) continue;
        if (!check.detail.empty()) check.detail += "; ";
        check.detail += Botan::Path_Validation_Result::status_string(code);
      }
      return check;
    }
    // Botan judges the keys that sign; the leaf's own key is judged here.
    const KeyFacts leaf_key = KeyFactsOf(chain.front());
    if (leaf_key.strength < min_strength) {
      check.verdict = ChainVerdict::kWeakKeyOrHash;
      check.detail = absl::StrCat("leaf ", leaf_key.type, " key of ",
                                  leaf_key.bits, " bits is too weak");
      return check;
    }
    check.verdict = ChainVerdict::kTrusted;
    check.trust_anchor_dn = result.trust_root().subject_dn().to_string();
  } catch (const std::exception& e) {
    check.verdict = ChainVerdict::kOtherFailure;
    check.detail = e.what();
  }
  return check;
}

}  // namespace starling::tls
