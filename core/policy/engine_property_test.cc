// The lattice: a stricter level never accepts what a looser one refused, and
// adding DANE or an MTA-STS enforce policy never turns a refusal into an
// acceptance.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "core/policy/engine.h"
#include "core/policy/test_facts.h"
#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace starling::policy {
namespace {

using testing::StandInDigest32;
using testing::StandInDigest64;

using smtp::DeliveryVerdict;
using smtp::TlsProblem;

bool Accepts(DeliveryVerdict v) {
  return v == DeliveryVerdict::kProceedTls || v == DeliveryVerdict::kProceedPlaintext;
}

// A session (or its absence) drawn around mx.example.com.
struct Session {
  std::optional<TlsFacts> facts;
  TlsProblem problem = TlsProblem::kNotOffered;
};

rc::Gen<Session> AnySession() {
  return rc::gen::exec([] {
    Session s;
    if (*rc::gen::inRange(0, 4) == 0) {
      s.problem = *rc::gen::element(TlsProblem::kNotOffered, TlsProblem::kRefused,
                                    TlsProblem::kHandshakeFailed, TlsProblem::kNotAttempted);
      return s;
    }
    TlsFacts f = testing::GoodFacts(*rc::gen::element(
        std::vector<std::string>{"mx.example.com"}, std::vector<std::string>{"*.example.com"},
        std::vector<std::string>{"other.example"}, std::vector<std::string>{}));
    f.version = *rc::gen::element(TlsVersion::kTls11, TlsVersion::kTls12, TlsVersion::kTls13);
    f.cipher_suite = *rc::gen::element<std::string>("TLS_AES_128_GCM_SHA256",
                                                    "RSA_WITH_3DES_EDE_CBC_SHA",
                                                    "RSA_WITH_RC4_128_SHA");
    f.forward_secret = *rc::gen::arbitrary<bool>();
    f.chain_verdict = *rc::gen::element(ChainVerdict::kTrusted, ChainVerdict::kExpired,
                                        ChainVerdict::kUntrustedRoot,
                                        ChainVerdict::kBadSignature);
    if (*rc::gen::inRange(0, 6) == 0) f.peer_chain.clear();
    s.facts = f;
    return s;
  });
}

// Attributes shared by the levels being compared.
rc::Gen<PolicyEntry> Attributes(const TlsFacts& reference) {
  return rc::gen::exec([reference] {
    PolicyEntry e;
    e.min_version = *rc::gen::element(TlsVersion::kTls12, TlsVersion::kTls13);
    e.min_grade = *rc::gen::element(CipherGrade::kLow, CipherGrade::kHigh);
    e.forward_secrecy = *rc::gen::arbitrary<bool>();
    if (*rc::gen::arbitrary<bool>()) e.exclude = {"3DES"};
    // Explicit names, so verify and secure mean the same.
    e.match = {*rc::gen::element<std::string>("hostname", "nexthop", "dot-nexthop")};
    const std::string real = absl::BytesToHexString(reference.peer_chain[0].sha256);
    e.cert_pins = {*rc::gen::element(real, std::string(64, 'a'))};
    if (*rc::gen::arbitrary<bool>()) {
      e.issuer_subject_pins = {{reference.peer_chain[0].issuer_dn,
                                *rc::gen::element<std::string>("CN=leaf", "CN=x")}};
    }
    e.mta_sts = *rc::gen::arbitrary<bool>();
    return e;
  });
}

rc::Gen<std::optional<DaneState>> AnyDane(const TlsFacts& reference) {
  return rc::gen::exec([reference]() -> std::optional<DaneState> {
    if (*rc::gen::inRange(0, 3) == 0) return std::nullopt;
    DaneState d;
    d.dnssec = *rc::gen::element(DnssecStatus::kSecure, DnssecStatus::kSecure,
                                 DnssecStatus::kInsecure, DnssecStatus::kBogus);
    const int n = *rc::gen::inRange(0, 3);
    for (int i = 0; i < n; ++i) {
      d.records.push_back(*rc::gen::element(
          TlsaRecord{3, 1, 1, StandInDigest32(reference.peer_chain[0].spki_der)},
          TlsaRecord{2, 1, 1, StandInDigest32(reference.peer_chain[1].spki_der)},
          TlsaRecord{3, 1, 1, StandInDigest32("rolled over")},
          TlsaRecord{1, 1, 1, std::string(32, 'x')}));
    }
    return d;
  });
}

rc::Gen<StsPolicy> AnySts(StsMode mode) {
  return rc::gen::map(rc::gen::element<std::string>("mx.example.com", "*.example.com", "mx.other.example"),
                      [mode](std::string mx) { return StsPolicy{mode, {mx}, 86400}; });
}

struct World {
  PolicyEntry entry;
  std::optional<DaneState> dane;
  std::optional<StsPolicy> sts;
  Session session;
  smtp::Destination destination{"example.com", "mx.example.com", 10, false};

