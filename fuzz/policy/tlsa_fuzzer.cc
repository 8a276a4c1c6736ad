// DANE evaluation on fuzzer-built TLSA records and chains: it never crashes,
// only authenticates with a usable record, and the engine's verdict agrees.
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "core/policy/dane.h"
#include "core/policy/engine.h"
#include "fuzz/fuzz_input.h"

namespace {

using namespace starling;
using namespace starling::policy;

std::string Pick(fuzz::FuzzInput& in, const char* const* options, size_t n) {
  return options[in.Below(n)];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using fuzz::Require;
  fuzz::FuzzInput in(data, size);
  static const char* const kDns[] = {"CN=a", "CN=b", "CN=c"};
  static const char* const kNames[] = {"mx.example.com", "*.example.com", "other.example", "*.com", ""};
  TlsFacts facts;
  facts.version = static_cast<TlsVersion>(in.Below(5));
  facts.cipher_suite = "TLS_AES_128_GCM_SHA256";
  facts.forward_secret = in.Bool();
  facts.chain_verdict = static_cast<ChainVerdict>(in.Below(11));
  const size_t chain = in.Below(4);
  for (size_t i = 0; i < chain; ++i) {
    CertificateFacts c;
    c.subject_dn = Pick(in, kDns, 3);
    c.issuer_dn = Pick(in, kDns, 3);
    c.dns_names.push_back(Pick(in, kNames, 5));
    c.not_before = absl::FromUnixSeconds(static_cast<int64_t>(in.Below(4)) * 1000);
    c.not_after = absl::FromUnixSeconds(static_cast<int64_t>(in.Below(4)) * 1000);
    c.der = std::string(in.Bytes(in.Below(8)));
    c.spki_der = std::string(in.Bytes(in.Below(8)));
    // Digests are the TLS layer's to compute: here any bytes of the right size.
    c.sha256 = std::string(in.Bytes(32));
    c.spki_sha256 = std::string(in.Bytes(32));
    c.sha512 = std::string(in.Bytes(64));
    c.spki_sha512 = std::string(in.Bytes(64));
    facts.peer_chain.push_back(c);
  }
  DaneState state;
  state.dnssec = static_cast<DnssecStatus>(in.Below(3));
  const size_t records = in.Below(4);
  for (size_t i = 0; i < records; ++i) {
    TlsaRecord r;
    r.usage = in.Byte() % 5;
    r.selector = in.Byte() % 3;
    r.matching_type = in.Byte() % 4;
    // Often the digest of a real chain element, so matches happen.
    if (in.Bool() && !facts.peer_chain.empty()) {
      const CertificateFacts& c = facts.peer_chain[in.Below(facts.peer_chain.size())];
      const bool full = r.selector == 0;
      r.data = r.matching_type == 1   ? (full ? c.sha256 : c.spki_sha256)
               : r.matching_type == 2 ? (full ? c.sha512 : c.spki_sha512)
                                      : (full ? c.der : c.spki_der);
    } else {
      r.data = std::string(in.Bytes(in.Below(70)));
    }
    state.records.push_back(r);
  }
  const absl::Time now = absl::FromUnixSeconds(static_cast<int64_t>(in.Below(4)) * 1000);
  const DaneMatch match = MatchDane(state, facts, {"mx.example.com", "example.com"}, now);
  Require(!match.trace.empty());
  bool any_usable = false;
  for (const TlsaRecord& r : state.records) any_usable |= TlsaUnusableReason(r).empty();
  if (match.authenticated) Require(any_usable && !facts.peer_chain.empty());

  PolicyEntry entry;
  entry.level = in.Bool() ? Level::kDane : Level::kDaneOnly;
  entry.forward_secrecy = false;
  entry.min_version = TlsVersion::kUnknown;
  PolicyInputs inputs;
  inputs.entry = &entry;
  inputs.dane = &state;
  inputs.now = now;
  const smtp::Destination destination{"example.com", "mx.example.com", 0, true};
  const ConnectionEvaluation eval = EvaluateHandshake(inputs, destination, facts);
  const bool accepted = eval.decision.verdict == smtp::DeliveryVerdict::kProceedTls;
  if (ClassifyDane(state) == DaneStatus::kUsable) Require(accepted == match.authenticated);
  if (ClassifyDane(state) == DaneStatus::kBogus) Require(!accepted);
  Require(!eval.decision.trace.empty() && !eval.decision.label.empty());
  return 0;
}
