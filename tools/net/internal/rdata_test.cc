#include "tools/net/internal/rdata.h"

#include <string>

#include "gtest/gtest.h"

namespace starling::net::internal {
namespace {

using std::string_literals::operator""s;

TEST(DecodeNameTest, LowerCasesAndDropsTheTrailingDot) {
  EXPECT_EQ(*DecodeName("\x02Mx\x07" "Example\x00"s), "mx.example");
}

TEST(DecodeNameTest, RootIsADot) { EXPECT_EQ(*DecodeName("\x00"s), "."); }

TEST(DecodeNameTest, EscapesBytesThatAreNotHostnameCharacters) {
  EXPECT_EQ(*DecodeName("\x03" "a.b\x02" "c\xff\x00"s), "a\\046b.c\\255");
}

TEST(DecodeNameTest, RejectsMalformedWire) {
  EXPECT_FALSE(DecodeName(""s).ok());                 // nothing
  EXPECT_FALSE(DecodeName("\x02mx"s).ok());           // no root label
  EXPECT_FALSE(DecodeName("\x05mx\x00"s).ok());       // label cut short
  EXPECT_FALSE(DecodeName("\x02mx\x00\x01"s).ok());   // trailing bytes
  EXPECT_FALSE(DecodeName("\xc0\x0c"s).ok());         // compression pointer
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += "\x3f" + std::string(63, 'a');
  EXPECT_FALSE(DecodeName(long_name + "\x00"s).ok()); // over 255 octets
}

TEST(DecodeMxTest, PreferenceAndHost) {
  const absl::StatusOr<MxRdata> mx = DecodeMx("\x01\x02\x02mx\x07" "example\x00"s);
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->preference, 258);
  EXPECT_EQ(mx->host, "mx.example");
}

TEST(DecodeMxTest, NullMx) {
  const absl::StatusOr<MxRdata> mx = DecodeMx("\x00\x00\x00"s);
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_EQ(mx->preference, 0);
  EXPECT_EQ(mx->host, ".");
}

TEST(DecodeMxTest, RejectsShortOrBrokenRdata) {
  EXPECT_FALSE(DecodeMx("\x00\x0a"s).ok());
  const absl::Status broken = DecodeMx("\x00\x0a\x05mx\x00"s).status();
  EXPECT_EQ(broken.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(broken.message().find("MX"), std::string::npos) << broken;
}

TEST(DecodeAddressTest, AAndAaaa) {
  EXPECT_EQ(*DecodeA("\x7f\x00\x00\x01"s), "127.0.0.1");
  EXPECT_EQ(*DecodeAaaa("\x20\x01\x0d\xb8" + std::string(11, '\0') + "\x01"),
            "2001:db8::1");
  EXPECT_FALSE(DecodeA("\x7f\x00\x00"s).ok());
  EXPECT_FALSE(DecodeAaaa(std::string(4, '\0')).ok());
}

TEST(DecodeTxtTest, ConcatenatesCharacterStrings) {
  EXPECT_EQ(*DecodeTxt("\x08v=STSv1;\x06 id=1;"s), "v=STSv1; id=1;");
  EXPECT_EQ(*DecodeTxt("\x00"s), "");
  EXPECT_FALSE(DecodeTxt(""s).ok());
  EXPECT_FALSE(DecodeTxt("\x09v=STSv1;"s).ok());
}

TEST(DecodeTlsaTest, FieldsAndData) {
  const absl::StatusOr<policy::TlsaRecord> tlsa = DecodeTlsa("\x03\x01\x01\xab\xcd"s);
  ASSERT_TRUE(tlsa.ok()) << tlsa.status();
  EXPECT_EQ(tlsa->usage, 3);
  EXPECT_EQ(tlsa->selector, 1);
  EXPECT_EQ(tlsa->matching_type, 1);
  EXPECT_EQ(tlsa->data, "\xab\xcd"s);
  EXPECT_FALSE(DecodeTlsa("\x03\x01"s).ok());
}

}  // namespace
}  // namespace starling::net::internal
