#include "core/smtp/command.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/smtp/reply.h"
#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

// Parses a line that must be accepted.
Command Parse(absl::string_view line, const CommandParseOptions& options = {}) {
  absl::StatusOr<Command> command = ParseCommand(line, options);
  EXPECT_TRUE(command.ok()) << "\"" << line << "\": " << command.status();
  return command.ok() ? *command : Command{};
}

// True when `line` is rejected with exactly `code` and `enhanced`.
::testing::AssertionResult FailsWith(absl::string_view line, int code,
                                     absl::string_view enhanced,
                                     const CommandParseOptions& options = {}) {
  absl::StatusOr<Command> command = ParseCommand(line, options);
  if (command.ok()) {
    return ::testing::AssertionFailure()
           << "\"" << line << "\" was accepted as "
           << SerializeCommand(*command);
  }
  if (command.status().code() != absl::StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure()
           << "\"" << line << "\": status " << command.status();
  }
  std::optional<Reply> reply = ReplyOf(command.status());
  if (!reply.has_value()) {
    return ::testing::AssertionFailure()
           << "\"" << line << "\": no reply in " << command.status();
  }
  const std::string got_enhanced =
      reply->enhanced.has_value() ? reply->enhanced->ToString() : "";
  if (reply->code != code || got_enhanced != enhanced) {
    return ::testing::AssertionFailure()
           << "\"" << line << "\": got " << reply->code << " " << got_enhanced
           << ", want " << code << " " << enhanced << " ("
           << command.status().message() << ")";
  }
  return ::testing::AssertionSuccess();
}

// A syntactically valid domain of exactly `n` octets (n >= 1): 49-octet
// labels, then a last one of 1..50.
std::string DomainOfLength(size_t n) {
  std::string domain;
  while (n - domain.size() > 50) domain += std::string(49, 'd') + ".";
  domain += std::string(n - domain.size(), 'e');
  return domain;
}

Mailbox Box(std::string local, std::string domain) {
  return Mailbox{std::move(local), std::move(domain)};
}

// ---- verbs ------------------------------------------------------------------

TEST(CommandTest, VerbNames) {
  const std::vector<std::pair<Verb, absl::string_view>> names = {
      {Verb::kEhlo, "EHLO"},         {Verb::kHelo, "HELO"},
      {Verb::kMail, "MAIL"},         {Verb::kRcpt, "RCPT"},
      {Verb::kData, "DATA"},         {Verb::kBdat, "BDAT"},
      {Verb::kRset, "RSET"},         {Verb::kNoop, "NOOP"},
      {Verb::kQuit, "QUIT"},         {Verb::kVrfy, "VRFY"},
      {Verb::kExpn, "EXPN"},         {Verb::kHelp, "HELP"},
      {Verb::kStartTls, "STARTTLS"}, {Verb::kAuth, "AUTH"},
  };
  for (const auto& [verb, name] : names) EXPECT_EQ(VerbName(verb), name);
}

TEST(CommandTest, VerbsAreCaseInsensitive) {
  EXPECT_EQ(Parse("quit").verb, Verb::kQuit);
  EXPECT_EQ(Parse("QuIt").verb, Verb::kQuit);
  EXPECT_EQ(Parse("data").verb, Verb::kData);
  EXPECT_EQ(Parse("rset").verb, Verb::kRset);
  EXPECT_EQ(Parse("StartTLS").verb, Verb::kStartTls);
  EXPECT_EQ(Parse("starttls").verb, Verb::kStartTls);
  EXPECT_EQ(Parse("noop").verb, Verb::kNoop);
  EXPECT_EQ(Parse("help").verb, Verb::kHelp);
  EXPECT_EQ(Parse("ehlo a.example").verb, Verb::kEhlo);
  EXPECT_EQ(Parse("Helo a.example").verb, Verb::kHelo);
  EXPECT_EQ(Parse("mail FROM:<>").verb, Verb::kMail);
  EXPECT_EQ(Parse("rCpT TO:<a@b.example>").verb, Verb::kRcpt);
  EXPECT_EQ(Parse("bdat 1").verb, Verb::kBdat);
  EXPECT_EQ(Parse("vrfy x").verb, Verb::kVrfy);
  EXPECT_EQ(Parse("expn x").verb, Verb::kExpn);
  EXPECT_EQ(Parse("auth PLAIN").verb, Verb::kAuth);
}

TEST(CommandTest, UnknownVerbIs500) {
  for (absl::string_view line :
       {"FOO", "", " QUIT", "QUITX", "QUI", "TURN", "ETRN example.com",
        "STARTTLSX", "START TLS", "MAILFROM:<a@b.example>",
        "MAIL:", "RCPTTO:<a@b.example>", "DATA:", "EHLO:a", "\x80\x80\x80\x80",
        "\xc3\xa9HLO a", "1234", "@ail FROM:<>", "[uit"}) {
    EXPECT_TRUE(FailsWith(line, 500, "5.5.1"));
  }
}

TEST(CommandTest, ControlCharactersAre501) {
  const std::vector<std::string> lines = {
      std::string("QUIT\0", 5),
      std::string("\0QUIT", 5),
      std::string("EHLO a\0.example", 15),
      "MAIL\tFROM:<>",
      "MAIL FROM:\t<>",
      "MAIL FROM:<a@b.example>\tSIZE=1",
      "NOOP \x7f",
      "EHLO a.example\r",
      "EHLO a\rb",
      "RCPT TO:<a\n@b.example>",
      "VRFY \x1b[31m",
      "FOO\x01",
      "\t",
  };
  for (const std::string& line : lines) {
    EXPECT_TRUE(FailsWith(line, 501, "5.5.2"));
  }
}

TEST(CommandTest, TrailingSpacesAreDropped) {
  EXPECT_EQ(Parse("QUIT   ").verb, Verb::kQuit);
  EXPECT_EQ(Parse("DATA ").verb, Verb::kData);
  EXPECT_EQ(Parse("EHLO a.example ").domain, "a.example");
  EXPECT_EQ(Parse("NOOP x  ").argument, "x");
  EXPECT_EQ(Parse("MAIL FROM:<a@b.example> SIZE=5 ").mail.size, 5u);
}

// ---- EHLO / HELO
// --------------------------------------------------------------

TEST(CommandTest, EhloAndHeloTakeADomain) {
  Command ehlo = Parse("EHLO mail.example.com");
  EXPECT_EQ(ehlo.verb, Verb::kEhlo);
  EXPECT_EQ(ehlo.domain, "mail.example.com");
  Command helo = Parse("HELO Mail-1.Example.COM");
  EXPECT_EQ(helo.verb, Verb::kHelo);
  EXPECT_EQ(helo.domain, "Mail-1.Example.COM");  // kept as written
  EXPECT_EQ(Parse("EHLO localhost").domain, "localhost");
  EXPECT_EQ(Parse("EHLO 1.2.3.4").domain, "1.2.3.4");  // a valid Domain
  EXPECT_EQ(Parse("EHLO a").domain, "a");
  EXPECT_EQ(Parse("EHLO 0-0.x--y.z").domain, "0-0.x--y.z");
}

