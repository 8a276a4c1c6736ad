// The sending MTA against partners of the zoo, the DNS model and policy
// tables: deliveries, fallbacks, retries, bounces and the attempt log.
#include "sim/sender.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "core/smtp/client_session.h"
#include "core/smtp/command.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tls/testing/test_pki.h"
#include "core/tlsfacts/tls_facts.h"
#include "gtest/gtest.h"
#include "sim/capture.h"
#include "sim/dns.h"
#include "sim/link.h"
#include "sim/partner.h"
#include "sim/scheduler.h"

namespace starling::sim {
namespace {

using ::starling::tls::testing::TestPki;

const absl::Time kReference = absl::FromUnixSeconds(1700000000);
constexpr absl::string_view kBody = "Subject: queue\r\n\r\nHello, MX.\r\n";

std::shared_ptr<const TestPki> Pki() {
  static const std::shared_ptr<const TestPki> pki = TestPki::Get(7, kReference);
  return pki;
}

// A sender, its DNS and policy table, and partners by MX host name.
class World {
 public:
  explicit World(absl::string_view table_text, SenderOptions options = {})
      : scheduler_(kReference) {
    absl::StatusOr<policy::PolicyTable> table =
        policy::ParsePolicyTable(table_text);
    EXPECT_TRUE(table.ok()) << table.status();
    if (table.ok()) table_ = *std::move(table);
    options.tls.trust = Pki()->trust_store();
    sender_ = std::make_unique<Sender>(&scheduler_, &dns_, &table_,
                                       std::move(options));
  }

  Scheduler& scheduler() { return scheduler_; }
  DnsModel& dns() { return dns_; }
  Sender& sender() { return *sender_; }

  // A partner at `host`, reachable over links with `faults`.
  Partner& AddPartner(absl::string_view host, PartnerProfile profile,
                      LinkFaults faults = {}) {
    partners_.push_back(std::make_unique<Partner>(
        &scheduler_, PartnerOptions{profile, Pki(), absl::Seconds(30)}));
    sender_->AddRoute(host, Route{partners_.back().get(), std::move(faults)});
    return *partners_.back();
  }

  uint64_t Send(std::vector<smtp::Mailbox> recipients,
                smtp::MessageTlsFlags flags = {}) {
    OutgoingMessage message;
    message.sender = smtp::Mailbox{"alice", "example.org"};
    message.recipients = std::move(recipients);
    message.body = std::string(kBody);
    message.tls_flags = flags;
    absl::StatusOr<uint64_t> id = sender_->Enqueue(std::move(message));
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or(0);
  }

  void Run() {
    const absl::Status status = scheduler_.RunUntilIdle();
    EXPECT_TRUE(status.ok()) << status;
  }

  const RecipientState& Recipient(uint64_t id, size_t index = 0) {
    return sender_->message(id)->recipients.at(index);
  }

  std::string Log() const {
    std::string out;
    for (const AttemptRecord& record : sender_->attempts()) {
      out += FormatAttempt(record) + "\n";
    }
    return out;
  }

 private:
  Scheduler scheduler_;
  DnsModel dns_;
  policy::PolicyTable table_;
  std::vector<std::unique_ptr<Partner>> partners_;
  std::unique_ptr<Sender> sender_;
};

const smtp::Mailbox kBob{"bob", "example.net"};
const smtp::Mailbox kCarol{"carol", "example.net"};

TEST(SenderTest, DeliversOverVerifiedTlsUnderSecure) {
  World world("example.net secure\n");
  world.dns().AddMx("example.net", 10, "mx.example.net");
  Partner& partner = world.AddPartner("mx.example.net", PartnerProfile::kGood);
  const uint64_t id = world.Send({kBob});
  world.Run();

  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kDelivered)
      << world.Log();
  EXPECT_EQ(world.Recipient(id).attempts, 1);
  ASSERT_EQ(partner.messages().size(), 1u);
  EXPECT_TRUE(partner.messages()[0].over_tls);
  EXPECT_EQ(partner.messages()[0].body, kBody);
  EXPECT_EQ(partner.messages()[0].recipients,
            std::vector<std::string>{"bob@example.net"});

