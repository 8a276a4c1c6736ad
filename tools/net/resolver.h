#ifndef STARLING_TOOLS_NET_RESOLVER_H_
#define STARLING_TOOLS_NET_RESOLVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/dane.h"

struct ub_ctx;

namespace starling::net {

// DNS for mail delivery through libunbound, with DNSSEC validation: MX,
// A/AAAA, TLSA, TXT. Every answer says what the validator made of it, and
// "no such name", "no such record" and "no answer now" stay apart.

enum class DnsOutcome : uint8_t {
  kAnswer,    // records of the type asked (perhaps reached through a CNAME)
  kNoData,    // the name exists, without records of that type
  kNxDomain,  // the name does not exist
  kServFail,  // no usable answer now: SERVFAIL, REFUSED, a timeout, a
              // malformed record. A temporary error: try again later.
};

absl::string_view DnsOutcomeName(DnsOutcome outcome);  // "answer", ...

template <typename Record>
struct DnsAnswer {
  std::string name;  // the name asked, lower case, no trailing dot
  DnsOutcome outcome = DnsOutcome::kServFail;
  // What validation made of the records or of the denial (kNoData,
  // kNxDomain). kBogus answers keep the records the server sent so that they
  // can be shown, but they are unvalidated: the policy must not use them.
  // Without trust anchors covering the name, everything is kInsecure; after
  // kServFail nothing was validated and this says kInsecure.
  policy::DnssecStatus dnssec = policy::DnssecStatus::kInsecure;
  std::vector<Record> records;  // kAnswer only, in the order DNS gave them
  std::string canonical_name;   // the CNAME target, when one was followed
  std::string detail;           // the validator's reason for kBogus, or what
                                // went wrong for kServFail
};

struct MxRecord {
  uint16_t preference = 0;
  std::string host;  // lower case, no trailing dot; "." is a null MX
  friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

// Owner names of the records mail security looks up.
std::string TlsaName(absl::string_view mx_host);       // _25._tcp.<host>
std::string MtaStsTxtName(absl::string_view domain);   // _mta-sts.<domain>
std::string TlsRptTxtName(absl::string_view domain);   // _smtp._tls.<domain>

// Servers that answer for one zone (unbound's stub-zone): queries for names
// below `zone` go to `addresses` ("ip" or "ip@port") and delegations are
// followed from there.
struct StubZone {
  std::string zone;
  std::vector<std::string> addresses;
};

struct ResolverOptions {
  // Recursive resolvers to ask, "ip" or "ip@port" (IPv4 or IPv6).
  std::vector<std::string> forwarders;
  // A resolv.conf whose nameservers are added to `forwarders`. With neither,
  // unbound resolves iteratively from the root servers itself.
  std::string resolv_conf;
  std::vector<StubZone> stub_zones;
  // DNSSEC trust anchors: a file of DS or DNSKEY records in zone-file format
  // (such as /usr/share/dns/root.key), and records given inline, e.g.
  // "example. DS 12345 13 2 <hex>". Without anchors no answer is kSecure.
  std::string trust_anchor_file;
  std::vector<std::string> trust_anchors;
  // Bound on one lookup call; the queries of a batch run in parallel and
  // share it. Unanswered queries become kServFail ("timed out").
  absl::Duration timeout = absl::Seconds(10);

  // /etc/resolv.conf, with /usr/share/dns/root.key (Debian's dns-root-data)
  // as the root trust anchor when that file exists.
  static ResolverOptions System();
};

// Lookups asked together: all run in parallel.
struct DnsQueries {
  std::vector<std::string> mx;          // MX at each domain
  std::vector<std::string> a;           // A at each name
  std::vector<std::string> aaaa;        // AAAA at each name
  std::vector<std::string> tlsa_hosts;  // TLSA at _25._tcp.<host>
  std::vector<std::string> txt;         // TXT at each name
};

// Answers in the order of the questions of each kind.
struct DnsAnswers {
  std::vector<DnsAnswer<MxRecord>> mx;
  std::vector<DnsAnswer<std::string>> a;     // dotted quads
  std::vector<DnsAnswer<std::string>> aaaa;  // RFC 5952 text
  std::vector<DnsAnswer<policy::TlsaRecord>> tlsa;
  std::vector<DnsAnswer<std::string>> txt;   // one string per record, its
                                             // character-strings joined
};

// One libunbound context (with its cache). Not thread-safe: use one Resolver
// per thread. Errors (absl::Status) are local problems only: a bad option, a
// name that is not a DNS name, libunbound failing; what DNS said is data.
class Resolver {
 public:
  static absl::StatusOr<std::unique_ptr<Resolver>> Create(
      const ResolverOptions& options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  absl::StatusOr<DnsAnswers> Lookup(const DnsQueries& queries);

  absl::StatusOr<DnsAnswer<MxRecord>> LookupMx(absl::string_view domain);
  absl::StatusOr<DnsAnswer<std::string>> LookupA(absl::string_view name);
  absl::StatusOr<DnsAnswer<std::string>> LookupAaaa(absl::string_view name);
  absl::StatusOr<DnsAnswer<policy::TlsaRecord>> LookupTlsa(
      absl::string_view mx_host);
  absl::StatusOr<DnsAnswer<std::string>> LookupTxt(absl::string_view name);

 private:
  Resolver(ub_ctx* ctx, absl::Duration timeout)
      : ctx_(ctx), timeout_(timeout) {}

  ub_ctx* ctx_;
  absl::Duration timeout_;
};

}  // namespace starling::net

#endif  // STARLING_TOOLS_NET_RESOLVER_H_