TEST(CommandTest, EhloAcceptsAddressLiterals) {
  for (absl::string_view literal :
       {"[192.0.2.1]", "[0.0.0.0]", "[255.255.255.255]", "[001.02.3.4]",
        "[IPv6:2001:db8::1]", "[ipv6:::1]", "[IPV6:::]",
        "[IPv6:2001:db8:0:0:0:0:0:1]", "[IPv6:2001:DB8::]",
        "[IPv6:::ffff:192.0.2.1]", "[IPv6:1:2:3:4:5:6:192.0.2.1]",
        "[IPv6:1:2:3:4::192.0.2.1]", "[IPv6:1:2:3::4:5:6]",
        "[IPv6:1::2:3:4:5:6]", "[x-tag:any-content!]", "[X400:c=US;a=x]"}) {
    EXPECT_EQ(Parse(absl::StrCat("EHLO ", literal)).domain, literal);
    EXPECT_EQ(Parse(absl::StrCat("HELO ", literal)).domain, literal);
  }
}

TEST(CommandTest, EhloWithoutDomainIs501_5_5_4) {
  EXPECT_TRUE(FailsWith("EHLO", 501, "5.5.4"));
  EXPECT_TRUE(FailsWith("HELO", 501, "5.5.4"));
  EXPECT_TRUE(FailsWith("EHLO ", 501, "5.5.4"));
  EXPECT_TRUE(FailsWith("HELO    ", 501, "5.5.4"));
}

// What real clients send that RFC 5321's Domain forbids: accepted by
// default (Postfix and aiosmtpd do), refused with strict_helo.
TEST(CommandTest, EhloHostNamesRealClientsSend) {
  CommandParseOptions strict;
  strict.strict_helo = true;
  for (absl::string_view line :
       {"EHLO my_host.example", "EHLO a_b", "EHLO DESKTOP-1_2", "EHLO a.example.",
        "EHLO -a.example", "EHLO a-.example", "EHLO a.-b.example", "HELO -"}) {
    absl::StatusOr<Command> lenient = ParseCommand(line);
    ASSERT_TRUE(lenient.ok()) << line << ": " << lenient.status();
    EXPECT_EQ(lenient->domain, line.substr(5));
    EXPECT_FALSE(ParseCommand(line, strict).ok()) << line;
  }
  // Still refused by default: nothing that could end a word, a comment or a
  // line in a Received header, and no empty or over-long label.
  for (absl::string_view line : std::initializer_list<absl::string_view>{
           "EHLO a..example", "EHLO .a.example", "HELO .", "EHLO a b", "EHLO a(b)",
        "EHLO a;b", "EHLO a\tb", absl::string_view("EHLO a\0b", 8),
        "EHLO <a>", "EHLO a\"b"}) {
    EXPECT_TRUE(FailsWith(line, 501, "5.5.2")) << line;
  }
  EXPECT_TRUE(FailsWith(absl::StrCat("EHLO ", std::string(64, 'a'), ".example"),
                        501, "5.5.2"));
}

TEST(CommandTest, EhloBadDomainIs501_5_5_2) {
  for (absl::string_view line : {"EHLO a..example",
                                 "EHLO .a.example",
                                 "EHLO a.example extra",
                                 "EHLO  a.example",
                                 "EHLO a,b",
                                 "EHLO a@b.example",
                                 "EHLO \"a\"",
                                 "HELO .",
                                 "EHLO b\xc3\xbc"
                                 "cher.example",
                                 "EHLO [192.0.2.1] x",
                                 "EHLO [192.0.2.1]x",
                                 "EHLO [256.0.0.1]",
                                 "EHLO [1.2.3]",
                                 "EHLO [1.2.3.4.5]",
                                 "EHLO [1.2.3.4",
                                 "EHLO 1.2.3.4]",
                                 "EHLO []",
                                 "EHLO [1.2.3.-4]",
                                 "EHLO [1.2.3.1234]",
                                 "EHLO [ 1.2.3.4]",
                                 "EHLO [1.2.3.4 ]",
                                 "EHLO [IPv6:1::2::3]",
                                 "EHLO [IPv6:1:2:3:4:5:6:7]",
                                 "EHLO [IPv6:1:2:3:4:5:6:7::]",
                                 "EHLO [IPv6:1:2:3:4:5:6:7:8:9]",
                                 "EHLO [IPv6:1:2:3:4:5:6::7]",
                                 "EHLO [IPv6:12345::]",
                                 "EHLO [IPv6:1:2:3:4:5::1.2.3.4]",
                                 "EHLO [IPv6::1]",
                                 "EHLO [IPv6:1:]",
                                 "EHLO [IPv6:1:2:3:4:5:6:7:8:]",
                                 "EHLO [IPv6:g::]",
                                 "EHLO [IPv6:]",
                                 "EHLO [IPv6:::1.2.3]",
                                 "EHLO [IPv6:::1.2.3.4:5]",
                                 "EHLO [IPv6:1.2.3.4]",
                                 "EHLO [IPv6:1:2:3:4:5:6:7:1.2.3.4]",
                                 "EHLO [tag:]",
                                 "EHLO [-tag:x]",
                                 "EHLO [tag-:x]",
                                 "EHLO [:x]",
                                 "EHLO [t_g:x]",
                                 "EHLO [tag:a b]",
                                 "EHLO [tag:a\\b]",
                                 "EHLO [tag:a[b]",
                                 "EHLO [[1.2.3.4]]",
                                 "EHLO [tag:\xc3\xa9]"}) {
    EXPECT_TRUE(FailsWith(line, 501, "5.5.2"));
  }
}

TEST(CommandTest, EhloLabelAndDomainLimits) {
  const std::string label63(63, 'a');
  EXPECT_EQ(Parse("EHLO " + label63 + ".example").domain, label63 + ".example");
  EXPECT_TRUE(FailsWith("EHLO " + label63 + "a.example", 501, "5.5.2"));
  const std::string at_limit = DomainOfLength(255);
  ASSERT_EQ(at_limit.size(), 255u);
  EXPECT_EQ(Parse("EHLO " + at_limit).domain, at_limit);
  EXPECT_TRUE(FailsWith("EHLO " + DomainOfLength(256), 501, "5.5.2"));
  CommandParseOptions options;
  options.max_domain = 9;
  EXPECT_EQ(Parse("EHLO a.example", options).domain, "a.example");
  EXPECT_TRUE(FailsWith("EHLO ab.example", 501, "5.5.2", options));
}

// ---- MAIL -------------------------------------------------------------------

TEST(CommandTest, MailRfc5321Examples) {
  Command mail = Parse("MAIL FROM:<Smith@bar.com>");
  EXPECT_EQ(mail.verb, Verb::kMail);
  EXPECT_EQ(mail.path, Box("Smith", "bar.com"));
  EXPECT_EQ(mail.mail, MailParameters{});
  EXPECT_EQ(Parse("MAIL FROM:<JQP@bar.com>").path, Box("JQP", "bar.com"));
  EXPECT_EQ(Parse("MAIL FROM:<userx@y.foo.org>").path,
            Box("userx", "y.foo.org"));
}

TEST(CommandTest, MailNullReversePath) {
  Command mail = Parse("MAIL FROM:<>");
  EXPECT_EQ(mail.verb, Verb::kMail);
  EXPECT_FALSE(mail.path.has_value());
  EXPECT_EQ(Parse("MAIL FROM:<> SIZE=0").mail.size, 0u);
  EXPECT_FALSE(Parse("mail from: <>").path.has_value());
}

