#include "core/smtp/text.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace starling::smtp {
namespace {

bool HasControlByteByByte(const std::string& text) {
  for (char ch : text) {
    const auto c = static_cast<uint8_t>(ch);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool HasHighByteByByte(const std::string& text) {
  for (char ch : text) {
    if (static_cast<uint8_t>(ch) >= 0x80) return true;
  }
  return false;
}

// Every octet value at every position of texts of every length up to three
// words, in a text of plain letters and of octets >= 0x80 (where a borrow
// or a top bit could confuse the word-at-a-time test).
// An octet >= 0x80 at every position of texts of every length up to four
// 64-octet steps (each followed by every 32-, 8- and 1-octet tail), and none
// at all.
TEST(HasEightBitTest, FindsAnEightBitOctetAnywhere) {
  for (size_t size = 0; size <= 260; ++size) {
    EXPECT_FALSE(HasEightBit(std::string(size, '\x7f')));
    for (size_t pos = 0; pos < size; ++pos) {
      std::string text(size, 'a');
      text[pos] = '\x80';
      ASSERT_TRUE(HasEightBit(text)) << "size " << size << " pos " << pos;
    }
  }
}

TEST(ScanBytesTest, AgreesWithTheByteByByteDefinition) {
  for (const char fill : {'a', '~', ' ', '\x80', '\xff'}) {
    for (size_t size = 1; size <= 24; ++size) {
      for (size_t pos = 0; pos < size; ++pos) {
        for (int c = 0; c < 256; ++c) {
          std::string text(size, fill);
          text[pos] = static_cast<char>(c);
          const ByteClasses classes = ScanBytes(text);
          ASSERT_EQ(classes.high, HasHighByteByByte(text));
          ASSERT_EQ(classes.control, HasControlByteByByte(text))
              << "size " << size << " pos " << pos << " octet " << c << " fill "
              << static_cast<int>(static_cast<uint8_t>(fill));
        }
      }
    }
  }
  EXPECT_FALSE(ScanBytes("").control);
  EXPECT_FALSE(ScanBytes("").high);
}

}  // namespace
}  // namespace starling::smtp
