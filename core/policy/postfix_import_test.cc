#include "core/policy/postfix_import.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace starling::policy {
namespace {

std::vector<std::string> Lines(const PostfixImport& result) {
  std::vector<std::string> lines;
  for (const Diagnostic& d : result.diagnostics) lines.push_back(d.ToString());
  return lines;
}

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
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(Lines(result));
  const PolicyTable& t = result.table;
  EXPECT_EQ(t.Lookup("example.com").level, Level::kSecure);
  EXPECT_EQ(t.Lookup("example.com").match, std::vector<std::string>{".example.com"});
  EXPECT_EQ(t.Lookup("example.com").min_version, TlsVersion::kTls12);
  EXPECT_EQ(t.Lookup("a.example.net").min_version, TlsVersion::kTls12);
  EXPECT_EQ(t.Lookup("a.example.net").exclude, (std::vector<std::string>{"3DES", "ANON"}));
  // A next-hop key stays one: only mail routed through it matches.
  const PolicyEntry& fp = t.Lookup("[mx.partner.example]:25");
  EXPECT_EQ(fp.level, Level::kFingerprint);
  EXPECT_EQ(fp.cert_pins, (std::vector<std::string>{std::string(64, 'a'), std::string(64, 'b')}));
  EXPECT_EQ(fp.spki_pins, fp.cert_pins);
  EXPECT_EQ(t.Find("mx.partner.example").key, "*");
  EXPECT_EQ(t.Find("[mx.partner.example]").key, "*");
  EXPECT_EQ(t.Lookup("old.example").level, Level::kVerify);
  EXPECT_EQ(t.Lookup("dane.example").level, Level::kDaneOnly);
  // Postfix's defaults where the entry says nothing: TLS 1.0 and up, no
  // forward-secrecy demand; and smtp_tls_security_level's default, none.
  EXPECT_EQ(t.Lookup("loose.example").min_version, TlsVersion::kTls10);
  EXPECT_FALSE(t.Lookup("loose.example").forward_secrecy);
  EXPECT_EQ(t.Lookup("unlisted.example").level, Level::kNone);
  EXPECT_FALSE(result.default_level_given);
  ASSERT_EQ(Lines(result).size(), 1u) << ::testing::PrintToString(Lines(result));
  EXPECT_EQ(Lines(result)[0].rfind("warning: Postfix's defaults apply", 0), 0u);
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
      "e.example encrypt match=hostname protocols=<=TLSv1.2\n"
      "f.example encrypt protocols=>=TLSv1.4\n"
      "g.example encrypt connection_reuse=yes\n");
  EXPECT_FALSE(result.ok());
  const std::vector<std::string> lines = Lines(result);
  ASSERT_EQ(lines.size(), 11u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0].rfind("warning: Postfix's defaults apply", 0), 0u);
  EXPECT_EQ(lines[1], "line 1: error: unknown security level 'sekure'");
  EXPECT_EQ(lines[2],
            "line 2: error: fingerprint '3D:95:34:51:24:66:33:B9:D2:40:99:C0:C1:17:0B:D1' "
            "has 32 hex digits, but smtp_tls_fingerprint_digest = sha256 gives 64: "
            "Postfix would never match it (it looks like MD5; set --fingerprint-digest "
            "to main.cf's smtp_tls_fingerprint_digest)");
  EXPECT_EQ(lines[3], "line 2: error: level fingerprint without match= fingerprints");
  EXPECT_EQ(lines[4],
            "line 3: error: protocols=!TLSv1:!TLSv1.1:!TLSv1.2:!TLSv1.3 leaves no TLS version");
  EXPECT_EQ(lines[5].rfind("line 4: error: tafile= limits trust", 0), 0u);
  EXPECT_EQ(lines[6], "line 4: error: unknown attribute 'frobnicate'");
  EXPECT_EQ(lines[7], "line 5: warning: match= is not used by level encrypt (Postfix ignores it too)");
  EXPECT_EQ(lines[8], "line 5: warning: min-protocol=TLSv1 allows deprecated TLS versions (RFC 8996)");
  EXPECT_EQ(lines[9].rfind("line 6: error: protocols=>=TLSv1.4: 'TLSv1.4' is not a protocol name", 0),
            0u);
  EXPECT_EQ(lines[10].rfind("line 7: error: connection_reuse= has no Starling equivalent", 0), 0u);
  // Only e.example converted (and the default).
  EXPECT_EQ(result.table.Entries().size(), 1u);
  EXPECT_EQ(result.table.Lookup("e.example").max_version, TlsVersion::kTls12);
}

