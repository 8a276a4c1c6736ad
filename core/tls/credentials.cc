#include "core/tls/credentials.h"

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "botan/certstor.h"
#include "botan/data_src.h"
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

}  // namespace

absl::StatusOr<std::shared_ptr<const Identity>> Identity::FromPem(
    absl::string_view chain_pem, absl::string_view key_pem) {
  try {
    std::vector<Botan::X509_Certificate> chain;
    for (const PemBlock& block : DecodePem(chain_pem)) {
      if (block.label != "CERTIFICATE") continue;
      chain.emplace_back(block.ber);
    }
    if (chain.empty()) {
      return absl::InvalidArgumentError("identity: no CERTIFICATE in chain");
    }
    Botan::DataSource_Memory key_source(
        reinterpret_cast<const uint8_t*>(key_pem.data()), key_pem.size());
    std::shared_ptr<const Botan::Private_Key> key =
        Botan::PKCS8::load_key(key_source);
    std::unique_ptr<Botan::Public_Key> leaf_key =
        chain.front().load_subject_public_key();
    if (leaf_key->subject_public_key() != key->subject_public_key()) {
      return absl::InvalidArgumentError(
          "identity: the private key does not match the leaf certificate");
    }
    return std::make_shared<const Identity>(std::move(chain), std::move(key));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("identity: ", e.what()));
  }
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
