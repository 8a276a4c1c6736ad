#ifndef STARLING_TOOLS_NET_DESTINATION_H_
#define STARLING_TOOLS_NET_DESTINATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/dane.h"
#include "core/policy/hook.h"
#include "core/policy/mta_sts.h"
#include "tools/net/resolver.h"
#include "tools/net/sts_cache.h"
#include "tools/net/sts_fetcher.h"
#include "tools/net/tlsrpt_record.h"

namespace starling::net {

// Everything a delivery to one domain needs before the first connection:
// the MX hosts with their addresses and DANE state, the MTA-STS policy in
// force and where TLS reports go. Plain data: a CLI prints it, a sender
// feeds `hosts[i].dane` and `mta_sts.resolution` to the policy engine.

enum class MxStatus : uint8_t {
  kFound,           // MX records
  kImplicit,        // no MX records: the domain itself (RFC 5321 §5.1)
  kNullMx,          // "0 ." (RFC 7505): the domain accepts no mail
  kNoSuchDomain,    // NXDOMAIN
  kTemporaryError,  // SERVFAIL or timeout: try again later
  kBogus,           // DNSSEC validation failed: try again later (RFC 7672
                    // §2.2.1), never use the records
};

absl::string_view MxStatusName(MxStatus status);  // "found", ...

struct MxHost {
  uint16_t preference = 0;
  std::string host;
  DnsAnswer<std::string> a;
  DnsAnswer<std::string> aaaa;
  DnsAnswer<policy::TlsaRecord> tlsa;  // _25._tcp.<host>
  policy::DaneState dane;              // what the policy engine gets
  std::string dane_reason;             // why `dane` is what it is
};

struct MtaStsResult {
  DnsAnswer<std::string> txt;        // _mta-sts.<domain>
  policy::StsTxtLookup txt_lookup;   // what ResolveSts was told
  std::string txt_problem;           // why TXT records there did not count
  std::optional<policy::StsCacheEntry> cached;  // the cache before
  std::optional<policy::StsFetch> fetch;        // when a fetch happened
  policy::StsResolution resolution;  // policy in force, RFC 8460 failure
                                     // type, trace; its `cache` is stored
  std::string cache_error;           // the cache could not be read/written
};

struct TlsRptResult {
  enum class Status : uint8_t { kFound, kAbsent, kInvalid, kTemporaryError };
  DnsAnswer<std::string> txt;  // _smtp._tls.<domain>
  Status status = Status::kAbsent;
  std::vector<std::string> rua;
  std::string problem;  // why the records are invalid, or the lookup failed
};

struct DestinationResolution {
  std::string domain;  // lower case, no trailing dot
  MxStatus mx_status = MxStatus::kTemporaryError;
  DnsAnswer<MxRecord> mx;
  // kFound / kImplicit: the hosts by ascending preference, DNS order among
  // equals (shuffling them, RFC 5321 §5.1, is the sender's job). Empty with
  // kFound when every MX record had to be skipped (see `notes`).
  std::vector<MxHost> hosts;
  std::vector<std::string> notes;  // MX records that were skipped, and why
  MtaStsResult mta_sts;
  TlsRptResult tls_rpt;
};

// Resolves `domain`: MX (with the RFC 5321 / RFC 7505 rules), then per host
// A, AAAA and TLSA in parallel; the _mta-sts TXT, the cache in `cache` (may
// be null: no cache) and, when ResolveSts needs it, a policy fetch; the
// _smtp._tls TXT. `now` is the only time that decides (cache validity,
// fetched_at). The cache file is updated to what ResolveSts says to cache.
// Errors are local problems: `domain` is not a domain name, the resolver or
// the fetcher failed locally; everything DNS and HTTPS said is in the result.
absl::StatusOr<DestinationResolution> ResolveDestination(
    absl::string_view domain, Resolver& resolver,
    const StsPolicyFetcher& fetcher, const StsCache* cache, absl::Time now);

// What the policy engine is told about the destination at `now`: each
// host's DANE state, the MTA-STS policy in force and the RFC 8460 type of a
// failed policy fetch.
policy::DestinationState DestinationStateFor(const DestinationResolution& r,
                                             absl::Time now);

// The DANE state of one MX host (RFC 7672 §2.2): DANE applies only when the
// MX RRset (or for an implicit MX its denial) is secure and so are the
// host's address records; then a secure TLSA RRset counts, a secure denial
// means no TLSA, a bogus one is bogus, and a TLSA lookup that failed
// (SERVFAIL, timeout) cannot show that DANE does not apply, so it counts as
// bogus too (defer rather than downgrade). `reason` says which rule decided.
policy::DaneState DaneStateFor(policy::DnssecStatus mx_dnssec,
                               const DnsAnswer<std::string>& a,
                               const DnsAnswer<std::string>& aaaa,
                               const DnsAnswer<policy::TlsaRecord>& tlsa,
                               std::string* reason);

// What ResolveSts is told about the _mta-sts TXT answer: found with the id
// of the single v=STSv1 record; absent for NXDOMAIN, NODATA, no such record
// or an unusable set (several records, bad syntax: RFC 8461 §3.1, `problem`
// says which); a temporary error for SERVFAIL, timeouts and bogus answers
// (so a cached policy stays in force).
policy::StsTxtLookup StsTxtLookupFor(const DnsAnswer<std::string>& txt,
                                     std::string* problem);

// The TLS-RPT record from the _smtp._tls TXT answer.
TlsRptResult TlsRptResultFor(DnsAnswer<std::string> txt);

}  // namespace starling::net

#endif  // STARLING_TOOLS_NET_DESTINATION_H_
