#include "core/policy/postfix_import.h"

#include <string>

#include "gtest/gtest.h"

namespace starling::policy {
namespace {

TEST(PostfixImportTest, ConvertsTypicalMap) {
  const PostfixImport result = ImportPostfixPolicyMap(
      "# smtp_tls_policy_maps\n"
      "example.com secure match=.example.com protocols=>=TLSv1.2\n"
      ".example.net encrypt protocols=!SSLv2:!SSLv3:!TLSv1:!TLSv1.1 "
      "exclude=3DES:aNULL\n"
      "[mx.partner.example]:25 fingerprint\n"
      "  match=" + std::string(64, 'A') + "|" + std::string(64, 'b') + "\n"
      "dane.example dane-only\n"
      "old.example MUST\n"
      "loose.example may ciphers=medium servername=hostname\n");
  ASSERT_TRUE(result.ok());
  const PolicyTable& t = result.table;
  EXPECT_EQ(t.Lookup("example.com").level, Level::kSecure);
  EXPECT_EQ(t.Lookup("example.com").match, std::vector<std::string>{".example.com"});
  EXPECT_EQ(t.Lookup("a.example.net").min_version, TlsVersion::kTls12);
  EXPECT_EQ(t.Lookup("a.example.net").exclude, (std::vector<std::string>{"3DES", "ANON"}));
  const PolicyEntry& fp = t.Lookup("mx.partner.example");
  EXPECT_EQ(fp.level, Level::kFingerprint);
  EXPECT_EQ(fp.cert_pins, (std::vector<std::string>{std::string(64, 'a'), std::string(64, 'b')}));
  EXPECT_EQ(fp.spki_pins, fp.cert_pins);
  EXPECT_EQ(t.Lookup("old.example").level, Level::kVerify);
  EXPECT_EQ(t.Lookup("dane.example").level, Level::kDaneOnly);
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].ToString(),
            "line 4: warning: key '[mx.partner.example]:25': brackets and port "
            "dropped (policies are looked up by next-hop domain)");
  // And the result prints in our format and parses back.
  absl::StatusOr<PolicyTable> again = ParsePolicyTable(PrintPolicyTable(t));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->SameRules(t));
}

TEST(PostfixImportTest, ReportsErrorsWithLines) {
  const PostfixImport result = ImportPostfixPolicyMap(
      "a.example sekure\n"
      "b.example fingerprint match=3D:95:34:51:24:66:33:B9:D2:40:99:C0:C1:17:0B:D1\n"
      "c.example encrypt protocols=!TLSv1:!TLSv1.1:!TLSv1.2:!TLSv1.3\n"
      "d.example verify tafile=/etc/ta.pem frobnicate=1\n"
      "e.example encrypt match=hostname protocols=<=TLSv1.2\n");
  EXPECT_FALSE(result.ok());
  std::vector<std::string> lines;
  for (const Diagnostic& d : result.diagnostics) lines.push_back(d.ToString());
  ASSERT_EQ(lines.size(), 8u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0], "line 1: error: unknown security level 'sekure'");
  EXPECT_EQ(lines[1].rfind("line 2: error: bad SHA-256 pin", 0), 0u);
  EXPECT_EQ(lines[2], "line 2: error: level fingerprint without match= fingerprints");
  EXPECT_EQ(lines[3], "line 3: error: protocols '!TLSv1:!TLSv1.1:!TLSv1.2:!TLSv1.3' excludes every TLS version");
  EXPECT_EQ(lines[4].rfind("line 4: warning: tafile= dropped", 0), 0u);
  EXPECT_EQ(lines[5], "line 4: error: unknown attribute 'frobnicate'");
  EXPECT_EQ(lines[6], "line 5: warning: match= is not used by level encrypt, dropped");
  EXPECT_EQ(lines[7], "line 5: warning: protocols=<=TLSv1.2: a maximum version is not supported, dropped");
  EXPECT_EQ(result.table.size(), 1u);  // only e.example converted
}

}  // namespace
}  // namespace starling::policy