TEST(CommandTest, MailFromIsCaseInsensitiveWithOneOptionalSpace) {
  EXPECT_EQ(Parse("mail from:<a@b.example>").path, Box("a", "b.example"));
  EXPECT_EQ(Parse("MAIL From:<a@b.example>").path, Box("a", "b.example"));
  EXPECT_EQ(Parse("MAIL FROM: <a@b.example>").path, Box("a", "b.example"));
  EXPECT_EQ(Parse("MAIL FROM: <a@b.example> SIZE=1").mail.size, 1u);
}

TEST(CommandTest, MailSyntaxErrors) {
  // The "FROM:" part: 501 5.5.2.
  for (absl::string_view line :
       {"MAIL", "MAIL FROM:", "MAIL FROM: ", "MAIL  FROM:<a@b.example>",
        "MAIL FROM <a@b.example>", "MAIL FROM=<a@b.example>",
        "MAIL TO:<a@b.example>", "MAIL FRM:<a@b.example>", "MAIL F",
        "MAIL FROM :<a@b.example>", "MAIL <a@b.example>",
        "MAIL FROM:<a@b.example>SIZE=1", "MAIL FROM:<>x",
        "MAIL FROM:<a@b.example>>"}) {
    EXPECT_TRUE(FailsWith(line, 501, "5.5.2"));
  }
  // The path itself: 501 5.1.7 (bad sender address syntax).
  for (absl::string_view line : {
           "MAIL FROM:a@b.example",
           "MAIL FROM:  <a@b.example>",
           "MAIL FROM:<a@b.example",
           "MAIL FROM:<a@b.example ",
           "MAIL FROM:<a@b.example SIZE=1",
           "MAIL FROM:<",
           "MAIL FROM:< >",
           "MAIL FROM:<a>",
           "MAIL FROM:<postmaster>",
           "MAIL FROM:<a@>",
           "MAIL FROM:<@b.example>",
           "MAIL FROM:<a@@b.example>",
           "MAIL FROM:<a b@c.example>",
           "MAIL FROM:<a@b c.example>",
           "MAIL FROM:<.a@b.example>",
           "MAIL FROM:<a.@b.example>",
           "MAIL FROM:<a..b@b.example>",
           "MAIL FROM:<a(b)@b.example>",
           "MAIL FROM:<a,b@b.example>",
           "MAIL FROM:<a@b.example.>",
           "MAIL FROM:<a@-b.example>",
           "MAIL FROM:<a@b_c.example>",
           "MAIL FROM:<a@[1.2.3.256]>",
           "MAIL FROM:<a@[1.2.3.4>",
           "MAIL FROM:<a@[IPv6:1::2::3]>",
           "MAIL FROM:<\"a@b.example>",
           "MAIL FROM:<\"a\"b@b.example>",
           "MAIL FROM:<\"a\\\"@b.example>",
           "MAIL FROM:<a\"b\"@b.example>",
           "MAIL FROM:<<a@b.example>>",
           "MAIL FROM:<a@b.example@c.example>",
           "MAIL FROM:<@a.example:>",
           "MAIL FROM:<@a.example:<>>",
           "MAIL FROM:<@:a@b.example>",
           "MAIL FROM:<@a.example,b.example:c@d.example>",
           "MAIL FROM:<@a.example,:c@d.example>",
           "MAIL FROM:<@a.example;c@d.example>",
           "MAIL FROM:<@[192.0.2.1]:c@d.example>",
           "MAIL FROM:<@a.example:@b.example:c@d.example>",
           "MAIL FROM:<@a.example>",
       }) {
    EXPECT_TRUE(FailsWith(line, 501, "5.1.7"));
  }
}

TEST(CommandTest, SourceRoutesAreAcceptedAndDropped) {
  EXPECT_EQ(Parse("MAIL FROM:<@a.example,@b.example:user@c.example>").path,
            Box("user", "c.example"));
  EXPECT_EQ(Parse("MAIL FROM:<@a.example:user@c.example>").path,
            Box("user", "c.example"));
  // RFC 5321 §3.6.1 example.
  EXPECT_EQ(Parse("RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>").path,
            Box("userc", "d.bar.org"));
  EXPECT_EQ(
      SerializeCommand(Parse("RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>")),
      "RCPT TO:<userc@d.bar.org>\r\n");
}

TEST(CommandTest, QuotedLocalPartsAreKeptAsWritten) {
  EXPECT_EQ(Parse("MAIL FROM:<\"john doe\"@example.com>").path,
            Box("\"john doe\"", "example.com"));
  EXPECT_EQ(Parse("MAIL FROM:<\"a\\\"b\"@example.com>").path,
            Box("\"a\\\"b\"", "example.com"));
  EXPECT_EQ(Parse("MAIL FROM:<\"a\\\\\"@example.com>").path,
            Box("\"a\\\\\"", "example.com"));
  EXPECT_EQ(Parse("MAIL FROM:<\"\\ \\~\"@example.com>").path,
            Box("\"\\ \\~\"", "example.com"));
  EXPECT_EQ(Parse("MAIL FROM:<\"a>b<c@d,e:f\"@example.com>").path,
            Box("\"a>b<c@d,e:f\"", "example.com"));
  EXPECT_EQ(Parse("RCPT TO:<\"\"@example.com>").path,
            Box("\"\"", "example.com"));
  EXPECT_EQ(Parse("RCPT TO:<\"john\"@example.com>").path,
            Box("\"john\"", "example.com"));
  // A backslash escapes only %d32-126.
  EXPECT_TRUE(FailsWith("RCPT TO:<\"a\\\xc3\xa9\"@example.com>", 501, "5.1.3",
                        {.utf8_addresses = true}));
}

TEST(CommandTest, DotAtomLocalParts) {
  EXPECT_EQ(Parse("MAIL FROM:<first.last+tag@example.com>").path,
            Box("first.last+tag", "example.com"));
  EXPECT_EQ(Parse("MAIL FROM:<!#$%&'*+-/=?^_`{|}~@example.com>").path,
            Box("!#$%&'*+-/=?^_`{|}~", "example.com"));
  EXPECT_EQ(Parse("MAIL FROM:<a.b.c.d@e>").path, Box("a.b.c.d", "e"));
}

TEST(CommandTest, AddressLiteralDomains) {
  EXPECT_EQ(Parse("MAIL FROM:<a@[192.0.2.1]>").path, Box("a", "[192.0.2.1]"));
  EXPECT_EQ(Parse("RCPT TO:<a@[IPv6:2001:db8::1]>").path,
            Box("a", "[IPv6:2001:db8::1]"));
  EXPECT_EQ(Parse("RCPT TO:<a@[IPv6:::ffff:10.0.0.1]>").path,
            Box("a", "[IPv6:::ffff:10.0.0.1]"));
  EXPECT_EQ(Parse("RCPT TO:<a@[tag:x>y]>").path, Box("a", "[tag:x>y]"));
}