  ASSERT_EQ(world.sender().attempts().size(), 1u) << world.Log();
  const AttemptRecord& attempt = world.sender().attempts()[0];
  EXPECT_EQ(attempt.kind, AttemptKind::kConnection);
  EXPECT_EQ(attempt.mx_host, "mx.example.net");
  EXPECT_TRUE(attempt.connected);
  EXPECT_TRUE(attempt.tls);
  EXPECT_EQ(attempt.chain_verdict, ChainVerdict::kTrusted);
  EXPECT_EQ(attempt.verdict, smtp::DeliveryVerdict::kProceedTls);
  EXPECT_EQ(attempt.policy_label, "secure:verified");
  EXPECT_EQ(attempt.tlsrpt_result_type, "");
  ASSERT_EQ(attempt.recipients.size(), 1u);
  EXPECT_EQ(attempt.recipients[0].message, id);
  EXPECT_EQ(attempt.recipients[0].result.status,
            smtp::RecipientStatus::kDelivered);
  EXPECT_EQ(attempt.recipients[0].result.reply.code, 250);
  EXPECT_GT(attempt.end, attempt.start);
  EXPECT_EQ(world.sender().queued(), 0u);
  EXPECT_TRUE(world.sender().bounces().empty());
}

// Swallows everything the server sends after its 220 to STARTTLS: the
// handshake never completes on the client's side.
class SwallowAfterStartTls : public LinkTamper {
 public:
  std::string Rewrite(Side from, absl::string_view bytes) override {
    if (from != Side::kB || swallowing_) return swallowing_ ? "" : std::string(bytes);
    if (absl::StrContains(bytes, "Ready to start TLS")) swallowing_ = true;
    return std::string(bytes);
  }

 private:
  bool swallowing_ = false;
};

// The connection dies while the client is in the TLS handshake (the server
// failed its side, or the network did): a TLS failure with an RFC 8460 type,
// judged by the policy - never "proceed-tls, connection lost at MAIL".
TEST(SenderTest, ConnectionLostDuringTheHandshakeIsATlsFailure) {
  World world("* encrypt\n");
  world.dns().AddMx("example.net", 10, "mx.example.net");
  LinkFaults faults;
  faults.tamper = [] { return std::make_unique<SwallowAfterStartTls>(); };
  faults.reset_at = kReference + absl::Seconds(20);
  world.AddPartner("mx.example.net", PartnerProfile::kGood, std::move(faults));
  world.Send({kBob});
  ASSERT_TRUE(world.scheduler().RunUntil(kReference + absl::Minutes(1)).ok());
  ASSERT_FALSE(world.sender().attempts().empty());
  const AttemptRecord& attempt = world.sender().attempts()[0];
  EXPECT_FALSE(attempt.tls);
  EXPECT_NE(attempt.verdict, smtp::DeliveryVerdict::kProceedTls);
  EXPECT_FALSE(attempt.tlsrpt_result_type.empty()) << world.Log();
  ASSERT_EQ(attempt.recipients.size(), 1u);
  EXPECT_EQ(attempt.recipients[0].result.stage, smtp::ClientStage::kTlsHandshake)
      << world.Log();
}

TEST(SenderTest, NoStartTlsUnderMayDeliversInPlaintext) {
  World world("* may\n");
  world.dns().AddMx("example.net", 10, "mx.example.net");
  Partner& partner =
      world.AddPartner("mx.example.net", PartnerProfile::kNoStartTls);
  const uint64_t id = world.Send({kBob});
  world.Run();

  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kDelivered);
  ASSERT_EQ(partner.messages().size(), 1u);
  EXPECT_FALSE(partner.messages()[0].over_tls);
  ASSERT_EQ(world.sender().attempts().size(), 1u);
  const AttemptRecord& attempt = world.sender().attempts()[0];
  EXPECT_FALSE(attempt.tls);
  EXPECT_FALSE(attempt.chain_verdict.has_value());
  EXPECT_EQ(attempt.verdict, smtp::DeliveryVerdict::kProceedPlaintext);
  EXPECT_EQ(attempt.policy_label, "may:plaintext");
  // Opportunistic TLS has nothing to report when STARTTLS is missing.
  EXPECT_EQ(attempt.tlsrpt_result_type, "");
}

