#include "core/smtp/line_reader.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

using Framed = std::vector<std::pair<std::string, LineStatus>>;

Framed FrameAll(LineReader& reader, absl::string_view input) {
  Framed out;
  while (auto line = reader.Next(&input)) {
    out.emplace_back(std::string(line->text), line->status);
  }
  EXPECT_TRUE(input.empty());
  return out;
}

TEST(LineReaderTest, SplitsCrlfLines) {
  LineReader reader;
  EXPECT_EQ(FrameAll(reader, "EHLO a\r\nQUIT\r\n\r\n"),
            (Framed{{"EHLO a", LineStatus::kOk},
                    {"QUIT", LineStatus::kOk},
                    {"", LineStatus::kOk}}));
  EXPECT_FALSE(reader.has_partial_line());
}

TEST(LineReaderTest, KeepsPartialLineAcrossCalls) {
  LineReader reader;
  EXPECT_TRUE(FrameAll(reader, "EH").empty());
  EXPECT_TRUE(reader.has_partial_line());
  EXPECT_TRUE(FrameAll(reader, "LO a\r").empty());
  EXPECT_EQ(FrameAll(reader, "\nNO"), (Framed{{"EHLO a", LineStatus::kOk}}));
  EXPECT_EQ(FrameAll(reader, "OP\r\n"), (Framed{{"NOOP", LineStatus::kOk}}));
}

TEST(LineReaderTest, ZeroCopyWhenLineIsWhole) {
  LineReader reader;
  absl::string_view input = "NOOP\r\n";
  const char* start = input.data();
  auto line = reader.Next(&input);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->text.data(), start);
}

TEST(LineReaderTest, ReportsBareLfAndResynchronises) {
  LineReader reader;
  EXPECT_EQ(FrameAll(reader, "a\nb\r\n\n"),
            (Framed{{"a", LineStatus::kBareLf},
                    {"b", LineStatus::kOk},
                    {"", LineStatus::kBareLf}}));
}

TEST(LineReaderTest, ReportsBareCrDistinctly) {
  LineReader reader;
  EXPECT_EQ(FrameAll(reader, "a\rb\r\n\r\r\nc\r\n"),
            (Framed{{"a\rb", LineStatus::kBareCr},
                    {"\r", LineStatus::kBareCr},
                    {"c", LineStatus::kOk}}));
}

TEST(LineReaderTest, BareCrThenBareLfIsBareLf) {
  LineReader reader;
  EXPECT_EQ(FrameAll(reader, "a\rb\n"), (Framed{{"a\rb", LineStatus::kBareLf}}));
}

TEST(LineReaderTest, SmugglingEndOfDataVariantsAreFlagged) {
  // "\n.\n", "\n.\r\n" and "\r\n.\r" + "\r\n" must never look like CRLF.CRLF.
  LineReader reader;
  EXPECT_EQ(FrameAll(reader, "x\n.\nq\n.\r\n.\r\r\n"),
            (Framed{{"x", LineStatus::kBareLf},
                    {".", LineStatus::kBareLf},
                    {"q", LineStatus::kBareLf},
                    {".", LineStatus::kOk},
                    {".\r", LineStatus::kBareCr}}));
}

TEST(LineReaderTest, LimitCountsTheTerminator) {
  LineReader reader(6);
  EXPECT_EQ(FrameAll(reader, "abcd\r\nabcde\r\n"),
            (Framed{{"abcd", LineStatus::kOk}, {"", LineStatus::kTooLong}}));
}

TEST(LineReaderTest, TooLongLineIsDroppedAndFramingResumes) {
  LineReader reader(8);
  std::string long_line(10000, 'x');
  EXPECT_TRUE(FrameAll(reader, long_line).empty());
  EXPECT_TRUE(reader.has_partial_line());
  EXPECT_EQ(FrameAll(reader, "yyy\r\nok\r\n"),
            (Framed{{"", LineStatus::kTooLong}, {"ok", LineStatus::kOk}}));
  EXPECT_FALSE(reader.has_partial_line());
}

TEST(LineReaderTest, TooLongWhenSplitExactlyAtLimit) {
  LineReader reader(4);
  EXPECT_TRUE(FrameAll(reader, "abcd").empty());
  EXPECT_EQ(FrameAll(reader, "\r\n"), (Framed{{"", LineStatus::kTooLong}}));
  EXPECT_TRUE(FrameAll(reader, "ab").empty());
  EXPECT_EQ(FrameAll(reader, "\r\n"), (Framed{{"ab", LineStatus::kOk}}));
}

