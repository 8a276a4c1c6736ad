#include "core/smtp/dot_stuffing.h"

#include <random>
#include <string>
#include <vector>

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

// The encoder's definition, one octet at a time ("ERROR" for a line that is
// too long).
std::string Reference(bool data, absl::string_view body, size_t limit) {
  std::string out;
  bool start = true;
  bool cr = false;
  size_t length = 0;
  auto end_line = [&] {
    if (limit != 0 && length + 2 > limit) return false;
    out += "\r\n";
    start = true;
    length = 0;
    return true;
  };
  for (const char c : body) {
    if (cr) {
      cr = false;
      if (!end_line()) return "ERROR";
      if (c == '\n') continue;
    }
    if (c == '\r') {
      cr = true;
      continue;
    }
    if (c == '\n') {
      if (!end_line()) return "ERROR";
      continue;
    }
    if (start && data && c == '.') {
      out += '.';
      ++length;
    }
    start = false;
    out += c;
    if (limit != 0 && ++length + 2 > limit) return "ERROR";
  }
  if ((cr || !start) && !end_line()) return "ERROR";
  if (data) out += ".\r\n";
  return out;
}

// Bodies of long runs of plain CRLF lines (what the encoder copies many
// lines at a time) mixed with dots, bare CR/LF and long lines, cut at random
// points: the same wire form as the octet-by-octet definition.
TEST(BodyEncoderTest, ManyLinesAtATimeAgreeWithTheDefinition) {
  std::mt19937 random(7);
  auto below = [&](size_t n) { return static_cast<size_t>(random() % n); };
  for (int round = 0; round < 3000; ++round) {
    std::string body;
    const size_t lines = below(40);
    for (size_t i = 0; i < lines; ++i) {
      switch (below(12)) {
        case 0:
          body += '.';
          break;
        case 1:
          body += '\r';
          break;
        case 2:
          body += '\n';
          break;
        default:
          break;
      }
      body +=
          std::string(below(3) == 0 ? below(200) : below(90), 'a' + below(26));
      body += below(10) == 0 ? "\n" : "\r\n";
    }
    if (below(3) == 0) body += std::string(below(100), 'z');
    const bool data = below(2) == 0;
    const size_t limit = below(4) == 0 ? 0 : 20 + below(200);
    BodyEncoder encoder(
        data ? BodyEncoder::Mode::kData : BodyEncoder::Mode::kBdatText, limit);
    std::string out;
    bool ok = true;
    for (size_t pos = 0; pos < body.size() && ok;) {
      const size_t n = 1 + below(below(2) == 0 ? 8 : 400);
      ok = encoder.Encode(absl::string_view(body).substr(pos, n), &out).ok();
      pos += n;
    }
    ok = ok && encoder.Finish(&out).ok();
    ASSERT_EQ(ok ? out : "ERROR", Reference(data, body, limit))
        << "round " << round << " limit " << limit;
  }
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
