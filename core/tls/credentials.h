#ifndef STARLING_CORE_TLS_CREDENTIALS_H_
#define STARLING_CORE_TLS_CREDENTIALS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace Botan {
class Certificate_Store_In_Memory;
class Private_Key;
class X509_Certificate;
class X509_CRL;
}  // namespace Botan

namespace starling::tls {

// A certificate chain (leaf first, as sent to the peer) and the leaf's
// private key: a server's identity, or a client certificate. Immutable and
// shared between channels, so keys are parsed once.
class Identity {
 public:
  // `chain_pem`: PEM CERTIFICATE blocks, leaf first. `key_pem`: the leaf's
  // private key in any form real admins have: PKCS#8 "PRIVATE KEY" (OpenSSL
  // 3's default), PKCS#8 "ENCRYPTED PRIVATE KEY" (with `passphrase`), PKCS#1
  // "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY". kInvalidArgument, saying
  // which, when a part is missing, unreadable, locked or does not match.
  static absl::StatusOr<std::shared_ptr<const Identity>> FromPem(
      absl::string_view chain_pem, absl::string_view key_pem,
      absl::string_view passphrase = "");
  // The same from files (the key may be in the chain file); errors name the
  // file.
  static absl::StatusOr<std::shared_ptr<const Identity>> FromFiles(
      const std::string& chain_path, const std::string& key_path,
      absl::string_view passphrase = "");

  Identity(std::vector<Botan::X509_Certificate> chain,
           std::shared_ptr<const Botan::Private_Key> key);
  ~Identity();
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  const std::vector<Botan::X509_Certificate>& chain() const { return chain_; }
  const Botan::Private_Key& key() const { return *key_; }
  // Botan's algorithm name of the key: "ECDSA", "RSA", ...
  std::string key_type() const;
  // The chain as DER, leaf first.
  std::vector<std::string> ChainDer() const;

 private:
  std::vector<Botan::X509_Certificate> chain_;
  std::shared_ptr<const Botan::Private_Key> key_;
};

// Trust anchors and the CRLs known offline. A chain is "trusted" when it
// leads to one of the anchors; a CRL listing a certificate of the path makes
// it "revoked". Immutable and shared between channels.
class TrustStore {
 public:
  // PEM CERTIFICATE blocks (anchors) and X509 CRL blocks, in any order.
  static absl::StatusOr<std::shared_ptr<const TrustStore>> FromPem(
      absl::string_view pem);
  static absl::StatusOr<std::shared_ptr<const TrustStore>> FromDer(
      const std::vector<std::string>& anchors_der,
      const std::vector<std::string>& crls_der);
  // Anchors from a CA bundle file, or from every file of a directory such as
  // /etc/ssl/certs (hashed links and .pem files alike; files that hold no
  // PEM certificate are skipped). kNotFound when the path does not exist,
  // kInvalidArgument when it yields no anchor.
  static absl::StatusOr<std::shared_ptr<const TrustStore>> FromPath(
      const std::string& path);

  TrustStore(const std::vector<Botan::X509_Certificate>& anchors,
             const std::vector<Botan::X509_CRL>& crls);
  ~TrustStore();
  TrustStore(const TrustStore&) = delete;
  TrustStore& operator=(const TrustStore&) = delete;

  // Botan's path validation wants a mutable pointer; the store is only read.
  Botan::Certificate_Store_In_Memory* store() const { return store_.get(); }
  size_t anchor_count() const { return anchor_count_; }

 private:
  std::unique_ptr<Botan::Certificate_Store_In_Memory> store_;
  size_t anchor_count_ = 0;
};

}  // namespace starling::tls

#endif  // STARLING_CORE_TLS_CREDENTIALS_H_
