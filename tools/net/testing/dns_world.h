#ifndef STARLING_TOOLS_NET_TESTING_DNS_WORLD_H_
#define STARLING_TOOLS_NET_TESTING_DNS_WORLD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/net/resolver.h"
#include "tools/testing/loopback.h"
#include "tools/testing/subprocess.h"

namespace starling::net::testing {

using ::starling::tools::testing::ChildProcess;
using ::starling::tools::testing::LoopbackSocket;
using ::starling::tools::testing::FindProgram;
using ::starling::tools::testing::RunProgram;

// A DNS world for tests: zones signed at test time (ldns-keygen with
// ECDSA P-256, ldns-signzone) and served by NSD on a loopback port the
// kernel picked. Zones below another zone of the world are delegated from it
// (NS, plus DS when signed); the DS records of the topmost signed zones are
// the trust anchors. NSD serves parents and children alike, so a validating
// resolver forwarding to it never has to follow a referral.
struct TestZone {
  enum class Kind : uint8_t {
    kSigned,
    kUnsigned,           // under a signed parent: an insecure delegation
    kExpiredSignatures,  // RRSIGs valid only in January 2020: bogus
    kServFail,           // configured in NSD without a zone file: SERVFAIL
  };
  std::string origin;  // absolute, e.g. "example."
  Kind kind = Kind::kSigned;
  // Zone-file lines relative to the origin. SOA, NS and a "_serial" TXT
  // record (how the world knows NSD serves the current version) are added.
  std::string records;
  // Replacements made in the signed zone file: an RRset edited after signing
  // keeps signatures that no longer match, so it validates as bogus.
  std::vector<std::pair<std::string, std::string>> edits_after_signing;
};

class DnsWorld {
 public:
  // The first of nsd, ldns-keygen, ldns-signzone that is not installed, or
  // "" when all are.
  static std::string MissingTool();

  // Signs the zones in `dir` (which must exist), starts NSD and waits until
  // it serves every zone.
  static absl::StatusOr<std::unique_ptr<DnsWorld>> Start(
      const std::string& dir, std::vector<TestZone> zones);

  ~DnsWorld();  // stops NSD

  // "127.0.0.1@<port>".
  std::string address() const;
  uint16_t port() const { return port_; }
  const std::string& trust_anchor_file() const { return trust_anchor_file_; }

  // A resolver configuration that forwards to this world and validates with
  // its trust anchors.
  ResolverOptions ValidatingResolver(absl::Duration timeout) const;

  // New records for a zone (re-signed with the same key, so the chain of
  // trust holds); NSD reloads and this waits until it serves them.
  absl::Status UpdateZone(absl::string_view origin, std::string records);

 private:
  struct Zone {
    TestZone spec;
    std::string key;  // ldns key base name, for signed kinds
    std::string ds;   // its DS record
    std::string parent;
    int serial = 1;
  };

  explicit DnsWorld(std::string dir) : dir_(std::move(dir)) {}

  absl::Status WriteZone(Zone& zone);
  absl::Status StartNsd();
  absl::Status WaitServed(absl::Duration timeout);

  std::string dir_;
  std::vector<Zone> zones_;  // children before parents
  std::string trust_anchor_file_;
  uint16_t port_ = 0;
  ChildProcess nsd_;
};

}  // namespace starling::net::testing

#endif  // STARLING_TOOLS_NET_TESTING_DNS_WORLD_H_