TEST(SenderTest, NoStartTlsUnderEncryptDefersThenBouncesAtTheQueueLifetime) {
  SenderOptions options;
  options.first_retry = absl::Minutes(5);
  options.max_queue_lifetime = absl::Hours(1);
  World world("example.net encrypt\n", options);
  world.dns().AddMx("example.net", 10, "mx.example.net");
  Partner& partner =
      world.AddPartner("mx.example.net", PartnerProfile::kNoStartTls);
  const uint64_t id = world.Send({kBob});

  ASSERT_TRUE(world.scheduler().RunUntil(kReference + absl::Minutes(30)).ok());
  // Attempts at 0, 5 and 15 minutes; the next is due at 35.
  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kQueued);
  EXPECT_EQ(world.Recipient(id).attempts, 3);
  EXPECT_EQ(world.Recipient(id).last.status,
            smtp::RecipientStatus::kTempFailed);
  EXPECT_EQ(world.sender().queued(), 1u);
  EXPECT_TRUE(world.sender().bounces().empty());

  world.Run();
  // 35 minutes, then the last attempt at the lifetime (60), then the bounce.
  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kBounced);
  EXPECT_EQ(world.Recipient(id).attempts, 5);
  ASSERT_EQ(world.sender().bounces().size(), 1u);
  const BounceRecord& bounce = world.sender().bounces()[0];
  EXPECT_TRUE(bounce.expired);
  EXPECT_EQ(bounce.status, "4.4.7");
  EXPECT_EQ(bounce.recipient, kBob);
  EXPECT_GE(bounce.time, kReference + absl::Hours(1));
  EXPECT_LT(bounce.time, kReference + absl::Hours(1) + absl::Minutes(1));
  EXPECT_FALSE(bounce.diagnostic.empty());
  EXPECT_TRUE(partner.messages().empty());
  EXPECT_EQ(partner.connections(), 5u);
  for (const AttemptRecord& attempt : world.sender().attempts()) {
    EXPECT_EQ(attempt.verdict, smtp::DeliveryVerdict::kDefer);
    EXPECT_EQ(attempt.tlsrpt_result_type, "starttls-not-supported");
    EXPECT_TRUE(absl::StartsWith(attempt.policy_label, "encrypt"))
        << attempt.policy_label;
  }
  EXPECT_EQ(world.sender().queued(), 0u);
}

TEST(SenderTest, FallsBackToTheNextMxWhenTheFirstRefuses) {
  World world("* may\n");
  world.dns().AddMx("example.net", 10, "mx1.example.net");
  world.dns().AddMx("example.net", 20, "mx.example.net");
  LinkFaults refuse;
  refuse.connect = ConnectFault::kRefused;
  Partner& first =
      world.AddPartner("mx1.example.net", PartnerProfile::kGood, refuse);
  Partner& second = world.AddPartner("mx.example.net", PartnerProfile::kGood);
  const uint64_t id = world.Send({kBob});
  world.Run();

  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kDelivered);
  EXPECT_TRUE(first.messages().empty());
  EXPECT_EQ(second.messages().size(), 1u);
  ASSERT_EQ(world.sender().attempts().size(), 2u) << world.Log();
  const AttemptRecord& refused = world.sender().attempts()[0];
  EXPECT_EQ(refused.mx_host, "mx1.example.net");
  EXPECT_FALSE(refused.connected);
  EXPECT_EQ(refused.recipients[0].result.status,
            smtp::RecipientStatus::kTempFailed);
  EXPECT_EQ(refused.recipients[0].result.stage, smtp::ClientStage::kConnect);
  EXPECT_EQ(world.sender().attempts()[1].mx_host, "mx.example.net");
  EXPECT_TRUE(world.sender().attempts()[1].tls);
}

TEST(SenderTest, ConnectTimeoutMovesToTheNextMx) {
  World world("* may\n");
  world.dns().AddMx("example.net", 10, "mx1.example.net");
  world.dns().AddMx("example.net", 20, "mx.example.net");
  LinkFaults silent;
  silent.connect = ConnectFault::kTimeout;
  world.AddPartner("mx1.example.net", PartnerProfile::kGood, silent);
  world.AddPartner("mx.example.net", PartnerProfile::kGood);
  const uint64_t id = world.Send({kBob});
  world.Run();

  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kDelivered);
  ASSERT_EQ(world.sender().attempts().size(), 2u) << world.Log();
  EXPECT_EQ(world.sender().attempts()[0].detail, "connect timeout");
  EXPECT_EQ(world.sender().attempts()[0].end - world.sender().attempts()[0].start,
            absl::Seconds(30));
}

