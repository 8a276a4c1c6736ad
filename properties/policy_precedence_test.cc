// TLS policy precedence across the whole decision path (docs/properties.md):
// CheckMx -> EvaluateHandshake / EvaluateWithoutTls -> DecideMessage, and
// the same path through PolicyEngineHook inside a ClientSession talking to
// a ServerSession. core/policy/engine_property_test.cc already checks the
// lattice one dimension at a time at the connection level; here every
// dimension of a destination moves at once and the message-level outcome
// is judged:
//  - usable DANE at an enforced DANE level governs: the MTA-STS policy,
//    whatever its mode, changes nothing (RFC 8461 §2, RFC 7672) and the
//    trace says it was outranked;
//  - monotonicity: a stricter level, enforcement instead of testing, an
//    STS policy in enforce instead of testing mode, REQUIRETLS on the
//    message: each alone or together never accept what the looser world
//    refused, nor allow plaintext it did not allow;
//  - testing (an STS policy in testing mode, a table entry in testing)
//    never blocks delivery, and reports what enforcing would have refused;
//  - REQUIRETLS never goes in plaintext (engine and client session);
//  - every refusal carries an RFC 8460 result type, every decision an
//    explanation (label and trace).
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/policy/dane.h"
#include "core/policy/engine.h"
#include "core/policy/hook.h"
#include "core/policy/level.h"
#include "core/policy/mta_sts.h"
#include "core/policy/policy_entry.h"
#include "core/policy/table.h"
#include "core/policy/test_facts.h"
#include "core/smtp/capabilities.h"
#include "core/smtp/client_session.h"
#include "core/smtp/testing/loopback.h"
#include "core/smtp/server_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tlsfacts/tls_facts.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace starling::policy {
namespace {

using testing::StandInDigest32;
using testing::StandInDigest64;

using smtp::DeliveryVerdict;
using smtp::PolicyDecision;
using smtp::TlsProblem;

const std::set<std::string>& Rfc8460ResultTypes() {
  static const std::set<std::string> types = {
      "starttls-not-supported", "certificate-host-mismatch",
      "certificate-expired",    "certificate-not-trusted",
      "validation-failure",     "tlsa-invalid",
      "dnssec-invalid",         "dane-required",
      "sts-policy-fetch-error", "sts-policy-invalid",
      "sts-webpki-invalid"};
  return types;
}

bool Proceeds(DeliveryVerdict v) {
  return v == DeliveryVerdict::kProceedTls || v == DeliveryVerdict::kProceedPlaintext;
}

template <typename T>
rc::Gen<T> Uniform(T lo, T hi) {
  return rc::gen::resize(100, rc::gen::inRange<T>(lo, hi));
}

const std::vector<Level>& AllLevels() {
  static const std::vector<Level> levels(std::begin(kAllLevels), std::end(kAllLevels));
  return levels;
}

bool IsDaneLevel(Level l) { return l == Level::kDane || l == Level::kDaneOnly; }

// ---- the world -------------------------------------------------------------------

const char* const kRoot = "CN=Root CA,O=Example";
const char* const kIntermediate = "CN=Intermediate CA,O=Example";

CertificateFacts Leaf(std::vector<std::string> names, bool self_signed,
                      const std::string& key_seed) {
  return testing::FakeCert("CN=leaf", self_signed ? "CN=leaf" : kIntermediate,
                           std::move(names), key_seed);
}

// The leaf the pins and TLSA records below were made for.
const CertificateFacts& ReferenceLeaf() {
  static const CertificateFacts leaf = Leaf({"mx.example.com"}, false, "leaf");
  return leaf;
}

// A session that satisfies every level (TLS 1.2, AEAD, forward secrecy, a
// trusted chain for mx.example.com and example.com, the pinned key).
TlsFacts GoodSession() {
  TlsFacts f;
  f.version = TlsVersion::kTls12;
  f.cipher_suite = "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256";
  f.key_exchange_group = "x25519";
  f.forward_secret = true;
  f.sni = "mx.example.com";
  f.peer_chain.push_back(Leaf({"mx.example.com", "example.com"}, false, "leaf"));
  f.peer_chain.push_back(testing::FakeCert(kIntermediate, kRoot, {}, "intermediate"));
  f.chain_verdict = ChainVerdict::kTrusted;
  f.trust_anchor_dn = kRoot;
  return f;
}

rc::Gen<TlsFacts> AnyFacts() {
  return rc::gen::exec([] {
    // Half the sessions are good but for (at most) one thing.
    TlsFacts f = GoodSession();
    const bool good = *rc::gen::arbitrary<bool>();
    const int flaw = good ? *Uniform(0, 8) : -1;  // 0..5: one flaw; 6, 7: none
    if (!good || flaw == 0) {
      f.version = *rc::gen::element(TlsVersion::kTls10, TlsVersion::kTls11,
                                    TlsVersion::kTls12, TlsVersion::kTls13);
    }
    if (!good || flaw == 1) {
      f.cipher_suite = *rc::gen::element<std::string>(
          "TLS_AES_128_GCM_SHA256", "ECDHE_RSA_WITH_AES_256_GCM_SHA384",
          "ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "RSA_WITH_3DES_EDE_CBC_SHA",
          "RSA_WITH_RC4_128_SHA", "RSA_WITH_NULL_SHA");
      f.forward_secret = *rc::gen::arbitrary<bool>();
    }
    if (!good || flaw == 2) {
      f.peer_chain.clear();
      if (*Uniform(0, 8) != 0) {
        std::vector<std::string> names;
        for (const char* n : {"mx.example.com", "*.example.com", "example.com",
                              "mail.example.com", "other.example", "MX.Example.COM."}) {
          if (*Uniform(0, 3) == 0) names.push_back(n);
        }
        const bool self_signed = *Uniform(0, 6) == 0;
        CertificateFacts leaf = Leaf(
            names, self_signed, *rc::gen::element<std::string>("leaf", "leaf", "rolled"));
        leaf.key_bits = *rc::gen::element(256, 384, 1024, 2048, 4096);
        leaf.key_type = leaf.key_bits >= 1024 ? "RSA" : "ECDSA";
        if (*Uniform(0, 6) == 0) {
          leaf.not_after = absl::FromUnixSeconds(1719792000);  // 2024-07: expired
        }
        f.peer_chain.push_back(std::move(leaf));
        if (!self_signed) {
          f.peer_chain.push_back(
              testing::FakeCert(kIntermediate, kRoot, {}, "intermediate"));
        }
      }
    }
    if (!good || flaw == 3) {
      f.chain_verdict = *rc::gen::element(
          ChainVerdict::kTrusted, ChainVerdict::kNotChecked, ChainVerdict::kExpired,
          ChainVerdict::kNotYetValid, ChainVerdict::kUntrustedRoot,
          ChainVerdict::kSelfSigned, ChainVerdict::kBadSignature, ChainVerdict::kRevoked,
          ChainVerdict::kIncompleteChain, ChainVerdict::kWeakKeyOrHash,
          ChainVerdict::kOtherFailure);
      f.trust_anchor_dn = f.chain_verdict == ChainVerdict::kTrusted
                              ? *rc::gen::element<std::string>(kRoot, "CN=Other Root")
                              : "";
    }
    if (flaw == 4) f.key_exchange_group.clear();
    if (flaw == 5) f.sni.clear();
    return f;
  });
}

// Everything but the level and the enforcement switches.
rc::Gen<PolicyEntry> AnyAttributes() {
  return rc::gen::exec([] {
    PolicyEntry e;
    e.min_version = *rc::gen::element(TlsVersion::kTls10, TlsVersion::kTls12,
                                      TlsVersion::kTls12, TlsVersion::kTls12,
                                      TlsVersion::kTls13);
    e.min_grade = *rc::gen::element(CipherGrade::kLow, CipherGrade::kMedium,
                                    CipherGrade::kHigh);
    if (*Uniform(0, 4) == 0) e.exclude = {"3DES"};
    e.forward_secrecy = *rc::gen::arbitrary<bool>();
    if (*rc::gen::arbitrary<bool>()) {
      e.match = {*rc::gen::element<std::string>("hostname", "nexthop", "dot-nexthop",
                                                ".example.com", "mail.example.com")};
    }
    if (*Uniform(0, 4) == 0) {
      e.trust_anchors = {*rc::gen::element<std::string>(kRoot, "CN=Other Root")};
    }
    const std::string real_cert = absl::BytesToHexString(ReferenceLeaf().sha256);
    const std::string real_spki = absl::BytesToHexString(ReferenceLeaf().spki_sha256);
    if (*Uniform(0, 5) == 0) {
      e.cert_pins = {*rc::gen::element(real_cert, std::string(64, 'a'))};
    }
    if (*Uniform(0, 6) == 0) {
      e.spki_pins = {*rc::gen::element(real_spki, std::string(64, 'b'))};
    }
    if (*Uniform(0, 8) == 0) {
      e.issuer_subject_pins = {
          {kIntermediate, *rc::gen::element<std::string>("CN=leaf", "CN=x")}};
    }
    e.mta_sts = *Uniform(0, 5) != 0;
    return e;
  });
}

rc::Gen<DaneState> AnyDane() {
  return rc::gen::exec([] {
    DaneState d;
    d.dnssec = *rc::gen::element(DnssecStatus::kSecure, DnssecStatus::kSecure,
                                 DnssecStatus::kInsecure, DnssecStatus::kBogus);
    const int n = *Uniform(0, 4);
    for (int i = 0; i < n; ++i) {
      d.records.push_back(*rc::gen::element(
          TlsaRecord{3, 1, 1, StandInDigest32(ReferenceLeaf().spki_der)},
          TlsaRecord{3, 0, 1, StandInDigest32(ReferenceLeaf().der)},
          TlsaRecord{2, 1, 1, StandInDigest32("spki:intermediate")},
          TlsaRecord{3, 1, 1, StandInDigest32("a key nobody has")},
          TlsaRecord{1, 1, 1, std::string(32, 'x')},  // PKIX-EE: unusable in SMTP
          TlsaRecord{3, 1, 1, "short"}));             // wrong digest length
    }
    return d;
  });
}

StsPolicy Sts(StsMode mode, std::string mx) { return StsPolicy{mode, {std::move(mx)}, 86400}; }

struct World {
  PolicyEntry entry;
  std::optional<DaneState> dane;
  std::optional<StsPolicy> sts;
  std::string sts_failure;
  std::optional<TlsFacts> facts;  // nullopt: no TLS, for `problem`
  TlsProblem problem = TlsProblem::kNotOffered;
  smtp::MessageTlsFlags flags;
  bool server_requiretls = false;  // REQUIRETLS in the post-TLS EHLO
  bool last_mx = true;

