#include "core/policy/engine.h"

#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/policy/names.h"

namespace starling::policy {

using smtp::DeliveryVerdict;
using smtp::Destination;
using smtp::PolicyDecision;
using smtp::TlsProblem;

absl::string_view ChainVerdictName(ChainVerdict verdict) {
  switch (verdict) {
    case ChainVerdict::kNotChecked: return "not checked";
    case ChainVerdict::kTrusted: return "trusted";
    case ChainVerdict::kExpired: return "expired";
    case ChainVerdict::kNotYetValid: return "not yet valid";
    case ChainVerdict::kUntrustedRoot: return "untrusted root";
    case ChainVerdict::kSelfSigned: return "self-signed";
    case ChainVerdict::kBadSignature: return "bad signature";
    case ChainVerdict::kRevoked: return "revoked";
    case ChainVerdict::kIncompleteChain: return "incomplete chain";
    case ChainVerdict::kWeakKeyOrHash: return "weak key or hash";
    case ChainVerdict::kOtherFailure: return "other failure";
  }
  return "?";
}

absl::string_view ResultTypeForChain(ChainVerdict verdict) {
  switch (verdict) {
    case ChainVerdict::kExpired: return "certificate-expired";
    case ChainVerdict::kUntrustedRoot:
    case ChainVerdict::kSelfSigned:
    case ChainVerdict::kIncompleteChain: return "certificate-not-trusted";
    default: return "validation-failure";
  }
}

namespace {

enum class Check : uint8_t {
  kTls,            // TLS up, with the entry's version/cipher/FS floors
  kPkix,           // chain trusted by the store
  kTrustAnchor,    // ... and ending at a configured anchor
  kName,           // leaf matches the entry's names
  kPins,           // leaf certificate or SPKI SHA-256 pinned
  kIssuerSubject,  // leaf issuer/subject pinned (Exchange TlsCertificateName)
  kDaneMatch,      // a usable TLSA record authenticates the chain
  kDaneBogus,      // DNSSEC said bogus
  kDaneRequired,   // dane-only without TLSA records
  kDaneUnusable,   // dane-only with only unusable TLSA records
  kStsMx,          // MX host listed by the MTA-STS policy
  kStsCert,        // PKIX chain valid for the MX host (MTA-STS)
};

enum class Source : uint8_t { kEntry, kDane, kSts };

struct Rule {
  Check check;
  Source source;
  bool enforced;
};

using Rules = absl::InlinedVector<Rule, 12>;

absl::string_view CheckName(Check check) {
  switch (check) {
    case Check::kTls: return "tls";
    case Check::kPkix: return "pkix";
    case Check::kTrustAnchor: return "trust-anchor";
    case Check::kName: return "name";
    case Check::kPins: return "pin";
    case Check::kIssuerSubject: return "cert-name";
    case Check::kDaneMatch: return "dane";
    case Check::kDaneBogus: return "dnssec";
    case Check::kDaneRequired: return "dane-required";
    case Check::kDaneUnusable: return "tlsa-usable";
    case Check::kStsMx: return "sts-mx";
    case Check::kStsCert: return "sts-cert";
  }
  return "?";
}

bool NeedsTls(Check check) {
  return check != Check::kStsMx && check != Check::kDaneBogus &&
         check != Check::kDaneRequired && check != Check::kDaneUnusable;
}

// The context one evaluation runs in.
struct Context {
  const PolicyInputs& in;
  const Destination& destination;
  DaneStatus dane_status;
  bool ignore_recipient_policies;
};

// `with_pins`: whether the entry's pins and certificate names apply (not for
// a testing entry's floor: they are what is being tested).
void AddLevelRules(Level level, const PolicyEntry& e, DaneStatus dane,
                   bool enforced, bool with_pins, Rules* rules) {
  auto add = [&](Check c, Source s = Source::kEntry) {
    rules->push_back({c, s, enforced});
  };
  switch (level) {
    case Level::kNone:
    case Level::kMay:
      return;
    case Level::kEncrypt:
      add(Check::kTls);
      break;
    case Level::kFingerprint:
      add(Check::kTls);
      add(Check::kPins);
      break;
    case Level::kPkix:
    case Level::kVerify:
    case Level::kSecure:
      add(Check::kTls);
      add(Check::kPkix);
      if (!e.trust_anchors.empty()) add(Check::kTrustAnchor);
      if (level != Level::kPkix) add(Check::kName);
      break;
    case Level::kDane:
    case Level::kDaneOnly:
      switch (dane) {
        case DaneStatus::kUsable:
          add(Check::kTls);
          add(Check::kDaneMatch, Source::kDane);
          break;
        case DaneStatus::kAllUnusable:
          add(Check::kTls);
          if (level == Level::kDaneOnly) add(Check::kDaneUnusable, Source::kDane);
          break;
        case DaneStatus::kBogus:
          add(Check::kDaneBogus, Source::kDane);
          break;
        case DaneStatus::kNone:
          if (level == Level::kDaneOnly) add(Check::kDaneRequired, Source::kDane);
          return;
      }
      break;
  }
  if (!with_pins) return;
  if (level != Level::kFingerprint &&
      (!e.cert_pins.empty() || !e.spki_pins.empty()) &&
      (level != Level::kDane || dane != DaneStatus::kBogus)) {
    add(Check::kPins);
  }
  if (!e.issuer_subject_pins.empty() &&
      (level != Level::kDane || dane != DaneStatus::kBogus)) {
    add(Check::kIssuerSubject);
  }
}

Rules BuildRules(const Context& ctx) {
  const PolicyEntry& e = *ctx.in.entry;
  const DaneStatus dane =
      ctx.ignore_recipient_policies ? DaneStatus::kNone : ctx.dane_status;
  Rules rules;
  auto entry_rules = [&](Level level, bool enforced, bool with_pins) {
    Level effective = level;
    // Ignoring recipient policies turns the DANE levels into plain "may".
    if (ctx.ignore_recipient_policies &&
        (level == Level::kDane || level == Level::kDaneOnly)) {
      effective = Level::kMay;
    }
    AddLevelRules(effective, e, dane, enforced, with_pins, &rules);
  };
  if (e.testing) {
    entry_rules(e.level, /*enforced=*/false, /*with_pins=*/true);
    entry_rules(e.floor, /*enforced=*/true, /*with_pins=*/false);
  } else {
    entry_rules(e.level, /*enforced=*/true, /*with_pins=*/true);
  }
  bool dane_enforced = false;
  for (const Rule& r : rules) {
    dane_enforced |= r.check == Check::kDaneMatch && r.enforced;
  }
  const StsPolicy* sts = ctx.in.sts;
  if (!ctx.ignore_recipient_policies && e.mta_sts && sts != nullptr &&
      sts->mode != StsMode::kNone && !dane_enforced) {
    const bool enforced = sts->mode == StsMode::kEnforce;
    rules.push_back({Check::kStsMx, Source::kSts, enforced});
    rules.push_back({Check::kTls, Source::kSts, enforced});
    rules.push_back({Check::kStsCert, Source::kSts, enforced});
  }
  return rules;
}

// A reference identity: `name` itself, or (below) any name under it.
struct NameRef {
  absl::string_view name;
  bool below = false;
};
using NameRefs = absl::InlinedVector<NameRef, 4>;

// Reference names for the entry's name check.
NameRefs EntryNames(const Context& ctx) {
  const PolicyEntry& e = *ctx.in.entry;
  const Destination& d = ctx.destination;
  NameRefs names;
  auto add = [&](absl::string_view p) {
    if (p == "hostname") {
      names.push_back({d.mx_host});
    } else if (p == "nexthop") {
      names.push_back({d.next_hop_domain});
    } else if (p == "dot-nexthop") {
      names.push_back({d.next_hop_domain, true});
    } else if (!p.empty() && p[0] == '.') {
      names.push_back({p.substr(1), true});
    } else {
      names.push_back({p});
    }
  };
  if (!e.match.empty()) {
    for (const std::string& p : e.match) add(p);
  } else if (e.level == Level::kSecure) {
    add("nexthop");
    add("dot-nexthop");
  } else {
    add("hostname");
  }
  return names;
}

std::string NamesText(const NameRefs& names) {
  std::string out;
  for (const NameRef& n : names) {
    absl::StrAppend(&out, out.empty() ? "" : " or ", n.below ? "." : "", n.name);
  }
  return out;
}

bool LeafNameMatches(const TlsFacts& facts, const NameRefs& names) {
  if (facts.peer_chain.empty()) return false;
  for (const std::string& presented : facts.peer_chain[0].dns_names) {
    for (const NameRef& n : names) {
      if (n.below ? MatchBelow(presented, n.name) : MatchDnsId(presented, n.name)) {
        return true;
      }
    }
  }
  return false;
}

std::vector<std::string> DaneNames(const Destination& d) {
  return {d.mx_host, d.next_hop_domain};
}

// The digest of the leaf (or its SPKI) that a pin of this many hex digits
// names, as the TLS layer reported it (policy never hashes); empty for a
// length no digest has.
const std::string& LeafDigest(const CertificateFacts& leaf, bool spki,
                              size_t hex_digits) {
  static const std::string kNone;
  switch (hex_digits) {
    case 32: return spki ? leaf.spki_md5 : leaf.md5;
    case 40: return spki ? leaf.spki_sha1 : leaf.sha1;
    case 64: return spki ? leaf.spki_sha256 : leaf.sha256;
    case 128: return spki ? leaf.spki_sha512 : leaf.sha512;
    default: return kNone;
  }
}

struct Outcome {
  bool pass = true;
  absl::string_view result_type;  // when failed
};

// Lazily computed DANE match (several rules and the label may ask).
struct DaneCache {
  std::optional<DaneMatch> match;
  const DaneMatch& Get(const Context& ctx, const TlsFacts& facts) {
    if (!match.has_value()) {
      match = MatchDane(*ctx.in.dane, facts, DaneNames(ctx.destination),
                        ctx.in.now);
    }
    return *match;
  }
};

// Appends why the check passed or failed to *why (the caller's trace step,
// so a step is one allocation).
Outcome Evaluate(const Rule& rule, const Context& ctx, const TlsFacts* facts,
                 TlsProblem problem, DaneCache* dane, std::string* why) {
  const PolicyEntry& e = *ctx.in.entry;
  const Destination& d = ctx.destination;
  Outcome out;
  auto fail = [&](absl::string_view type, absl::string_view text) {
    out.pass = false;
    out.result_type = type;
    why->append(text.data(), text.size());
    return out;
  };
  switch (rule.check) {
    case Check::kDaneBogus:
      return fail("dnssec-invalid", "DNSSEC validation of the TLSA/MX records failed (bogus)");
    case Check::kDaneRequired:
      return fail("dane-required", "dane-only, but no DNSSEC-validated TLSA records");
    case Check::kDaneUnusable:
      return fail("tlsa-invalid", "dane-only, but every TLSA record is unusable");
    case Check::kStsMx:
      if (ctx.in.sts != nullptr && StsMxMatches(*ctx.in.sts, d.mx_host)) {
        absl::StrAppend(why, "MX ", d.mx_host, " is listed by the MTA-STS policy");
        return out;
      }
      return fail("validation-failure",
                  absl::StrCat("MX ", d.mx_host, " matches no MTA-STS mx pattern (",
                               ctx.in.sts == nullptr ? "" : absl::StrJoin(ctx.in.sts->mx, ", "),
                               ")"));
    default:
      break;
  }
  if (facts == nullptr) {
    return fail(problem == TlsProblem::kHandshakeFailed ? "validation-failure"
                                                       : "starttls-not-supported",
                "TLS is required");
  }
  const CertificateFacts* leaf =
      facts->peer_chain.empty() ? nullptr : &facts->peer_chain[0];
  switch (rule.check) {
    case Check::kTls: {
      if (facts->version < e.min_version) {
        return fail("validation-failure",
                    absl::StrCat(TlsVersionName(facts->version), " is below ",
                                 TlsVersionName(e.min_version)));
      }
      if (facts->version > e.max_version) {
        return fail("validation-failure",
                    absl::StrCat(TlsVersionName(facts->version), " is above ",
                                 TlsVersionName(e.max_version)));
      }
      for (const TlsVersion excluded : e.excluded_versions) {
        if (facts->version == excluded) {
          return fail("validation-failure",
                      absl::StrCat(TlsVersionName(facts->version),
                                   " is excluded by the policy"));
        }
      }
      const CipherGrade grade = GradeOfCipherSuite(facts->cipher_suite);
      if (grade < e.min_grade) {
        return fail("validation-failure",
                    absl::StrCat("cipher ", facts->cipher_suite, " is grade ",
                                 CipherGradeName(grade), ", below ",
                                 CipherGradeName(e.min_grade)));
      }
      for (const std::string& token : e.exclude) {
        if (CipherSuiteHasToken(facts->cipher_suite, token)) {
          return fail("validation-failure",
                      absl::StrCat("cipher ", facts->cipher_suite,
                                   " is excluded (", token, ")"));
        }
      }
      if (e.forward_secrecy && !facts->forward_secret) {
        return fail("validation-failure", "no forward secrecy");
      }
      absl::StrAppend(why, TlsVersionName(facts->version), " ",
                             facts->cipher_suite);
      return out;
    }
    case Check::kPkix:
      if (facts->chain_verdict != ChainVerdict::kTrusted) {
        return fail(ResultTypeForChain(facts->chain_verdict),
                    absl::StrCat("chain ", ChainVerdictName(facts->chain_verdict),
                                 facts->chain_detail.empty() ? "" : ": ",
                                 facts->chain_detail));
      }
      absl::StrAppend(why, "chain trusted by ", facts->trust_anchor_dn);
      return out;
    case Check::kTrustAnchor:
      for (const std::string& ta : e.trust_anchors) {
        if (facts->chain_verdict == ChainVerdict::kTrusted &&
            SameDistinguishedName(ta, facts->trust_anchor_dn)) {
          absl::StrAppend(why, "anchor ", ta, " is configured");
          return out;
        }
      }
      return fail("certificate-not-trusted",
                  absl::StrCat("anchor '", facts->trust_anchor_dn,
                               "' is not one of the configured anchors"));
    case Check::kName: {
      const NameRefs names = EntryNames(ctx);
      if (LeafNameMatches(*facts, names)) {
        absl::StrAppend(why, "certificate matches ", NamesText(names));
        return out;
      }
      return fail("certificate-host-mismatch",
                  absl::StrCat("certificate names [",
                               leaf == nullptr ? "" : absl::StrJoin(leaf->dns_names, ", "),
                               "] match none of ", NamesText(names)));
    }
    case Check::kPins: {
      if (leaf != nullptr) {
        for (const bool spki : {false, true}) {
          for (const std::string& pin : spki ? e.spki_pins : e.cert_pins) {
            const std::string& digest = LeafDigest(*leaf, spki, pin.size());
            if (!digest.empty() && absl::BytesToHexString(digest) == pin) {
              absl::StrAppend(why, spki ? "SPKI " : "certificate ",
                                     PinDigestName(pin), " ", pin,
                                     " is pinned");
              return out;
            }
          }
        }
        return fail("certificate-not-trusted",
                    absl::StrCat("certificate SHA-256 ",
                                 absl::BytesToHexString(leaf->sha256),
                                 " / SPKI ",
                                 absl::BytesToHexString(leaf->spki_sha256),
                                 " match no pin"));
      }
      return fail("certificate-not-trusted", "no certificate to match the pins");
    }
    case Check::kIssuerSubject:
      if (leaf != nullptr) {
        for (const IssuerSubjectPin& pin : e.issuer_subject_pins) {
          if (SameDistinguishedName(pin.issuer, leaf->issuer_dn) &&
              SameDistinguishedName(pin.subject, leaf->subject_dn)) {
            absl::StrAppend(why, "issuer and subject match <I>", pin.issuer,
                                   "<S>", pin.subject);
            return out;
          }
        }
        return fail("certificate-not-trusted",
                    absl::StrCat("<I>", leaf->issuer_dn, "<S>", leaf->subject_dn,
                                 " is not a configured certificate name"));
      }
      return fail("certificate-not-trusted", "no certificate to match the names");
    case Check::kDaneMatch: {
      const DaneMatch& m = dane->Get(ctx, *facts);
      if (m.authenticated) {
        why->append(m.trace.back());
        return out;
      }
      return fail("validation-failure", absl::StrJoin(m.trace, "; "));
    }
    case Check::kStsCert:
      if (facts->chain_verdict != ChainVerdict::kTrusted) {
        return fail(ResultTypeForChain(facts->chain_verdict),
                    absl::StrCat("MTA-STS needs a trusted chain; chain ",
                                 ChainVerdictName(facts->chain_verdict)));
      }
      if (!LeafNameMatches(*facts, {NameRef{d.mx_host}})) {
        return fail("certificate-host-mismatch",
                    absl::StrCat("certificate is not valid for MX ", d.mx_host));
      }
      absl::StrAppend(why, "trusted certificate valid for MX ", d.mx_host);
      return out;
    default:
      break;
  }
  return out;
}

absl::string_view SourceName(Source source) {
  switch (source) {
    case Source::kEntry: return "table";
    case Source::kDane: return "dane";
    case Source::kSts: return "mta-sts";
  }
  return "?";
}

// What a session established, in Postfix's terms (the "Anonymous /
// Untrusted / Trusted / Verified TLS connection established" of its log):
// "verified" only when an identity check the level demanded (names, pins,
// DANE, an enforced MTA-STS policy) passed and no check failed; otherwise
// "trusted" when the trust the level relies on holds (a pin or DANE match
// where those are the trust, else a chain the store trusts, ending at a
// configured anchor when there are any), else "untrusted".
struct SessionClass {
  bool identity_passed = false;    // a demanded identity check passed
  bool any_failure = false;        // a check failed, enforced or testing
  bool pin_or_dane_trust = false;  // the level trusts pins or DANE, not PKIX
  bool pin_or_dane_passed = false;
  bool anchor_failed = false;
};

bool IsIdentityCheck(Check check) {
  return check == Check::kName || check == Check::kPins ||
         check == Check::kDaneMatch || check == Check::kStsCert;
}

absl::string_view AuthClass(const TlsFacts* facts, const SessionClass& c) {
  if (facts == nullptr) return "plaintext";
  if (facts->peer_chain.empty()) return "anonymous";
  if (c.identity_passed && !c.any_failure) return "verified";
  const bool trusted =
      c.pin_or_dane_trust
          ? c.pin_or_dane_passed
          : facts->chain_verdict == ChainVerdict::kTrusted && !c.anchor_failed;
  return trusted ? "trusted" : "untrusted";
}

ConnectionEvaluation Decide(const PolicyInputs& in, const Destination& d,
                            const TlsFacts* facts, TlsProblem problem,
                            absl::string_view problem_detail,
                            bool ignore_recipient_policies) {
  const DaneStatus dane_status =
      in.dane == nullptr ? DaneStatus::kNone : ClassifyDane(*in.dane);
  const Context ctx{in, d, dane_status, ignore_recipient_policies};
  const PolicyEntry& e = *in.entry;
  const Rules rules = BuildRules(ctx);
  ConnectionEvaluation eval;
  PolicyDecision& decision = eval.decision;
  std::vector<std::string>& trace = decision.trace;
  // The header, up to three context lines, a line per rule, a pin line and
  // the verdict: one allocation for the list.
  trace.reserve(rules.size() + 6);
  std::string header = absl::StrCat("table: '", in.entry_key, "'");
  if (in.entry_line > 0 && in.entry_origin.empty()) {
    absl::StrAppend(&header, " (line ", in.entry_line, ")");
  } else if (in.entry_line > 0) {
    absl::StrAppend(&header, " (", in.entry_origin, ":", in.entry_line, ")");
  }
  absl::StrAppend(&header, " level ", LevelName(e.level));
  if (e.testing) absl::StrAppend(&header, " testing, floor ", LevelName(e.floor));
  trace.push_back(std::move(header));
  if (ignore_recipient_policies) {
    trace.push_back("TLS-Required: No: DANE and MTA-STS ignored");
  } else {
    if (in.dane != nullptr &&
        (e.level == Level::kDane || e.level == Level::kDaneOnly ||
         (e.testing && (e.floor == Level::kDane || e.floor == Level::kDaneOnly)))) {
      trace.push_back(absl::StrCat("dane: ", DaneStatusName(dane_status),
                                   " (DNSSEC ", DnssecStatusName(in.dane->dnssec),
                                   ", ", in.dane->records.size(), " TLSA)"));
    }
    if (in.sts != nullptr) {
      bool sts_rules = false;
      for (const Rule& r : rules) sts_rules |= r.source == Source::kSts;
      trace.push_back(absl::StrCat(
          "mta-sts: policy mode ", StsModeName(in.sts->mode),
          !e.mta_sts    ? ", disabled for this destination"
          : !sts_rules && in.sts->mode != StsMode::kNone
              ? ", outranked by DANE"
              : ""));
    }
    if (!in.sts_failure.empty()) {
      trace.push_back(absl::StrCat("mta-sts: ", in.sts_failure));
    }
  }
  if (facts == nullptr) {
    trace.push_back(absl::StrCat("no TLS: ", smtp::TlsProblemName(problem),
                                 problem_detail.empty() ? "" : ": ",
                                 problem_detail));
  }
  DaneCache dane;
  bool enforced_failure = false;
  bool pins_evaluated = false;
  bool pins_matched = false;
  absl::string_view testing_type;
  std::string testing_failure;
  absl::string_view reported_enforced, reported_testing;
  bool mandatory = false;
  SessionClass session;
  for (const Rule& rule : rules) {
    mandatory |= rule.enforced && NeedsTls(rule.check);
    std::string step = absl::StrCat("ok: ", CheckName(rule.check), " (",
                                    SourceName(rule.source), "): ");
    const Outcome o = Evaluate(rule, ctx, facts, problem, &dane, &step);
    if (rule.check == Check::kPins) {
      pins_evaluated = true;
      pins_matched |= o.pass;
    }
    // MTA-STS in testing demands nothing of the label; the table's own
    // testing level does (it is the level the label names).
    if (IsIdentityCheck(rule.check) &&
        (rule.enforced || rule.source != Source::kSts)) {
      session.identity_passed |= o.pass;
    }
    if ((rule.check == Check::kPins && e.level == Level::kFingerprint) ||
        rule.check == Check::kDaneMatch) {
      session.pin_or_dane_trust = true;
      session.pin_or_dane_passed |= o.pass;
    }
    session.any_failure |= !o.pass;
    session.anchor_failed |= !o.pass && rule.check == Check::kTrustAnchor;
    if (!o.pass) {
      step.replace(0, 2, rule.enforced ? "FAIL" : "testing, would fail");
      absl::StrAppend(&step, " [", o.result_type, "]");
    }
    if (o.pass) {
      trace.push_back(std::move(step));
      continue;
    }
    // The sender's own trust settings and the table's testing entries are
    // invisible to the recipient domain: TLS-RPT does not report them.
    const bool local = rule.source == Source::kEntry &&
                       (!rule.enforced || rule.check == Check::kPins ||
                        rule.check == Check::kIssuerSubject ||
                        rule.check == Check::kTrustAnchor);
    if (rule.enforced && !enforced_failure) {
      enforced_failure = true;
      decision.tlsrpt_result_type = std::string(o.result_type);
      eval.first_failure = step;
    } else if (!rule.enforced && testing_type.empty()) {
      testing_type = o.result_type;
      testing_failure = step;
    }
    if (!local && rule.enforced && reported_enforced.empty()) {
      reported_enforced = o.result_type;
    } else if (!local && !rule.enforced && reported_testing.empty()) {
      reported_testing = o.result_type;
    }
    trace.push_back(std::move(step));
  }
  // Configured pins authenticate the hop (RFC 8689 §4.2.1, the label's
  // "verified") at every level, not only where the level enforces them: a
  // stricter level must never accept what a looser one refused
  // (docs/policy.md, "REQUIRETLS"). Where the level does not check them they
  // are evaluated for that alone and never refuse anything.
  if (!pins_evaluated && facts != nullptr &&
      (!e.cert_pins.empty() || !e.spki_pins.empty())) {
    std::string step = "pin (table, not checked at this level): ";
    const Outcome o = Evaluate({Check::kPins, Source::kEntry, false}, ctx, facts,
                               problem, &dane, &step);
    pins_matched = o.pass;
    step.append(o.pass ? ": authenticates the hop"
                       : ": the hop is not authenticated by pin");
    trace.push_back(std::move(step));
  }
  // A failed handshake where TLS was optional still defers this attempt
  // (the connection is gone): that is a failure, and TLS-RPT calls it
  // validation-failure (RFC 8460 §4.3.2, as OpportunisticTlsPolicy does).
  if (!enforced_failure && facts == nullptr &&
      problem == TlsProblem::kHandshakeFailed) {
    trace.push_back(absl::StrCat(
        "FAIL: handshake (connection): the TLS handshake failed",
        problem_detail.empty() ? "" : ": ", problem_detail,
        "; the connection is gone [validation-failure]"));
    decision.tlsrpt_result_type = "validation-failure";
    eval.first_failure = trace.back();
    if (reported_enforced.empty()) reported_enforced = "validation-failure";
  }
  if (decision.tlsrpt_result_type.empty() && !testing_type.empty()) {
    decision.tlsrpt_result_type = std::string(testing_type);
    eval.first_failure = std::move(testing_failure);
  }
  const bool sts_failed =
      !in.sts_failure.empty() && !ignore_recipient_policies;
  if (decision.tlsrpt_result_type.empty() && sts_failed) {
    decision.tlsrpt_result_type = std::string(in.sts_failure);
  }
  eval.reported_result_type = std::string(
      !reported_enforced.empty()   ? reported_enforced
      : !reported_testing.empty() ? reported_testing
      : sts_failed                ? absl::string_view(in.sts_failure)
                                  : absl::string_view());

  // Mechanism for the label: DANE when it is enforced, else MTA-STS when it
  // is enforced, else the table's level.
  bool dane_enforced = false, sts_enforced = false;
  for (const Rule& r : rules) {
    dane_enforced |= r.enforced && r.source == Source::kDane;
    sts_enforced |= r.enforced && r.source == Source::kSts;
  }
  const absl::string_view mechanism = dane_enforced  ? "dane"
                                      : sts_enforced ? "sts"
                                                     : LevelName(e.level);
  decision.label = absl::StrCat(mechanism, ":", AuthClass(facts, session));

  if (enforced_failure) {
    decision.verdict = d.last_mx ? DeliveryVerdict::kDefer : DeliveryVerdict::kTryNextMx;
  } else if (facts != nullptr) {
    decision.verdict = DeliveryVerdict::kProceedTls;
  } else if (problem == TlsProblem::kHandshakeFailed) {
    // The connection is gone; a later attempt may run without TLS.
    decision.verdict = DeliveryVerdict::kDefer;
  } else {
    decision.verdict = DeliveryVerdict::kProceedPlaintext;
  }
  trace.push_back(absl::StrCat(
      "verdict: ", smtp::DeliveryVerdictName(decision.verdict), " (",
      decision.label, mandatory ? ", TLS mandatory" : ", TLS optional", ")"));

  // RFC 8689 authentication of this hop.
  if (facts != nullptr && !facts->peer_chain.empty()) {
    const bool trusted = facts->chain_verdict == ChainVerdict::kTrusted;
    if (dane_status == DaneStatus::kUsable && !ignore_recipient_policies &&
        dane.Get(ctx, *facts).authenticated) {
      eval.authenticated_by = "dane";
    } else if (pins_matched) {
      eval.authenticated_by = "pin";
    } else if (trusted && in.sts != nullptr && in.sts->mode != StsMode::kNone &&
               !ignore_recipient_policies && StsMxMatches(*in.sts, d.mx_host) &&
               LeafNameMatches(*facts, {NameRef{d.mx_host}})) {
      eval.authenticated_by = "sts";
    } else if (trusted &&
               LeafNameMatches(*facts, {NameRef{d.next_hop_domain},
                                        NameRef{d.next_hop_domain, true}})) {
      eval.authenticated_by = "nexthop";
    }
    eval.authenticated = !eval.authenticated_by.empty();
  }
  return eval;
}

bool Proceeds(DeliveryVerdict v) {
  return v == DeliveryVerdict::kProceedTls || v == DeliveryVerdict::kProceedPlaintext;
}

// Why a connection that was good enough for its policy is not good enough
// for a REQUIRETLS message, as an RFC 8460 result type.
absl::string_view RequireTlsResultType(const TlsFacts* tls,
                                       const ConnectionEvaluation& connection) {
  if (tls == nullptr) return "starttls-not-supported";
  if (!connection.authenticated) {
    if (tls->peer_chain.empty()) return "certificate-not-trusted";
    if (tls->chain_verdict != ChainVerdict::kTrusted) {
      return ResultTypeForChain(tls->chain_verdict);
    }
    // Trusted, but for no name that authenticates this hop.
    return "certificate-host-mismatch";
  }
  // Authenticated TLS without REQUIRETLS in the EHLO reply: RFC 8460 has no
  // name of its own for that; validation-failure is its general failure.
  return "validation-failure";
}

ConnectionEvaluation DecideWithRelaxed(const PolicyInputs& in,
                                       const Destination& d,
                                       const TlsFacts* facts,
                                       TlsProblem problem,
                                       absl::string_view detail) {
  ConnectionEvaluation eval = Decide(in, d, facts, problem, detail, false);
  if (!Proceeds(eval.decision.verdict) &&
      (in.dane != nullptr || in.sts != nullptr)) {
    ConnectionEvaluation relaxed = Decide(in, d, facts, problem, detail, true);
    if (Proceeds(relaxed.decision.verdict)) {
      eval.without_recipient_policies = std::move(relaxed.decision);
    }
  }
  return eval;
}

}  // namespace

PolicyDecision CheckMx(const PolicyInputs& in, const Destination& d) {
  const DaneStatus dane_status =
      in.dane == nullptr ? DaneStatus::kNone : ClassifyDane(*in.dane);
  const Context ctx{in, d, dane_status, false};
  PolicyDecision decision;
  bool mandatory = false;
  bool refused = false;
  for (const Rule& rule : BuildRules(ctx)) {
    mandatory |= rule.enforced && NeedsTls(rule.check);
    if (NeedsTls(rule.check)) continue;
    DaneCache unused;
    std::string why;
    const Outcome o =
        Evaluate(rule, ctx, nullptr, TlsProblem::kNotAttempted, &unused, &why);
    if (o.pass) continue;
    decision.trace.push_back(absl::StrCat(
        rule.enforced ? "FAIL: " : "testing, would fail: ", CheckName(rule.check),
        ": ", why, " [", o.result_type, "]"));
    if (decision.tlsrpt_result_type.empty() || (rule.enforced && !refused)) {
      decision.tlsrpt_result_type = std::string(o.result_type);
    }
    refused |= rule.enforced;
  }
  decision.label = std::string(LevelName(in.entry->level));
  if (refused) {
    decision.verdict = d.last_mx ? DeliveryVerdict::kDefer : DeliveryVerdict::kTryNextMx;
  } else {
    decision.verdict = mandatory ? DeliveryVerdict::kProceedTls
                                 : DeliveryVerdict::kProceedPlaintext;
  }
  decision.trace.push_back(absl::StrCat(
      "mx ", d.mx_host, ": ", smtp::DeliveryVerdictName(decision.verdict)));
  return decision;
}

smtp::StartTlsIntent DecideStartTls(const PolicyInputs& in, const Destination& d) {
  const DaneStatus dane_status =
      in.dane == nullptr ? DaneStatus::kNone : ClassifyDane(*in.dane);
  const Context ctx{in, d, dane_status, false};
  const PolicyEntry& e = *in.entry;
  smtp::StartTlsIntent intent;
  for (const Rule& rule : BuildRules(ctx)) {
    intent.mandatory |= rule.enforced && NeedsTls(rule.check);
  }
  intent.attempt = e.level != Level::kNone || intent.mandatory;
  if (e.sni.empty() || e.sni == "hostname") {
    intent.sni = d.mx_host;
  } else if (e.sni == "nexthop") {
    intent.sni = d.next_hop_domain;
  } else if (e.sni != "none") {
    intent.sni = e.sni;
  }
  intent.label = std::string(LevelName(e.level));
  return intent;
}

ConnectionEvaluation EvaluateHandshake(const PolicyInputs& in,
                                       const Destination& d,
                                       const TlsFacts& facts) {
  return DecideWithRelaxed(in, d, &facts, TlsProblem::kNotAttempted, "");
}

ConnectionEvaluation EvaluateWithoutTls(const PolicyInputs& in,
                                        const Destination& d,
                                        TlsProblem problem,
                                        absl::string_view detail) {
  return DecideWithRelaxed(in, d, nullptr, problem, detail);
}

PolicyDecision DecideMessage(const smtp::MessageTlsFlags& flags,
                             const smtp::EhloCapabilities& caps,
                             const TlsFacts* tls,
                             const ConnectionEvaluation& connection) {
  PolicyDecision decision = connection.decision;
  if (flags.requiretls) {
    if (!Proceeds(decision.verdict)) return decision;
    if (tls == nullptr || !connection.authenticated || !caps.requiretls) {
      decision.verdict = DeliveryVerdict::kBounce;
      // The refusal is this message's: its result type names what the hop
      // lacked, whatever the connection's own decision reported.
      decision.tlsrpt_result_type =
          std::string(RequireTlsResultType(tls, connection));
      decision.trace.push_back(absl::StrCat(
          "REQUIRETLS: 5.7.10 ",
          tls == nullptr               ? "the connection is not TLS"
          : !connection.authenticated ? "the hop is not authenticated (DANE, "
                                        "MTA-STS, pin or next-hop name)"
                                      : "the hop does not advertise REQUIRETLS",
          flags.tls_required_no ? " (TLS-Required: No ignored, RFC 8689 §4.1)"
                                : "",
          " [", decision.tlsrpt_result_type, "]"));
      return decision;
    }
    decision.trace.push_back(absl::StrCat(
        "REQUIRETLS: hop authenticated by ", connection.authenticated_by,
        " and advertises REQUIRETLS"));
    return decision;
  }
  if (flags.tls_required_no && !Proceeds(decision.verdict) &&
      connection.without_recipient_policies.has_value()) {
    decision = *connection.without_recipient_policies;
    decision.trace.push_back(
        "TLS-Required: No: DANE/MTA-STS failures are not fatal for this message");
  }
  return decision;
}

}  // namespace starling::policy
