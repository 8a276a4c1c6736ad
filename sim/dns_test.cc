#include "sim/dns.h"

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sim/random.h"

namespace starling::sim {
namespace {

std::vector<std::string> Hosts(const DnsAnswer<MxRecord>& answer) {
  std::vector<std::string> hosts;
  for (const MxRecord& mx : answer.records) hosts.push_back(mx.host);
  return hosts;
}

TEST(DnsModelTest, MxSortedByPreference) {
  DnsModel dns;
  dns.AddMx("example.com", 20, "mx2.example.com");
  dns.AddMx("example.com", 5, "MX0.Example.COM.");
  dns.AddMx("example.com", 10, "mx1.example.com");
  Random random(1);
  absl::StatusOr<DnsAnswer<MxRecord>> answer =
      dns.LookupMx("EXAMPLE.com.", random);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(Hosts(*answer),
            (std::vector<std::string>{"mx0.example.com", "mx1.example.com",
                                      "mx2.example.com"}));
  EXPECT_EQ(answer->records[0], (MxRecord{5, "mx0.example.com"}));
  EXPECT_EQ(answer->dnssec, DnssecStatus::kInsecure);
  // No ties: the generator was not used.
  Random fresh(1);
  EXPECT_EQ(random.Next(), fresh.Next());
}

TEST(DnsModelTest, EqualPreferencesAreShuffledBySeed) {
  DnsModel dns;
  dns.AddMx("example.org", 10, "a.example.org");
  dns.AddMx("example.org", 10, "b.example.org");
  dns.AddMx("example.org", 10, "c.example.org");
  dns.AddMx("example.org", 10, "d.example.org");
  dns.AddMx("example.org", 1, "first.example.org");
  dns.AddMx("example.org", 99, "last.example.org");
  std::set<std::vector<std::string>> orders;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    Random random(seed);
    const std::vector<std::string> hosts =
        Hosts(*dns.LookupMx("example.org", random));
    ASSERT_EQ(hosts.size(), 6u);
    EXPECT_EQ(hosts.front(), "first.example.org");
    EXPECT_EQ(hosts.back(), "last.example.org");
    EXPECT_EQ(std::set<std::string>(hosts.begin() + 1, hosts.end() - 1),
              (std::set<std::string>{"a.example.org", "b.example.org",
                                     "c.example.org", "d.example.org"}));
    orders.insert(hosts);
    // The same seed gives the same order.
    Random again(seed);
    EXPECT_EQ(Hosts(*dns.LookupMx("example.org", again)), hosts);
  }
  EXPECT_GT(orders.size(), 10u);  // 24 orders are possible
}

TEST(DnsModelTest, NxDomainServFailAndNoData) {
  DnsModel dns;
  dns.AddA("mx.example.net", "192.0.2.25");
  dns.AddMx("broken.example", 10, "mx.broken.example");
  dns.SetFault("broken.example", NameFault::kServFail);
  dns.AddMx("gone.example", 10, "mx.gone.example");
  dns.SetFault("gone.example", NameFault::kNxDomain);
  Random random(1);

  EXPECT_EQ(dns.LookupMx("nowhere.example", random).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(dns.LookupMx("gone.example", random).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(dns.LookupMx("broken.example", random).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(dns.LookupA("broken.example").status().code(),
            absl::StatusCode::kUnavailable);
  // The name exists but has no MX: an empty answer (the caller falls back to
  // the implicit MX of RFC 5321 §5.1).
  absl::StatusOr<DnsAnswer<MxRecord>> nodata =
      dns.LookupMx("mx.example.net", random);
  ASSERT_TRUE(nodata.ok()) << nodata.status();
  EXPECT_TRUE(nodata->records.empty());
  // A fault or a DNSSEC status alone does not make a name exist.
  dns.SetDnssec("unsigned.example", DnssecStatus::kSecure);
  EXPECT_EQ(dns.LookupA("unsigned.example").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(DnsModelTest, Addresses) {
  DnsModel dns;
  dns.AddA("mx.example.net", "192.0.2.25");
  dns.AddA("mx.example.net", "192.0.2.26");
  dns.AddAaaa("mx.example.net", "2001:db8::25");
  absl::StatusOr<DnsAnswer<std::string>> a = dns.LookupA("MX.example.net");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->records, (std::vector<std::string>{"192.0.2.25", "192.0.2.26"}));
  absl::StatusOr<DnsAnswer<std::string>> aaaa =
      dns.LookupAaaa("mx.example.net");
  ASSERT_TRUE(aaaa.ok());
  EXPECT_EQ(aaaa->records, std::vector<std::string>{"2001:db8::25"});
}

TEST(DnsModelTest, TlsaWithDnssecStatus) {
  DnsModel dns;
  const TlsaRecord record{3, 1, 1, std::string(32, '\x42')};
  dns.AddTlsa("mx.example.net", record);
  dns.SetDnssec(DnsModel::TlsaName("mx.example.net"), DnssecStatus::kSecure);
  dns.AddTlsa("mx.bogus.example", TlsaRecord{2, 0, 1, std::string(32, 'x')});
  dns.SetDnssec("_25._tcp.mx.bogus.example", DnssecStatus::kBogus);

  EXPECT_EQ(DnsModel::TlsaName("MX.Example.Net."), "_25._tcp.mx.example.net");
  absl::StatusOr<DnsAnswer<TlsaRecord>> tlsa = dns.LookupTlsa("mx.example.net");
  ASSERT_TRUE(tlsa.ok()) << tlsa.status();
  EXPECT_EQ(tlsa->records, std::vector<TlsaRecord>{record});
  EXPECT_EQ(tlsa->dnssec, DnssecStatus::kSecure);

  absl::StatusOr<DnsAnswer<TlsaRecord>> bogus =
      dns.LookupTlsa("mx.bogus.example");
  ASSERT_TRUE(bogus.ok());
  EXPECT_EQ(bogus->dnssec, DnssecStatus::kBogus);
  EXPECT_EQ(DnssecStatusName(bogus->dnssec), "bogus");

  EXPECT_EQ(dns.LookupTlsa("mx.other.example").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(DnsModelTest, MtaStsAndTlsRptTxt) {
  DnsModel dns;
  dns.AddMtaStsTxt("example.com", "v=STSv1; id=20240101T000000");
  dns.AddTlsRptTxt("example.com", "v=TLSRPTv1; rua=mailto:rpt@example.com");
  dns.AddTxt("example.com", "v=spf1 -all");

  absl::StatusOr<DnsAnswer<std::string>> sts =
      dns.LookupMtaStsTxt("Example.com");
  ASSERT_TRUE(sts.ok());
  EXPECT_EQ(sts->records,
            std::vector<std::string>{"v=STSv1; id=20240101T000000"});
  EXPECT_EQ(dns.LookupTxt("_mta-sts.example.com")->records, sts->records);

  absl::StatusOr<DnsAnswer<std::string>> rpt =
      dns.LookupTlsRptTxt("example.com");
  ASSERT_TRUE(rpt.ok());
  EXPECT_EQ(rpt->records,
            std::vector<std::string>{"v=TLSRPTv1; rua=mailto:rpt@example.com"});
  EXPECT_EQ(dns.LookupTxt("example.com")->records,
            std::vector<std::string>{"v=spf1 -all"});

  EXPECT_EQ(dns.LookupMtaStsTxt("example.org").status().code(),
            absl::StatusCode::kNotFound);
  dns.SetFault(DnsModel::MtaStsName("example.com"), NameFault::kServFail);
  EXPECT_EQ(dns.LookupMtaStsTxt("example.com").status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(DnsModelTest, NullMxIsKept) {
  DnsModel dns;
  dns.AddMx("nomail.example", 0, ".");
  Random random(1);
  absl::StatusOr<DnsAnswer<MxRecord>> answer =
      dns.LookupMx("nomail.example", random);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->records, std::vector<MxRecord>{(MxRecord{0, "."})});
}

}  // namespace
}  // namespace starling::sim
