#include "core/smtp/line_reader.h"

#include <string>
#include <utility>
#include <vector>

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

}  // namespace
}  // namespace starling::smtp
