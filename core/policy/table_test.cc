#include "core/policy/table.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace starling::policy {
namespace {

constexpr char kTable[] = R"(# Starling policy table
*               dane
example.com     secure match=.example.com min-protocol=TLSv1.3
.example.com    encrypt
partner.example verify match=hostname:nexthop
    cert-pin=AA:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99
    testing floor=encrypt   # new pin being rolled out
contoso.example domain-validation tls-domain=*.contoso.example
    cert-name="<I>CN=DigiCert Global G2, O=DigiCert Inc<S>CN=mail.contoso.example"
legacy.example  none
)";

TEST(TableTest, ParsesAndLooksUp) {
  absl::StatusOr<PolicyTable> table = ParsePolicyTable(kTable);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 6u);
  EXPECT_EQ(table->Lookup("example.com").level, Level::kSecure);
  EXPECT_EQ(table->Lookup("example.com").min_version, TlsVersion::kTls13);
  EXPECT_EQ(table->Lookup("Example.COM.").level, Level::kSecure);
  EXPECT_EQ(table->Find("a.b.example.com").key, ".example.com");
  EXPECT_EQ(table->Find("other.org").key, "*");
  EXPECT_EQ(table->Lookup("other.org").level, Level::kDane);

  EXPECT_EQ(table->Find("partner.example").line, 5);
  const PolicyEntry& partner = table->Lookup("partner.example");
  EXPECT_TRUE(partner.testing);
  EXPECT_EQ(partner.floor, Level::kEncrypt);
  ASSERT_EQ(partner.cert_pins.size(), 1u);
  EXPECT_EQ(partner.cert_pins[0].substr(0, 6), "aabbcc");

  const PolicyEntry& contoso = table->Lookup("contoso.example");
  EXPECT_EQ(contoso.level, Level::kSecure);
  EXPECT_EQ(contoso.match, std::vector<std::string>{".contoso.example"});
  ASSERT_EQ(contoso.issuer_subject_pins.size(), 1u);
  EXPECT_EQ(contoso.issuer_subject_pins[0].issuer,
            "CN=DigiCert Global G2, O=DigiCert Inc");
}

TEST(TableTest, DefaultIsMayWhenAbsent) {
  absl::StatusOr<PolicyTable> table = ParsePolicyTable("a.example encrypt\n");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->Lookup("b.example").level, Level::kMay);
  EXPECT_EQ(table->Lookup("A.EXAMPLE").level, Level::kEncrypt);
}

TEST(TableTest, LineNumberedErrors) {
  EXPECT_EQ(ParsePolicyTable("a.example secure\n\nb.example verify protocls=x\n")
                .status()
                .message(),
            "line 3: unknown attribute 'protocls'");
  EXPECT_EQ(ParsePolicyTable("a.example sekure\n").status().message(),
            "line 1: unknown security level 'sekure'");
  EXPECT_EQ(ParsePolicyTable("a.example may\nA.example. encrypt\n").status().message(),
            "line 2: duplicate destination 'a.example' (first on line 1)");
  EXPECT_EQ(ParsePolicyTable("  min-protocol=TLSv1.3\n").status().message(),
            "line 1: continuation line without a destination");
  EXPECT_EQ(ParsePolicyTable("x fingerprint\n").status().message(),
            "line 1: level fingerprint needs cert-pin= or spki-pin=");
  EXPECT_EQ(ParsePolicyTable("x encrypt floor=secure testing\n").status().message(),
            "line 1: floor=secure is not weaker than level encrypt");
  EXPECT_EQ(ParsePolicyTable("bücher.example may\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePolicyTable("x may cert-name=\"<I>a\n").status().message(),
            "line 1: unterminated quote");
}