// RFC 5321 §4.5.3.2 under stalls: a server that stops answering at any
// step is given up on when the client's timer for that step fires (greeting
// 5 min, EHLO, STARTTLS, MAIL and RCPT 5 min, DATA 2 min, end of data 10
// min), and the next MX is tried at that moment, not when the stall ends.
TEST(SenderTest, EveryClientTimerUnderAStallMovesOnToTheNextMx) {
  // A clean run first: when the client wrote each command.
  auto world_with = [](LinkFaults faults) {
    SenderOptions options;
    options.capture = true;
    auto world = std::make_unique<World>("* may\n", options);
    world->dns().AddMx("example.net", 10, "mx1.example.net");
    world->dns().AddMx("example.net", 20, "mx2.example.net");
    world->AddPartner("mx1.example.net", PartnerProfile::kGood, faults);
    world->AddPartner("mx2.example.net", PartnerProfile::kGood);
    return world;
  };
  std::unique_ptr<World> clean = world_with({});
  clean->Send({kBob});
  clean->Run();
  ASSERT_EQ(clean->sender().captures().size(), 1u) << clean->Log();
  const std::vector<TranscriptEntry>& dialogue =
      clean->sender().captures()[0].transcript;
  // When the client wrote (or read) a line starting with `prefix`, in the
  // clear or under TLS.
  auto at = [&](bool from_client, bool tls, absl::string_view prefix,
                absl::string_view suffix = "") {
    for (const TranscriptEntry& e : dialogue) {
      if (e.from_client == from_client && e.tls == tls &&
          absl::StartsWith(e.text, prefix) && absl::EndsWith(e.text, suffix)) {
        return e.time;
      }
    }
    ADD_FAILURE() << "no " << prefix << " in the dialogue";
    return absl::InfiniteFuture();
  };
  struct Step {
    const char* stage;     // as in the session's "timeout in <stage>"
    absl::Time sent;       // when the client began to wait
    absl::Duration timer;  // RFC 5321 §4.5.3.2
  };
  // MAIL, RCPT and DATA leave in one write (PIPELINING): the first timer to
  // run out waiting for their replies is MAIL's. The TLS handshake begins
  // when the 220 to STARTTLS is read (the ClientHello leaves then) and has
  // STARTTLS's 5 minutes.
  const Step steps[] = {
      {"connect", kReference, absl::Minutes(5)},  // the greeting timer
      {"EHLO", at(true, false, "EHLO"), absl::Minutes(5)},
      {"STARTTLS", at(true, false, "STARTTLS"), absl::Minutes(5)},
      {"TLS handshake", at(false, false, "220 2.0.0"), absl::Minutes(5)},
      {"EHLO", at(true, true, "EHLO"), absl::Minutes(5)},
      {"MAIL", at(true, true, "MAIL FROM"), absl::Minutes(5)},
      {"end of data", at(true, true, "", "\r\n.\r\n"), absl::Minutes(10)},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.stage);
    LinkFaults stall;
    // Right after the command left: neither it nor anything later arrives
    // for an hour.
    stall.stalls.push_back(StallFault{step.sent + absl::Nanoseconds(1), absl::Hours(1)});
    std::unique_ptr<World> world = world_with(stall);
    const uint64_t id = world->Send({kBob});
    world->Run();
    const std::vector<AttemptRecord>& attempts = world->sender().attempts();
    ASSERT_GE(attempts.size(), 2u) << world->Log();
    const AttemptRecord& gave_up = attempts[0];
    EXPECT_EQ(gave_up.mx_host, "mx1.example.net");
    EXPECT_EQ(gave_up.end, step.sent + step.timer) << world->Log();
    if (std::string(step.stage) == "TLS handshake") {
      // A failed handshake under `may`: the same host once more without
      // STARTTLS (still stalled: the greeting timer), then the next MX.
      EXPECT_TRUE(absl::StrContains(world->Log(), "STARTTLS timeout"))
          << world->Log();
    } else {
      EXPECT_TRUE(absl::StrContains(gave_up.detail,
                                    absl::StrCat("timeout in ", step.stage)))
          << gave_up.detail;
    }
    size_t next = 1;
    while (next < attempts.size() && attempts[next].mx_host != "mx2.example.net") {
      EXPECT_LE(attempts[next].end - attempts[next].start, absl::Minutes(5))
          << world->Log();
      ++next;
    }
    ASSERT_LT(next, attempts.size()) << world->Log();
    EXPECT_EQ(attempts[next].start, attempts[next - 1].end) << world->Log();
    EXPECT_EQ(world->Recipient(id).fate, RecipientFate::kDelivered) << world->Log();
  }
}