TEST(CommandTest, MailDefaultLengthLimits) {
  const std::string local64(64, 'l');
  EXPECT_EQ(Parse("MAIL FROM:<" + local64 + "@b.example>").path->local_part,
            local64);
  EXPECT_TRUE(
      FailsWith("MAIL FROM:<" + local64 + "l@b.example>", 501, "5.1.7"));
  // A quoted local part counts as written, quotes included.
  const std::string quoted64 = "\"" + std::string(62, 'q') + "\"";
  EXPECT_EQ(Parse("MAIL FROM:<" + quoted64 + "@b.example>").path->local_part,
            quoted64);
  EXPECT_TRUE(FailsWith(
      "MAIL FROM:<\"" + std::string(63, 'q') + "\"@b.example>", 501, "5.1.7"));
  // Path: 256 octets with the brackets, "<" 64 "@" 189 ">".
  const std::string domain189 = DomainOfLength(189);
  EXPECT_TRUE(
      ParseCommand("MAIL FROM:<" + local64 + "@" + domain189 + ">").ok());
  EXPECT_TRUE(FailsWith(
      "MAIL FROM:<" + local64 + "@" + DomainOfLength(190) + ">", 501, "5.1.7"));
  // The source route counts towards the path.
  EXPECT_TRUE(FailsWith(
      "MAIL FROM:<@r.example:" + local64 + "@" + DomainOfLength(180) + ">", 501,
      "5.1.7"));
  // Domain: 255 octets (with a larger path limit).
  CommandParseOptions wide;
  wide.max_path = 1000;
  EXPECT_TRUE(
      ParseCommand("MAIL FROM:<a@" + DomainOfLength(255) + ">", wide).ok());
  EXPECT_TRUE(FailsWith("MAIL FROM:<a@" + DomainOfLength(256) + ">", 501,
                        "5.1.7", wide));
  EXPECT_TRUE(
      FailsWith("RCPT TO:<a@" + DomainOfLength(256) + ">", 501, "5.1.3", wide));
}

TEST(CommandTest, CustomLengthLimits) {
  CommandParseOptions options;
  options.max_local_part = 4;
  options.max_domain = 5;
  options.max_path = 12;
  EXPECT_TRUE(ParseCommand("RCPT TO:<abcd@b.exa>", options).ok());
  EXPECT_TRUE(FailsWith("RCPT TO:<abcde@b.exa>", 501, "5.1.3", options));
  EXPECT_TRUE(FailsWith("RCPT TO:<abcd@bb.exa>", 501, "5.1.3", options));
  EXPECT_TRUE(ParseCommand("RCPT TO:<abc@bbbbb>", options).ok());   // 11
  EXPECT_TRUE(ParseCommand("RCPT TO:<abcd@bbbbb>", options).ok());  // 12
  options.max_path = 11;
  EXPECT_TRUE(FailsWith("RCPT TO:<abcd@bbbbb>", 501, "5.1.3", options));
  EXPECT_TRUE(FailsWith("MAIL FROM:<abcd@bbbbb>", 501, "5.1.7", options));
  options.max_path = 1;
  EXPECT_TRUE(FailsWith("MAIL FROM:<>", 501, "5.1.7", options));
}

TEST(CommandTest, MailParameters) {
  Command mail = Parse(
      "MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME SMTPUTF8 REQUIRETLS "
      "RET=HDRS ENVID=QQ314159 AUTH=e+3Dmc2@example.com");
  EXPECT_EQ(mail.mail.size, 12345u);
  EXPECT_EQ(mail.mail.body, BodyType::k8BitMime);
  EXPECT_TRUE(mail.mail.smtputf8);
  EXPECT_TRUE(mail.mail.requiretls);
  EXPECT_EQ(mail.mail.ret, DsnReturn::kHeaders);
  EXPECT_EQ(mail.mail.envid, "QQ314159");
  EXPECT_EQ(mail.mail.auth, "e+3Dmc2@example.com");
  EXPECT_EQ(mail.rcpt, RcptParameters{});

  // Keywords and enumerated values ignore case; any order; one or more SP.
  Command lower = Parse(
      "mail from:<> ret=full   body=binarymime smtputf8 requiretls auth=<> "
      "envid=x size=0");
  EXPECT_EQ(lower.mail.size, 0u);
  EXPECT_EQ(lower.mail.body, BodyType::kBinaryMime);
  EXPECT_EQ(lower.mail.ret, DsnReturn::kFull);
  EXPECT_EQ(lower.mail.auth, "<>");
  EXPECT_EQ(lower.mail.envid, "x");
  EXPECT_EQ(Parse("MAIL FROM:<> BODY=7bit").mail.body, BodyType::k7Bit);
  EXPECT_EQ(Parse("MAIL FROM:<> Body=8BitMime").mail.body, BodyType::k8BitMime);
}

TEST(CommandTest, SizeBounds) {
  EXPECT_EQ(Parse("MAIL FROM:<> SIZE=18446744073709551615").mail.size,
            18446744073709551615u);
  EXPECT_EQ(Parse("MAIL FROM:<> SIZE=00000000000000000007").mail.size, 7u);
  for (absl::string_view line :
       {"MAIL FROM:<> SIZE=18446744073709551616",
        "MAIL FROM:<> SIZE=99999999999999999999",
        "MAIL FROM:<> SIZE=000000000000000000007",  // 21 digits
        "MAIL FROM:<> SIZE=", "MAIL FROM:<> SIZE", "MAIL FROM:<> SIZE=12a",
        "MAIL FROM:<> SIZE=-1", "MAIL FROM:<> SIZE=+1", "MAIL FROM:<> SIZE=1.5",
        "MAIL FROM:<> SIZE==1", "MAIL FROM:<> SIZE=1=1"}) {
    EXPECT_TRUE(FailsWith(line, 501, "5.5.4"));
  }
}

TEST(CommandTest, MailParameterValueErrorsAre501_5_5_4) {
  for (absl::string_view line : {
           "MAIL FROM:<> BODY=8BIT",
           "MAIL FROM:<> BODY=",
           "MAIL FROM:<> BODY",
           "MAIL FROM:<> BODY=7BITX",
           "MAIL FROM:<> SMTPUTF8=yes",
           "MAIL FROM:<> SMTPUTF8=",
           "MAIL FROM:<> REQUIRETLS=1",
           "MAIL FROM:<> RET=ALL",
           "MAIL FROM:<> RET",
           "MAIL FROM:<> ENVID=",
           "MAIL FROM:<> ENVID",
           "MAIL FROM:<> ENVID=a+2b",  // hex must be upper case
           "MAIL FROM:<> ENVID=a+2",
           "MAIL FROM:<> ENVID=a+",
           "MAIL FROM:<> ENVID=a+G0",
           "MAIL FROM:<> ENVID=a=b",
           "MAIL FROM:<> ENVID=\xc3\xa9",
           "MAIL FROM:<> AUTH=",
           "MAIL FROM:<> AUTH",
           "MAIL FROM:<> AUTH=a+zz",
           "MAIL FROM:<> =x",
           "MAIL FROM:<> -SIZE=1",
           "MAIL FROM:<> SI_ZE=1",
           "MAIL FROM:<> SIZE\xc3\xa9=1",
           "MAIL FROM:<> <a@b>",
       }) {
    EXPECT_TRUE(FailsWith(line, 501, "5.5.4"));
  }
}