  DeliveryVerdict Verdict() const {
    PolicyInputs in;
    in.entry = &entry;
    in.dane = dane.has_value() ? &*dane : nullptr;
    in.sts = sts.has_value() ? &*sts : nullptr;
    in.now = testing::TestNow();
    if (CheckMx(in, destination).verdict == DeliveryVerdict::kTryNextMx) {
      return DeliveryVerdict::kTryNextMx;
    }
    return session.facts.has_value()
               ? EvaluateHandshake(in, destination, *session.facts).decision.verdict
               : EvaluateWithoutTls(in, destination, session.problem, "").decision.verdict;
  }
};

World AnyWorld() {
  const TlsFacts reference = testing::GoodFacts();
  World w;
  w.entry = *Attributes(reference);
  w.session = *AnySession();
  return w;
}

RC_GTEST_PROP(EngineProperty, StricterLevelNeverAcceptsMore, ()) {
  World w = AnyWorld();
  const TlsFacts reference = testing::GoodFacts();
  w.dane = *AnyDane(reference);
  if (*rc::gen::arbitrary<bool>()) {
    w.sts = *AnySts(*rc::gen::element(StsMode::kEnforce, StsMode::kTesting));
  }
  const Level a = *rc::gen::elementOf(std::vector<Level>(std::begin(kAllLevels), std::end(kAllLevels)));
  const Level b = *rc::gen::elementOf(std::vector<Level>(std::begin(kAllLevels), std::end(kAllLevels)));
  RC_PRE(AtLeastAsStrict(a, b));
  // The one designed exception: a DANE level with usable TLSA records
  // replaces an MTA-STS policy (RFC 8461 §2), so DANE-EE may accept a chain
  // STS would refuse. EngineTest.DaneOutranksMtaSts pins that behaviour.
  const bool dane_level = a == Level::kDane || a == Level::kDaneOnly;
  const bool b_dane_level = b == Level::kDane || b == Level::kDaneOnly;
  RC_PRE(!(dane_level && !b_dane_level && w.sts.has_value()));
  World stricter = w;
  stricter.entry.level = a;
  World looser = w;
  looser.entry.level = b;
  if (!Accepts(looser.Verdict())) RC_ASSERT(!Accepts(stricter.Verdict()));
  // Plaintext allowed by the stricter level is allowed by the looser one.
  if (stricter.Verdict() == DeliveryVerdict::kProceedPlaintext) {
    RC_ASSERT(looser.Verdict() == DeliveryVerdict::kProceedPlaintext);
  }
}

// dane-only refuses everything for want of DANE; with DANE it still never
// accepts what "encrypt" (its requirements minus DANE) would refuse.
RC_GTEST_PROP(EngineProperty, AddingDaneNeverWeakens, ()) {
  World w = AnyWorld();
  w.entry.level = *rc::gen::elementOf(std::vector<Level>(std::begin(kAllLevels), std::end(kAllLevels)));
  World without = w;
  if (without.entry.level == Level::kDaneOnly) without.entry.level = Level::kEncrypt;
  const DeliveryVerdict before = without.Verdict();
  w.dane = *AnyDane(testing::GoodFacts());
  if (!Accepts(before)) RC_ASSERT(!Accepts(w.Verdict()));
}

RC_GTEST_PROP(EngineProperty, AddingStsEnforceNeverWeakens, ()) {
  World w = AnyWorld();
  w.entry.level = *rc::gen::elementOf(std::vector<Level>(std::begin(kAllLevels), std::end(kAllLevels)));
  w.dane = *AnyDane(testing::GoodFacts());
  const DeliveryVerdict before = w.Verdict();
  w.sts = *AnySts(StsMode::kEnforce);
  if (!Accepts(before)) RC_ASSERT(!Accepts(w.Verdict()));
  if (w.Verdict() == DeliveryVerdict::kProceedPlaintext && w.entry.mta_sts) {
    RC_ASSERT(false);  // an enforced STS policy never allows plaintext
  }
}

RC_GTEST_PROP(EngineProperty, TestingNeverRefusesMoreThanItsFloor, ()) {
  World w = AnyWorld();
  w.dane = *AnyDane(testing::GoodFacts());
  w.entry.level = *rc::gen::elementOf(std::vector<Level>(std::begin(kAllLevels), std::end(kAllLevels)));
  std::vector<Level> weaker;
  for (Level l : kAllLevels) {
    if (AtLeastAsStrict(w.entry.level, l)) weaker.push_back(l);
  }
  World floor_only = w;
  floor_only.entry.level = *rc::gen::elementOf(weaker);
  floor_only.entry.cert_pins.clear();
  floor_only.entry.issuer_subject_pins.clear();
  World testing = w;
  testing.entry.testing = true;
  testing.entry.floor = floor_only.entry.level;
  RC_PRE(floor_only.entry.level != Level::kFingerprint);
  RC_ASSERT(Accepts(testing.Verdict()) == Accepts(floor_only.Verdict()));
}

}  // namespace
}  // namespace starling::policy
