// Routes and the MX walk's decisions over made-up resolutions and attempts
// (no sockets; the walk itself runs in send_to_domain_test).
#include "tools/send/domain.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/io/address.h"
#include "tools/send/route.h"

namespace starling::send {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

net::DnsAnswer<std::string> Addresses(std::vector<std::string> records,
                                      policy::DnssecStatus dnssec =
                                          policy::DnssecStatus::kSecure) {
  net::DnsAnswer<std::string> a;
  a.outcome = records.empty() ? net::DnsOutcome::kNoData : net::DnsOutcome::kAnswer;
  a.dnssec = dnssec;
  a.records = std::move(records);
  return a;
}

net::MxHost Host(std::string name, net::DnsAnswer<std::string> a,
                 net::DnsAnswer<std::string> aaaa = Addresses({})) {
  net::MxHost host;
  host.host = std::move(name);
  host.preference = 10;
  host.a = std::move(a);
  host.aaaa = std::move(aaaa);
  return host;
}

std::vector<std::string> Endpoints(const MxRoute& route) {
  std::vector<std::string> out;
  for (const auto& e : route.endpoints) out.push_back(io::FormatEndpoint(e));
  return out;
}

TEST(RouteTest, DnsAddressesIpv4FirstOnThePort) {
  net::DestinationResolution r;
  r.hosts.push_back(Host("mx.example.com", Addresses({"192.0.2.1"}),
                         Addresses({"2001:db8::1"})));
  ConnectOverrides connect;
  connect.port = 2525;
  const std::vector<MxRoute> routes = RoutesFor(r, connect);
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].host, &r.hosts[0]);
  EXPECT_FALSE(routes[0].overridden);
  EXPECT_THAT(Endpoints(routes[0]), ElementsAre("192.0.2.1:2525", "[2001:db8::1]:2525"));
}

TEST(RouteTest, BogusAddressesAreNeverUsed) {
  net::DestinationResolution r;
  r.hosts.push_back(Host("mx.example.com",
                         Addresses({"192.0.2.1"}, policy::DnssecStatus::kBogus)));
  const std::vector<MxRoute> routes = RoutesFor(r, ConnectOverrides{});
  EXPECT_TRUE(routes[0].endpoints.empty());
  EXPECT_THAT(routes[0].problem, HasSubstr("A DNSSEC-bogus"));
  EXPECT_THAT(routes[0].problem, HasSubstr("AAAA nodata"));
}

TEST(RouteTest, OverridesForOneMxWinOverOverridesForAll) {
  asio::io_context context;
  absl::StatusOr<ConnectOverrides> connect = ParseConnectOverrides(
      context, {"127.0.0.1:2600", "MX2.Example.com=127.0.0.1:2601"}, 25);
  ASSERT_TRUE(connect.ok()) << connect.status();
  net::DestinationResolution r;
  r.hosts.push_back(Host("mx1.example.com", Addresses({"192.0.2.1"})));
  r.hosts.push_back(Host("mx2.example.com", Addresses({})));
  const std::vector<MxRoute> routes = RoutesFor(r, *connect);
  EXPECT_THAT(Endpoints(routes[0]), ElementsAre("127.0.0.1:2600"));
  EXPECT_THAT(Endpoints(routes[1]), ElementsAre("127.0.0.1:2601"));
  EXPECT_TRUE(routes[1].overridden);
}

TEST(RouteTest, TheLastMxToTryHasAnAddress) {
  net::DestinationResolution r;
  r.hosts.push_back(Host("mx1.example.com", Addresses({"192.0.2.1"})));
  r.hosts.push_back(Host("mx2.example.com", Addresses({"192.0.2.2"})));
  r.hosts.push_back(Host("mx3.example.com", Addresses({})));
  EXPECT_EQ(LastMxToTry(RoutesFor(r, ConnectOverrides{})), 1u);
  r.hosts.resize(0);
  EXPECT_EQ(LastMxToTry(RoutesFor(r, ConnectOverrides{})), 0u);
}

TEST(RouteTest, BadOverrides) {
  asio::io_context context;
  EXPECT_FALSE(ParseConnectOverrides(context, {"no-port"}, 25).ok());
  EXPECT_FALSE(ParseConnectOverrides(context, {"mx=127.0.0.1:0"}, 25).ok());
  EXPECT_FALSE(ParseConnectOverrides(context, {}, 0).ok());
}

