#include "core/tls/credentials.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "botan/alg_id.h"
#include "botan/asn1_obj.h"
#include "botan/ber_dec.h"
#include "botan/certstor.h"
#include "botan/data_src.h"
#include "botan/der_enc.h"
#include "botan/pem.h"
#include "botan/pk_keys.h"
#include "botan/pkcs8.h"
#include "botan/x509_crl.h"
#include "botan/x509cert.h"

namespace starling::tls {
namespace {

struct PemBlock {
  std::string label;
  std::vector<uint8_t> ber;
};

std::vector<PemBlock> DecodePem(absl::string_view pem) {
  Botan::DataSource_Memory source(reinterpret_cast<const uint8_t*>(pem.data()),
                                  pem.size());
  std::vector<PemBlock> blocks;
  while (Botan::PEM_Code::matches(source)) {
    PemBlock block;
    const Botan::secure_vector<uint8_t> ber =
        Botan::PEM_Code::decode(source, block.label);
    block.ber.assign(ber.begin(), ber.end());
    blocks.push_back(std::move(block));
  }
  return blocks;
}

std::string ToString(const std::vector<uint8_t>& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

std::vector<uint8_t> ToBytes(const std::string& bytes) {
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

// PKCS#8 PrivateKeyInfo (RFC 5208) around a key of another format, which is
// what Botan loads: algorithm, its parameters, the key itself.
std::vector<uint8_t> AsPkcs8(const Botan::AlgorithmIdentifier& algorithm,
                             const std::vector<uint8_t>& key) {
  std::vector<uint8_t> der;
  Botan::DER_Encoder(der)
      .start_cons(Botan::SEQUENCE)
      .encode(size_t{0})
      .encode(algorithm)
      .encode(key, Botan::OCTET_STRING)
      .end_cons();
  return der;
}

// RFC 5915 (SEC1) ECPrivateKey names its curve in [0]: the parameters of
// the id-ecPublicKey algorithm.
std::vector<uint8_t> Sec1AsPkcs8(const std::vector<uint8_t>& sec1) {
  Botan::BER_Decoder key = Botan::BER_Decoder(sec1).start_cons(Botan::SEQUENCE);
  size_t version = 0;
  Botan::secure_vector<uint8_t> scalar;
  key.decode(version).decode(scalar, Botan::OCTET_STRING);
  std::vector<uint8_t> curve;
  while (key.more_items()) {
    const Botan::BER_Object field = key.get_next_object();
    if (field.is_a(0, Botan::ASN1_Tag(Botan::CONTEXT_SPECIFIC |
                                      Botan::CONSTRUCTED))) {
      curve.assign(field.bits(), field.bits() + field.length());
    }
  }
  if (curve.empty()) {
    throw Botan::Decoding_Error("EC PRIVATE KEY does not name its curve");
  }
  return AsPkcs8(Botan::AlgorithmIdentifier(
                     Botan::OID::from_string("1.2.840.10045.2.1"), curve),
                 sec1);
}

// RFC 8017 (PKCS#1) RSAPrivateKey: rsaEncryption with NULL parameters.
std::vector<uint8_t> Pkcs1AsPkcs8(const std::vector<uint8_t>& pkcs1) {
  return AsPkcs8(
      Botan::AlgorithmIdentifier(Botan::OID::from_string("1.2.840.113549.1.1.1"),
                                 Botan::AlgorithmIdentifier::USE_NULL_PARAM),
      pkcs1);
}

// The private key of the first key block in `pem`.
absl::StatusOr<std::shared_ptr<const Botan::Private_Key>> LoadKey(
    absl::string_view pem, absl::string_view passphrase) {
  for (const PemBlock& block : DecodePem(pem)) {
    std::vector<uint8_t> der;
    if (block.label == "PRIVATE KEY" || block.label == "ENCRYPTED PRIVATE KEY") {
      if (block.label == "ENCRYPTED PRIVATE KEY" && passphrase.empty()) {
        return absl::InvalidArgumentError(
            "the private key is encrypted: a passphrase is needed");
      }
      der = block.ber;
    } else if (block.label == "EC PRIVATE KEY") {
      der = Sec1AsPkcs8(block.ber);
    } else if (block.label == "RSA PRIVATE KEY") {
      der = Pkcs1AsPkcs8(block.ber);
    } else {
      continue;
    }
    Botan::DataSource_Memory source(der);
    try {
      return std::shared_ptr<const Botan::Private_Key>(
          block.label == "ENCRYPTED PRIVATE KEY"
              ? Botan::PKCS8::load_key(source, std::string(passphrase))
              : Botan::PKCS8::load_key(source));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          block.label == "ENCRYPTED PRIVATE KEY"
              ? absl::StrCat("cannot decrypt the private key (wrong "
                             "passphrase?): ", e.what())
              : absl::StrCat("unreadable ", block.label, ": ", e.what()));
    }
  }
  return absl::InvalidArgumentError(
      "no private key (expected a PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA "
      "PRIVATE KEY or EC PRIVATE KEY PEM block; legacy OpenSSL-encrypted "
      "keys: convert with `openssl pkcs8 -topk8`)");
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int error = errno;
    return error == ENOENT
               ? absl::NotFoundError(absl::StrCat(path, ": no such file"))
               : absl::InvalidArgumentError(
                     absl::StrCat("cannot read ", path, ": ", std::strerror(error)));
  }
  return std::string(std::istreambuf_iterator<char>(file),
                     std::istreambuf_iterator<char>());
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Identity>> Identity::FromPem(
    absl::string_view chain_pem, absl::string_view key_pem,
    absl::string_view passphrase) {
  try {
    std::vector<Botan::X509_Certificate> chain;
    for (const PemBlock& block : DecodePem(chain_pem)) {
      if (block.label != "CERTIFICATE") continue;
      chain.emplace_back(block.ber);
    }
    if (chain.empty()) {
      return absl::InvalidArgumentError("identity: no CERTIFICATE in chain");
    }
    absl::StatusOr<std::shared_ptr<const Botan::Private_Key>> key =
        LoadKey(key_pem, passphrase);
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("identity: ", key.status().message()));
    }
    std::unique_ptr<Botan::Public_Key> leaf_key =
        chain.front().load_subject_public_key();
    if (leaf_key->subject_public_key() != (*key)->subject_public_key()) {
      return absl::InvalidArgumentError(
          "identity: the private key does not match the leaf certificate");
    }
    return std::make_shared<const Identity>(std::move(chain), *std::move(key));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("identity: ", e.what()));
  }
}

