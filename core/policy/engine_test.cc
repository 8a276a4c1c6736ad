#include "core/policy/engine.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/policy/hook.h"
#include "core/policy/table.h"
#include "core/policy/test_facts.h"
#include "gtest/gtest.h"

namespace starling::policy {
namespace {

using testing::StandInDigest32;
using testing::StandInDigest64;

using smtp::DeliveryVerdict;
using smtp::Destination;
using smtp::TlsProblem;
using testing::GoodFacts;
using testing::TestNow;

Destination Dest(bool last = false) {
  return Destination{"example.com", "mx.example.com", 10, last};
}

PolicyEntry EntryAt(Level level) {
  PolicyEntry e;
  e.level = level;
  return e;
}

std::string Trace(const smtp::PolicyDecision& d) { return absl::StrJoin(d.trace, "\n"); }

struct Fixture {
  explicit Fixture(PolicyEntry e, std::optional<DaneState> d = std::nullopt,
                   std::optional<StsPolicy> s = std::nullopt)
      : entry(std::move(e)), dane(std::move(d)), sts(std::move(s)) {}
  PolicyEntry entry;
  std::optional<DaneState> dane;
  std::optional<StsPolicy> sts;
  PolicyInputs Inputs() const {
    PolicyInputs in;
    in.entry = &entry;
    in.entry_key = "example.com";
    in.dane = dane.has_value() ? &*dane : nullptr;
    in.sts = sts.has_value() ? &*sts : nullptr;
    in.now = TestNow();
    return in;
  }
};

StsPolicy Sts(StsMode mode, std::vector<std::string> mx = {"mx.example.com"}) {
  StsPolicy p;
  p.mode = mode;
  p.mx = std::move(mx);
  p.max_age = 86400;
  return p;
}

DaneState DaneFor(const TlsFacts& facts) {
  return DaneState{DnssecStatus::kSecure,
                   {TlsaRecord{3, 1, 1, StandInDigest32(facts.peer_chain[0].spki_der)}}};
}

TEST(EngineTest, MayGoesPlaintextWhenTlsIsMissing) {
  Fixture f{EntryAt(Level::kMay)};
  auto eval = EvaluateWithoutTls(f.Inputs(), Dest(), TlsProblem::kNotOffered, "");
  EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kProceedPlaintext);
  EXPECT_EQ(eval.decision.label, "may:plaintext");
  EXPECT_TRUE(eval.decision.tlsrpt_result_type.empty());
  auto tls = EvaluateHandshake(f.Inputs(), Dest(), GoodFacts());
  EXPECT_EQ(tls.decision.verdict, DeliveryVerdict::kProceedTls);
  // may demands no identity: a trusted chain is "Trusted", as in Postfix.
  EXPECT_EQ(tls.decision.label, "may:trusted");
}

TEST(EngineTest, EncryptRefusesPlaintextAndWeakSessions) {
  Fixture f{EntryAt(Level::kEncrypt)};
  auto eval = EvaluateWithoutTls(f.Inputs(), Dest(), TlsProblem::kNotOffered, "");
  EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(eval.decision.tlsrpt_result_type, "starttls-not-supported");
  EXPECT_EQ(EvaluateWithoutTls(f.Inputs(), Dest(true), TlsProblem::kRefused, "").decision.verdict,
            DeliveryVerdict::kDefer);
  TlsFacts old = GoodFacts();
  old.version = TlsVersion::kTls11;
  auto weak = EvaluateHandshake(f.Inputs(), Dest(), old);
  EXPECT_EQ(weak.decision.verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(weak.decision.tlsrpt_result_type, "validation-failure");
  EXPECT_NE(Trace(weak.decision).find("TLSv1.1 is below TLSv1.2"), std::string::npos);
  TlsFacts no_fs = GoodFacts();
  no_fs.forward_secret = false;
  EXPECT_EQ(EvaluateHandshake(f.Inputs(), Dest(), no_fs).decision.verdict,
            DeliveryVerdict::kTryNextMx);
  TlsFacts rc4 = GoodFacts();
  rc4.cipher_suite = "ECDHE_RSA_WITH_RC4_128_SHA";
  EXPECT_EQ(EvaluateHandshake(f.Inputs(), Dest(), rc4).decision.verdict,
            DeliveryVerdict::kTryNextMx);
  TlsFacts untrusted = GoodFacts();
  untrusted.chain_verdict = ChainVerdict::kSelfSigned;
  auto ok = EvaluateHandshake(f.Inputs(), Dest(), untrusted);
  EXPECT_EQ(ok.decision.verdict, DeliveryVerdict::kProceedTls);
  EXPECT_EQ(ok.decision.label, "encrypt:untrusted");
}

TEST(EngineTest, VerifyAndSecureCheckChainAndNames) {
  Fixture verify{EntryAt(Level::kVerify)};
  EXPECT_EQ(EvaluateHandshake(verify.Inputs(), Dest(), GoodFacts()).decision.label,
            "verify:verified");
  auto mismatch = EvaluateHandshake(verify.Inputs(), Dest(), GoodFacts({"other.example"}));
  EXPECT_EQ(mismatch.decision.verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(mismatch.decision.tlsrpt_result_type, "certificate-host-mismatch");
  TlsFacts expired = GoodFacts();
  expired.chain_verdict = ChainVerdict::kExpired;
  EXPECT_EQ(EvaluateHandshake(verify.Inputs(), Dest(), expired).decision.tlsrpt_result_type,
            "certificate-expired");
  // secure: nexthop or a name below it by default.
  Fixture secure{EntryAt(Level::kSecure)};
  EXPECT_EQ(EvaluateHandshake(secure.Inputs(), Dest(), GoodFacts()).decision.verdict,
            DeliveryVerdict::kProceedTls);
  EXPECT_EQ(EvaluateHandshake(secure.Inputs(), Dest(), GoodFacts({"mx.example.net"}))
                .decision.verdict,
            DeliveryVerdict::kTryNextMx);
}

// Labels say what was established and what the level demanded, in
// Postfix's terms, and never "verified" beside a failed check.
TEST(EngineTest, LabelsArePostfixClasses) {
  auto label = [](PolicyEntry entry, const TlsFacts& facts,
                  std::optional<DaneState> dane = std::nullopt) {
    Fixture f{std::move(entry), std::move(dane)};
    return EvaluateHandshake(f.Inputs(), Dest(), facts).decision.label;
  };
  TlsFacts anonymous = GoodFacts();
  anonymous.peer_chain.clear();
  EXPECT_EQ(label(EntryAt(Level::kMay), anonymous), "may:anonymous");
  EXPECT_EQ(label(EntryAt(Level::kEncrypt), GoodFacts()), "encrypt:trusted");
  EXPECT_EQ(label(EntryAt(Level::kPkix), GoodFacts()), "pkix:trusted");
  EXPECT_EQ(label(EntryAt(Level::kVerify), GoodFacts()), "verify:verified");
  // Name mismatch: the chain is trusted, the name check failed.
  EXPECT_EQ(label(EntryAt(Level::kVerify), GoodFacts({"other.example"})),
            "verify:trusted");
  // A trust anchor that is not one of the configured ones: untrusted (the
  // configured anchors are this destination's trust store).
  PolicyEntry anchored = EntryAt(Level::kVerify);
  anchored.trust_anchors = {"CN=Some Other Root"};
  EXPECT_EQ(label(anchored, GoodFacts()), "verify:untrusted");
  // Fingerprint mismatch: pins are the trust there, whatever the chain says.
  PolicyEntry pinned = EntryAt(Level::kFingerprint);
  pinned.cert_pins = {std::string(64, 'a')};
  EXPECT_EQ(label(pinned, GoodFacts()), "fingerprint:untrusted");
  // A testing level that would fail is not verified either.
  anchored.testing = true;
  anchored.floor = Level::kEncrypt;
  EXPECT_EQ(label(anchored, GoodFacts()), "verify:untrusted");
  // DANE: a match is verified, a mismatch untrusted even with a trusted chain.
  const TlsFacts facts = GoodFacts();
  EXPECT_EQ(label(EntryAt(Level::kDane), facts, DaneFor(facts)), "dane:verified");
  EXPECT_EQ(label(EntryAt(Level::kDane), GoodFacts({"mx.example.com"}),
                  DaneState{DnssecStatus::kSecure, {TlsaRecord{3, 1, 1, std::string(32, 'x')}}}),
            "dane:untrusted");
}

// TLS-RPT reports what the recipient domain can see and fix: the sender's
// own pins and anchors and its table's testing entries are not reported;
// MTA-STS in testing mode is.
TEST(EngineTest, ReportedResultTypeLeavesOutLocalTrust) {
  PolicyEntry pinned = EntryAt(Level::kVerify);
  pinned.cert_pins = {std::string(64, 'a')};
  Fixture local{pinned};
  auto eval = EvaluateHandshake(local.Inputs(), Dest(), GoodFacts());
  EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(eval.decision.tlsrpt_result_type, "certificate-not-trusted");
  EXPECT_EQ(eval.reported_result_type, "");
  EXPECT_EQ(eval.first_failure.rfind("FAIL: pin (table): ", 0), 0u) << eval.first_failure;
  // A name mismatch is the recipient's certificate: reported.
  Fixture named{EntryAt(Level::kVerify)};
  eval = EvaluateHandshake(named.Inputs(), Dest(), GoodFacts({"other.example"}));
  EXPECT_EQ(eval.reported_result_type, "certificate-host-mismatch");
  // MTA-STS testing: reported although nothing was refused.
  Fixture sts{EntryAt(Level::kMay), std::nullopt, Sts(StsMode::kTesting)};
  eval = EvaluateHandshake(sts.Inputs(), Dest(), GoodFacts({"other.example"}));
  EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kProceedTls);
  EXPECT_EQ(eval.reported_result_type, "certificate-host-mismatch");
  EXPECT_EQ(eval.first_failure.rfind("testing, would fail: sts-cert (mta-sts): ", 0), 0u)
      << eval.first_failure;
  // The table's own testing entry: shown, not reported.
  PolicyEntry rollout = pinned;
  rollout.testing = true;
  rollout.floor = Level::kEncrypt;
  Fixture testing{rollout};
  eval = EvaluateHandshake(testing.Inputs(), Dest(), GoodFacts());
  EXPECT_EQ(eval.decision.tlsrpt_result_type, "certificate-not-trusted");
  EXPECT_EQ(eval.reported_result_type, "");
}

TEST(EngineTest, ProtocolRangeAndExclusions) {
  PolicyEntry entry = EntryAt(Level::kEncrypt);
  entry.min_version = TlsVersion::kTls10;
  entry.max_version = TlsVersion::kTls12;
  entry.excluded_versions = {TlsVersion::kTls11};
  Fixture f{entry};
  auto with = [&](TlsVersion v) {
    TlsFacts facts = GoodFacts();
    facts.version = v;
    return EvaluateHandshake(f.Inputs(), Dest(), facts);
  };
  EXPECT_EQ(with(TlsVersion::kTls10).decision.verdict, DeliveryVerdict::kProceedTls);
  EXPECT_EQ(with(TlsVersion::kTls12).decision.verdict, DeliveryVerdict::kProceedTls);
  auto excluded = with(TlsVersion::kTls11);
  EXPECT_EQ(excluded.decision.verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_NE(Trace(excluded.decision).find("TLSv1.1 is excluded"), std::string::npos);
  auto above = with(TlsVersion::kTls13);
  EXPECT_EQ(above.decision.verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_NE(Trace(above.decision).find("TLSv1.3 is above TLSv1.2"), std::string::npos);
}

// Pins of every digest Postfix's smtp_tls_fingerprint_digest offers match
// the digest core/tls reported for it; the pin's length names the digest.
TEST(EngineTest, PinsOfEveryDigest) {
  const TlsFacts good = GoodFacts();
  const CertificateFacts leaf = good.peer_chain[0];
  const std::vector<std::pair<std::string, bool>> pins = {
      {leaf.md5, false},    {leaf.sha1, false},      {leaf.sha256, false},
      {leaf.sha512, false}, {leaf.spki_md5, true},   {leaf.spki_sha1, true},
      {leaf.spki_sha256, true}, {leaf.spki_sha512, true}};
  for (const auto& [digest, spki] : pins) {
    const std::string pin = absl::BytesToHexString(digest);
    PolicyEntry entry = EntryAt(Level::kFingerprint);
    (spki ? entry.spki_pins : entry.cert_pins).push_back(pin);
    Fixture f{entry};
    auto eval = EvaluateHandshake(f.Inputs(), Dest(), good);
    SCOPED_TRACE(Trace(eval.decision));
    EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kProceedTls);
    EXPECT_EQ(eval.decision.label, "fingerprint:verified");
    EXPECT_NE(Trace(eval.decision).find(std::string(PinDigestName(pin))),
              std::string::npos);
  }
  // The certificate's MD5 is not its public key's: a pin names one of them.
  PolicyEntry wrong = EntryAt(Level::kFingerprint);
  wrong.spki_pins = {absl::BytesToHexString(leaf.md5)};
  Fixture f{wrong};
  EXPECT_EQ(EvaluateHandshake(f.Inputs(), Dest(), good).decision.verdict,
            DeliveryVerdict::kTryNextMx);
}

TEST(EngineTest, TraceNamesTheFileOfTheEntry) {
  Fixture f{EntryAt(Level::kMay)};
  PolicyInputs in = f.Inputs();
  in.entry_line = 23;
  EXPECT_NE(Trace(EvaluateHandshake(in, Dest(), GoodFacts()).decision)
                .find("table: 'example.com' (line 23) level may"),
            std::string::npos);
  in.entry_origin = "org.toml";
  EXPECT_NE(Trace(EvaluateHandshake(in, Dest(), GoodFacts()).decision)
                .find("table: 'example.com' (org.toml:23) level may"),
            std::string::npos);
}

TEST(EngineTest, ExchangeConnectorRules) {
  absl::StatusOr<PolicyTable> table = ParsePolicyTable(
      "example.com domain-validation tls-domain=*.example.com "
      "cert-name=\"<I>CN=Intermediate CA, O=Example<S>CN=leaf\"\n"
      "example.org certificate-validation\n");
  ASSERT_TRUE(table.ok()) << table.status();
  PolicyInputs in;
  in.entry = &table->Lookup("example.com");
  in.now = TestNow();
  EXPECT_EQ(EvaluateHandshake(in, Dest(), GoodFacts()).decision.verdict,
            DeliveryVerdict::kProceedTls);
  TlsFacts reissued = GoodFacts();
  reissued.peer_chain[0].issuer_dn = "CN=New CA";  // issuer rollover
  auto eval = EvaluateHandshake(in, Dest(), reissued);
  EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(eval.decision.tlsrpt_result_type, "certificate-not-trusted");
  in.entry = &table->Lookup("example.org");
  EXPECT_EQ(EvaluateHandshake(in, Dest(), GoodFacts({"any.name"})).decision.verdict,
            DeliveryVerdict::kProceedTls);
}

TEST(EngineTest, TestingReportsButDoesNotEnforce) {
  Fixture f{EntryAt(Level::kFingerprint)};
  f.entry.cert_pins = {std::string(64, 'a')};
  f.entry.testing = true;
  f.entry.floor = Level::kEncrypt;
  auto eval = EvaluateHandshake(f.Inputs(), Dest(), GoodFacts());
  EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kProceedTls);
  EXPECT_EQ(eval.decision.tlsrpt_result_type, "certificate-not-trusted");
  EXPECT_NE(Trace(eval.decision).find("testing, would fail: pin"), std::string::npos);
  // The floor is still enforced.
  EXPECT_EQ(EvaluateWithoutTls(f.Inputs(), Dest(), TlsProblem::kNotOffered, "")
                .decision.verdict,
            DeliveryVerdict::kTryNextMx);
  // And a matching rolled-over pin passes.
  f.entry.cert_pins.push_back(absl::BytesToHexString(GoodFacts().peer_chain[0].sha256));
  f.entry.testing = false;
  EXPECT_EQ(EvaluateHandshake(f.Inputs(), Dest(), GoodFacts()).decision.label,
            "fingerprint:verified");
}

TEST(EngineTest, Dane) {
  const TlsFacts facts = GoodFacts();
  Fixture f{EntryAt(Level::kDane), DaneFor(facts)};
  TlsFacts self_signed = facts;
  self_signed.chain_verdict = ChainVerdict::kSelfSigned;
  auto eval = EvaluateHandshake(f.Inputs(), Dest(), self_signed);
  EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kProceedTls);
  EXPECT_EQ(eval.decision.label, "dane:verified");
  EXPECT_EQ(eval.authenticated_by, "dane");
  // A different key fails; plaintext fails.
  auto other = EvaluateHandshake(f.Inputs(), Dest(), GoodFacts({"mx.example.com"}));
  f.dane->records[0].data = StandInDigest32("rolled");
  other = EvaluateHandshake(f.Inputs(), Dest(), facts);
  EXPECT_EQ(other.decision.verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(other.decision.tlsrpt_result_type, "validation-failure");
  EXPECT_EQ(EvaluateWithoutTls(f.Inputs(), Dest(), TlsProblem::kNotOffered, "")
                .decision.verdict,
            DeliveryVerdict::kTryNextMx);
  // All unusable: mandatory TLS without authentication.
  f.dane->records = {TlsaRecord{1, 1, 1, std::string(32, 'x')}};
  EXPECT_EQ(EvaluateHandshake(f.Inputs(), Dest(), self_signed).decision.verdict,
            DeliveryVerdict::kProceedTls);
  EXPECT_EQ(EvaluateWithoutTls(f.Inputs(), Dest(), TlsProblem::kNotOffered, "")
                .decision.verdict,
            DeliveryVerdict::kTryNextMx);
  // Bogus: never this MX.
  f.dane->dnssec = DnssecStatus::kBogus;
  auto bogus = CheckMx(f.Inputs(), Dest(true));
  EXPECT_EQ(bogus.verdict, DeliveryVerdict::kDefer);
  EXPECT_EQ(bogus.tlsrpt_result_type, "dnssec-invalid");
  // Insecure: DANE does not apply, "dane" acts as "may".
  f.dane->dnssec = DnssecStatus::kInsecure;
  EXPECT_EQ(EvaluateWithoutTls(f.Inputs(), Dest(), TlsProblem::kNotOffered, "")
                .decision.verdict,
            DeliveryVerdict::kProceedPlaintext);
  // dane-only without TLSA: dane-required.
  f.entry.level = Level::kDaneOnly;
  auto required = CheckMx(f.Inputs(), Dest());
  EXPECT_EQ(required.verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(required.tlsrpt_result_type, "dane-required");
}

TEST(EngineTest, MtaSts) {
  Fixture f{EntryAt(Level::kMay), std::nullopt, Sts(StsMode::kEnforce)};
  auto good = EvaluateHandshake(f.Inputs(), Dest(), GoodFacts());
  EXPECT_EQ(good.decision.verdict, DeliveryVerdict::kProceedTls);
  EXPECT_EQ(good.decision.label, "sts:verified");
  EXPECT_EQ(good.authenticated_by, "sts");
  TlsFacts untrusted = GoodFacts();
  untrusted.chain_verdict = ChainVerdict::kUntrustedRoot;
  auto bad = EvaluateHandshake(f.Inputs(), Dest(), untrusted);
  EXPECT_EQ(bad.decision.verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(bad.decision.tlsrpt_result_type, "certificate-not-trusted");
  EXPECT_EQ(EvaluateWithoutTls(f.Inputs(), Dest(), TlsProblem::kNotOffered, "")
                .decision.tlsrpt_result_type,
            "starttls-not-supported");
  // An MX the policy does not list is never used.
  Destination rogue{"example.com", "evil.example.net", 5, false};
  EXPECT_EQ(CheckMx(f.Inputs(), rogue).verdict, DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(EvaluateHandshake(f.Inputs(), rogue, GoodFacts({"evil.example.net"}))
                .decision.verdict,
            DeliveryVerdict::kTryNextMx);
  // testing only reports.
  f.sts = Sts(StsMode::kTesting);
  auto testing = EvaluateHandshake(f.Inputs(), Dest(), untrusted);
  EXPECT_EQ(testing.decision.verdict, DeliveryVerdict::kProceedTls);
  EXPECT_EQ(testing.decision.tlsrpt_result_type, "certificate-not-trusted");
  // mta-sts=no in the table switches it off.
  f.sts = Sts(StsMode::kEnforce);
  f.entry.mta_sts = false;
  EXPECT_EQ(EvaluateHandshake(f.Inputs(), Dest(), untrusted).decision.verdict,
            DeliveryVerdict::kProceedTls);
}

TEST(EngineTest, DaneOutranksMtaSts) {
  TlsFacts self_signed = GoodFacts();
  self_signed.chain_verdict = ChainVerdict::kSelfSigned;
  Fixture f{EntryAt(Level::kDane), DaneFor(self_signed), Sts(StsMode::kEnforce)};
  auto eval = EvaluateHandshake(f.Inputs(), Dest(), self_signed);
  EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kProceedTls);
  EXPECT_EQ(eval.decision.label, "dane:verified");
  EXPECT_NE(Trace(eval.decision).find("outranked by DANE"), std::string::npos);
  // At "may" (no DANE) the same session fails MTA-STS: the one place where a
  // stricter level accepts what a looser one refused, by RFC 8461 §2.
  f.entry.level = Level::kMay;
  EXPECT_EQ(EvaluateHandshake(f.Inputs(), Dest(), self_signed).decision.verdict,
            DeliveryVerdict::kTryNextMx);
}

TEST(EngineTest, RequireTls) {
  Fixture f{EntryAt(Level::kMay), std::nullopt, Sts(StsMode::kEnforce)};
  smtp::EhloCapabilities caps;
  caps.requiretls = true;
  smtp::MessageTlsFlags flags;
  flags.requiretls = true;
  const TlsFacts facts = GoodFacts();
  auto conn = EvaluateHandshake(f.Inputs(), Dest(), facts);
  EXPECT_EQ(DecideMessage(flags, caps, &facts, conn).verdict, DeliveryVerdict::kProceedTls);
  smtp::EhloCapabilities no_requiretls;
  auto bounced = DecideMessage(flags, no_requiretls, &facts, conn);
  EXPECT_EQ(bounced.verdict, DeliveryVerdict::kBounce);
  EXPECT_NE(Trace(bounced).find("5.7.10"), std::string::npos);
  // Plain "may" with a name taken from the (insecure) MX lookup is not
  // authenticated; a name below the next-hop domain is.
  Fixture may{EntryAt(Level::kMay)};
  const Destination hosted{"example.com", "mx.hoster.example", 10, false};
  const TlsFacts hosted_facts = GoodFacts({"mx.hoster.example"});
  auto may_conn = EvaluateHandshake(may.Inputs(), hosted, hosted_facts);
  EXPECT_FALSE(may_conn.authenticated);
  EXPECT_EQ(DecideMessage(flags, caps, &hosted_facts, may_conn).verdict,
            DeliveryVerdict::kBounce);
  EXPECT_EQ(EvaluateHandshake(may.Inputs(), Dest(), facts).authenticated_by, "nexthop");
  // Plaintext: bounce, TLS-Required: No notwithstanding.
  flags.tls_required_no = true;
  auto plain = EvaluateWithoutTls(may.Inputs(), Dest(), TlsProblem::kNotOffered, "");
  EXPECT_EQ(DecideMessage(flags, caps, nullptr, plain).verdict, DeliveryVerdict::kBounce);
  // Without REQUIRETLS, plaintext under "may" is fine.
  flags.requiretls = false;
  EXPECT_EQ(DecideMessage(flags, caps, nullptr, plain).verdict,
            DeliveryVerdict::kProceedPlaintext);
}

// F3 (docs/properties.md): a failed handshake defers at every level, and
// where TLS was optional that deferral still carries validation-failure.
TEST(EngineTest, FailedHandshakeWhereTlsWasOptionalHasAResultType) {
  for (Level level : {Level::kNone, Level::kMay, Level::kDane}) {
    SCOPED_TRACE(std::string(LevelName(level)));
    Fixture f{EntryAt(level)};
    auto eval = EvaluateWithoutTls(f.Inputs(), Dest(), TlsProblem::kHandshakeFailed,
                                   "peer alert");
    EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kDefer);
    EXPECT_EQ(eval.decision.tlsrpt_result_type, "validation-failure");
    EXPECT_NE(Trace(eval.decision).find("peer alert; the connection is gone "
                                        "[validation-failure]"),
              std::string::npos)
        << Trace(eval.decision);
  }
  // A testing entry over its floor: the handshake failure, not what the
  // testing level would have refused, is why this attempt ended.
  Fixture testing{EntryAt(Level::kDaneOnly)};
  testing.entry.testing = true;
  testing.entry.floor = Level::kMay;
  auto eval = EvaluateWithoutTls(testing.Inputs(), Dest(),
                                 TlsProblem::kHandshakeFailed, "");
  EXPECT_EQ(eval.decision.verdict, DeliveryVerdict::kDefer);
  EXPECT_EQ(eval.decision.tlsrpt_result_type, "validation-failure");
  // Where TLS is mandatory the enforced check already says so.
  Fixture encrypt{EntryAt(Level::kEncrypt)};
  auto mandatory = EvaluateWithoutTls(encrypt.Inputs(), Dest(true),
                                      TlsProblem::kHandshakeFailed, "");
  EXPECT_EQ(mandatory.decision.verdict, DeliveryVerdict::kDefer);
  EXPECT_EQ(mandatory.decision.tlsrpt_result_type, "validation-failure");
  // Not offered, refused, not attempted at `may`: plaintext, no failure.
  Fixture may{EntryAt(Level::kMay)};
  for (TlsProblem problem : {TlsProblem::kNotOffered, TlsProblem::kRefused,
                             TlsProblem::kNotAttempted}) {
    auto plain = EvaluateWithoutTls(may.Inputs(), Dest(), problem, "");
    EXPECT_EQ(plain.decision.verdict, DeliveryVerdict::kProceedPlaintext);
    EXPECT_TRUE(plain.decision.tlsrpt_result_type.empty());
  }
}

// F4 (docs/properties.md): a REQUIRETLS bounce names what the hop lacked.
TEST(EngineTest, RequireTlsBounceCarriesTheResultTypeOfItsCause) {
  smtp::MessageTlsFlags flags;
  flags.requiretls = true;
  smtp::EhloCapabilities caps;
  caps.requiretls = true;
  Fixture may{EntryAt(Level::kMay)};
  auto expect_bounce = [&](const smtp::PolicyDecision& d, absl::string_view type) {
    EXPECT_EQ(d.verdict, DeliveryVerdict::kBounce) << Trace(d);
    EXPECT_EQ(d.tlsrpt_result_type, type) << Trace(d);
    EXPECT_NE(d.trace.back().find(absl::StrCat("[", type, "]")), std::string::npos)
        << d.trace.back();
  };
  // No TLS (STARTTLS not offered, or refused).
  for (TlsProblem problem : {TlsProblem::kNotOffered, TlsProblem::kRefused}) {
    auto plain = EvaluateWithoutTls(may.Inputs(), Dest(), problem, "");
    ASSERT_EQ(plain.decision.verdict, DeliveryVerdict::kProceedPlaintext);
    expect_bounce(DecideMessage(flags, caps, nullptr, plain), "starttls-not-supported");
  }
  // TLS, chain not trusted / expired / anonymous.
  TlsFacts untrusted = GoodFacts();
  untrusted.chain_verdict = ChainVerdict::kSelfSigned;
  expect_bounce(DecideMessage(flags, caps, &untrusted,
                              EvaluateHandshake(may.Inputs(), Dest(), untrusted)),
                "certificate-not-trusted");
  TlsFacts expired = GoodFacts();
  expired.chain_verdict = ChainVerdict::kExpired;
  expect_bounce(DecideMessage(flags, caps, &expired,
                              EvaluateHandshake(may.Inputs(), Dest(), expired)),
                "certificate-expired");
  TlsFacts anonymous = GoodFacts();
  anonymous.peer_chain.clear();
  expect_bounce(DecideMessage(flags, caps, &anonymous,
                              EvaluateHandshake(may.Inputs(), Dest(), anonymous)),
                "certificate-not-trusted");
  // Trusted, but for a name taken from the insecure MX lookup.
  const Destination hosted{"example.com", "mx.hoster.example", 10, false};
  const TlsFacts hosted_facts = GoodFacts({"mx.hoster.example"});
  expect_bounce(DecideMessage(flags, caps, &hosted_facts,
                              EvaluateHandshake(may.Inputs(), hosted, hosted_facts)),
                "certificate-host-mismatch");
  // Authenticated, but REQUIRETLS is not advertised.
  const TlsFacts good = GoodFacts();
  expect_bounce(DecideMessage(flags, smtp::EhloCapabilities{}, &good,
                              EvaluateHandshake(may.Inputs(), Dest(), good)),
                "validation-failure");
  // Delivered: no result type added.
  EXPECT_TRUE(DecideMessage(flags, caps, &good, EvaluateHandshake(may.Inputs(), Dest(), good))
                  .tlsrpt_result_type.empty());
}

// F5 (docs/properties.md): a configured pin authenticates the hop for
// REQUIRETLS at every level, so a looser level never refuses what a
// stricter one accepts; where the level does not check pins, a mismatch
// refuses nothing.
TEST(EngineTest, PinsAuthenticateTheHopAtEveryLevel) {
  TlsFacts facts = GoodFacts({"mx.hoster.example"});
  facts.chain_verdict = ChainVerdict::kUntrustedRoot;
  const Destination d{"example.com", "mx.hoster.example", 10, true};
  smtp::MessageTlsFlags flags;
  flags.requiretls = true;
  smtp::EhloCapabilities caps;
  caps.requiretls = true;
  for (bool spki : {false, true}) {
    for (Level level : {Level::kMay, Level::kDane, Level::kEncrypt, Level::kFingerprint}) {
      SCOPED_TRACE(absl::StrCat(LevelName(level), spki ? " spki-pin" : " cert-pin"));
      Fixture f{EntryAt(level)};
      const std::string pin = absl::BytesToHexString(
          spki ? facts.peer_chain[0].spki_sha256 : facts.peer_chain[0].sha256);
      (spki ? f.entry.spki_pins : f.entry.cert_pins) = {pin};
      auto conn = EvaluateHandshake(f.Inputs(), d, facts);
      EXPECT_EQ(conn.decision.verdict, DeliveryVerdict::kProceedTls) << Trace(conn.decision);
      EXPECT_EQ(conn.authenticated_by, "pin");
      // "Verified" only where the level demands the pin (fingerprint, and
      // encrypt, which enforces configured pins); the chain itself is not
      // trusted here.
      const bool demanded = level == Level::kFingerprint || level == Level::kEncrypt;
      EXPECT_EQ(conn.decision.label,
                absl::StrCat(LevelName(level), demanded ? ":verified" : ":untrusted"));
      EXPECT_EQ(DecideMessage(flags, caps, &facts, conn).verdict,
                DeliveryVerdict::kProceedTls);
    }
  }
  // A pin that does not match: `may` still proceeds (and says why the hop
  // is not authenticated), the REQUIRETLS message bounces; fingerprint refuses.
  Fixture may{EntryAt(Level::kMay)};
  may.entry.cert_pins = {std::string(64, 'a')};
  auto conn = EvaluateHandshake(may.Inputs(), d, facts);
  EXPECT_EQ(conn.decision.verdict, DeliveryVerdict::kProceedTls);
  EXPECT_TRUE(conn.decision.tlsrpt_result_type.empty());
  EXPECT_FALSE(conn.authenticated);
  EXPECT_NE(Trace(conn.decision).find("the hop is not authenticated by pin"),
            std::string::npos)
      << Trace(conn.decision);
  EXPECT_EQ(DecideMessage(flags, caps, &facts, conn).verdict, DeliveryVerdict::kBounce);
  Fixture fingerprint{EntryAt(Level::kFingerprint)};
  fingerprint.entry.cert_pins = may.entry.cert_pins;
  EXPECT_EQ(EvaluateHandshake(fingerprint.Inputs(), d, facts).decision.verdict,
            DeliveryVerdict::kDefer);
}

TEST(EngineTest, TlsRequiredNoIgnoresRecipientPolicies) {
  Fixture f{EntryAt(Level::kMay), std::nullopt, Sts(StsMode::kEnforce)};
  TlsFacts untrusted = GoodFacts();
  untrusted.chain_verdict = ChainVerdict::kUntrustedRoot;
  auto conn = EvaluateHandshake(f.Inputs(), Dest(), untrusted);
  ASSERT_EQ(conn.decision.verdict, DeliveryVerdict::kTryNextMx);
  smtp::MessageTlsFlags flags;
  smtp::EhloCapabilities caps;
  EXPECT_EQ(DecideMessage(flags, caps, &untrusted, conn).verdict, DeliveryVerdict::kTryNextMx);
  flags.tls_required_no = true;
  auto relaxed = DecideMessage(flags, caps, &untrusted, conn);
  EXPECT_EQ(relaxed.verdict, DeliveryVerdict::kProceedTls);
  EXPECT_NE(Trace(relaxed).find("TLS-Required: No"), std::string::npos);
  // The operator's own table rule still holds.
  f.entry.level = Level::kVerify;
  auto strict = EvaluateHandshake(f.Inputs(), Dest(), untrusted);
  EXPECT_EQ(DecideMessage(flags, caps, &untrusted, strict).verdict, DeliveryVerdict::kTryNextMx);
}

TEST(EngineTest, HookWiresTableDaneAndSts) {
  absl::StatusOr<PolicyTable> table = ParsePolicyTable(
      "* may\nexample.com dane sni=nexthop\nlegacy.example none\n");
  ASSERT_TRUE(table.ok());
  const TlsFacts facts = GoodFacts();
  DestinationState state;
  state.dane_by_mx["mx.example.com"] = DaneFor(facts);
  state.now = TestNow();
  PolicyEngineHook hook(&*table, state);
  smtp::EhloCapabilities caps;
  caps.starttls = true;
  caps.requiretls = true;
  const smtp::StartTlsIntent intent = hook.AfterEhlo(Dest(), caps);
  EXPECT_TRUE(intent.attempt);
  EXPECT_TRUE(intent.mandatory);
  EXPECT_EQ(intent.sni, "example.com");
  EXPECT_EQ(intent.label, "dane");
  EXPECT_EQ(hook.BeforeConnect(Dest()).verdict, DeliveryVerdict::kProceedTls);
  auto decision = hook.AfterHandshake(Dest(), facts);
  EXPECT_EQ(decision.label, "dane:verified");
  smtp::MessageTlsFlags flags;
  flags.requiretls = true;
  EXPECT_EQ(hook.ForMessage(Dest(), flags, caps, &facts, decision).verdict,
            DeliveryVerdict::kProceedTls);
  Destination legacy{"legacy.example", "mx.legacy.example", 0, true};
  EXPECT_FALSE(hook.AfterEhlo(legacy, caps).attempt);
  EXPECT_EQ(hook.WithoutTls(legacy, TlsProblem::kNotAttempted, "").verdict,
            DeliveryVerdict::kProceedPlaintext);
  Destination other{"other.example", "mx.other.example", 0, true};
  EXPECT_FALSE(hook.AfterEhlo(other, caps).mandatory);
}

}  // namespace
}  // namespace starling::policy