TEST(CommandTest, EnvidLength) {
  const std::string envid100(100, 'e');
  EXPECT_EQ(Parse("MAIL FROM:<> ENVID=" + envid100).mail.envid, envid100);
  EXPECT_EQ(Parse("MAIL FROM:<> ENVID=+2B+3D").mail.envid, "+2B+3D");
  EXPECT_TRUE(FailsWith("MAIL FROM:<> ENVID=" + envid100 + "e", 501, "5.5.4"));
}

TEST(CommandTest, UnknownAndDuplicateParametersAre555) {
  for (absl::string_view line : {
           "MAIL FROM:<> FOO=bar",
           "MAIL FROM:<> XFOO",
           "MAIL FROM:<> RRVS=2030-01-01T00:00:00Z",
           "MAIL FROM:<> MT-PRIORITY=3",
           "MAIL FROM:<> NOTIFY=NEVER",  // RCPT-only
           "MAIL FROM:<> ORCPT=rfc822;a@b",
           "MAIL FROM:<> SIZES=1",
           "MAIL FROM:<> SIZE=1 SIZE=1",
           "MAIL FROM:<> size=1 SIZE=2",
           "MAIL FROM:<> BODY=7BIT body=8BITMIME",
           "MAIL FROM:<> SMTPUTF8 SMTPUTF8",
           "MAIL FROM:<> REQUIRETLS requiretls",
           "MAIL FROM:<> RET=FULL RET=HDRS",
           "MAIL FROM:<> ENVID=a ENVID=b",
           "MAIL FROM:<> AUTH=<> AUTH=<>",
           "RCPT TO:<a@b.example> SIZE=1",  // MAIL-only
           "RCPT TO:<a@b.example> BODY=8BITMIME",
           "RCPT TO:<a@b.example> SMTPUTF8",
           "RCPT TO:<a@b.example> RET=FULL",
           "RCPT TO:<a@b.example> FOO",
           "RCPT TO:<a@b.example> NOTIFY=NEVER NOTIFY=NEVER",
           "RCPT TO:<a@b.example> ORCPT=rfc822;a ORCPT=rfc822;a",
       }) {
    EXPECT_TRUE(FailsWith(line, 555, "5.5.4"));
  }
  // The first bad parameter decides.
  EXPECT_TRUE(FailsWith("MAIL FROM:<> FOO SIZE=x", 555, "5.5.4"));
  EXPECT_TRUE(FailsWith("MAIL FROM:<> SIZE=x FOO", 501, "5.5.4"));
}

// ---- SMTPUTF8
// ----------------------------------------------------------------

TEST(CommandTest, Utf8InMailNeedsSmtputf8OnTheSameLine) {
  const std::string path =
      "<j\xc3\xb6rg@b\xc3\xbc"
      "cher.example>";
  EXPECT_TRUE(FailsWith("MAIL FROM:" + path, 553, "5.6.7"));
  EXPECT_TRUE(FailsWith("MAIL FROM:" + path + " SIZE=10", 553, "5.6.7"));
  // The option only concerns RCPT.
  EXPECT_TRUE(
      FailsWith("MAIL FROM:" + path, 553, "5.6.7", {.utf8_addresses = true}));
  Command mail = Parse("MAIL FROM:" + path + " SMTPUTF8");
  EXPECT_EQ(mail.path, Box("j\xc3\xb6rg",
                           "b\xc3\xbc"
                           "cher.example"));
  EXPECT_TRUE(mail.mail.smtputf8);
  EXPECT_TRUE(
      ParseCommand("MAIL FROM:" + path + " BODY=8BITMIME smtputf8").ok());
  // Quoted local part and source route with UTF-8.
  EXPECT_TRUE(
      ParseCommand(
          "MAIL FROM:<\"\xe7\x94\xb0 \xe4\xb8\xad\"@example.com> SMTPUTF8")
          .ok());
  EXPECT_EQ(Parse("MAIL FROM:<@\xc3\xa9.example:a@b.example> SMTPUTF8").path,
            Box("a", "b.example"));
  EXPECT_TRUE(
      FailsWith("MAIL FROM:<@\xc3\xa9.example:a@b.example>", 553, "5.6.7"));
  // 4-byte sequences.
  EXPECT_TRUE(
      ParseCommand("MAIL FROM:<\xf0\x9f\x93\xa7@example.com> SMTPUTF8").ok());
}

TEST(CommandTest, Utf8InRcptNeedsTheOption) {
  const std::string line =
      "RCPT TO:<j\xc3\xb6rg@b\xc3\xbc"
      "cher.example>";
  EXPECT_TRUE(FailsWith(line, 553, "5.6.7"));
  EXPECT_EQ(Parse(line, {.utf8_addresses = true}).path, Box("j\xc3\xb6rg",
                                                            "b\xc3\xbc"
                                                            "cher.example"));
  // SMTPUTF8 is a MAIL parameter only.
  EXPECT_TRUE(FailsWith(line + " SMTPUTF8", 555, "5.5.4"));
}

TEST(CommandTest, MalformedUtf8IsRejected) {
  for (absl::string_view bad : {
           "\xc0\xaf",          // overlong '/'
           "\xe0\x80\xaf",      // overlong
           "\xf0\x80\x80\xaf",  // overlong
           "\xed\xa0\x80",      // surrogate U+D800
           "\xf4\x90\x80\x80",  // past U+10FFFF
           "\xf5\x80\x80\x80",
           "\xc3",      // truncated
           "\xe2\x82",  // truncated
           "\x80",      // lone continuation
           "\xff",
           "\xc3\x41",  // bad continuation
       }) {
    const std::string mailbox = absl::StrCat("<a", bad, "b@example.com>");
    // Without permission the answer is 553 whatever the bytes are.
    EXPECT_TRUE(FailsWith("MAIL FROM:" + mailbox, 553, "5.6.7"));
    EXPECT_TRUE(FailsWith("RCPT TO:" + mailbox, 553, "5.6.7"));
    // With permission, malformed UTF-8 is bad address syntax.
    EXPECT_TRUE(FailsWith("MAIL FROM:" + mailbox + " SMTPUTF8", 501, "5.1.7"));
    EXPECT_TRUE(FailsWith("RCPT TO:" + mailbox, 501, "5.1.3",
                          {.utf8_addresses = true}));
    const std::string in_domain = absl::StrCat("<a@x", bad, "y.example>");
    EXPECT_TRUE(
        FailsWith("MAIL FROM:" + in_domain + " SMTPUTF8", 501, "5.1.7"));
  }
  // UTF-8 never appears in an address literal.
  EXPECT_TRUE(FailsWith("MAIL FROM:<a@[tag:\xc3\xa9]> SMTPUTF8", 501, "5.1.7"));
}

// ---- RCPT
// -----------------------------------------------------------------------

TEST(CommandTest, RcptBasics) {
  Command rcpt = Parse("RCPT TO:<Jones@foo.com>");
  EXPECT_EQ(rcpt.verb, Verb::kRcpt);
  EXPECT_EQ(rcpt.path, Box("Jones", "foo.com"));
  EXPECT_EQ(rcpt.rcpt, RcptParameters{});
  EXPECT_EQ(Parse("rcpt to: <Jones@foo.com>").path, Box("Jones", "foo.com"));
}

