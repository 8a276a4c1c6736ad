#include "core/tls/channel.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/tls/rng.h"
#include "core/tls/testing/test_pki.h"
#include "gtest/gtest.h"

namespace starling::tls {
namespace {

using ::starling::tls::testing::AllCertKinds;
using ::starling::tls::testing::CertKind;
using ::starling::tls::testing::CertKindName;
using ::starling::tls::testing::ExpectedVerdict;
using ::starling::tls::testing::TestPki;

const absl::Time kReference = absl::FromUnixSeconds(1700000000);

const TestPki& Pki() {
  static const std::shared_ptr<const TestPki> pki = TestPki::Get(7, kReference);
  return *pki;
}

ChannelOptions ClientOptions(uint64_t seed = 1) {
  ChannelOptions options;
  options.role = Role::kClient;
  options.server_name = Pki().host_name();
  options.trust = Pki().trust_store();
  options.rng = SeededRng(seed, "client");
  return options;
}

ChannelOptions ServerOptions(CertKind kind = CertKind::kGood,
                             uint64_t seed = 1) {
  ChannelOptions options;
  options.role = Role::kServer;
  options.identities = {Pki().identity(kind)};
  options.trust = Pki().trust_store();
  options.rng = SeededRng(seed, "server");
  return options;
}

void Restrict(ChannelOptions& options, TlsVersion min, TlsVersion max) {
  options.policy.min_version = min;
  options.policy.max_version = max;
}

// One side of a conversation and everything it produced.
struct Side {
  explicit Side(Channel c) : channel(std::move(c)) {}
  Channel channel;
  std::vector<ChannelEvent> events;
  std::string sent;  // every byte this side sent
  absl::Status last_status;

