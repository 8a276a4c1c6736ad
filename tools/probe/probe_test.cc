// The probe's judgements over observations made up here: the policy
// engine meets them as a client session would have (no sockets).
#include "tools/probe/probe.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/policy/test_facts.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace starling::probe {
namespace {

using ::testing::HasSubstr;
using policy::testing::GoodFacts;
using policy::testing::TestNow;
using smtp::DeliveryVerdict;

const NamedTable& Level(absl::string_view name) {
  static const std::vector<NamedTable>* const tables =
      new std::vector<NamedTable>(LevelTables());
  for (const NamedTable& table : *tables) {
    if (table.name == name) return table;
  }
  ADD_FAILURE() << "no level " << name;
  return tables->front();
}

smtp::Destination Mx(bool last = true) {
  smtp::Destination d;
  d.next_hop_domain = "example.com";
  d.mx_host = "mx.example.com";
  d.mx_preference = 10;
  d.last_mx = last;
  return d;
}

policy::DestinationState State() {
  policy::DestinationState state;
  state.now = TestNow();
  return state;
}

Observation WithTls(TlsFacts facts) {
  Observation o;
  o.connected = true;
  o.ehlo.emplace();
  o.ehlo->domain = "mx.example.com";
  o.ehlo->starttls = true;
  o.tls = std::move(facts);
  return o;
}

Observation Plaintext() {
  Observation o;
  o.connected = true;
  o.ehlo.emplace();
  o.ehlo->domain = "mx.example.com";
  o.tls_problem = smtp::TlsProblem::kNotOffered;
  o.tls_problem_detail = "STARTTLS not in the EHLO reply";
  return o;
}

TEST(ProbeJudgeTest, SixLevels) {
  std::vector<std::string> names;
  for (const NamedTable& table : LevelTables()) names.push_back(table.name);
  EXPECT_THAT(names, ::testing::ElementsAre("may", "encrypt", "verify", "secure",
                                            "dane", "sts"));
}

TEST(ProbeJudgeTest, TrustedSessionForTheMxName) {
  const Observation o = WithTls(GoodFacts({"mx.example.com"}));
  Judgement j = Judge(Level("verify"), State(), Mx(), &o);
  ASSERT_TRUE(j.decision.has_value());
  EXPECT_EQ(j.decision->verdict, DeliveryVerdict::kProceedTls);
  EXPECT_EQ(j.decision->label, "verify:verified");
  EXPECT_TRUE(j.reported_result_type.empty());
  // secure matches the next-hop domain and names below it.
  EXPECT_EQ(Judge(Level("secure"), State(), Mx(), &o).Final().label, "secure:verified");
  smtp::Destination elsewhere = Mx();
  elsewhere.next_hop_domain = "example.org";
  j = Judge(Level("secure"), State(), elsewhere, &o);
  EXPECT_EQ(j.Final().verdict, DeliveryVerdict::kDefer);
  EXPECT_EQ(j.Final().tlsrpt_result_type, "certificate-host-mismatch");
  EXPECT_THAT(j.first_failure, HasSubstr("name"));
}

TEST(ProbeJudgeTest, NotTheLastMxMeansTryTheNext) {
  const Observation o = Plaintext();
  EXPECT_EQ(Judge(Level("encrypt"), State(), Mx(/*last=*/false), &o).Final().verdict,
            DeliveryVerdict::kTryNextMx);
  const Judgement last = Judge(Level("encrypt"), State(), Mx(), &o);
  EXPECT_EQ(last.Final().verdict, DeliveryVerdict::kDefer);
  EXPECT_EQ(last.Final().tlsrpt_result_type, "starttls-not-supported");
  EXPECT_EQ(last.reported_result_type, "starttls-not-supported");
  EXPECT_EQ(Judge(Level("may"), State(), Mx(), &o).Final().verdict,
            DeliveryVerdict::kProceedPlaintext);
}

TEST(ProbeJudgeTest, FailedHandshakeUnderOptionalTlsIsRetriedInPlaintext) {
  Observation o = Plaintext();
  o.ehlo->starttls = true;
  o.tls_problem = smtp::TlsProblem::kHandshakeFailed;
  o.tls_problem_detail = "no shared cipher";
  const Judgement may = Judge(Level("may"), State(), Mx(), &o);
  ASSERT_TRUE(may.decision.has_value());
  EXPECT_EQ(may.decision->verdict, DeliveryVerdict::kDefer);
  ASSERT_TRUE(may.plaintext_retry.has_value());
  EXPECT_EQ(may.Final().verdict, DeliveryVerdict::kProceedPlaintext);
  // Never where TLS is mandatory.
  const Judgement encrypt = Judge(Level("encrypt"), State(), Mx(), &o);
  EXPECT_FALSE(encrypt.plaintext_retry.has_value());
  EXPECT_EQ(encrypt.Final().verdict, DeliveryVerdict::kDefer);
}

TEST(ProbeJudgeTest, DaneMatchOutranksAnUntrustedChain) {
  TlsFacts facts = GoodFacts({"other.example.net"});
  facts.chain_verdict = ChainVerdict::kSelfSigned;
  policy::DestinationState state = State();
  policy::DaneState dane;
  dane.dnssec = policy::DnssecStatus::kSecure;
  dane.records.push_back({3, 1, 1, facts.peer_chain[0].spki_sha256});
  state.dane_by_mx["mx.example.com"] = dane;
  const Observation o = WithTls(facts);
  EXPECT_EQ(Judge(Level("dane"), state, Mx(), &o).Final().label, "dane:verified");
  EXPECT_EQ(Judge(Level("verify"), state, Mx(), &o).Final().verdict,
            DeliveryVerdict::kDefer);

  state.dane_by_mx["mx.example.com"].records[0].data = std::string(32, 'x');
  const Judgement mismatch = Judge(Level("dane"), state, Mx(), &o);
  EXPECT_EQ(mismatch.Final().verdict, DeliveryVerdict::kDefer);
  EXPECT_EQ(mismatch.reported_result_type, "validation-failure");
}

TEST(ProbeJudgeTest, RefusedBeforeConnecting) {
  policy::DestinationState state = State();
  policy::StsPolicy sts;
  sts.mode = policy::StsMode::kEnforce;
  sts.mx = {"mx.other.example"};
  sts.max_age = 86400;
  state.sts = sts;
  const Observation o = WithTls(GoodFacts({"mx.example.com"}));
  const Judgement j = Judge(Level("sts"), state, Mx(), &o);
  EXPECT_FALSE(j.decision.has_value());
  EXPECT_TRUE(j.no_session.empty());
  EXPECT_EQ(j.Final().verdict, DeliveryVerdict::kDefer);
  EXPECT_EQ(j.reported_result_type, "validation-failure");
  // The levels that ignore MTA-STS use the MX.
  EXPECT_EQ(Judge(Level("verify"), state, Mx(), &o).Final().verdict,
            DeliveryVerdict::kProceedTls);
}

TEST(ProbeJudgeTest, NothingToJudgeWithoutASession) {
  Observation refused;
  refused.end = "connect to 127.0.0.1:25: Connection refused";
  Judgement j = Judge(Level("may"), State(), Mx(), &refused);
  EXPECT_FALSE(j.decision.has_value());
  EXPECT_THAT(j.no_session, HasSubstr("Connection refused"));

  Observation greeting_only;
  greeting_only.connected = true;
  greeting_only.end = "554 no service";
  j = Judge(Level("may"), State(), Mx(), &greeting_only);
  EXPECT_THAT(j.no_session, HasSubstr("before EHLO"));

  j = Judge(Level("may"), State(), Mx(), nullptr);
  EXPECT_EQ(j.no_session, "no address to connect to");
}

}  // namespace
}  // namespace starling::probe