TEST(CommandTest, RcptErrors) {
  EXPECT_TRUE(FailsWith("RCPT TO:<>", 501, "5.1.3"));
  EXPECT_TRUE(FailsWith("RCPT TO:<> NOTIFY=NEVER", 501, "5.1.3"));
  EXPECT_TRUE(FailsWith("RCPT TO:a@b.example", 501, "5.1.3"));
  EXPECT_TRUE(FailsWith("RCPT TO:<a@b.example", 501, "5.1.3"));
  EXPECT_TRUE(FailsWith("RCPT TO:<a>", 501, "5.1.3"));
  EXPECT_TRUE(FailsWith("RCPT TO:<a..b@b.example>", 501, "5.1.3"));
  EXPECT_TRUE(FailsWith("RCPT", 501, "5.5.2"));
  EXPECT_TRUE(FailsWith("RCPT TO:", 501, "5.5.2"));
  EXPECT_TRUE(FailsWith("RCPT FROM:<a@b.example>", 501, "5.5.2"));
  EXPECT_TRUE(FailsWith("RCPT  TO:<a@b.example>", 501, "5.5.2"));
  EXPECT_TRUE(FailsWith("RCPT T:<a@b.example>", 501, "5.5.2"));
  EXPECT_TRUE(FailsWith("RCPT TO:<a@b.example>NOTIFY=NEVER", 501, "5.5.2"));
}

TEST(CommandTest, RcptPostmaster) {
  EXPECT_EQ(Parse("RCPT TO:<Postmaster>").path, Box("Postmaster", ""));
  EXPECT_EQ(Parse("RCPT TO:<postmaster>").path, Box("postmaster", ""));
  EXPECT_EQ(Parse("RCPT TO:<POSTMASTER> NOTIFY=NEVER").path,
            Box("POSTMASTER", ""));
  EXPECT_EQ(Parse("RCPT TO:<Postmaster@example.com>").path,
            Box("Postmaster", "example.com"));
  EXPECT_EQ(Box("Postmaster", "").ToString(), "Postmaster");
  EXPECT_EQ(SerializeCommand(Parse("RCPT TO:<PostMaster>")),
            "RCPT TO:<PostMaster>\r\n");
  EXPECT_TRUE(FailsWith("RCPT TO:<postmastr>", 501, "5.1.3"));
  EXPECT_TRUE(FailsWith("RCPT TO:<\"postmaster\">", 501, "5.1.3"));
  EXPECT_TRUE(FailsWith("RCPT TO:<@a.example:postmaster>", 501, "5.1.3"));
  EXPECT_TRUE(FailsWith("RCPT TO:<postmaster@>", 501, "5.1.3"));
  EXPECT_TRUE(FailsWith("MAIL FROM:<postmaster>", 501, "5.1.7"));
}

TEST(CommandTest, RcptLimits) {
  const std::string local64(64, 'l');
  EXPECT_TRUE(ParseCommand("RCPT TO:<" + local64 + "@b.example>").ok());
  EXPECT_TRUE(FailsWith("RCPT TO:<" + local64 + "l@b.example>", 501, "5.1.3"));
  EXPECT_TRUE(
      ParseCommand("RCPT TO:<" + local64 + "@" + DomainOfLength(189) + ">")
          .ok());
  EXPECT_TRUE(FailsWith("RCPT TO:<" + local64 + "@" + DomainOfLength(190) + ">",
                        501, "5.1.3"));
}

TEST(CommandTest, RcptNotify) {
  EXPECT_EQ(Parse("RCPT TO:<a@b.example> NOTIFY=NEVER").rcpt.notify,
            (DsnNotify{.never = true}));
  EXPECT_EQ(
      Parse("RCPT TO:<a@b.example> NOTIFY=SUCCESS,FAILURE,DELAY").rcpt.notify,
      (DsnNotify{.success = true, .failure = true, .delay = true}));
  EXPECT_EQ(Parse("RCPT TO:<a@b.example> notify=delay,success").rcpt.notify,
            (DsnNotify{.success = true, .delay = true}));
  EXPECT_EQ(Parse("RCPT TO:<a@b.example> NOTIFY=Failure").rcpt.notify,
            (DsnNotify{.failure = true}));
  for (absl::string_view value :
       {"", "NEVER,SUCCESS", "DELAY,NEVER", "SUCCESS,SUCCESS", "NEVER,NEVER",
        "SUCCESS,", ",SUCCESS", "SUCCESS,,DELAY", "BOGUS", "SUCCESS FAILURE",
        "SUCCESS;FAILURE", "NEVERX"}) {
    EXPECT_TRUE(FailsWith(absl::StrCat("RCPT TO:<a@b.example> NOTIFY=", value),
                          value == "SUCCESS FAILURE" ? 555 : 501, "5.5.4"));
  }
  EXPECT_TRUE(FailsWith("RCPT TO:<a@b.example> NOTIFY", 501, "5.5.4"));
}

TEST(CommandTest, RcptOrcpt) {
  Command rcpt = Parse(
      "RCPT TO:<a@b.example> NOTIFY=FAILURE ORCPT=rfc822;Bob+40b.example");
  EXPECT_EQ(rcpt.rcpt.orcpt, "rfc822;Bob+40b.example");
  EXPECT_EQ(rcpt.rcpt.notify, (DsnNotify{.failure = true}));
  EXPECT_EQ(Parse("RCPT TO:<a@b.example> orcpt=RFC822;a@b").rcpt.orcpt,
            "RFC822;a@b");
  EXPECT_EQ(Parse("RCPT TO:<a@b.example> ORCPT=utf-8;a\\x{E9}@b").rcpt.orcpt,
            "utf-8;a\\x{E9}@b");
  for (absl::string_view value : {"", "rfc822", "rfc822;", ";a@b", "rfc 822;a",
                                  "rfc822;a+4", "rfc822;a+4g", "rfc822;a+2b",
                                  "rfc822;a=b", "rf+c;a", "rfc822;a\xc3\xa9"}) {
    EXPECT_TRUE(FailsWith(absl::StrCat("RCPT TO:<a@b.example> ORCPT=", value),
                          501, "5.5.4"));
  }
  // Raw UTF-8 (RFC 6533) only when UTF-8 addresses are allowed.
  const std::string utf8 = "RCPT TO:<a@b.example> ORCPT=utf-8;j\xc3\xb6rg@b";
  EXPECT_EQ(Parse(utf8, {.utf8_addresses = true}).rcpt.orcpt,
            "utf-8;j\xc3\xb6rg@b");
  EXPECT_TRUE(FailsWith(utf8 + "\xc3", 501, "5.5.4", {.utf8_addresses = true}));
  // Length: 500 characters.
  const std::string long_value = "rfc822;" + std::string(493, 'x');
  EXPECT_TRUE(ParseCommand("RCPT TO:<a@b.example> ORCPT=" + long_value).ok());
  EXPECT_TRUE(FailsWith("RCPT TO:<a@b.example> ORCPT=" + long_value + "x", 501,
                        "5.5.4"));
}

// ---- DATA, RSET, QUIT, STARTTLS ---------------------------------------------