  const ChannelEvent* Find(ChannelEventType type) const {
    for (const ChannelEvent& event : events) {
      if (event.type == type) return &event;
    }
    return nullptr;
  }
};

// Moves bytes both ways until nothing moves.
void Pump(Side& a, Side& b, absl::Time now) {
  for (int round = 0; round < 50; ++round) {
    bool moved = false;
    for (auto [from, to] : {std::pair(&a, &b), std::pair(&b, &a)}) {
      const std::string out(from->channel.PendingOutput());
      from->channel.ConsumeOutput(out.size());
      while (auto event = from->channel.NextEvent()) {
        from->events.push_back(*std::move(event));
      }
      if (out.empty()) continue;
      from->sent += out;
      moved = true;
      to->last_status = to->channel.Receive(out, now);
      while (auto event = to->channel.NextEvent()) {
        to->events.push_back(*std::move(event));
      }
    }
    if (!moved) return;
  }
}

struct Conversation {
  Side client;
  Side server;
};

Conversation Handshake(ChannelOptions client, ChannelOptions server,
                       absl::Time now = kReference) {
  absl::StatusOr<Channel> c = Channel::Create(std::move(client));
  absl::StatusOr<Channel> s = Channel::Create(std::move(server));
  EXPECT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(s.ok()) << s.status();
  Conversation conversation{Side(*std::move(c)), Side(*std::move(s))};
  Pump(conversation.client, conversation.server, now);
  return conversation;
}

TEST(ChannelTest, EcdsaHandshakeReportsFacts) {
  Conversation conv = Handshake(ClientOptions(), ServerOptions());
  ASSERT_TRUE(conv.client.channel.established());
  ASSERT_TRUE(conv.server.channel.established());
  const ChannelEvent* done =
      conv.client.Find(ChannelEventType::kHandshakeComplete);
  ASSERT_NE(done, nullptr);
  const TlsFacts& facts = done->facts;
  EXPECT_EQ(facts.version, TlsVersion::kTls12);
  EXPECT_EQ(facts.cipher_suite, "ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
  EXPECT_EQ(facts.key_exchange_group, "x25519");
  EXPECT_TRUE(facts.forward_secret);
  EXPECT_EQ(facts.sni, "mx.example.net");
  ASSERT_EQ(facts.peer_chain.size(), 2u);
  const CertificateFacts& leaf = facts.peer_chain[0];
  EXPECT_EQ(leaf.common_name, "mx.example.net");
  EXPECT_EQ(leaf.dns_names, std::vector<std::string>{"mx.example.net"});
  EXPECT_EQ(leaf.key_type, "ECDSA");
  EXPECT_EQ(leaf.key_bits, 256);
  EXPECT_EQ(leaf.signature_algorithm, "SHA-256/ECDSA");
  EXPECT_EQ(leaf.not_before, kReference - absl::Hours(24 * 30));
  EXPECT_EQ(leaf.not_after, kReference + absl::Hours(24 * 335));
  EXPECT_EQ(leaf.sha256.size(), 32u);
  EXPECT_EQ(leaf.spki_sha256.size(), 32u);
  EXPECT_EQ(leaf.der, Pki().identity(CertKind::kGood)->ChainDer()[0]);
  EXPECT_TRUE(absl::StrContains(leaf.issuer_dn, "Starling Test Intermediate CA"));
  EXPECT_TRUE(absl::StrContains(facts.peer_chain[1].subject_dn,
                                "Starling Test Intermediate CA"));
  EXPECT_EQ(facts.chain_verdict, ChainVerdict::kTrusted);
  EXPECT_TRUE(absl::StrContains(facts.trust_anchor_dn, "Starling Test Root CA"));
  EXPECT_EQ(conv.client.channel.facts()->cipher_suite, facts.cipher_suite);

  // The server saw the SNI and no client certificate.
  const TlsFacts* server_facts = conv.server.channel.facts();
  ASSERT_NE(server_facts, nullptr);
  EXPECT_EQ(server_facts->sni, "mx.example.net");
  EXPECT_EQ(server_facts->cipher_suite, facts.cipher_suite);
  EXPECT_EQ(server_facts->key_exchange_group, "x25519");
  EXPECT_TRUE(server_facts->peer_chain.empty());
  EXPECT_EQ(server_facts->chain_verdict, ChainVerdict::kNotChecked);
}

TEST(ChannelTest, RsaServerKey) {
  Conversation conv =
      Handshake(ClientOptions(), ServerOptions(CertKind::kGoodRsa));
  const TlsFacts* facts = conv.client.channel.facts();
  ASSERT_NE(facts, nullptr);
  EXPECT_TRUE(absl::StartsWith(facts->cipher_suite, "ECDHE_RSA_WITH_"));
  EXPECT_EQ(facts->peer_chain[0].key_type, "RSA");
  EXPECT_EQ(facts->peer_chain[0].key_bits, 2048);
  EXPECT_EQ(facts->chain_verdict, ChainVerdict::kTrusted);
}

TEST(ChannelTest, ServerPicksTheIdentityTheClientCanUse) {
  ChannelOptions server = ServerOptions();
  server.identities.push_back(Pki().identity(CertKind::kGoodRsa));
  ChannelOptions client = ClientOptions();
  client.policy.signature_methods = {"RSA"};
  Conversation conv = Handshake(std::move(client), std::move(server));
  ASSERT_NE(conv.client.channel.facts(), nullptr);
  EXPECT_EQ(conv.client.channel.facts()->peer_chain[0].key_type, "RSA");
}

// Every certificate kind over every version: the handshake completes (a
// client never aborts over its peer's chain) and the verdict is reported.
TEST(ChannelTest, CertificateAndVersionMatrix) {
  for (TlsVersion version :
       {TlsVersion::kTls10, TlsVersion::kTls11, TlsVersion::kTls12}) {
    for (CertKind kind : AllCertKinds()) {
      SCOPED_TRACE(absl::StrCat(CertKindName(kind), " version ",
                                static_cast<int>(version)));
      ChannelOptions client = ClientOptions();
      ChannelOptions server = ServerOptions(kind);
      Restrict(client, version, version);
      Restrict(server, version, version);
      Conversation conv = Handshake(client, server);
      if (kind == CertKind::kRsa1024) {
        // Below the default minimum of 2048 bits: Botan refuses the key.
        const ChannelEvent* failed = conv.client.Find(ChannelEventType::kFailed);
        ASSERT_NE(failed, nullptr);
        EXPECT_EQ(failed->reason, FailureReason::kInsufficientSecurity);
        EXPECT_EQ(failed->alert_name, "insufficient_security");
        EXPECT_EQ(conv.client.last_status.code(), absl::StatusCode::kAborted);
        const ChannelEvent* peer = conv.server.Find(ChannelEventType::kFailed);
        ASSERT_NE(peer, nullptr);
        EXPECT_EQ(peer->reason, FailureReason::kPeerAlert);
        EXPECT_EQ(peer->alert_name, "insufficient_security");
        client.policy.min_rsa_bits = 1024;
        conv = Handshake(client, server);
      }
      const TlsFacts* facts = conv.client.channel.facts();
      ASSERT_NE(facts, nullptr);
      EXPECT_EQ(facts->version, version);
      EXPECT_TRUE(facts->forward_secret);
      EXPECT_EQ(facts->chain_verdict, ExpectedVerdict(kind))
          << facts->chain_detail;
      if (facts->chain_verdict == ChainVerdict::kTrusted) {
        EXPECT_FALSE(facts->trust_anchor_dn.empty());
        EXPECT_TRUE(facts->chain_detail.empty());
      } else {
        EXPECT_TRUE(facts->trust_anchor_dn.empty());
        EXPECT_FALSE(facts->chain_detail.empty());
      }
      EXPECT_EQ(facts->peer_chain.size(),
                Pki().identity(kind)->ChainDer().size());
      EXPECT_TRUE(conv.server.channel.established());
    }
  }
}

TEST(ChannelTest, CertificateKindsCarryTheirFacts) {
  auto leaf_of = [](CertKind kind) {
    Conversation conv = Handshake(ClientOptions(), ServerOptions(kind));
    EXPECT_NE(conv.client.channel.facts(), nullptr);
    return conv.client.channel.facts()->peer_chain.at(0);
  };
  EXPECT_EQ(leaf_of(CertKind::kWildcard).dns_names,
            std::vector<std::string>{"*.example.net"});
  EXPECT_EQ(leaf_of(CertKind::kWrongName).common_name, "mail.wrong.example");
  EXPECT_EQ(leaf_of(CertKind::kSha1Signed).signature_algorithm, "SHA-1/ECDSA");
  EXPECT_EQ(leaf_of(CertKind::kGoodRsa).signature_algorithm, "SHA-256/ECDSA");
  const CertificateFacts old_leaf = leaf_of(CertKind::kRolloverOld);
  const CertificateFacts new_leaf = leaf_of(CertKind::kRolloverNew);
  EXPECT_EQ(old_leaf.dns_names, new_leaf.dns_names);
  EXPECT_TRUE(absl::StrContains(old_leaf.issuer_dn, "Old Root"));
  EXPECT_TRUE(absl::StrContains(new_leaf.issuer_dn, "New Root"));
  EXPECT_NE(old_leaf.spki_sha256, new_leaf.spki_sha256);
}

TEST(ChannelTest, RevocationNeedsTheCrl) {
  ChannelOptions client = ClientOptions();
  client.trust = Pki().trust_store_without_crl();
  Conversation conv = Handshake(client, ServerOptions(CertKind::kRevoked));
  ASSERT_NE(conv.client.channel.facts(), nullptr);
  EXPECT_EQ(conv.client.channel.facts()->chain_verdict, ChainVerdict::kTrusted);
}

TEST(ChannelTest, ValidationUsesTheInjectedTime) {
  Conversation later = Handshake(ClientOptions(), ServerOptions(),
                                 kReference + absl::Hours(24 * 400));
  ASSERT_NE(later.client.channel.facts(), nullptr);
  EXPECT_EQ(later.client.channel.facts()->chain_verdict, ChainVerdict::kExpired);
  Conversation earlier = Handshake(ClientOptions(), ServerOptions(),
                                   kReference - absl::Hours(24 * 40));
  ASSERT_NE(earlier.client.channel.facts(), nullptr);
  EXPECT_EQ(earlier.client.channel.facts()->chain_verdict,
            ChainVerdict::kNotYetValid);
}

TEST(ChannelTest, NoTrustStoreMeansNotChecked) {
  ChannelOptions client = ClientOptions();
  client.trust = nullptr;
  Conversation conv = Handshake(client, ServerOptions());
  ASSERT_NE(conv.client.channel.facts(), nullptr);
  EXPECT_EQ(conv.client.channel.facts()->chain_verdict,
            ChainVerdict::kNotChecked);
  EXPECT_EQ(conv.client.channel.facts()->peer_chain.size(), 2u);
}

// Client version x server version, each side allowing exactly one version.
TEST(ChannelTest, VersionMismatchMatrix) {
  const TlsVersion versions[] = {TlsVersion::kTls10, TlsVersion::kTls11,
                                 TlsVersion::kTls12};
  for (TlsVersion c : versions) {
    for (TlsVersion s : versions) {
      SCOPED_TRACE(absl::StrCat("client ", static_cast<int>(c), " server ",
                                static_cast<int>(s)));
      ChannelOptions client = ClientOptions();
      ChannelOptions server = ServerOptions();
      Restrict(client, c, c);
      Restrict(server, s, s);
      Conversation conv = Handshake(client, server);
      if (c == s) {
        EXPECT_TRUE(conv.client.channel.established());
        continue;
      }
      EXPECT_FALSE(conv.client.channel.established());
      EXPECT_FALSE(conv.server.channel.established());
      // The side that noticed says protocol_version; the other heard it.
      const ChannelEvent* failed = conv.server.Find(ChannelEventType::kFailed);
      ASSERT_NE(failed, nullptr);
      Side& noticing =
          failed->reason == FailureReason::kPeerAlert ? conv.client : conv.server;
      Side& told = &noticing == &conv.server ? conv.client : conv.server;
      failed = noticing.Find(ChannelEventType::kFailed);
      ASSERT_NE(failed, nullptr);
      EXPECT_EQ(failed->reason, FailureReason::kProtocolVersion)
          << failed->detail;
      EXPECT_EQ(noticing.channel.fatal_error().code(),
                absl::StatusCode::kAborted);
      const ChannelEvent* heard = told.Find(ChannelEventType::kFailed);
      ASSERT_NE(heard, nullptr);
      EXPECT_EQ(heard->reason, FailureReason::kPeerAlert);
      EXPECT_EQ(heard->alert_name, "protocol_version");
      EXPECT_EQ(told.last_status.code(), absl::StatusCode::kAborted);
    }
  }
}

TEST(ChannelTest, ClientWithRangeMeetsOldServer) {
  for (TlsVersion s :
       {TlsVersion::kTls10, TlsVersion::kTls11, TlsVersion::kTls12}) {
    ChannelOptions client = ClientOptions();
    ChannelOptions server = ServerOptions(CertKind::kGoodRsa);
    Restrict(client, TlsVersion::kTls10, TlsVersion::kTls12);
    Restrict(server, s, s);
    Conversation conv = Handshake(client, server);
    ASSERT_NE(conv.client.channel.facts(), nullptr);
    EXPECT_EQ(conv.client.channel.facts()->version, s);
    if (s != TlsVersion::kTls12) {
      // TLS 1.0/1.1 only have CBC suites with SHA-1 MACs.
      EXPECT_TRUE(absl::EndsWith(conv.client.channel.facts()->cipher_suite,
                                 "_CBC_SHA"))
          << conv.client.channel.facts()->cipher_suite;
    }
  }
}

TEST(ChannelTest, DefaultPolicyRefusesAnOldClient) {
  ChannelOptions client = ClientOptions();
  Restrict(client, TlsVersion::kTls10, TlsVersion::kTls10);
  Conversation conv = Handshake(client, ServerOptions());
  const ChannelEvent* failed = conv.server.Find(ChannelEventType::kFailed);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->reason, FailureReason::kProtocolVersion);
}

TEST(ChannelTest, NoSharedCipher) {
  ChannelOptions client = ClientOptions();
  ChannelOptions server = ServerOptions();
  client.policy.ciphers = {"AES-128/GCM"};
  server.policy.ciphers = {"ChaCha20Poly1305"};
  Conversation conv = Handshake(client, server);
  const ChannelEvent* failed = conv.server.Find(ChannelEventType::kFailed);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->reason, FailureReason::kNoSharedCipher) << failed->detail;
  const ChannelEvent* heard = conv.client.Find(ChannelEventType::kFailed);
  ASSERT_NE(heard, nullptr);
  EXPECT_EQ(heard->reason, FailureReason::kPeerAlert);
  EXPECT_EQ(heard->alert_name, "handshake_failure");
}

TEST(ChannelTest, DheAndGroups) {
  ChannelOptions client = ClientOptions();
  client.policy.key_exchanges = {"DH"};
  ChannelOptions server = ServerOptions(CertKind::kGoodRsa);
  Conversation conv = Handshake(client, server);
  ASSERT_NE(conv.client.channel.facts(), nullptr);
  EXPECT_TRUE(absl::StartsWith(conv.client.channel.facts()->cipher_suite,
                               "DHE_RSA_"));
  EXPECT_TRUE(conv.client.channel.facts()->forward_secret);
  EXPECT_EQ(conv.client.channel.facts()->key_exchange_group, "dh/2048");
  EXPECT_EQ(conv.server.channel.facts()->key_exchange_group, "dh/2048");

  ChannelOptions p384 = ClientOptions();
  p384.policy.groups = {"secp384r1"};
  conv = Handshake(p384, ServerOptions());
  ASSERT_NE(conv.client.channel.facts(), nullptr);
  EXPECT_EQ(conv.client.channel.facts()->key_exchange_group, "secp384r1");
  EXPECT_EQ(conv.server.channel.facts()->key_exchange_group, "secp384r1");
}

TEST(ChannelTest, StaticRsaOnlyWithoutForwardSecrecy) {
  ChannelOptions client = ClientOptions();
  client.policy.forward_secrecy_only = false;
  client.policy.key_exchanges = {"RSA"};
  ChannelOptions server = ServerOptions(CertKind::kGoodRsa);
  server.policy.forward_secrecy_only = false;
  server.policy.key_exchanges = {"ECDH", "RSA"};
  Conversation conv = Handshake(client, server);
  ASSERT_NE(conv.client.channel.facts(), nullptr);
  EXPECT_TRUE(absl::StartsWith(conv.client.channel.facts()->cipher_suite,
                               "RSA_WITH_"));
  EXPECT_FALSE(conv.client.channel.facts()->forward_secret);
  EXPECT_EQ(conv.client.channel.facts()->key_exchange_group, "");

  // A forward-secret server refuses such a client.
  conv = Handshake(client, ServerOptions(CertKind::kGoodRsa));
  const ChannelEvent* failed = conv.server.Find(ChannelEventType::kFailed);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->reason, FailureReason::kNoSharedCipher);
}