TEST(TableTest, LintReportsEverything) {
  const std::vector<Diagnostic> d = LintPolicyTable(
      "a.example encrypt min-protocol=TLSv1 forward-secrecy=no\n"
      "b.example bogus\n"
      "c.example may match=hostname cert-pin=" + std::string(64, 'a') + "\n"
      "d.example verify protocls=1 ciphers=ultra\n");
  std::vector<std::string> lines;
  for (const Diagnostic& x : d) lines.push_back(x.ToString());
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "line 1: warning: min-protocol=TLSv1 allows deprecated TLS versions (RFC 8996)",
                       "line 1: warning: forward-secrecy=no accepts sessions without forward secrecy",
                       "line 2: error: unknown security level 'bogus'",
                       "line 3: warning: match= is not used by level may",
                       "line 3: warning: pins are not enforced at level may (TLS is optional there)",
                       "line 4: error: unknown attribute 'protocls'",
                       "line 4: error: bad value 'ultra' for ciphers (high, medium, low, export or null)",
                   }));
}

TEST(TableTest, PrintRoundTrips) {
  absl::StatusOr<PolicyTable> table = ParsePolicyTable(kTable);
  ASSERT_TRUE(table.ok());
  const std::string printed = PrintPolicyTable(*table);
  absl::StatusOr<PolicyTable> again = ParsePolicyTable(printed);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << printed;
  EXPECT_TRUE(table->SameRules(*again)) << printed;
  EXPECT_EQ(PrintPolicyTable(*again), printed);
  EXPECT_EQ(printed.substr(0, printed.find('\n')), "* dane");
}