  smtp::Destination destination() const {
    return {"example.com", "mx.example.com", 10, last_mx};
  }
  PolicyInputs Inputs() const {
    PolicyInputs in;
    in.entry = &entry;
    in.dane = dane.has_value() ? &*dane : nullptr;
    in.sts = sts.has_value() ? &*sts : nullptr;
    in.sts_failure = sts_failure;
    in.now = testing::TestNow();
    return in;
  }
};

std::string Text(const PolicyDecision& d) {
  return absl::StrCat(smtp::DeliveryVerdictName(d.verdict), " [",
                      d.tlsrpt_result_type, "] ", d.label, " {",
                      absl::StrJoin(d.trace, " | "), "}");
}

void showValue(const World& w, std::ostream& os) {
  const PolicyEntry& e = w.entry;
  os << "entry: level " << LevelName(e.level);
  if (e.testing) os << " testing floor " << LevelName(e.floor);
  os << " min " << TlsVersionName(e.min_version) << " grade "
     << CipherGradeName(e.min_grade) << " exclude [" << absl::StrJoin(e.exclude, ",")
     << "] fs " << e.forward_secrecy << " match [" << absl::StrJoin(e.match, ",")
     << "] anchors [" << absl::StrJoin(e.trust_anchors, ",") << "] pins "
     << e.cert_pins.size() << "+" << e.spki_pins.size() << "+"
     << e.issuer_subject_pins.size() << " mta_sts " << e.mta_sts << "\n";
  if (w.dane.has_value()) {
    os << "dane: " << DnssecStatusName(w.dane->dnssec) << " "
       << DaneStatusName(ClassifyDane(*w.dane)) << " [";
    for (const TlsaRecord& r : w.dane->records) os << " " << TlsaRecordText(r);
    os << " ]\n";
  }
  if (w.sts.has_value()) {
    os << "sts: " << StsModeName(w.sts->mode) << " mx " << absl::StrJoin(w.sts->mx, ",")
       << "\n";
  }
  if (!w.sts_failure.empty()) os << "sts failure: " << w.sts_failure << "\n";
  if (w.facts.has_value()) {
    const TlsFacts& f = *w.facts;
    os << "tls: " << TlsVersionName(f.version) << " " << f.cipher_suite << " fs "
       << f.forward_secret << " chain " << ChainVerdictName(f.chain_verdict)
       << " anchor '" << f.trust_anchor_dn << "'";
    if (!f.peer_chain.empty()) {
      const CertificateFacts& leaf = f.peer_chain[0];
      os << " leaf issuer '" << leaf.issuer_dn << "' names ["
         << absl::StrJoin(leaf.dns_names, ",") << "] key " << leaf.key_bits
         << " spki " << leaf.spki_der;
    } else {
      os << " no certificate";
    }
    os << "\n";
  } else {
    os << "no tls: " << smtp::TlsProblemName(w.problem) << "\n";
  }
  os << "message: requiretls " << w.flags.requiretls << " tls_required_no "
     << w.flags.tls_required_no << "; server REQUIRETLS " << w.server_requiretls
     << "; last mx " << w.last_mx << "\n";
}

// AtLeastAsStrict, except that verify and secure are equal only with the
// same explicit names (level.h): without `match` they check different ones.
bool StricterFor(const PolicyEntry& e, Level a, Level b) {
  const bool verify_secure = (a == Level::kVerify && b == Level::kSecure) ||
                             (a == Level::kSecure && b == Level::kVerify);
  return AtLeastAsStrict(a, b) && !(verify_secure && e.match.empty());
}

rc::Gen<World> AnyWorld() {
  return rc::gen::exec([] {
    World w;
    w.entry = *AnyAttributes();
    w.entry.level = *rc::gen::elementOf(AllLevels());
    if (*Uniform(0, 4) == 0) {
      std::vector<Level> weaker;
      for (Level l : AllLevels()) {
        if (StricterFor(w.entry, w.entry.level, l)) weaker.push_back(l);
      }
      w.entry.testing = true;
      w.entry.floor = *rc::gen::elementOf(weaker);
    }
    if (*Uniform(0, 3) != 0) w.dane = *AnyDane();
    if (*Uniform(0, 3) != 0) {
      w.sts = Sts(*rc::gen::element(StsMode::kEnforce, StsMode::kTesting, StsMode::kNone),
                  *rc::gen::element<std::string>("mx.example.com", "*.example.com",
                                                 "mx.other.example"));
    }
    if (*Uniform(0, 6) == 0) {
      w.sts_failure = *rc::gen::element<std::string>(
          "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid");
    }
    if (*Uniform(0, 4) != 0) {
      w.facts = *AnyFacts();
    } else {
      w.problem = *rc::gen::element(TlsProblem::kNotOffered, TlsProblem::kRefused,
                                    TlsProblem::kHandshakeFailed,
                                    TlsProblem::kNotAttempted);
    }
    w.flags.requiretls = *Uniform(0, 3) == 0;
    w.flags.tls_required_no = *Uniform(0, 4) == 0;
    w.server_requiretls = *rc::gen::arbitrary<bool>();
    w.last_mx = *rc::gen::arbitrary<bool>();
    return w;
  });
}

// The whole path for one message.
struct Outcome {
  PolicyDecision mx;
  std::optional<ConnectionEvaluation> connection;  // when the MX may be used
  std::optional<PolicyDecision> message;
  bool delivered = false;  // the message may go
  bool plaintext = false;  // ... and would go without TLS
};

Outcome Decide(const World& w) {
  Outcome out;
  const PolicyInputs in = w.Inputs();
  const smtp::Destination d = w.destination();
  out.mx = CheckMx(in, d);
  if (!Proceeds(out.mx.verdict)) return out;
  out.connection = w.facts.has_value() ? EvaluateHandshake(in, d, *w.facts)
                                       : EvaluateWithoutTls(in, d, w.problem, "");
  smtp::EhloCapabilities caps;
  caps.requiretls = w.server_requiretls && w.facts.has_value();
  out.message = DecideMessage(w.flags, caps, w.facts.has_value() ? &*w.facts : nullptr,
                              *out.connection);
  out.delivered = Proceeds(out.message->verdict);
  out.plaintext = out.delivered && !w.facts.has_value();
  return out;
}

std::string Text(const Outcome& o) {
  std::string s = absl::StrCat("mx: ", Text(o.mx));
  if (o.connection.has_value()) {
    absl::StrAppend(&s, "\nconnection: ", Text(o.connection->decision),
                    " authenticated_by '", o.connection->authenticated_by, "'");
  }
  if (o.message.has_value()) absl::StrAppend(&s, "\nmessage: ", Text(*o.message));
  return s;
}

// ---- DANE governs ---------------------------------------------------------------

bool DaneEnforced(const PolicyEntry& e) {
  return e.testing ? IsDaneLevel(e.floor) : IsDaneLevel(e.level);
}

RC_GTEST_PROP(PolicyPrecedence, UsableDaneGovernsOverMtaSts, ()) {
  World w = *AnyWorld();
  w.entry.level = *rc::gen::element(Level::kDane, Level::kDaneOnly);
  if (w.entry.testing) w.entry.floor = *rc::gen::element(Level::kDane, w.entry.level);
  DaneState dane = *AnyDane();
  dane.dnssec = DnssecStatus::kSecure;
  dane.records.push_back(*rc::gen::element(
      TlsaRecord{3, 1, 1, StandInDigest32(ReferenceLeaf().spki_der)},
      TlsaRecord{2, 1, 1, StandInDigest32("spki:intermediate")},
      TlsaRecord{3, 1, 1, StandInDigest32("a key nobody has")}));
  w.dane = dane;
  RC_PRE(DaneEnforced(w.entry));
  RC_ASSERT(ClassifyDane(*w.dane) == DaneStatus::kUsable);

  World without = w;
  without.sts.reset();
  w.sts = Sts(*rc::gen::element(StsMode::kEnforce, StsMode::kTesting, StsMode::kNone),
              *rc::gen::element<std::string>("mx.example.com", "mx.other.example"));
  const Outcome a = Decide(w);
  const Outcome b = Decide(without);
  RC_LOG() << "with STS:\n" << Text(a) << "\nwithout STS:\n" << Text(b);
  RC_TAG(a.delivered ? "delivered" : "refused",
         a.connection.has_value() ? (w.facts.has_value() ? "tls" : "no tls") : "mx refused");
  RC_ASSERT(a.mx.verdict == b.mx.verdict);
  RC_ASSERT(a.connection.has_value() == b.connection.has_value());
  if (!a.connection.has_value()) return;
  RC_ASSERT(a.connection->decision.verdict == b.connection->decision.verdict);
  RC_ASSERT(a.connection->decision.tlsrpt_result_type ==
            b.connection->decision.tlsrpt_result_type);
  RC_ASSERT(a.connection->decision.label == b.connection->decision.label);
  RC_ASSERT(a.message->verdict == b.message->verdict);
  RC_ASSERT(a.delivered == b.delivered);
  // ... and the trace says why STS did not count.
  if (w.entry.mta_sts && w.sts->mode != StsMode::kNone) {
    const auto& trace = a.connection->decision.trace;
    RC_ASSERT(std::any_of(trace.begin(), trace.end(), [](const std::string& line) {
      return absl::StrContains(line, "outranked by DANE");
    }));
  }
}

// ---- monotonicity -------------------------------------------------------------

// A world at least as strict as `w` in every dimension at once, the rest
// (facts, names, pins, DANE and STS data, flags) unchanged.
World Stricter(const World& w) {
  World s = w;
  std::vector<Level> stricter;
  for (Level l : AllLevels()) {
    if (StricterFor(w.entry, l, w.entry.level)) stricter.push_back(l);
  }
  s.entry.level = *rc::gen::elementOf(stricter);
  if (w.entry.testing) {
    if (*rc::gen::arbitrary<bool>()) {
      s.entry.testing = false;  // enforce what was tested
    } else {
      std::vector<Level> floors;
      for (Level l : AllLevels()) {
        if (StricterFor(w.entry, l, w.entry.floor) &&
            StricterFor(w.entry, s.entry.level, l)) {
          floors.push_back(l);
        }
      }
      s.entry.floor = *rc::gen::elementOf(floors);
    }
  }
  if (w.sts.has_value() && w.sts->mode == StsMode::kTesting && *rc::gen::arbitrary<bool>()) {
    s.sts->mode = StsMode::kEnforce;
  }
  if (!w.flags.requiretls && *rc::gen::arbitrary<bool>()) s.flags.requiretls = true;
  return s;
}

RC_GTEST_PROP(PolicyPrecedence, StricterNeverAcceptsWhatLooserRefused, ()) {
  const World looser = *AnyWorld();
  const World stricter = Stricter(looser);
  // The designed exception (docs/policy.md): DANE with usable records
  // replaces MTA-STS, so a DANE level may accept what STS alone refused.
  const bool sts_applies = looser.sts.has_value() && looser.sts->mode != StsMode::kNone &&
                           looser.entry.mta_sts;
  const bool dane_usable =
      looser.dane.has_value() && ClassifyDane(*looser.dane) == DaneStatus::kUsable;
  RC_PRE(!(sts_applies && dane_usable && DaneEnforced(stricter.entry) &&
           !DaneEnforced(looser.entry)));
  const Outcome a = Decide(looser);
  const Outcome b = Decide(stricter);
  RC_LOG() << "stricter world:\n" << rc::toString(stricter) << Text(b)
           << "\nlooser world outcome:\n" << Text(a);
  RC_TAG(a.delivered ? "looser delivers" : "looser refuses",
         b.delivered ? "stricter delivers" : "stricter refuses");
  if (!a.delivered) RC_ASSERT(!b.delivered);
  if (b.plaintext) RC_ASSERT(a.plaintext);
  if (!Proceeds(a.mx.verdict)) RC_ASSERT(!Proceeds(b.mx.verdict));
}

// ---- testing never blocks, but reports -----------------------------------------

RC_GTEST_PROP(PolicyPrecedence, StsTestingNeverBlocksButReports, ()) {
  World testing = *AnyWorld();
  testing.sts = Sts(StsMode::kTesting,
                    *rc::gen::element<std::string>("mx.example.com", "*.example.com",
                                                   "mx.other.example"));
  World absent = testing;
  absent.sts.reset();
  World enforce = testing;
  enforce.sts->mode = StsMode::kEnforce;
  const Outcome t = Decide(testing);
  const Outcome a = Decide(absent);
  const Outcome e = Decide(enforce);
  RC_LOG() << "testing:\n" << Text(t) << "\nabsent:\n" << Text(a) << "\nenforce:\n"
           << Text(e);
  RC_TAG(t.delivered ? "testing delivers" : "testing refuses",
         e.delivered ? "enforce delivers" : "enforce refuses");
  // Never blocks.
  if (a.delivered) RC_ASSERT(t.delivered);
  RC_ASSERT(Proceeds(t.mx.verdict) == Proceeds(a.mx.verdict));
  if (!testing.flags.requiretls) {
    // Without REQUIRETLS (whose hop authentication may use the STS policy's
    // MX list) a testing policy changes no verdict at all.
    RC_ASSERT(t.delivered == a.delivered);
    RC_ASSERT(t.plaintext == a.plaintext);
  }
  // Reports: what enforcing would have refused at the connection is in the
  // testing decision's result type (unless an entry failure came first).
  if (t.connection.has_value() && e.connection.has_value() &&
      Proceeds(t.connection->decision.verdict) &&
      !Proceeds(e.connection->decision.verdict)) {
    RC_ASSERT(!t.connection->decision.tlsrpt_result_type.empty());
    if (!testing.entry.testing) {
      RC_ASSERT(t.connection->decision.tlsrpt_result_type ==
                e.connection->decision.tlsrpt_result_type);
    }
    const auto& trace = t.connection->decision.trace;
    RC_ASSERT(std::any_of(trace.begin(), trace.end(), [](const std::string& line) {
      return absl::StartsWith(line, "testing, would fail");
    }));
  }
}

RC_GTEST_PROP(PolicyPrecedence, TestingEntryReportsWhatItWouldRefuse, ()) {
  World enforced = *AnyWorld();
  enforced.entry.testing = false;
  World testing = enforced;
  testing.entry.testing = true;
  testing.entry.floor = *rc::gen::element(Level::kNone, Level::kMay);
  // The designed exception: an enforced DANE level with usable records
  // outranks MTA-STS; testing it hands the decision back to MTA-STS.
  const bool sts_applies = enforced.sts.has_value() &&
                           enforced.sts->mode != StsMode::kNone && enforced.entry.mta_sts;
  const bool dane_usable =
      enforced.dane.has_value() && ClassifyDane(*enforced.dane) == DaneStatus::kUsable;
  RC_PRE(!(sts_applies && dane_usable && DaneEnforced(enforced.entry)));
  const Outcome e = Decide(enforced);
  const Outcome t = Decide(testing);
  RC_LOG() << "enforced:\n" << Text(e) << "\ntesting:\n" << Text(t);
  if (e.delivered) RC_ASSERT(t.delivered);  // testing is never stricter
  if (t.connection.has_value() && e.connection.has_value() &&
      Proceeds(t.connection->decision.verdict) &&
      !Proceeds(e.connection->decision.verdict)) {
    RC_ASSERT(!t.connection->decision.tlsrpt_result_type.empty());
    const auto& trace = t.connection->decision.trace;
    RC_ASSERT(std::any_of(trace.begin(), trace.end(), [](const std::string& line) {
      return absl::StartsWith(line, "testing, would fail");
    }));
  }
}

// ---- REQUIRETLS ----------------------------------------------------------------

RC_GTEST_PROP(PolicyPrecedence, RequireTlsNeverPermitsPlaintext, ()) {
  World w = *AnyWorld();
  w.flags.requiretls = true;
  const Outcome o = Decide(w);
  RC_LOG() << Text(o);
  RC_TAG(o.delivered ? "delivered" : "refused");
  RC_ASSERT(!o.plaintext);
  if (o.delivered) {
    RC_ASSERT(w.facts.has_value());
    RC_ASSERT(w.server_requiretls);
    RC_ASSERT(o.connection->authenticated);
    RC_ASSERT(o.message->verdict == DeliveryVerdict::kProceedTls);
  } else if (o.message.has_value() && Proceeds(o.connection->decision.verdict)) {
    // Refused for REQUIRETLS's sake alone: a bounce, never a retry in clear.
    RC_ASSERT(o.message->verdict == DeliveryVerdict::kBounce);
  }
}

// ---- result types and explanations ------------------------------------------------

// Finding F3 (docs/properties.md, fixed): a failed handshake at a level
// that does not make TLS mandatory (none, may, dane without TLSA, ...) was
// deferred with an empty result type, although docs/policy.md maps "failed
// handshake" to validation-failure (and OpportunisticTlsPolicy does report
// validation-failure).
RC_GTEST_PROP(PolicyPrecedence, EveryConnectionRefusalHasAnRfc8460ResultType, ()) {
  const World w = *AnyWorld();
  const Outcome o = Decide(w);
  RC_LOG() << Text(o);
  if (!Proceeds(o.mx.verdict)) {
    RC_ASSERT(Rfc8460ResultTypes().count(o.mx.tlsrpt_result_type) == 1u);
  }
  if (o.connection.has_value() && !Proceeds(o.connection->decision.verdict)) {
    RC_ASSERT(Rfc8460ResultTypes().count(o.connection->decision.tlsrpt_result_type) ==
              1u);
  }
  // Whatever is reported is an RFC 8460 name.
  for (const PolicyDecision* d : {&o.mx, o.connection ? &o.connection->decision : nullptr,
                                  o.message ? &*o.message : nullptr}) {
    if (d != nullptr && !d->tlsrpt_result_type.empty()) {
      RC_ASSERT(Rfc8460ResultTypes().count(d->tlsrpt_result_type) == 1u);
    }
  }
}

// A message refused although its connection was good enough (refusals of
// the connection itself are the property above).
//
// Finding F4 (docs/properties.md, fixed): a REQUIRETLS message refused over
// a connection that had no TLS failure of its own (plaintext allowed by
// `may`, or TLS up but the hop not authenticated or not advertising
// REQUIRETLS) bounced with an empty result type.
RC_GTEST_PROP(PolicyPrecedence, EveryMessageRefusalHasAnRfc8460ResultType, ()) {
  const World w = *AnyWorld();
  const Outcome o = Decide(w);
  RC_LOG() << Text(o);
  if (o.message.has_value() && Proceeds(o.connection->decision.verdict) &&
      !Proceeds(o.message->verdict)) {
    RC_ASSERT(Rfc8460ResultTypes().count(o.message->tlsrpt_result_type) == 1u);
  }
}

RC_GTEST_PROP(PolicyPrecedence, EveryDecisionIsExplained, ()) {
  const World w = *AnyWorld();
  const Outcome o = Decide(w);
  RC_LOG() << Text(o);
  RC_ASSERT(!o.mx.trace.empty());
  RC_ASSERT(!o.mx.label.empty());
  const smtp::StartTlsIntent intent = DecideStartTls(w.Inputs(), w.destination());
  RC_ASSERT(!intent.label.empty());
  if (!o.connection.has_value()) return;
  const PolicyDecision& c = o.connection->decision;
  RC_ASSERT(!c.label.empty());
  RC_ASSERT(!c.trace.empty());
  // One trace line names the verdict reached, another every failed check.
  RC_ASSERT(std::any_of(c.trace.begin(), c.trace.end(), [&](const std::string& line) {
    return absl::StartsWith(line, absl::StrCat("verdict: ",
                                               smtp::DeliveryVerdictName(c.verdict)));
  }));
  if (!c.tlsrpt_result_type.empty() && c.tlsrpt_result_type != w.sts_failure) {
    RC_ASSERT(std::any_of(c.trace.begin(), c.trace.end(), [&](const std::string& line) {
      return absl::StrContains(line, absl::StrCat("[", c.tlsrpt_result_type, "]"));
    }));
  }
  RC_ASSERT(!o.message->label.empty());
  RC_ASSERT(!o.message->trace.empty());
  if (w.flags.requiretls && o.message->verdict == DeliveryVerdict::kBounce &&
      Proceeds(c.verdict)) {
    RC_ASSERT(absl::StrContains(o.message->trace.back(), "REQUIRETLS"));
  }
}

// ---- the findings' minimal counterexamples, kept as regression tests -----------

// F3: `may`, the handshake failed: deferred, and it was with no result type.
TEST(PolicyPrecedenceRegression, FailedHandshakeHasAResultType) {
  PolicyEntry entry;  // level may
  PolicyInputs in;
  in.entry = &entry;
  in.now = testing::TestNow();
  const smtp::Destination d{"example.com", "mx.example.com", 10, true};
  const ConnectionEvaluation eval =
      EvaluateWithoutTls(in, d, TlsProblem::kHandshakeFailed, "peer alert");
  EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kDefer);
  EXPECT_EQ(eval.decision.tlsrpt_result_type, "validation-failure")
      << Text(eval.decision);
}