TEST(SenderTest, GreylistedRecipientIsDeliveredOnRetry) {
  World world("* may\n");
  world.dns().AddMx("example.net", 10, "mx.example.net");
  Partner& partner =
      world.AddPartner("mx.example.net", PartnerProfile::kGreylist);
  const uint64_t id = world.Send({kBob});
  world.Run();

  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kDelivered);
  EXPECT_EQ(world.Recipient(id).attempts, 2);
  EXPECT_GE(world.Recipient(id).finished, kReference + absl::Minutes(5));
  EXPECT_EQ(partner.greylisted(), 1u);
  EXPECT_EQ(partner.messages().size(), 1u);
  ASSERT_EQ(world.sender().attempts().size(), 2u);
  const smtp::RecipientResult& first =
      world.sender().attempts()[0].recipients[0].result;
  EXPECT_EQ(first.status, smtp::RecipientStatus::kTempFailed);
  EXPECT_EQ(first.reply.code, 451);
  EXPECT_EQ(world.sender().attempts()[1].start,
            world.sender().attempts()[0].end + absl::Minutes(5));
}

TEST(SenderTest, MtaStsEnforceSkipsAnUnlistedMx) {
  World world("* may\n");
  world.dns().AddMx("example.net", 10, "rogue.example.com");
  world.dns().AddMx("example.net", 20, "mx.example.net");
  world.dns().AddMtaStsTxt("example.net", "v=STSv1; id=20240101");
  policy::StsFetch fetch;
  fetch.content_type = "text/plain";
  fetch.body =
      "version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\n"
      "max_age: 86400\r\n";
  world.sender().SetStsFetch("example.net", fetch);
  Partner& rogue =
      world.AddPartner("rogue.example.com", PartnerProfile::kGood);
  Partner& listed = world.AddPartner("mx.example.net", PartnerProfile::kGood);
  const uint64_t id = world.Send({kBob});
  world.Run();

  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kDelivered)
      << world.Log();
  EXPECT_EQ(rogue.connections(), 0u);
  EXPECT_EQ(listed.messages().size(), 1u);
  ASSERT_EQ(world.sender().attempts().size(), 2u) << world.Log();
  const AttemptRecord& skipped = world.sender().attempts()[0];
  EXPECT_EQ(skipped.kind, AttemptKind::kSkipped);
  EXPECT_EQ(skipped.mx_host, "rogue.example.com");
  EXPECT_EQ(skipped.verdict, smtp::DeliveryVerdict::kTryNextMx);
  EXPECT_EQ(skipped.tlsrpt_result_type, "validation-failure");
  const AttemptRecord& delivered = world.sender().attempts()[1];
  EXPECT_EQ(delivered.policy_label, "sts:verified");
  EXPECT_TRUE(delivered.tls);
}

TEST(SenderTest, NxDomainBouncesAtOnce) {
  World world("* may\n");
  const uint64_t id = world.Send({smtp::Mailbox{"bob", "nowhere.example"}});
  world.Run();

  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kBounced);
  EXPECT_EQ(world.Recipient(id).finished, kReference);
  ASSERT_EQ(world.sender().bounces().size(), 1u);
  EXPECT_EQ(world.sender().bounces()[0].status, "5.1.2");
  EXPECT_FALSE(world.sender().bounces()[0].expired);
  ASSERT_EQ(world.sender().attempts().size(), 1u);
  EXPECT_EQ(world.sender().attempts()[0].kind, AttemptKind::kDns);
  EXPECT_EQ(world.sender().attempts()[0].verdict,
            smtp::DeliveryVerdict::kBounce);
}