TEST(ChannelTest, ClientCertificateRequested) {
  ChannelOptions server = ServerOptions();
  server.policy.client_auth = ClientAuth::kRequest;
  ChannelOptions client = ClientOptions();
  client.identities = {Pki().identity(CertKind::kClient)};
  Conversation conv = Handshake(client, server);
  const TlsFacts* facts = conv.server.channel.facts();
  ASSERT_NE(facts, nullptr);
  ASSERT_EQ(facts->peer_chain.size(), 2u);
  EXPECT_EQ(facts->peer_chain[0].common_name, "client.example.net");
  EXPECT_EQ(facts->chain_verdict, ChainVerdict::kTrusted);

  // Requested but not sent: reported, not enforced.
  conv = Handshake(ClientOptions(), server);
  facts = conv.server.channel.facts();
  ASSERT_NE(facts, nullptr);
  EXPECT_TRUE(facts->peer_chain.empty());
  EXPECT_EQ(facts->chain_verdict, ChainVerdict::kNotChecked);

  // Requested, and bad: reported, not enforced.
  client.identities = {Pki().identity(CertKind::kExpired)};
  conv = Handshake(client, server);
  facts = conv.server.channel.facts();
  ASSERT_NE(facts, nullptr);
  EXPECT_EQ(facts->chain_verdict, ChainVerdict::kExpired);
}