// F4: `may`, no STARTTLS offered, a REQUIRETLS message: bounced (5.7.10),
// and it was with no result type.
TEST(PolicyPrecedenceRegression, RequireTlsBounceHasAResultType) {
  PolicyEntry entry;  // level may
  PolicyInputs in;
  in.entry = &entry;
  in.now = testing::TestNow();
  const smtp::Destination d{"example.com", "mx.example.com", 10, true};
  const ConnectionEvaluation eval =
      EvaluateWithoutTls(in, d, TlsProblem::kNotOffered, "");
  smtp::MessageTlsFlags flags;
  flags.requiretls = true;
  const PolicyDecision message = DecideMessage(flags, {}, nullptr, eval);
  EXPECT_EQ(message.verdict, DeliveryVerdict::kBounce);
  EXPECT_EQ(message.tlsrpt_result_type, "starttls-not-supported") << Text(message);
}

// F5: the same session (TLS 1.2, chain not trusted, leaf matching the
// entry's cert pin or SPKI pin, REQUIRETLS advertised) and a REQUIRETLS
// message: the stricter `encrypt` delivered it (hop authenticated by the
// pin), the looser `may` bounced it (pins were not evaluated at `may`). A
// configured pin now authenticates the hop at every level (docs/policy.md).
TEST(PolicyPrecedenceRegression, PinAuthenticatesAtEveryLevel) {
  TlsFacts facts = GoodSession();
  facts.chain_verdict = ChainVerdict::kUntrustedRoot;
  facts.trust_anchor_dn.clear();
  smtp::EhloCapabilities caps;
  caps.requiretls = true;
  smtp::MessageTlsFlags flags;
  flags.requiretls = true;
  const smtp::Destination d{"example.com", "mx.example.com", 10, true};
  auto decide = [&](Level level, bool spki, bool match, ConnectionEvaluation* eval) {
    PolicyEntry entry;
    entry.level = level;
    const std::string pin = absl::BytesToHexString(
        match ? (spki ? ReferenceLeaf().spki_sha256 : ReferenceLeaf().sha256)
              : StandInDigest32("another key"));
    (spki ? entry.spki_pins : entry.cert_pins) = {pin};
    PolicyInputs in;
    in.entry = &entry;
    in.now = testing::TestNow();
    *eval = EvaluateHandshake(in, d, facts);
    return DecideMessage(flags, caps, &facts, *eval);
  };
  ASSERT_TRUE(AtLeastAsStrict(Level::kEncrypt, Level::kMay));
  for (bool spki : {false, true}) {
    SCOPED_TRACE(spki ? "spki-pin" : "cert-pin");
    ConnectionEvaluation may_eval, encrypt_eval;
    const PolicyDecision may = decide(Level::kMay, spki, true, &may_eval);
    const PolicyDecision encrypt = decide(Level::kEncrypt, spki, true, &encrypt_eval);
    EXPECT_EQ(encrypt.verdict, DeliveryVerdict::kProceedTls) << Text(encrypt);
    EXPECT_EQ(may.verdict, DeliveryVerdict::kProceedTls) << Text(may);
    EXPECT_EQ(may_eval.authenticated_by, "pin");
    EXPECT_EQ(encrypt_eval.authenticated_by, "pin");
    EXPECT_FALSE(Proceeds(encrypt.verdict) && !Proceeds(may.verdict))
        << "may: " << Text(may) << "\nencrypt: " << Text(encrypt);
    // A pin that does not match refuses nothing at `may`, authenticates
    // nothing either: the REQUIRETLS message bounces, with a result type.
    ConnectionEvaluation other_eval;
    const PolicyDecision other = decide(Level::kMay, spki, false, &other_eval);
    EXPECT_EQ(other_eval.decision.verdict, DeliveryVerdict::kProceedTls);
    EXPECT_FALSE(other_eval.authenticated);
    EXPECT_EQ(other.verdict, DeliveryVerdict::kBounce);
    EXPECT_EQ(other.tlsrpt_result_type, "certificate-not-trusted") << Text(other);
  }
}