TEST(TableTest, NextHopKeysMatchOnlyThemselves) {
  absl::StatusOr<PolicyTable> table = ParsePolicyTable(
      "* may\n"
      "[Relay.Partner.example]:587 verify\n"
      "[relay.partner.example] encrypt\n"
      "relay.partner.example dane\n"
      ".partner.example secure\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Find("[relay.partner.example]:587").key, "[relay.partner.example]:587");
  EXPECT_EQ(table->Lookup("[relay.partner.example]:587").level, Level::kVerify);
  EXPECT_EQ(table->Lookup("[relay.partner.example]").level, Level::kEncrypt);
  // A recipient domain never matches a next-hop entry, and a next-hop never
  // matches a parent-domain entry.
  EXPECT_EQ(table->Lookup("relay.partner.example").level, Level::kDane);
  EXPECT_EQ(table->Find("[relay.partner.example]:25").key, "*");
  EXPECT_EQ(table->Find("[other.partner.example]").key, "*");
  for (const char* bad : {"[relay.example", "[relay.example]:0", "[relay.example]:65536",
                          "[relay.example]587", "[]:25", "[relay.example]:025"}) {
    EXPECT_FALSE(NormalizeTableKey(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParsePolicyTable("a.example verify match=[relay.example]\n").ok());
}

TEST(TableTest, ProtocolRangeAndPinDigests) {
  absl::StatusOr<PolicyTable> table = ParsePolicyTable(
      "a.example encrypt min-protocol=TLSv1 max-protocol=TLSv1.2 "
      "exclude-protocols=TLSv1.1\n"
      "b.example fingerprint cert-pin=" + std::string(32, 'a') +
      " spki-pin=" + std::string(40, 'b') + " cert-pin=" + std::string(128, 'c') + "\n");
  ASSERT_TRUE(table.ok()) << table.status();
  const PolicyEntry& a = table->Lookup("a.example");
  EXPECT_EQ(a.max_version, TlsVersion::kTls12);
  EXPECT_EQ(a.excluded_versions, std::vector<TlsVersion>{TlsVersion::kTls11});
  EXPECT_EQ(PrintEntry("a.example", a),
            "a.example encrypt min-protocol=TLSv1 max-protocol=TLSv1.2 "
            "exclude-protocols=TLSv1.1");
  EXPECT_EQ(table->Lookup("b.example").cert_pins.size(), 2u);
  EXPECT_EQ(ParsePolicyTable("a.example encrypt min-protocol=TLSv1.3 max-protocol=TLSv1.2\n")
                .status()
                .message(),
            "line 1: max-protocol=TLSv1.2 is below min-protocol=TLSv1.3");
  EXPECT_EQ(ParsePolicyTable("a.example encrypt max-protocol=TLSv1.2 exclude-protocols=TLSv1.2\n")
                .status()
                .message(),
            "line 1: the protocol settings leave no TLS version to use");
  EXPECT_FALSE(ParsePolicyTable("a.example fingerprint cert-pin=" + std::string(56, 'a') + "\n").ok());
  std::vector<std::string> lines;
  for (const Diagnostic& d : LintPolicyTable("b.example fingerprint cert-pin=" +
                                             std::string(32, 'a') + "\n")) {
    lines.push_back(d.ToString());
  }
  EXPECT_EQ(lines, std::vector<std::string>{
                       "line 1: warning: pin " + std::string(32, 'a') +
                       " is MD5, a digest with practical collisions; prefer SHA-256"});
}

TEST(TableTest, OriginNamesTheFile) {
  absl::StatusOr<PolicyTable> table = ParsePolicyTable("* may\n\na.example verify\n");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->Where(table->Find("a.example").line), "line 3");
  table->SetOrigin("org.toml", 20);
  EXPECT_EQ(table->Where(table->Find("a.example").line), "org.toml:23");
  EXPECT_EQ(table->Where(table->default_entry().line), "org.toml:21");
  PolicyTable empty;
  EXPECT_EQ(empty.Where(empty.default_entry().line), "built in");
}

// Keys with the same rule share one entry; each keeps its own line, and a
// rule that differs in anything gets an entry of its own.
TEST(TableTest, SameRulesShareAnEntryAndKeepTheirLines) {
  absl::StatusOr<PolicyTable> table = ParsePolicyTable(
      "a.example encrypt\n"
      "b.example encrypt\n"
      "c.example encrypt min-protocol=TLSv1.3\n"
      "d.example encrypt testing floor=may\n"
      "e.example encrypt\n");
  ASSERT_TRUE(table.ok()) << table.status();
  const PolicyTable::Match a = table->Find("a.example");
  const PolicyTable::Match b = table->Find("b.example");
  const PolicyTable::Match e = table->Find("E.example.");
  EXPECT_EQ(a.entry, b.entry);
  EXPECT_EQ(a.entry, e.entry);
  EXPECT_NE(a.entry, table->Find("c.example").entry);
  EXPECT_NE(a.entry, table->Find("d.example").entry);
  EXPECT_EQ(table->Find("c.example").entry->min_version, TlsVersion::kTls13);
  EXPECT_TRUE(table->Find("d.example").entry->testing);
  EXPECT_EQ(a.line, 1);
  EXPECT_EQ(b.line, 2);
  EXPECT_EQ(table->Find("c.example").line, 3);
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(table->Entries().size(), 5u);
  // Copies keep their keys, rules and lines.
  const PolicyTable copy = *table;
  EXPECT_TRUE(copy.SameRules(*table));
  EXPECT_EQ(copy.Find("e.example").line, 5);
  EXPECT_EQ(PrintPolicyTable(copy), PrintPolicyTable(*table));
}

// A rule text repeated on many lines is parsed once: every line still gets
// its warnings, keys of every length keep their own line, a duplicate is
// named at its later line, and copies and moves keep the long keys (kept
// apart from the index) intact.
TEST(TableTest, RepeatedRulesAndLongKeys) {
  const std::string long_name = "a-rather-long-mail-host-name.example.net";
  const std::string text =
      "short.example encrypt forward-secrecy=no\n"
      "# a comment\n" +
      long_name + " encrypt forward-secrecy=no\n"
      ".parents-have-long-keys-too.example encrypt forward-secrecy=no\n"
      "other.example encrypt\n"
      "  forward-secrecy=no\n";
  const std::vector<Diagnostic> d = LintPolicyTable(text);
  std::vector<int> warned;
  for (const Diagnostic& x : d) {
    EXPECT_EQ(x.severity, Diagnostic::Severity::kWarning) << x.ToString();
    warned.push_back(x.line);
  }
  EXPECT_EQ(warned, (std::vector<int>{1, 3, 4, 5}));

  absl::StatusOr<PolicyTable> table = ParsePolicyTable(text);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Find(long_name).line, 3);
  EXPECT_EQ(table->Find(long_name).key, long_name);
  EXPECT_EQ(table->Find("mx.parents-have-long-keys-too.example").line, 4);
  EXPECT_EQ(table->Find("other.example").line, 5);
  EXPECT_EQ(table->Find("short.example").entry, table->Find(long_name).entry);

  PolicyTable copy = *table;
  const PolicyTable moved = std::move(*table);
  for (const PolicyTable* t : {static_cast<const PolicyTable*>(&copy), &moved}) {
    EXPECT_EQ(t->Find(long_name).key, long_name);
    EXPECT_EQ(t->Find("mx.parents-have-long-keys-too.example").key,
              ".parents-have-long-keys-too.example");
  }
  // A copy grows on its own.
  ASSERT_TRUE(copy.Add("another-rather-long-name.example.org", PolicyEntry{}).ok());
  EXPECT_EQ(copy.Find(long_name).key, long_name);
  EXPECT_EQ(copy.Find("another-rather-long-name.example.org").key,
            "another-rather-long-name.example.org");
  EXPECT_EQ(moved.Find("another-rather-long-name.example.org").key, "*");
  // The table moved from is an empty table that works.
  EXPECT_EQ(table->size(), 0u);
  ASSERT_TRUE(table->Add(long_name, PolicyEntry{}).ok());
  const PolicyTable refilled = *table;
  EXPECT_EQ(refilled.Find(long_name).key, long_name);
  EXPECT_EQ(moved.Find(long_name).line, 3);
  EXPECT_EQ(copy.Add(long_name, PolicyEntry{}).message(),
            "duplicate destination '" + long_name + "' (first on line 3)");

  EXPECT_EQ(ParsePolicyTable(text + "x.example may\n" + long_name + ". may\n")
                .status()
                .message(),
            "line 8: duplicate destination '" + long_name + "' (first on line 3)");
  // The first error by line wins, whether found while parsing or at the end.
  EXPECT_EQ(ParsePolicyTable(long_name + " may\n" + long_name + " may\nx.example bogus\n")
                .status()
                .message(),
            "line 2: duplicate destination '" + long_name + "' (first on line 1)");
}

// Large tables go through the bucketed sort of the bulk insert: every key
// keeps its line, and a duplicate is still named at its later line.
TEST(TableTest, LargeTablesKeepLinesAndFindDuplicates) {
  std::string text;
  constexpr int kKeys = 100000;
  for (int i = 1; i <= kKeys; ++i) {
    absl::StrAppend(&text, i % 10 == 0 ? "." : "", "host-number-", i,
                    ".example ", i % 3 == 0 ? "encrypt" : "may", "\n");
  }
  absl::StatusOr<PolicyTable> table = ParsePolicyTable(text);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), static_cast<size_t>(kKeys));
  for (int i : {1, 2, 3, 4999, 65536, 99999, 100000}) {
    const std::string name = absl::StrCat("host-number-", i, ".example");
    const PolicyTable::Match m = table->Find(i % 10 == 0 ? "mx." + name : name);
    EXPECT_EQ(m.line, i) << name;
    EXPECT_EQ(m.entry->level, i % 3 == 0 ? Level::kEncrypt : Level::kMay) << name;
  }
  EXPECT_EQ(ParsePolicyTable(text + "HOST-number-77.example. may\n" +
                             "host-number-5.example may\n")
                .status()
                .message(),
            absl::StrCat("line ", kKeys + 1,
                         ": duplicate destination 'host-number-77.example' "
                         "(first on line 77)"));
}

}  // namespace
}  // namespace starling::policy