TEST(PostfixImportTest, ProtocolsAsPostfixReadsThem) {
  struct Case {
    std::string protocols;
    TlsVersion min, max;
    std::vector<TlsVersion> excluded;
  };
  const Case cases[] = {
      {">=TLSv1.2", TlsVersion::kTls12, TlsVersion::kTls13, {}},
      {"<=TLSv1.1", TlsVersion::kTls10, TlsVersion::kTls11, {}},
      {">=TLSv1, <=TLSv1.2", TlsVersion::kTls10, TlsVersion::kTls12, {}},
      {"!SSLv3:!TLSv1.1", TlsVersion::kTls10, TlsVersion::kTls13, {TlsVersion::kTls11}},
      {"TLSv1:TLSv1.2", TlsVersion::kTls10, TlsVersion::kTls12, {TlsVersion::kTls11}},
      {"TLSv1.2:TLSv1.3:!TLSv1.3", TlsVersion::kTls12, TlsVersion::kTls12, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.protocols);
    std::string protocols = c.protocols;
    for (char& ch : protocols) {
      if (ch == ' ') ch = ':';  // one word on the map line
    }
    const PostfixImport result =
        ImportPostfixPolicyMap("x.example encrypt protocols=" + protocols + "\n");
    ASSERT_TRUE(result.ok()) << ::testing::PrintToString(Lines(result));
    const PolicyEntry& e = result.table.Lookup("x.example");
    EXPECT_EQ(e.min_version, c.min);
    EXPECT_EQ(e.max_version, c.max);
    EXPECT_EQ(e.excluded_versions, c.excluded);
  }
  for (const char* bad : {"TLSv1.0", "tlsv2", ">=", "!TLSv9"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(
        ImportPostfixPolicyMap(absl::StrCat("x.example encrypt protocols=", bad, "\n")).ok());
  }
  // SSLv3 cannot be allowed: an error, or (lenient) dropped with a warning,
  // which is stricter.
  EXPECT_FALSE(ImportPostfixPolicyMap("x.example encrypt protocols=SSLv3:TLSv1\n").ok());
  PostfixImportOptions lenient;
  lenient.lenient = true;
  const PostfixImport dropped =
      ImportPostfixPolicyMap("x.example encrypt protocols=SSLv3:TLSv1\n", lenient);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped.table.Lookup("x.example").max_version, TlsVersion::kTls10);
  EXPECT_NE(::testing::PrintToString(Lines(dropped)).find("SSLv3 dropped"), std::string::npos);
}

TEST(PostfixImportTest, FingerprintDigests) {
  const std::string md5 = "3D:95:34:51:24:66:33:B9:D2:40:99:C0:C1:17:0B:D1";
  PostfixImportOptions options;
  options.fingerprint_digest = "md5";
  const PostfixImport result =
      ImportPostfixPolicyMap("partner.example fingerprint match=" + md5 + "\n", options);
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(Lines(result));
  EXPECT_EQ(result.table.Lookup("partner.example").cert_pins,
            std::vector<std::string>{"3d953451246633b9d24099c0c1170bd1"});
  // MD5 and SHA-1 pins import, with the linter's warning about the digest.
  EXPECT_NE(::testing::PrintToString(Lines(result)).find("MD5, a digest with practical collisions"),
            std::string::npos);
  // The digest must be one core/tls reports.
  options.fingerprint_digest = "sha384";
  const PostfixImport unsupported = ImportPostfixPolicyMap("x.example may\n", options);
  ASSERT_FALSE(unsupported.ok());
  EXPECT_EQ(Lines(unsupported)[0].rfind("error: smtp_tls_fingerprint_digest 'sha384' is not supported", 0),
            0u);
}

TEST(PostfixImportTest, DefaultLevelAndForwardSecrecy) {
  PostfixImportOptions options;
  options.default_level = Level::kMay;
  const PostfixImport result = ImportPostfixPolicyMap(
      "fs.example encrypt exclude=kRSA\n"
      "medium.example encrypt ciphers=medium\n",
      options);
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(Lines(result));
  EXPECT_TRUE(result.default_level_given);
  EXPECT_EQ(result.table.Lookup("unlisted.example").level, Level::kMay);
  EXPECT_EQ(result.table.Find("unlisted.example").key, "*");
  // Postfix's encrypt with medium ciphers accepts a suite without forward
  // secrecy; exclude=kRSA is how a map demands it.
  EXPECT_FALSE(result.table.Lookup("medium.example").forward_secrecy);
  EXPECT_TRUE(result.table.Lookup("fs.example").forward_secrecy);
  EXPECT_TRUE(result.table.Lookup("fs.example").exclude.empty());
}

TEST(PostfixImportTest, LenientDropsOnlyWhatNeverWeakens) {
  PostfixImportOptions lenient;
  lenient.lenient = true;
  const PostfixImport result = ImportPostfixPolicyMap(
      "a.example encrypt connection_reuse=yes enable_rpk=yes\n"
      "b.example verify tafile=/etc/postfix/b.pem\n",
      lenient);
  EXPECT_FALSE(result.ok());  // tafile stays an error: dropping it weakens
  const std::vector<std::string> lines = Lines(result);
  EXPECT_NE(::testing::PrintToString(lines).find("line 1: warning: connection_reuse= dropped"),
            std::string::npos);
  EXPECT_NE(::testing::PrintToString(lines).find("line 2: error: tafile="), std::string::npos);
  EXPECT_EQ(result.table.Lookup("a.example").level, Level::kEncrypt);
  EXPECT_EQ(result.table.Find("b.example").key, "*");
}

TEST(PostfixImportTest, RecognisesPostfixMaps) {
  EXPECT_TRUE(LooksLikePostfixPolicyMap("example.com secure protocols=>=TLSv1.2\n"));
  EXPECT_TRUE(LooksLikePostfixPolicyMap("# x\nold.example MUST\n"));
  EXPECT_TRUE(LooksLikePostfixPolicyMap("a.example fingerprint match=AA:BB|CC:DD\n"));
  EXPECT_FALSE(LooksLikePostfixPolicyMap("* may\nexample.com secure match=nexthop\n"));
}

}  // namespace
}  // namespace starling::policy