absl::StatusOr<std::shared_ptr<const Identity>> Identity::FromFiles(
    const std::string& chain_path, const std::string& key_path,
    absl::string_view passphrase) {
  absl::StatusOr<std::string> chain = ReadFile(chain_path);
  if (!chain.ok()) return chain.status();
  absl::StatusOr<std::string> key = ReadFile(key_path);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::shared_ptr<const Identity>> identity =
      FromPem(*chain, *key, passphrase);
  if (!identity.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        chain_path, " + ", key_path, ": ", identity.status().message()));
  }
  return identity;
}

Identity::Identity(std::vector<Botan::X509_Certificate> chain,
                   std::shared_ptr<const Botan::Private_Key> key)
    : chain_(std::move(chain)), key_(std::move(key)) {}

Identity::~Identity() = default;

std::string Identity::key_type() const { return key_->algo_name(); }

std::vector<std::string> Identity::ChainDer() const {
  std::vector<std::string> der;
  for (const Botan::X509_Certificate& cert : chain_) {
    der.push_back(ToString(cert.BER_encode()));
  }
  return der;
}

absl::StatusOr<std::shared_ptr<const TrustStore>> TrustStore::FromPem(
    absl::string_view pem) {
  try {
    std::vector<Botan::X509_Certificate> anchors;
    std::vector<Botan::X509_CRL> crls;
    for (const PemBlock& block : DecodePem(pem)) {
      if (block.label == "CERTIFICATE") {
        anchors.emplace_back(block.ber);
      } else if (block.label == "X509 CRL") {
        crls.emplace_back(block.ber);
      }
    }
    return std::make_shared<const TrustStore>(anchors, crls);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("trust store: ", e.what()));
  }
}

absl::StatusOr<std::shared_ptr<const TrustStore>> TrustStore::FromDer(
    const std::vector<std::string>& anchors_der,
    const std::vector<std::string>& crls_der) {
  try {
    std::vector<Botan::X509_Certificate> anchors;
    std::vector<Botan::X509_CRL> crls;
    for (const std::string& der : anchors_der) anchors.emplace_back(ToBytes(der));
    for (const std::string& der : crls_der) crls.emplace_back(ToBytes(der));
    return std::make_shared<const TrustStore>(anchors, crls);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("trust store: ", e.what()));
  }
}

absl::StatusOr<std::shared_ptr<const TrustStore>> TrustStore::FromPath(
    const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (error || !std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  std::vector<Botan::X509_Certificate> anchors;
  std::vector<Botan::X509_CRL> crls;
  auto add = [&](const std::string& file, bool strict) -> absl::Status {
    absl::StatusOr<std::string> pem = ReadFile(file);
    if (!pem.ok()) return strict ? pem.status() : absl::OkStatus();
    try {
      for (const PemBlock& block : DecodePem(*pem)) {
        if (block.label == "CERTIFICATE") {
          anchors.emplace_back(block.ber);
        } else if (block.label == "X509 CRL") {
          crls.emplace_back(block.ber);
        }
      }
    } catch (const std::exception& e) {
      if (strict) {
        return absl::InvalidArgumentError(absl::StrCat(file, ": ", e.what()));
      }
    }
    return absl::OkStatus();
  };
  if (std::filesystem::is_directory(status)) {
    // A hashed directory links each name to a file that is also there:
    // take every certificate once.
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
      if (entry.is_regular_file(error)) files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) (void)add(file, /*strict=*/false);
  } else if (absl::Status s = add(path, /*strict=*/true); !s.ok()) {
    return s;
  }
  if (anchors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no PEM CERTIFICATE found"));
  }
  // Links and duplicates name the same anchor twice; once is enough.
  std::vector<Botan::X509_Certificate> unique;
  std::set<std::vector<uint8_t>> seen;
  for (const Botan::X509_Certificate& anchor : anchors) {
    if (seen.insert(anchor.BER_encode()).second) unique.push_back(anchor);
  }
  return std::make_shared<const TrustStore>(unique, crls);
}

TrustStore::TrustStore(const std::vector<Botan::X509_Certificate>& anchors,
                       const std::vector<Botan::X509_CRL>& crls)
    : store_(std::make_unique<Botan::Certificate_Store_In_Memory>()),
      anchor_count_(anchors.size()) {
  for (const Botan::X509_Certificate& anchor : anchors) {
    store_->add_certificate(anchor);
  }
  for (const Botan::X509_CRL& crl : crls) store_->add_crl(crl);
}

TrustStore::~TrustStore() = default;

}  // namespace starling::tls