// ---- through the client session --------------------------------------------------

// PolicyEngineHook inside a ClientSession, against a ServerSession over the
// loopback (fake handshake reporting the drawn facts). Two messages, one of
// them with the drawn flags.
struct EndToEnd {
  World world;
  bool offer_starttls = true;
  bool handshake_succeeds = true;
  smtp::MessageTlsFlags second;
};

void showValue(const EndToEnd& e, std::ostream& os) {
  showValue(e.world, os);
  os << "server offers STARTTLS " << e.offer_starttls << ", handshake succeeds "
     << e.handshake_succeeds << "; second message: requiretls " << e.second.requiretls
     << " tls_required_no " << e.second.tls_required_no << "\n";
}

rc::Gen<EndToEnd> AnyEndToEnd() {
  return rc::gen::exec([] {
    EndToEnd e;
    e.world = *AnyWorld();
    if (!e.world.facts.has_value()) e.world.facts = *AnyFacts();  // used if TLS runs
    e.offer_starttls = *Uniform(0, 5) != 0;
    e.handshake_succeeds = *Uniform(0, 5) != 0;
    e.second.requiretls = *rc::gen::arbitrary<bool>();
    e.second.tls_required_no = *rc::gen::arbitrary<bool>();
    return e;
  });
}

RC_GTEST_PROP(PolicyPrecedenceEndToEnd, ClientSessionFollowsTheEngine, ()) {
  const EndToEnd e = *AnyEndToEnd();
  const World& w = e.world;
  PolicyTable table;
  RC_ASSERT(table.Add("*", w.entry).ok());
  DestinationState state;
  if (w.dane.has_value()) state.dane_by_mx["mx.example.com"] = *w.dane;
  state.sts = w.sts;
  state.sts_failure = w.sts_failure;
  state.now = testing::TestNow();
  PolicyEngineHook hook(&table, state);
  const smtp::Destination d = w.destination();
  const PolicyDecision before = hook.BeforeConnect(d);
  RC_ASSERT(before.verdict == CheckMx(w.Inputs(), d).verdict);
  RC_PRE(Proceeds(before.verdict));  // no connection otherwise

  smtp::LoopbackConfig config;
  auto server_options = std::make_shared<smtp::ServerOptions>();
  server_options->hostname = "mx.example.com";
  server_options->offer_starttls = e.offer_starttls;
  server_options->offer_requiretls = w.server_requiretls;
  config.server_options = server_options;
  config.server_script.tls_handshake_succeeds = e.handshake_succeeds;
  config.server_script.tls_facts = *w.facts;
  config.server_facts = *w.facts;
  auto client_options = std::make_shared<smtp::ClientOptions>();
  client_options->helo_name = "relay.example.net";
  config.client_options = client_options;
  config.destination = d;
  std::vector<smtp::OutboundMessage> messages;
  for (int m = 0; m < 2; ++m) {
    smtp::OutboundMessage message;
    message.sender = smtp::Mailbox{absl::StrCat("s", m), "example.net"};
    message.recipients.push_back({smtp::Mailbox{absl::StrCat("r", m), "example.com"}, {}});
    message.tls_flags = m == 0 ? w.flags : e.second;
    message.body = std::make_shared<smtp::StringBodySource>("Subject: x\r\n\r\nbody\r\n");
    messages.push_back(std::move(message));
  }
  absl::StatusOr<smtp::LoopbackOutcome> run =
      smtp::RunLoopback(config, &hook, std::move(messages), testing::TestNow());
  RC_ASSERT(run.ok());
  const smtp::LoopbackOutcome& out = *run;
  const bool tls = out.client_used_tls;
  size_t delivered_messages = 0;
  for (const smtp::MessageResult& result : out.results) {
    delivered_messages +=
        result.recipients[0].status == smtp::RecipientStatus::kDelivered;
  }
  RC_TAG(tls ? "tls" : "no tls", absl::StrCat(delivered_messages, " of 2 delivered"));
  RC_LOG() << "plaintext: " << smtp::EscapeBytes(out.client_plaintext)
           << "\nafter TLS: " << smtp::EscapeBytes(out.client_encrypted)
           << "\nserver: " << absl::StrJoin(out.server_transcript, "\n  ");

  // What the engine says about this connection, computed independently.
  const smtp::StartTlsIntent intent = DecideStartTls(w.Inputs(), d);
  const TlsProblem problem = !intent.attempt       ? TlsProblem::kNotAttempted
                             : !e.offer_starttls ? TlsProblem::kNotOffered
                                                 : TlsProblem::kHandshakeFailed;
  const ConnectionEvaluation eval =
      tls ? EvaluateHandshake(w.Inputs(), d, *w.facts)
          : EvaluateWithoutTls(w.Inputs(), d, problem, "");
  for (size_t m = 0; m < out.results.size(); ++m) {
    const smtp::MessageResult& result = out.results[m];
    const smtp::MessageTlsFlags& flags = m == 0 ? w.flags : e.second;
    const std::string mail = absl::StrCat("MAIL FROM:<s", m, "@example.net>");
    const bool delivered =
        result.recipients[0].status == smtp::RecipientStatus::kDelivered;
    // Every message carries the explanation it went (or did not go) by.
    RC_ASSERT(!result.policy.trace.empty() || !result.policy.label.empty());
    // Nothing of an envelope goes in plaintext when TLS was mandatory,
    // except a "TLS-Required: No" message the policy let go (RFC 8689).
    if (absl::StrContains(out.client_plaintext, mail)) {
      RC_ASSERT(!flags.requiretls);
      RC_ASSERT(!intent.mandatory || flags.tls_required_no);
    }
    if (!delivered) continue;
    if (flags.requiretls) {
      RC_ASSERT(tls);
      RC_ASSERT(result.tls != nullptr);
      RC_ASSERT(eval.authenticated);
      RC_ASSERT(w.server_requiretls);
      RC_ASSERT(absl::StrContains(out.client_encrypted, mail + " REQUIRETLS"));
    }
    if (tls) {
      RC_ASSERT(Proceeds(eval.decision.verdict) ||
                (flags.tls_required_no && eval.without_recipient_policies.has_value()));
    } else {
      RC_ASSERT(absl::StrContains(out.client_plaintext, mail));
      RC_ASSERT(eval.decision.verdict == DeliveryVerdict::kProceedPlaintext ||
                (flags.tls_required_no && eval.without_recipient_policies.has_value()));
    }
  }
}

