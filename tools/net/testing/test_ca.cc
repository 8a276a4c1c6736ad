#include "tools/net/testing/test_ca.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/testing/subprocess.h"

namespace starling::net::testing {
namespace {

using ::starling::tools::testing::FindProgram;
using ::starling::tools::testing::RunProgram;

constexpr absl::Duration kToolTimeout = absl::Seconds(20);

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status MakeTestCa(const std::string& dir, const std::string& name,
                        const std::string& subject) {
  return RunProgram({FindProgram("openssl"), "req", "-x509", "-newkey", "ec",
                     "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", name + ".key", "-out", name + ".pem", "-days",
                     "2", "-subj", subject, "-addext",
                     "basicConstraints=critical,CA:TRUE", "-addext",
                     "keyUsage=critical,keyCertSign,cRLSign"},
                    dir, kToolTimeout)
      .status();
}

absl::Status MakeServerCertificate(const std::string& dir,
                                   const std::string& name,
                                   const std::string& ca,
                                   const std::vector<std::string>& dns_names,
                                   int serial) {
  std::vector<std::string> sans;
  for (const std::string& dns_name : dns_names) sans.push_back("DNS:" + dns_name);
  const std::string extensions = absl::StrCat(
      "subjectAltName=", absl::StrJoin(sans, ","),
      "\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
      "keyUsage=critical,digitalSignature\n");
  if (absl::Status s = WriteFile(absl::StrCat(dir, "/", name, ".ext"), extensions);
      !s.ok()) {
    return s;
  }
  const std::string openssl = FindProgram("openssl");
  absl::StatusOr<std::string> request = RunProgram(
      {openssl, "req", "-new", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key", "-out",
       name + ".csr", "-subj", absl::StrCat("/CN=", dns_names.front())},
      dir, kToolTimeout);
  if (!request.ok()) return request.status();
  return RunProgram({openssl, "x509", "-req", "-in", name + ".csr", "-CA",
                     ca + ".pem", "-CAkey", ca + ".key", "-set_serial",
                     absl::StrCat(serial), "-days", "2", "-out", name + ".pem",
                     "-extfile", name + ".ext"},
                    dir, kToolTimeout)
      .status();
}

absl::Status MakeSelfSignedCertificate(const std::string& dir,
                                       const std::string& name,
                                       const std::string& dns_name) {
  return RunProgram({FindProgram("openssl"), "req", "-x509", "-newkey", "ec",
                     "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", name + ".key", "-out", name + ".pem", "-days",
                     "2", "-subj", "/CN=" + dns_name, "-addext",
                     "subjectAltName=DNS:" + dns_name},
                    dir, kToolTimeout)
      .status();
}

absl::StatusOr<std::string> SpkiSha256Hex(const std::string& certificate_file) {
  const std::string openssl = FindProgram("openssl");
  const std::string dir = certificate_file.substr(0, certificate_file.rfind('/') + 1);
  const std::string der = certificate_file + ".spki.der";
  absl::StatusOr<std::string> key = RunProgram(
      {openssl, "x509", "-in", certificate_file, "-noout", "-pubkey"}, dir,
      kToolTimeout);
  if (!key.ok()) return key.status();
  const std::string pem = certificate_file + ".pubkey.pem";
  if (absl::Status s = WriteFile(pem, *key); !s.ok()) return s;
  absl::StatusOr<std::string> converted = RunProgram(
      {openssl, "pkey", "-pubin", "-in", pem, "-outform", "DER", "-out", der},
      dir, kToolTimeout);
  if (!converted.ok()) return converted.status();
  absl::StatusOr<std::string> digest =
      RunProgram({openssl, "dgst", "-sha256", "-r", der}, dir, kToolTimeout);
  if (!digest.ok()) return digest.status();
  // "<hex> *<file>"
  const std::string hex = digest->substr(0, digest->find(' '));
  if (hex.size() != 64) {
    return absl::InternalError(absl::StrCat("openssl dgst printed \"", *digest, "\""));
  }
  return absl::AsciiStrToLower(hex);
}

}  // namespace starling::net::testing