TEST(SenderTest, ServFailDefersAndRetries) {
  SenderOptions options;
  options.max_queue_lifetime = absl::Minutes(10);
  World world("* may\n", options);
  world.dns().AddMx("example.net", 10, "mx.example.net");
  world.dns().SetFault("example.net", NameFault::kServFail);
  const uint64_t id = world.Send({kBob});
  world.Run();

  // 0, 5, and the lifetime at 10 minutes: then it bounces.
  EXPECT_EQ(world.Recipient(id).attempts, 3);
  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kBounced);
  ASSERT_EQ(world.sender().bounces().size(), 1u);
  EXPECT_TRUE(world.sender().bounces()[0].expired);
  EXPECT_TRUE(absl::StrContains(world.sender().bounces()[0].diagnostic,
                                "SERVFAIL"))
      << world.sender().bounces()[0].diagnostic;
}

TEST(SenderTest, MessagesQueuedTogetherShareOneConnection) {
  World world("* may\n");
  world.dns().AddMx("example.net", 10, "mx.example.net");
  Partner& partner = world.AddPartner("mx.example.net", PartnerProfile::kGood);
  const uint64_t first = world.Send({kBob, kCarol});
  const uint64_t second = world.Send({kCarol});
  world.Run();

  EXPECT_EQ(partner.connections(), 1u);
  ASSERT_EQ(partner.messages().size(), 2u);
  EXPECT_EQ(partner.messages()[0].recipients.size(), 2u);
  EXPECT_EQ(world.Recipient(first, 0).fate, RecipientFate::kDelivered);
  EXPECT_EQ(world.Recipient(first, 1).fate, RecipientFate::kDelivered);
  EXPECT_EQ(world.Recipient(second).fate, RecipientFate::kDelivered);
  ASSERT_EQ(world.sender().attempts().size(), 1u);
  EXPECT_EQ(world.sender().attempts()[0].recipients.size(), 3u);
}

TEST(SenderTest, RequireTlsWithoutAnAuthenticatedHopBounces) {
  World world("* may\n");
  world.dns().AddMx("example.net", 10, "mx.example.net");
  Partner& partner =
      world.AddPartner("mx.example.net", PartnerProfile::kNoStartTls);
  smtp::MessageTlsFlags flags;
  flags.requiretls = true;
  const uint64_t id = world.Send({kBob}, flags);
  world.Run();

  EXPECT_EQ(world.Recipient(id).fate, RecipientFate::kBounced);
  ASSERT_EQ(world.sender().bounces().size(), 1u);
  EXPECT_EQ(world.sender().bounces()[0].status, "5.7.10");
  EXPECT_TRUE(partner.messages().empty());
}

TEST(SenderTest, AttemptLogIsReadable) {
  World world("* may\n");
  world.dns().AddMx("example.net", 10, "mx1.example.net");
  world.dns().AddMx("example.net", 20, "mx.example.net");
  LinkFaults refuse;
  refuse.connect = ConnectFault::kRefused;
  world.AddPartner("mx1.example.net", PartnerProfile::kGood, refuse);
  world.AddPartner("mx.example.net", PartnerProfile::kGood);
  world.Send({kBob});
  world.Run();

  ASSERT_EQ(world.sender().attempts().size(), 2u);
  const std::string refused = FormatAttempt(world.sender().attempts()[0]);
  EXPECT_TRUE(absl::StartsWith(
      refused,
      "2023-11-14T22:13:20.000Z example.net mx=mx1.example.net[10] "
      "connection connected=no tls=no"))
      << refused;
  EXPECT_TRUE(absl::StrContains(refused, "detail=connection refused"))
      << refused;
  EXPECT_TRUE(absl::StrContains(
      refused, "\n  #1 bob@example.net temp-failed at connect: "))
      << refused;
  const std::string delivered = FormatAttempt(world.sender().attempts()[1]);
  EXPECT_TRUE(absl::StrContains(
      delivered, "connected=yes tls=yes chain=trusted verdict=proceed-tls "
                 "label=may:trusted tlsrpt=-"))
      << delivered;
  EXPECT_TRUE(absl::StrContains(delivered, "bob@example.net delivered at "))
      << delivered;
}

TEST(SenderTest, SameSeedSameLog) {
  auto log = [](uint64_t seed) {
    SenderOptions options;
    options.seed = seed;
    World world("* may\n", options);
    world.dns().AddMx("example.net", 10, "mx.example.net");
    world.AddPartner("mx.example.net", PartnerProfile::kGreylist);
    world.Send({kBob, kCarol});
    world.Run();
    return world.Log();
  };
  EXPECT_EQ(log(3), log(3));
  EXPECT_NE(log(3), log(4));
}

}  // namespace
}  // namespace starling::sim