TEST(ChannelTest, ClientCertificateRequired) {
  ChannelOptions server = ServerOptions();
  server.policy.client_auth = ClientAuth::kRequire;
  ChannelOptions client = ClientOptions();
  client.identities = {Pki().identity(CertKind::kClient)};
  Conversation conv = Handshake(client, server);
  ASSERT_NE(conv.server.channel.facts(), nullptr);
  EXPECT_EQ(conv.server.channel.facts()->chain_verdict, ChainVerdict::kTrusted);

  for (CertKind kind : {CertKind::kUntrustedIssuer, CertKind::kExpired,
                        CertKind::kRevoked, CertKind::kSelfSigned}) {
    SCOPED_TRACE(CertKindName(kind));
    client.identities = {Pki().identity(kind)};
    conv = Handshake(client, server);
    const ChannelEvent* failed = conv.server.Find(ChannelEventType::kFailed);
    ASSERT_NE(failed, nullptr);
    EXPECT_EQ(failed->reason, FailureReason::kBadCertificate) << failed->detail;
    const ChannelEvent* heard = conv.client.Find(ChannelEventType::kFailed);
    ASSERT_NE(heard, nullptr);
    EXPECT_EQ(heard->reason, FailureReason::kPeerAlert);
    EXPECT_FALSE(conv.client.channel.established());
  }

  // None sent at all.
  conv = Handshake(ClientOptions(), server);
  const ChannelEvent* failed = conv.server.Find(ChannelEventType::kFailed);
  ASSERT_NE(failed, nullptr);
  EXPECT_FALSE(conv.server.channel.established());
}

