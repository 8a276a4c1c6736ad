#include "core/smtp/dot_stuffing.h"

#include <string>

#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

std::string Encode(BodyEncoder::Mode mode, absl::string_view body,
                   size_t limit = 1000) {
  BodyEncoder encoder(mode, limit);
  std::string out;
  // Byte by byte: the encoder must not depend on how the body is cut.
  for (char c : body) {
    if (!encoder.Encode(absl::string_view(&c, 1), &out).ok()) return "ERROR";
  }
  if (!encoder.Finish(&out).ok()) return "ERROR";
  return out;
}

TEST(BodyEncoderTest, DotStuffsAndTerminates) {
  EXPECT_EQ(DotStuff(""), ".\r\n");
  EXPECT_EQ(DotStuff("a\r\n"), "a\r\n.\r\n");
  EXPECT_EQ(DotStuff("a"), "a\r\n.\r\n");
  EXPECT_EQ(DotStuff(".\r\n..x\r\n"), "..\r\n...x\r\n.\r\n");
  EXPECT_EQ(Encode(BodyEncoder::Mode::kData, ".a\r\nb.\r\n."), "..a\r\nb.\r\n..\r\n.\r\n");
}

TEST(BodyEncoderTest, NormalisesBareLineEndingsNeverSendsThemRaw) {
  EXPECT_EQ(Encode(BodyEncoder::Mode::kData, "a\nb\rc\r\n\n.\n"),
            "a\r\nb\r\nc\r\n\r\n..\r\n.\r\n");
  // The smuggling shapes come out as harmless stuffed lines.
  EXPECT_EQ(DotStuff("x\n.\nMAIL FROM:<e@x>\r\n"),
            "x\r\n..\r\nMAIL FROM:<e@x>\r\n.\r\n");
  EXPECT_EQ(DotStuff("x\r.\r\n"), "x\r\n..\r\n.\r\n");
  EXPECT_EQ(Encode(BodyEncoder::Mode::kBdatText, "a\rb\n"), "a\r\nb\r\n");
  EXPECT_EQ(Encode(BodyEncoder::Mode::kData, "ends in CR\r"), "ends in CR\r\n.\r\n");
}

TEST(BodyEncoderTest, BinaryIsUntouched) {
  const std::string binary("a\nb\r.\0", 6);
  EXPECT_EQ(Encode(BodyEncoder::Mode::kBinary, binary), binary);
}

TEST(BodyEncoderTest, LineLimitCountsCrlfAndStuffingDot) {
  EXPECT_EQ(Encode(BodyEncoder::Mode::kData, std::string(8, 'x') + "\r\n", 10),
            std::string(8, 'x') + "\r\n.\r\n");
  EXPECT_EQ(Encode(BodyEncoder::Mode::kData, std::string(9, 'x') + "\r\n", 10), "ERROR");
  EXPECT_EQ(Encode(BodyEncoder::Mode::kData, "." + std::string(6, 'x'), 10),
            ".." + std::string(6, 'x') + "\r\n.\r\n");
  EXPECT_EQ(Encode(BodyEncoder::Mode::kData, "." + std::string(7, 'x'), 10), "ERROR");
  EXPECT_EQ(Encode(BodyEncoder::Mode::kBinary, std::string(5000, 'x'), 10).size(), 5000u);
}

TEST(BodyEncoderTest, ErrorIsSticky) {
  BodyEncoder encoder(BodyEncoder::Mode::kData, 4);
  std::string out;
  EXPECT_FALSE(encoder.Encode("toolong", &out).ok());
  EXPECT_FALSE(encoder.Encode("\r\n", &out).ok());
  EXPECT_FALSE(encoder.Finish(&out).ok());
}

}  // namespace
}  // namespace starling::smtp