TEST(CommandTest, CommandsWithoutArguments) {
  for (absl::string_view verb : {"DATA", "RSET", "QUIT", "STARTTLS"}) {
    const Command command = Parse(verb);
    EXPECT_EQ(VerbName(command.verb), verb);
    Command expected;
    expected.verb = command.verb;
    EXPECT_EQ(command, expected);
    EXPECT_TRUE(FailsWith(absl::StrCat(verb, " x"), 501, "5.5.4"));
    EXPECT_TRUE(FailsWith(absl::StrCat(verb, "  now please"), 501, "5.5.4"));
    EXPECT_TRUE(FailsWith(absl::StrCat(verb, " \xc3\xa9"), 501, "5.5.4"));
  }
}

// ---- BDAT
// -----------------------------------------------------------------------

TEST(CommandTest, Bdat) {
  Command bdat = Parse("BDAT 1000");
  EXPECT_EQ(bdat.verb, Verb::kBdat);
  EXPECT_EQ(bdat.chunk_size, 1000u);
  EXPECT_FALSE(bdat.last_chunk);
  bdat = Parse("BDAT 0 LAST");
  EXPECT_EQ(bdat.chunk_size, 0u);
  EXPECT_TRUE(bdat.last_chunk);
  EXPECT_TRUE(Parse("bdat 5 last").last_chunk);
  EXPECT_TRUE(Parse("BDAT 5 Last").last_chunk);
  EXPECT_EQ(Parse("BDAT 007").chunk_size, 7u);
  EXPECT_EQ(Parse("BDAT 18446744073709551615 LAST").chunk_size,
            18446744073709551615u);
}

TEST(CommandTest, BdatErrorsAre501_5_5_4) {
  for (absl::string_view line :
       {"BDAT", "BDAT x", "BDAT -1", "BDAT +1", "BDAT 1x", "BDAT 0x10",
        "BDAT 99999999999999999999", "BDAT 18446744073709551616",
        "BDAT 123456789012345678901", "BDAT 000000000000000000001",
        "BDAT 10 FIRST", "BDAT 10  LAST", "BDAT 10 LAST x", "BDAT  10",
        "BDAT 10 LASTX", "BDAT LAST", "BDAT 1,0"}) {
    EXPECT_TRUE(FailsWith(line, 501, "5.5.4"));
  }
}

// ---- AUTH
// -----------------------------------------------------------------------

TEST(CommandTest, Auth) {
  Command auth = Parse("AUTH PLAIN");
  EXPECT_EQ(auth.verb, Verb::kAuth);
  EXPECT_EQ(auth.argument, "PLAIN");
  EXPECT_FALSE(auth.initial_response.has_value());
  auth = Parse("auth plain dGVzdAB0ZXN0AHRlc3Q=");
  EXPECT_EQ(auth.argument, "PLAIN");
  EXPECT_EQ(auth.initial_response, "dGVzdAB0ZXN0AHRlc3Q=");
  EXPECT_EQ(Parse("AUTH PLAIN =").initial_response, "=");
  EXPECT_EQ(Parse("AUTH LOGIN dXNlcg==").initial_response, "dXNlcg==");
  EXPECT_EQ(Parse("AUTH X a+/9").initial_response, "a+/9");
  EXPECT_EQ(Parse("AUTH cram-md5").argument, "CRAM-MD5");
  EXPECT_EQ(Parse("AUTH Scram-Sha-256-Plus").argument, "SCRAM-SHA-256-PLUS");
  EXPECT_EQ(Parse("AUTH x_oauth2").argument, "X_OAUTH2");
  const std::string mech20(20, 'M');
  EXPECT_EQ(Parse("AUTH " + mech20).argument, mech20);
}

TEST(CommandTest, AuthErrors) {
  for (absl::string_view line :
       {"AUTH", "AUTH PL@IN", "AUTH PLAIN\xc3\xa9", "AUTH  PLAIN",
        "AUTH MMMMMMMMMMMMMMMMMMMMM", "AUTH PLAIN:", "AUTH PLAIN=x"}) {
    EXPECT_TRUE(FailsWith(line, 501, "5.5.4"));
  }
  for (absl::string_view line :
       {"AUTH PLAIN abc", "AUTH PLAIN ab=c", "AUTH PLAIN ====",
        "AUTH PLAIN a===", "AUTH PLAIN ==", "AUTH PLAIN abc!",
        "AUTH PLAIN dGVz dA==", "AUTH PLAIN  dGVz", "AUTH PLAIN dG-z",
        "AUTH PLAIN ab==cd==", "AUTH PLAIN =a==", "AUTH PLAIN * "}) {
    EXPECT_TRUE(FailsWith(line, 501, "5.5.2"));
  }
}

// ---- NOOP, HELP, VRFY, EXPN -------------------------------------------------

TEST(CommandTest, FreeTextArguments) {
  EXPECT_EQ(Parse("NOOP").argument, "");
  EXPECT_EQ(Parse("NOOP hello world").argument, "hello world");
  EXPECT_EQ(Parse("NOOP   spaced   out  ").argument, "spaced   out");
  EXPECT_EQ(Parse("HELP").argument, "");
  EXPECT_EQ(Parse("HELP MAIL").argument, "MAIL");
  EXPECT_EQ(Parse("VRFY Smith").argument, "Smith");  // RFC 5321 §3.5.3
  EXPECT_EQ(Parse("EXPN Example-People").argument, "Example-People");
  EXPECT_EQ(Parse("VRFY \"John Doe\" <jd@x.example>").argument,
            "\"John Doe\" <jd@x.example>");
  EXPECT_EQ(Parse("VRFY j\xc3\xb6rg SMTPUTF8").argument,
            "j\xc3\xb6rg SMTPUTF8");
  EXPECT_TRUE(FailsWith("VRFY", 501, "5.5.4"));
  EXPECT_TRUE(FailsWith("VRFY   ", 501, "5.5.4"));
  EXPECT_TRUE(FailsWith("EXPN", 501, "5.5.4"));
  EXPECT_TRUE(FailsWith("EXPN\t", 501, "5.5.2"));
}

// ---- serialization ---------------------------------------------------------

