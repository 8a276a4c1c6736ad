#ifndef STARLING_SIM_DNS_H_
#define STARLING_SIM_DNS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/random.h"

namespace starling::sim {

// What a validating resolver concluded about an RRset. kBogus answers are
// handed out with their records, as with the CD bit set, so that the policy
// can report dnssec-invalid instead of seeing a bare SERVFAIL.
enum class DnssecStatus : uint8_t { kSecure, kInsecure, kBogus };

absl::string_view DnssecStatusName(DnssecStatus status);

struct MxRecord {
  uint16_t preference = 0;
  std::string host;  // lower case, no trailing dot ("." stays: null MX)
  friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

// A TLSA record as DNS carries it (RFC 6698 §2.1). The simulator's own plain
// copy; the policy engine has its own type.
struct TlsaRecord {
  uint8_t usage = 0;
  uint8_t selector = 0;
  uint8_t matching_type = 0;
  std::string data;  // raw association data
  friend bool operator==(const TlsaRecord&, const TlsaRecord&) = default;
};

// A per-name failure, whatever records the name has.
enum class NameFault : uint8_t {
  kNone,
  kNxDomain,  // lookups fail with kNotFound
  kServFail,  // lookups fail with kUnavailable
};

template <typename Record>
struct DnsAnswer {
  std::vector<Record> records;  // empty: the name exists, the type does not
  DnssecStatus dnssec = DnssecStatus::kInsecure;
};

// The simulated world's DNS as plain data, filled in by a scenario and asked
// by the sending MTA. Names are case-insensitive and a trailing dot is
// ignored. A name with no record of any type is NXDOMAIN (kNotFound); a name
// that has records, but none of the type asked, gives an empty answer
// (NODATA). No CNAMEs, wildcards, TTLs or truncation.
class DnsModel {
 public:
  void AddMx(absl::string_view domain, uint16_t preference,
             absl::string_view host);
  void AddA(absl::string_view name, absl::string_view address);
  void AddAaaa(absl::string_view name, absl::string_view address);
  // A TLSA record at _25._tcp.<mx_host>.
  void AddTlsa(absl::string_view mx_host, TlsaRecord record);
  void AddTxt(absl::string_view name, absl::string_view text);
  // TXT at _mta-sts.<domain> (RFC 8461 §3.1), e.g. "v=STSv1; id=20240101".
  void AddMtaStsTxt(absl::string_view domain, absl::string_view text);
  // TXT at _smtp._tls.<domain> (RFC 8460 §3), e.g.
  // "v=TLSRPTv1; rua=mailto:tlsrpt@example.com".
  void AddTlsRptTxt(absl::string_view domain, absl::string_view text);
  // The DNSSEC status of every RRset at `name` (default kInsecure).
  void SetDnssec(absl::string_view name, DnssecStatus status);
  void SetFault(absl::string_view name, NameFault fault);

  // MX hosts by ascending preference; hosts of equal preference are shuffled
  // with `random` (RFC 5321 §5.1), so the order depends only on the seed.
  absl::StatusOr<DnsAnswer<MxRecord>> LookupMx(absl::string_view domain,
                                               Random& random) const;
  absl::StatusOr<DnsAnswer<std::string>> LookupA(absl::string_view name) const;
  absl::StatusOr<DnsAnswer<std::string>> LookupAaaa(
      absl::string_view name) const;
  absl::StatusOr<DnsAnswer<TlsaRecord>> LookupTlsa(
      absl::string_view mx_host) const;
  absl::StatusOr<DnsAnswer<std::string>> LookupTxt(
      absl::string_view name) const;
  absl::StatusOr<DnsAnswer<std::string>> LookupMtaStsTxt(
      absl::string_view domain) const;
  absl::StatusOr<DnsAnswer<std::string>> LookupTlsRptTxt(
      absl::string_view domain) const;

  // Canonical form of a name: lower case, without a trailing dot.
  static std::string Canonical(absl::string_view name);
  static std::string TlsaName(absl::string_view mx_host);
  static std::string MtaStsName(absl::string_view domain);
  static std::string TlsRptName(absl::string_view domain);

 private:
  struct Node {
    std::vector<MxRecord> mx;
    std::vector<std::string> a;
    std::vector<std::string> aaaa;
    std::vector<TlsaRecord> tlsa;
    std::vector<std::string> txt;
    DnssecStatus dnssec = DnssecStatus::kInsecure;
    NameFault fault = NameFault::kNone;
    bool HasRecords() const {
      return !mx.empty() || !a.empty() || !aaaa.empty() || !tlsa.empty() ||
             !txt.empty();
    }
  };

  // The node for `name` when it resolves, else NXDOMAIN or SERVFAIL.
  absl::StatusOr<const Node*> Resolve(const std::string& name,
                                      absl::string_view type) const;

  std::map<std::string, Node> names_;
};

}  // namespace starling::sim

#endif  // STARLING_SIM_DNS_H_
