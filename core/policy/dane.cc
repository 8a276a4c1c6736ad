#include "core/policy/dane.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/policy/names.h"

namespace starling::policy {

absl::string_view DnssecStatusName(DnssecStatus status) {
  switch (status) {
    case DnssecStatus::kSecure: return "secure";
    case DnssecStatus::kInsecure: return "insecure";
    case DnssecStatus::kBogus: return "bogus";
  }
  return "?";
}

absl::string_view DaneStatusName(DaneStatus status) {
  switch (status) {
    case DaneStatus::kNone: return "no DANE";
    case DaneStatus::kUsable: return "usable TLSA";
    case DaneStatus::kAllUnusable: return "all TLSA records unusable";
    case DaneStatus::kBogus: return "DNSSEC bogus";
  }
  return "?";
}

absl::StatusOr<TlsaRecord> ParseTlsaRecord(absl::string_view text) {
  std::vector<absl::string_view> fields =
      absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (fields.size() < 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad TLSA record '", text, "' (usage selector matching-type hex)"));
  }
  uint32_t numbers[3];
  for (int i = 0; i < 3; ++i) {
    if (!absl::SimpleAtoi(fields[i], &numbers[i]) || numbers[i] > 255) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad TLSA field '", fields[i], "' (a number 0..255)"));
    }
  }
  std::string hex;
  for (size_t i = 3; i < fields.size(); ++i) hex.append(fields[i].data(), fields[i].size());
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError("TLSA data: odd number of hex digits");
  }
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("TLSA data: not hex");
    }
  }
  TlsaRecord record;
  record.usage = static_cast<uint8_t>(numbers[0]);
  record.selector = static_cast<uint8_t>(numbers[1]);
  record.matching_type = static_cast<uint8_t>(numbers[2]);
  record.data = absl::HexStringToBytes(hex);
  return record;
}

std::string TlsaRecordText(const TlsaRecord& r) {
  return absl::StrCat(r.usage, " ", r.selector, " ", r.matching_type, " ",
                      absl::BytesToHexString(r.data));
}

std::string TlsaUnusableReason(const TlsaRecord& r) {
  if (r.usage != 2 && r.usage != 3) {
    return absl::StrCat("usage ", r.usage,
                        r.usage <= 1 ? " (PKIX-TA/EE) is not used in SMTP"
                                     : " is unknown");
  }
  if (r.selector > 1) return absl::StrCat("selector ", r.selector, " is unknown");
  if (r.matching_type > 2) {
    return absl::StrCat("matching type ", r.matching_type, " is unknown");
  }
  if (r.matching_type == 1 && r.data.size() != 32) {
    return "SHA-256 data is not 32 bytes";
  }
  if (r.matching_type == 2 && r.data.size() != 64) {
    return "SHA-512 data is not 64 bytes";
  }
  if (r.data.empty()) return "empty association data";
  return "";
}

DaneStatus ClassifyDane(const DaneState& state) {
  if (state.dnssec == DnssecStatus::kBogus) return DaneStatus::kBogus;
  if (state.dnssec == DnssecStatus::kInsecure || state.records.empty()) {
    return DaneStatus::kNone;
  }
  for (const TlsaRecord& r : state.records) {
    if (TlsaUnusableReason(r).empty()) return DaneStatus::kUsable;
  }
  return DaneStatus::kAllUnusable;
}

namespace {

// RFC 6698 §2.1: the selected part of the certificate, in full or by the
// digest the TLS layer reported (policy never hashes). A digest the facts
// lack never matches.
bool Matches(const TlsaRecord& r, const CertificateFacts& cert) {
  const bool full = r.selector == 0;
  const std::string* selected = nullptr;
  switch (r.matching_type) {
    case 0: selected = full ? &cert.der : &cert.spki_der; break;
    case 1: selected = full ? &cert.sha256 : &cert.spki_sha256; break;
    case 2: selected = full ? &cert.sha512 : &cert.spki_sha512; break;
    default: return false;
  }
  return !selected->empty() && *selected == r.data;
}

bool ValidAt(const CertificateFacts& cert, absl::Time now) {
  return cert.not_before <= now && now <= cert.not_after;
}

// Why a DANE-TA match at chain[depth] does not authenticate, or empty.
std::string TaChainProblem(const TlsFacts& facts, size_t depth,
                           const std::vector<std::string>& names,
                           absl::Time now) {
  if (facts.chain_verdict == ChainVerdict::kBadSignature ||
      facts.chain_verdict == ChainVerdict::kRevoked) {
    return "the TLS layer reported a bad signature or revocation";
  }
  for (size_t i = 0; i < depth; ++i) {
    const CertificateFacts& cert = facts.peer_chain[i];
    if (!SameDistinguishedName(cert.issuer_dn,
                               facts.peer_chain[i + 1].subject_dn)) {
      return absl::StrCat("certificate ", i, " is not issued by certificate ",
                          i + 1);
    }
    if (!ValidAt(cert, now)) {
      return absl::StrCat("certificate ", i, " is outside its validity window");
    }
  }
  for (const std::string& name : names) {
    if (CertificateMatches(facts.peer_chain[0], name)) return "";
  }
  return "the leaf matches none of the names";
}

}  // namespace

DaneMatch MatchDane(const DaneState& state, const TlsFacts& facts,
                    const std::vector<std::string>& names, absl::Time now) {
  DaneMatch result;
  if (facts.peer_chain.empty()) {
    result.trace.push_back("DANE: the server sent no certificate");
    return result;
  }
  for (const TlsaRecord& r : state.records) {
    const std::string unusable = TlsaUnusableReason(r);
    const std::string text = TlsaRecordText(r);
    if (!unusable.empty()) {
      result.trace.push_back(absl::StrCat("DANE: skip TLSA ", text, ": ", unusable));
      continue;
    }
    if (r.usage == 3) {
      if (Matches(r, facts.peer_chain[0])) {
        result.authenticated = true;
        result.trace.push_back(absl::StrCat(
            "DANE: leaf matches DANE-EE TLSA ", text,
            " (names and validity not checked, RFC 7672 §3.1.1)"));
        return result;
      }
      continue;
    }
    for (size_t depth = 1; depth < facts.peer_chain.size(); ++depth) {
      if (!Matches(r, facts.peer_chain[depth])) continue;
      const std::string problem = TaChainProblem(facts, depth, names, now);
      if (problem.empty()) {
        result.authenticated = true;
        result.trace.push_back(absl::StrCat(
            "DANE: certificate ", depth, " matches DANE-TA TLSA ", text,
            "; chain and name check out"));
        return result;
      }
      result.trace.push_back(absl::StrCat("DANE: certificate ", depth,
                                          " matches DANE-TA TLSA ", text,
                                          " but ", problem));
    }
  }
  result.trace.push_back("DANE: no usable TLSA record matches the chain");
  return result;
}

}  // namespace starling::policy