TEST(LineReaderTest, ResetDropsPartialLine) {
  LineReader reader;
  EXPECT_TRUE(FrameAll(reader, "STARTTLS-tail").empty());
  reader.Reset();
  EXPECT_FALSE(reader.has_partial_line());
  EXPECT_EQ(FrameAll(reader, "EHLO b\r\n"), (Framed{{"EHLO b", LineStatus::kOk}}));
}

TEST(LineReaderTest, EmptyInputYieldsNothing) {
  LineReader reader;
  absl::string_view empty;
  EXPECT_FALSE(reader.Next(&empty).has_value());
  EXPECT_FALSE(reader.has_partial_line());
}

TEST(LineReaderTest, StatusNames) {
  EXPECT_EQ(LineStatusName(LineStatus::kOk), "ok");
  EXPECT_EQ(LineStatusName(LineStatus::kTooLong), "line too long");
  EXPECT_EQ(LineStatusName(LineStatus::kBareLf), "bare LF");
  EXPECT_EQ(LineStatusName(LineStatus::kBareCr), "bare CR");
}

// The plain lines DATA may pass on whole, by definition, one line at a time.
size_t PlainLinesByDefinition(absl::string_view text, size_t max_line) {
  size_t pos = 0;
  while (true) {
    const size_t lf = text.find('\n', pos);
    if (lf == absl::string_view::npos) return pos;
    const absl::string_view line = text.substr(pos, lf + 1 - pos);
    if (line.size() < 2 || line[line.size() - 2] != '\r' ||
        line.substr(0, line.size() - 2).find('\r') != absl::string_view::npos ||
        line.front() == '.' || (max_line != 0 && line.size() > max_line)) {
      return pos;
    }
    pos = lf + 1;
  }
}

TEST(PlainCrlfLinesTest, AgreesWithTheDefinitionOnRandomText) {
  // Few symbols, so that CR, LF, '.' and line lengths meet in every way.
  uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005u + 1442695040888963407u;
    return static_cast<uint32_t>(state >> 33);
  };
  const char kSymbols[] = {'a', 'b', '.', '\r', '\n'};
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const size_t size = next() % 600;
    // Mostly well-formed lines, with rare odd octets; short lines, or lines
    // around the 64-octet block size and the limits below.
    const uint32_t line_ends = round % 2 == 0 ? 8 : 1;
    while (text.size() < size) {
      const uint32_t roll = next() % 100;
      if (roll < line_ends) {
        text += "\r\n";
      } else if (roll < line_ends + 2) {
        text += kSymbols[next() % 5];
      } else {
        text += static_cast<char>('a' + next() % 26);
      }
    }
    const size_t max_line = (round % 3 == 0) ? 0 : 2 + next() % 200;
    const size_t expected = PlainLinesByDefinition(text, max_line);
    for (internal::Simd simd :
         {internal::Simd::kSse2, internal::Simd::kAvx2, internal::Simd::kAvx512}) {
    if (!internal::SimdSupported(simd)) continue;
    const size_t got = internal::PlainCrlfLinesWith(
        simd, text.data(), text.data() + text.size(), max_line);
    // Never more than the definition; short of it only by lines that end
    // in the final piece of under 64 octets.
    ASSERT_LE(got, expected) << absl::CEscape(text) << " max " << max_line;
    ASSERT_EQ(PlainLinesByDefinition(text.substr(0, got), max_line), got);
    if (got < expected) {
      const size_t next_end = text.find('\n', got) + 1;
      ASSERT_GT(next_end, text.size() / 64 * 64)
          << absl::CEscape(text) << " max " << max_line << " got " << got;
    }
    }
  }
}

TEST(PlainCrlfLinesTest, StopsAtTheFirstLineThatIsNotPlain) {
  const std::string line(62, 'x');
  const std::string plain = line + "\r\n";  // 64 octets
  for (const std::string& odd :
       {std::string(".stuffed\r\n"), std::string("bare\nlf\r\n"),
        std::string("bare\rcr\r\n"), std::string(".\r\n")}) {
    const std::string text = plain + plain + odd + std::string(200, 'y') + "\r\n";
    EXPECT_EQ(internal::PlainCrlfLines(text.data(), text.data() + text.size(), 0),
              2 * plain.size())
        << absl::CEscape(odd);
  }
  const std::string text = plain + plain + plain;
  EXPECT_EQ(internal::PlainCrlfLines(text.data(), text.data() + text.size(), 64),
            text.size());
  EXPECT_EQ(internal::PlainCrlfLines(text.data(), text.data() + text.size(), 63),
            0u);
}

}  // namespace
}  // namespace starling::smtp