// The client turns policy refusals into recipient results; the embedder
// reports them to TLS-RPT from MessageResult::policy. FAILS wherever F3 or F4
// does (docs/properties.md), and nowhere else.
RC_GTEST_PROP(PolicyPrecedenceEndToEnd, PolicyFailuresReachTheEmbedderWithAResultType,
              ()) {
  const EndToEnd e = *AnyEndToEnd();
  const World& w = e.world;
  PolicyTable table;
  RC_ASSERT(table.Add("*", w.entry).ok());
  DestinationState state;
  if (w.dane.has_value()) state.dane_by_mx["mx.example.com"] = *w.dane;
  state.sts = w.sts;
  state.sts_failure = w.sts_failure;
  state.now = testing::TestNow();
  PolicyEngineHook hook(&table, state);
  RC_PRE(Proceeds(hook.BeforeConnect(w.destination()).verdict));
  smtp::LoopbackConfig config;
  auto server_options = std::make_shared<smtp::ServerOptions>();
  server_options->offer_starttls = e.offer_starttls;
  server_options->offer_requiretls = w.server_requiretls;
  config.server_options = server_options;
  config.server_script.tls_handshake_succeeds = e.handshake_succeeds;
  config.server_facts = *w.facts;
  config.client_options = std::make_shared<smtp::ClientOptions>();
  config.destination = w.destination();
  std::vector<smtp::OutboundMessage> messages(1);
  messages[0].sender = smtp::Mailbox{"s", "example.net"};
  messages[0].recipients.push_back({smtp::Mailbox{"r", "example.com"}, {}});
  messages[0].tls_flags = w.flags;
  messages[0].body = std::make_shared<smtp::StringBodySource>("x\r\n");
  absl::StatusOr<smtp::LoopbackOutcome> run =
      smtp::RunLoopback(config, &hook, std::move(messages), testing::TestNow());
  RC_ASSERT(run.ok());
  const smtp::MessageResult& result = run->results[0];
  const smtp::RecipientResult& r = result.recipients[0];
  RC_LOG() << smtp::RecipientStatusName(r.status) << " at "
           << smtp::ClientStageName(r.stage) << ": " << r.detail << "\npolicy: "
           << Text(result.policy);
  const bool policy_stage = r.stage == smtp::ClientStage::kPolicy ||
                            r.stage == smtp::ClientStage::kStartTls ||
                            r.stage == smtp::ClientStage::kTlsHandshake;
  if (r.status != smtp::RecipientStatus::kDelivered && policy_stage) {
    RC_ASSERT(Rfc8460ResultTypes().count(result.policy.tlsrpt_result_type) == 1u);
  }
}

}  // namespace
}  // namespace starling::policy
