#include "core/policy/dane.h"

#include <string>

#include "absl/strings/escaping.h"
#include "core/policy/test_facts.h"
#include "gtest/gtest.h"

namespace starling::policy {
namespace {

using testing::StandInDigest32;
using testing::StandInDigest64;

using testing::GoodFacts;
using testing::TestNow;

TlsaRecord Record(int usage, int selector, int mtype, const std::string& data) {
  return TlsaRecord{static_cast<uint8_t>(usage), static_cast<uint8_t>(selector),
                    static_cast<uint8_t>(mtype), data};
}

TEST(DaneTest, ParsesPresentationForm) {
  // RFC 7671 §5.1-style record, data split by whitespace.
  absl::StatusOr<TlsaRecord> r = ParseTlsaRecord(
      "3 1 1 ( 0C72AC70B745AC19998811B131D662C9 AC69DBDBE7CB23E5B514B56664C5D3D6 )");
  EXPECT_FALSE(r.ok());  // parentheses are zone-file syntax, not ours
  r = ParseTlsaRecord("3 1 1 0C72AC70B745AC19998811B131D662C9 AC69DBDBE7CB23E5B514B56664C5D3D6");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->usage, 3);
  EXPECT_EQ(r->data.size(), 32u);
  EXPECT_EQ(TlsaRecordText(*r),
            "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6");
  EXPECT_FALSE(ParseTlsaRecord("3 1 256 00").ok());
  EXPECT_FALSE(ParseTlsaRecord("3 1 1 0").ok());
  EXPECT_FALSE(ParseTlsaRecord("3 1").ok());
}

TEST(DaneTest, Classification) {
  DaneState s;
  EXPECT_EQ(ClassifyDane(s), DaneStatus::kNone);
  s.dnssec = DnssecStatus::kSecure;
  EXPECT_EQ(ClassifyDane(s), DaneStatus::kNone);  // secure, no records
  s.records = {Record(1, 1, 1, std::string(32, 'x')), Record(3, 1, 1, "short")};
  EXPECT_EQ(ClassifyDane(s), DaneStatus::kAllUnusable);
  s.records.push_back(Record(3, 1, 2, std::string(64, 'x')));
  EXPECT_EQ(ClassifyDane(s), DaneStatus::kUsable);
  s.dnssec = DnssecStatus::kInsecure;
  EXPECT_EQ(ClassifyDane(s), DaneStatus::kNone);
  s.dnssec = DnssecStatus::kBogus;
  EXPECT_EQ(ClassifyDane(s), DaneStatus::kBogus);
  EXPECT_EQ(TlsaUnusableReason(Record(0, 0, 1, std::string(32, 'x'))),
            "usage 0 (PKIX-TA/EE) is not used in SMTP");
}

TEST(DaneTest, DaneEeIgnoresNamesAndValidity) {
  TlsFacts facts = GoodFacts({"wrong.example"});
  facts.chain_verdict = ChainVerdict::kSelfSigned;
  facts.peer_chain[0].not_after = absl::FromUnixSeconds(0);  // long expired
  const CertificateFacts& leaf = facts.peer_chain[0];
  for (const TlsaRecord& r :
       {Record(3, 1, 1, StandInDigest32(leaf.spki_der)), Record(3, 0, 1, StandInDigest32(leaf.der)),
        Record(3, 1, 2, StandInDigest64(leaf.spki_der)), Record(3, 0, 0, leaf.der),
        Record(3, 1, 0, leaf.spki_der)}) {
    DaneState s{DnssecStatus::kSecure, {r}};
    EXPECT_TRUE(MatchDane(s, facts, {"mx.example.com"}, TestNow()).authenticated)
        << TlsaRecordText(r);
  }
  DaneState wrong{DnssecStatus::kSecure, {Record(3, 1, 1, StandInDigest32("other"))}};
  EXPECT_FALSE(MatchDane(wrong, facts, {"mx.example.com"}, TestNow()).authenticated);
}

TEST(DaneTest, DaneTaNeedsChainAndName) {
  TlsFacts facts = GoodFacts({"mx.example.com"});
  facts.chain_verdict = ChainVerdict::kUntrustedRoot;  // private CA is fine
  const std::string ta = StandInDigest32(facts.peer_chain[1].spki_der);
  DaneState s{DnssecStatus::kSecure, {Record(2, 1, 1, ta)}};
  EXPECT_TRUE(MatchDane(s, facts, {"mx.example.com", "example.com"}, TestNow()).authenticated);
  // Wrong name.
  EXPECT_FALSE(MatchDane(s, facts, {"other.example"}, TestNow()).authenticated);
  // Expired leaf.
  EXPECT_FALSE(MatchDane(s, facts, {"mx.example.com"}, absl::FromUnixSeconds(1800000000))
                   .authenticated);
  // Broken issuer link.
  TlsFacts unlinked = facts;
  unlinked.peer_chain[0].issuer_dn = "CN=Someone Else";
  EXPECT_FALSE(MatchDane(s, unlinked, {"mx.example.com"}, TestNow()).authenticated);
  // Bad signature reported by the TLS layer.
  TlsFacts bad = facts;
  bad.chain_verdict = ChainVerdict::kBadSignature;
  EXPECT_FALSE(MatchDane(s, bad, {"mx.example.com"}, TestNow()).authenticated);
  // A 2 x x record matching the leaf itself does not count.
  DaneState leaf_ta{DnssecStatus::kSecure, {Record(2, 1, 1, StandInDigest32(facts.peer_chain[0].spki_der))}};
  EXPECT_FALSE(MatchDane(leaf_ta, facts, {"mx.example.com"}, TestNow()).authenticated);
}

}  // namespace
}  // namespace starling::policy
