#ifndef STARLING_CORE_SMTP_TEXT_H_
#define STARLING_CORE_SMTP_TEXT_H_

#include "absl/strings/string_view.h"

namespace starling::smtp {

// Well-formed UTF-8 (RFC 3629): no overlongs, surrogates or code points past
// U+10FFFF.
bool IsValidUtf8(absl::string_view text);

// Whether `text` holds an octet >= 0x80 (8 octets per step: bodies are long).
bool HasEightBit(absl::string_view text);

struct ByteClasses {
  bool control = false;  // a C0 control character (HT included) or DEL
  bool high = false;     // an octet >= 0x80
};

// Which of those classes the octets of `text` hold, 8 octets per step
// (command lines and every reply a server sends are checked).
ByteClasses ScanBytes(absl::string_view text);

// RFC 5321 §4.2 textstring: HT and SP..'~' only; with `utf8` (RFC 6531,
// SMTPUTF8 in use) also well-formed UTF-8. Control characters never.
bool IsTextString(absl::string_view text, bool utf8);

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_TEXT_H_