Attempt Failed(smtp::ClientStage stage,
               smtp::RecipientStatus status = smtp::RecipientStatus::kTempFailed) {
  Attempt attempt;
  attempt.connected = true;
  smtp::MessageResult message;
  smtp::RecipientResult rcpt;
  rcpt.status = status;
  rcpt.stage = stage;
  message.recipients.push_back(rcpt);
  attempt.result.results.push_back(message);
  return attempt;
}

TEST(MxWalkTest, HostFailuresMoveOn) {
  Attempt unreachable;
  EXPECT_TRUE(MovesOnToNextMx(unreachable));
  EXPECT_TRUE(MovesOnToNextMx(Failed(smtp::ClientStage::kGreeting)));
  EXPECT_TRUE(MovesOnToNextMx(Failed(smtp::ClientStage::kTlsHandshake)));
  EXPECT_TRUE(MovesOnToNextMx(Failed(smtp::ClientStage::kPolicy)));
  Attempt refused;
  refused.refused_by_policy = true;
  refused.before.verdict = smtp::DeliveryVerdict::kTryNextMx;
  EXPECT_TRUE(MovesOnToNextMx(refused));
}

TEST(MxWalkTest, AnswersAboutTheMessageAndBouncesStop) {
  EXPECT_FALSE(MovesOnToNextMx(Failed(smtp::ClientStage::kRcpt)));
  EXPECT_FALSE(MovesOnToNextMx(Failed(smtp::ClientStage::kData)));
  EXPECT_FALSE(MovesOnToNextMx(
      Failed(smtp::ClientStage::kConnect, smtp::RecipientStatus::kDelivered)));
  Attempt bounced = Failed(smtp::ClientStage::kTlsHandshake);
  bounced.result.policy.verdict = smtp::DeliveryVerdict::kBounce;
  EXPECT_FALSE(MovesOnToNextMx(bounced));
  Attempt refused;
  refused.refused_by_policy = true;
  refused.before.verdict = smtp::DeliveryVerdict::kBounce;
  EXPECT_FALSE(MovesOnToNextMx(refused));
}

DomainDelivery Deliver(const net::DestinationResolution& r) {
  asio::io_context context;
  SendSettings settings;
  return SendToDomain(context, r, RoutesFor(r, ConnectOverrides{}), settings,
                      [] { return std::vector<smtp::OutboundMessage>(); });
}

TEST(MxWalkTest, TheDestinationItselfDecides) {
  net::DestinationResolution r;
  r.domain = "example.com";
  r.mx_status = net::MxStatus::kNullMx;
  EXPECT_EQ(Deliver(r).exit_code, 69);
  r.mx_status = net::MxStatus::kNoSuchDomain;
  EXPECT_EQ(Deliver(r).exit_code, 69);
  r.mx_status = net::MxStatus::kTemporaryError;
  EXPECT_EQ(Deliver(r).exit_code, 75);
  r.mx_status = net::MxStatus::kBogus;
  const DomainDelivery bogus = Deliver(r);
  EXPECT_EQ(bogus.exit_code, 75);
  EXPECT_EQ(bogus.tlsrpt_result_type, "dnssec-invalid");
  r.mx_status = net::MxStatus::kFound;
  r.notes = {"MX host 'under_score.example.com' is not a valid host name; skipped"};
  const DomainDelivery none = Deliver(r);
  EXPECT_EQ(none.exit_code, 75);
  EXPECT_THAT(none.outcome, HasSubstr("under_score"));
}

TEST(MxWalkTest, NoHostWithAnAddress) {
  net::DestinationResolution r;
  r.domain = "example.com";
  r.mx_status = net::MxStatus::kFound;
  r.hosts.push_back(Host("mx1.example.com", Addresses({})));
  r.hosts.push_back(Host("mx2.example.com", Addresses({})));
  const DomainDelivery d = Deliver(r);
  EXPECT_EQ(d.exit_code, 75);
  EXPECT_THAT(d.outcome, HasSubstr("no MX host of example.com has an address"));
  ASSERT_EQ(d.hosts.size(), 2u);
  EXPECT_TRUE(d.hosts[0].attempts.empty());
  EXPECT_THAT(d.hosts[0].route.problem, HasSubstr("A nodata"));
}

}  // namespace
}  // namespace starling::send