std::string Transcript(uint64_t seed) {
  Conversation conv = Handshake(ClientOptions(seed), ServerOptions(CertKind::kGood, seed));
  EXPECT_TRUE(conv.client.channel.established());
  EXPECT_TRUE(conv.client.channel.Write("EHLO client.example\r\n").ok());
  EXPECT_TRUE(conv.server.channel.Write("250 mx.example.net\r\n").ok());
  Pump(conv.client, conv.server, kReference);
  return absl::StrCat(conv.client.sent, "|", conv.server.sent);
}

TEST(ChannelTest, SameSeedsGiveIdenticalTranscripts) {
  const std::string first = Transcript(42);
  const std::string second = Transcript(42);
  EXPECT_GT(first.size(), 1000u);
  EXPECT_EQ(first, second);
  EXPECT_NE(first, Transcript(43));
}

TEST(ChannelTest, ApplicationDataAndClose) {
  Conversation conv = Handshake(ClientOptions(), ServerOptions());
  ASSERT_TRUE(conv.client.channel.Write("EHLO a.example\r\n").ok());
  Pump(conv.client, conv.server, kReference);
  EXPECT_EQ(conv.server.channel.Plaintext(), "EHLO a.example\r\n");
  conv.server.channel.ConsumePlaintext(5);
  EXPECT_EQ(conv.server.channel.Plaintext(), "a.example\r\n");

  ASSERT_TRUE(conv.client.channel.Close().ok());
  EXPECT_TRUE(conv.client.channel.closed());
  EXPECT_EQ(conv.client.channel.Write("x").code(),
            absl::StatusCode::kFailedPrecondition);
  Pump(conv.client, conv.server, kReference);
  ASSERT_NE(conv.server.Find(ChannelEventType::kClosed), nullptr);
  EXPECT_TRUE(conv.server.channel.closed());
  EXPECT_TRUE(conv.client.last_status.ok());  // the reply is discarded
  EXPECT_EQ(conv.server.channel.Receive("more", kReference).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ChannelTest, Misuse) {
  absl::StatusOr<Channel> client = Channel::Create(ClientOptions());
  ASSERT_TRUE(client.ok());
  EXPECT_FALSE(client->PendingOutput().empty());  // the ClientHello
  EXPECT_EQ(client->Write("early").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->facts(), nullptr);

  ChannelOptions no_rng = ClientOptions();
  no_rng.rng = nullptr;
  EXPECT_EQ(Channel::Create(no_rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  ChannelOptions no_identity = ServerOptions();
  no_identity.identities.clear();
  EXPECT_EQ(Channel::Create(no_identity).status().code(),
            absl::StatusCode::kInvalidArgument);
  ChannelOptions require_without_trust = ServerOptions();
  require_without_trust.policy.client_auth = ClientAuth::kRequire;
  require_without_trust.trust = nullptr;
  EXPECT_EQ(Channel::Create(require_without_trust).status().code(),
            absl::StatusCode::kInvalidArgument);
  ChannelOptions bad_policy = ClientOptions();
  bad_policy.policy.groups = {"nope"};
  EXPECT_EQ(Channel::Create(bad_policy).status().code(),
            absl::StatusCode::kInvalidArgument);
  ChannelOptions no_suite = ClientOptions();
  no_suite.policy.ciphers = {"Camellia-512/XYZ"};
  EXPECT_EQ(Channel::Create(no_suite).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Garbage at every point of a real handshake: no exception escapes, a
// failure is a kFailed event with a reason and a sticky kAborted status.
TEST(ChannelTest, GarbageMidHandshakeIsContained) {
  Conversation reference = Handshake(ClientOptions(), ServerOptions());
  int failures = 0;
  for (bool to_server : {false, true}) {
    const std::string& flight =
        to_server ? reference.client.sent : reference.server.sent;
    ASSERT_GT(flight.size(), 100u);
    for (size_t at = 0; at < flight.size(); at += 13) {
      absl::StatusOr<Channel> channel =
          Channel::Create(to_server ? ServerOptions() : ClientOptions());
      ASSERT_TRUE(channel.ok());
      std::string input = flight;
      for (size_t i = at; i < std::min(at + 4, input.size()); ++i) {
        input[i] = static_cast<char>(input[i] ^ 0x5a);
      }
      const absl::Status status = channel->Receive(input, kReference);
      if (status.ok()) continue;
      ++failures;
      EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
      EXPECT_TRUE(channel->closed());
      bool saw_failure = false;
      while (auto event = channel->NextEvent()) {
        if (event->type == ChannelEventType::kFailed) {
          saw_failure = true;
          EXPECT_NE(event->reason, FailureReason::kNone);
          EXPECT_TRUE(event->alert.has_value());
        }
      }
      EXPECT_TRUE(saw_failure);
      EXPECT_EQ(channel->Receive("more", kReference), status);
      EXPECT_EQ(channel->Write("x"), status);
    }
  }
  EXPECT_GT(failures, 50);

  absl::StatusOr<Channel> server = Channel::Create(ServerOptions());
  ASSERT_TRUE(server.ok());
  const absl::Status status =
      server->Receive("EHLO client.example\r\n", kReference);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace starling::tls