TEST(CommandTest, SerializesCanonically) {
  const std::vector<std::pair<absl::string_view, absl::string_view>> cases = {
      {"ehlo Mail.Example", "EHLO Mail.Example\r\n"},
      {"helo [IPv6:::1]", "HELO [IPv6:::1]\r\n"},
      {"mail from: <>", "MAIL FROM:<>\r\n"},
      {"MAIL FROM:<@r.example:a@b.example> auth=<> ret=hdrs size=007 "
       "requiretls envid=E body=binarymime",
       "MAIL FROM:<a@b.example> SIZE=7 BODY=BINARYMIME REQUIRETLS RET=HDRS "
       "ENVID=E AUTH=<>\r\n"},
      {"MAIL FROM:<\"x y\"@[1.2.3.4]> smtputf8 body=7bit",
       "MAIL FROM:<\"x y\"@[1.2.3.4]> BODY=7BIT SMTPUTF8\r\n"},
      {"MAIL FROM:<> RET=FULL", "MAIL FROM:<> RET=FULL\r\n"},
      {"MAIL FROM:<> BODY=8bitmime", "MAIL FROM:<> BODY=8BITMIME\r\n"},
      {"rcpt to:<a@b.example> orcpt=rfc822;a@b notify=delay,failure,success",
       "RCPT TO:<a@b.example> NOTIFY=SUCCESS,FAILURE,DELAY "
       "ORCPT=rfc822;a@b\r\n"},
      {"RCPT TO:<a@b.example> NOTIFY=never",
       "RCPT TO:<a@b.example> NOTIFY=NEVER\r\n"},
      {"data", "DATA\r\n"},
      {"rset", "RSET\r\n"},
      {"quit", "QUIT\r\n"},
      {"starttls", "STARTTLS\r\n"},
      {"bdat 0010 last", "BDAT 10 LAST\r\n"},
      {"BDAT 0", "BDAT 0\r\n"},
      {"noop", "NOOP\r\n"},
      {"noop  x ", "NOOP x\r\n"},
      {"help", "HELP\r\n"},
      {"help me", "HELP me\r\n"},
      {"vrfy  smith", "VRFY smith\r\n"},
      {"expn list", "EXPN list\r\n"},
      {"auth plain", "AUTH PLAIN\r\n"},
      {"auth plain =", "AUTH PLAIN =\r\n"},
  };
  for (const auto& [line, wire] : cases) {
    const Command command = Parse(line);
    EXPECT_EQ(SerializeCommand(command), wire) << line;
    // And the wire form parses back to the same command.
    EXPECT_EQ(Parse(wire.substr(0, wire.size() - 2)), command) << line;
  }
}

TEST(CommandTest, SerializesConstructedCommands) {
  Command mail;
  mail.verb = Verb::kMail;
  EXPECT_EQ(SerializeCommand(mail), "MAIL FROM:<>\r\n");
  mail.path = Box("a", "b.example");
  mail.mail.size = 0;
  mail.mail.smtputf8 = true;
  EXPECT_EQ(SerializeCommand(mail),
            "MAIL FROM:<a@b.example> SIZE=0 SMTPUTF8\r\n");
  Command bdat;
  bdat.verb = Verb::kBdat;
  bdat.chunk_size = 18446744073709551615u;
  bdat.last_chunk = true;
  EXPECT_EQ(SerializeCommand(bdat), "BDAT 18446744073709551615 LAST\r\n");
}

TEST(CommandTest, AppendCommandAppendsTheSerializedForm) {
  for (const char* line :
       {"RCPT TO:<a@b.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a@b.example",
        "MAIL FROM:<> SIZE=10 BODY=8BITMIME", "EHLO a.example", "QUIT"}) {
    const Command command = Parse(line);
    std::string out = "250 earlier bytes\r\n";
    AppendCommand(command, &out);
    EXPECT_EQ(out, "250 earlier bytes\r\n" + SerializeCommand(command));
    EXPECT_EQ(SerializeCommand(command), absl::StrCat(line, "\r\n"));
  }
}

TEST(CommandTest, MailboxToString) {
  EXPECT_EQ(Box("a", "b.example").ToString(), "a@b.example");
  EXPECT_EQ(Box("\"a b\"", "[1.2.3.4]").ToString(), "\"a b\"@[1.2.3.4]");
  EXPECT_EQ(Box("Postmaster", "").ToString(), "Postmaster");
}

TEST(CommandTest, ParsedCommandsHaveOnlyTheirFieldsSet) {
  // Equality compares every field: fields of other verbs stay default.
  Command expected;
  expected.verb = Verb::kEhlo;
  expected.domain = "a.example";
  EXPECT_EQ(Parse("EHLO a.example"), expected);
  expected = Command{};
  expected.verb = Verb::kAuth;
  expected.argument = "PLAIN";
  expected.initial_response = "=";
  EXPECT_EQ(Parse("AUTH plain ="), expected);
  expected = Command{};
  expected.verb = Verb::kRcpt;
  expected.path = Box("a", "b.example");
  expected.rcpt.notify = DsnNotify{.never = true};
  EXPECT_EQ(Parse("RCPT TO:<a@b.example> NOTIFY=NEVER"), expected);
}

TEST(CommandTest, ViewPointsIntoTheLine) {
  const std::string line = "MAIL FROM:<a@b.example> ENVID=x+2By AUTH=<>";
  CommandView view;
  ASSERT_TRUE(ParseCommandView(line, {}, view).ok());
  ASSERT_TRUE(view.path.has_value());
  EXPECT_EQ(view.path->local_part.data(), line.data() + 11);
  EXPECT_EQ(view.path->domain, "b.example");
  EXPECT_EQ(view.mail.envid, "x+2By");
  EXPECT_EQ(view.mail.auth, "<>");

  // The AUTH mechanism as written; the owning copy upper-cases it.
  ASSERT_TRUE(ParseCommandView("AUTH pLain", {}, view).ok());
  EXPECT_EQ(view.argument, "pLain");
  EXPECT_FALSE(view.initial_response.has_value());
  EXPECT_EQ(ToCommand(view).argument, "PLAIN");

  // A reused view: the fields the new verb may leave unset are cleared.
  ASSERT_TRUE(ParseCommandView("MAIL FROM:<> SIZE=5", {}, view).ok());
  ASSERT_TRUE(ParseCommandView("MAIL FROM:<a@b.example>", {}, view).ok());
  EXPECT_FALSE(view.mail.size.has_value());
  ASSERT_TRUE(ParseCommandView("MAIL FROM:<>", {}, view).ok());
  EXPECT_FALSE(view.path.has_value());
  ASSERT_TRUE(ParseCommandView("BDAT 5 LAST", {}, view).ok());
  ASSERT_TRUE(ParseCommandView("BDAT 7", {}, view).ok());
  EXPECT_FALSE(view.last_chunk);
}

TEST(CommandTest, KeywordsIgnoreTheCaseOfLettersOnly) {
  // Keywords match ignoring the case bit (0x20) of their letters; other
  // octets that differ from a digit or ':' only in that bit do not match.
  EXPECT_TRUE(ParseCommand("mail from:<a@b.example> body=8bitmime").ok());
  EXPECT_TRUE(ParseCommand("RCPT To:<postMASTER>").ok());
  EXPECT_FALSE(ParseCommand("MAIL FROM:<a@b.example> BODY=\x18"
                            "BITMIME")
                   .ok());
  EXPECT_FALSE(ParseCommand("MAIL FROM\x1a<a@b.example>").ok());
  EXPECT_FALSE(ParseCommand("MAIL FROM:<a@b.example> BODY=\x17"
                            "BIT")
                   .ok());
  EXPECT_FALSE(ParseCommand("BDAT 1 L\x01ST").ok());
  EXPECT_FALSE(ParseCommand("STARTTL\x13").ok());
}

TEST(CommandTest, ErrorRepliesAreComplete) {
  absl::StatusOr<Command> command = ParseCommand("MAIL FROM:<> SIZE=1 SIZE=1");
  ASSERT_FALSE(command.ok());
  std::optional<Reply> reply = ReplyOf(command.status());
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->code, 555);
  ASSERT_TRUE(reply->enhanced.has_value());
  EXPECT_EQ(reply->enhanced->ToString(), "5.5.4");
  ASSERT_EQ(reply->lines.size(), 1u);
  EXPECT_FALSE(reply->lines[0].empty());
  EXPECT_TRUE(reply->permanent());
}

}  // namespace
}  // namespace starling::smtp
