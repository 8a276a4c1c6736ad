#include "core/policy/names.h"

#include "gtest/gtest.h"

namespace starling::policy {
namespace {

TEST(NamesTest, Normalize) {
  EXPECT_EQ(NormalizeDnsName("MX.Example.COM."), "mx.example.com");
  EXPECT_EQ(NormalizeDnsName("xn--bcher-kva.example"), "xn--bcher-kva.example");
  EXPECT_FALSE(NormalizeDnsName("bücher.example").has_value());  // U-label
  EXPECT_FALSE(NormalizeDnsName("a..b").has_value());
  EXPECT_FALSE(NormalizeDnsName("-a.b").has_value());
  EXPECT_FALSE(NormalizeDnsName("a_b.c").has_value());
  EXPECT_FALSE(NormalizeDnsName("").has_value());
  EXPECT_FALSE(NormalizeDnsName(std::string(64, 'a') + ".com").has_value());
  EXPECT_TRUE(NormalizeDnsName(std::string(63, 'a') + ".com").has_value());
}

// RFC 6125 §6.4.3 / RFC 9525 §6.3 examples.
TEST(NamesTest, Rfc6125Wildcards) {
  EXPECT_TRUE(MatchDnsId("*.example.com", "foo.example.com"));
  EXPECT_FALSE(MatchDnsId("*.example.com", "bar.foo.example.com"));
  EXPECT_FALSE(MatchDnsId("*.example.com", "example.com"));
  EXPECT_FALSE(MatchDnsId("baz*.example.net", "baz1.example.net"));
  EXPECT_FALSE(MatchDnsId("*baz.example.net", "foobaz.example.net"));
  EXPECT_FALSE(MatchDnsId("b*z.example.net", "buzz.example.net"));
  EXPECT_FALSE(MatchDnsId("xn--*.example", "xn--bcher-kva.example"));
  EXPECT_FALSE(MatchDnsId("*.com", "example.com"));
  EXPECT_FALSE(MatchDnsId("foo.*.example.com", "foo.bar.example.com"));
  EXPECT_TRUE(MatchDnsId("*.example.com", "xn--bcher-kva.example.com"));
  EXPECT_TRUE(MatchDnsId("MX.Example.com.", "mx.example.COM"));
  EXPECT_FALSE(MatchDnsId("mx.example.com", "mx.example.org"));
}

TEST(NamesTest, Patterns) {
  EXPECT_TRUE(MatchPattern("mx.example.com", ".example.com"));
  EXPECT_TRUE(MatchPattern("a.b.example.com", ".example.com"));
  EXPECT_FALSE(MatchPattern("example.com", ".example.com"));
  EXPECT_FALSE(MatchPattern("badexample.com", ".example.com"));
  EXPECT_TRUE(MatchPattern("*.mail.example.com", ".example.com"));
  EXPECT_TRUE(MatchPattern("mx.example.com", "mx.example.com"));
}

// RFC 8461 §4.1 examples.
TEST(NamesTest, StsMxPatterns) {
  EXPECT_TRUE(MatchStsMxPattern("*.example.com", "mail.example.com"));
  EXPECT_FALSE(MatchStsMxPattern("*.example.com", "example.com"));
  EXPECT_FALSE(MatchStsMxPattern("*.example.com", "foo.mail.example.com"));
  EXPECT_TRUE(MatchStsMxPattern("mail.example.com", "MAIL.example.com."));
}

TEST(NamesTest, CertificateUsesSanOnly) {
  CertificateFacts leaf;
  leaf.common_name = "mx.example.com";
  EXPECT_FALSE(CertificateMatches(leaf, "mx.example.com"));
  leaf.dns_names = {"other.example.com", "*.example.com"};
  EXPECT_TRUE(CertificateMatches(leaf, "mx.example.com"));
}

TEST(NamesTest, DistinguishedNames) {
  EXPECT_TRUE(SameDistinguishedName("CN=DigiCert Global G2, O=DigiCert Inc",
                                    "cn=digicert global g2,o=DigiCert Inc"));
  EXPECT_FALSE(SameDistinguishedName("CN=A", "CN=B"));
  // Botan's rendering against what an administrator types.
  EXPECT_TRUE(SameDistinguishedName(
      "CN=\"Starling Test Old Root CA\",C=\"NL\",O=\"Starling Test PKI\"",
      "O=Starling Test PKI, C=NL, CN=Starling Test Old Root CA"));
  EXPECT_FALSE(SameDistinguishedName("CN=A,O=B", "CN=A"));
  EXPECT_FALSE(SameDistinguishedName("CN=A,O=B", "CN=B,O=A"));
}

}  // namespace
}  // namespace starling::policy
