#include "core/smtp/command.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/smtp/reply.h"
#include "core/smtp/text.h"

namespace starling::smtp {
namespace {

// ---- character classes
// --------------------------------------------------------

// One bit per class; a byte may belong to several. Bytes >= 0x80 are only
// kHigh: the parsers add it where RFC 6531 allows UTF-8.
enum CharClass : uint16_t {
  kLetDig = 1 << 0,    // ALPHA / DIGIT
  kLdh = 1 << 1,       // ALPHA / DIGIT / "-"
  kAtext = 1 << 2,     // RFC 5321 atext
  kQtext = 1 << 3,     // RFC 5321 qtextSMTP: %d32-33 / %d35-91 / %d93-126
  kXchar = 1 << 4,     // RFC 3461 xchar: %d33-42 / %d44-60 / %d62-126
  kDcontent = 1 << 5,  // RFC 5321 dcontent: %d33-90 / %d94-126
  kBase64 = 1 << 6,    // ALPHA / DIGIT / "+" / "/"
  kMechChar =
      1 << 7,  // RFC 4954 mech-char, either case: ALPHA / DIGIT / "-" / "_"
  kQpair = 1 << 8,  // what a backslash may quote: %d32-126
  kHigh = 1 << 9,   // >= 0x80: part of a UTF-8 sequence
};

constexpr bool Among(const char* set, int c) {
  for (; *set != '\0'; ++set) {
    if (*set == c) return true;
  }
  return false;
}

constexpr std::array<uint16_t, 256> MakeClasses() {
  std::array<uint16_t, 256> table{};
  for (int c = 128; c < 256; ++c) table[c] = kHigh;
  for (int c = 0; c < 128; ++c) {
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    const bool digit = c >= '0' && c <= '9';
    uint16_t f = 0;
    if (alpha || digit) f |= kLetDig | kLdh | kAtext | kBase64 | kMechChar;
    if (c == '-') f |= kLdh | kMechChar;
    if (c == '_') f |= kMechChar;
    if (c == '+' || c == '/') f |= kBase64;
    if (Among("!#$%&'*+-/=?^_`{|}~", c)) f |= kAtext;
    if (c >= 32 && c <= 126 && c != '"' && c != '\\') f |= kQtext;
    if (c >= 33 && c <= 126 && c != '+' && c != '=') f |= kXchar;
    if ((c >= 33 && c <= 90) || (c >= 94 && c <= 126)) f |= kDcontent;
    if (c >= 32 && c <= 126) f |= kQpair;
    table[c] = f;
  }
  return table;
}

constexpr std::array<uint16_t, 256> kClasses = MakeClasses();

inline bool Is(char c, uint16_t cls) {
  return (kClasses[static_cast<uint8_t>(c)] & cls) != 0;
}
// The first octet in [p, end) outside `cls`, or end. Four octets at a time
// while they share a bit of `cls` (exact for a one-bit class; a mix such as
// ASCII and UTF-8 under kAtext | kHigh falls through to the octet loop).
inline const char* Skip(const char* p, const char* end, uint16_t cls) {
  while (end - p >= 4 && (kClasses[static_cast<uint8_t>(p[0])] &
                          kClasses[static_cast<uint8_t>(p[1])] &
                          kClasses[static_cast<uint8_t>(p[2])] &
                          kClasses[static_cast<uint8_t>(p[3])] & cls) != 0) {
    p += 4;
  }
  while (p < end && Is(*p, cls)) ++p;
  return p;
}

inline bool IsHigh(char c) { return static_cast<uint8_t>(c) >= 0x80; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsUpperHex(char c) { return IsDigit(c) || (c >= 'A' && c <= 'F'); }

// The byte at `pos`, or NUL past the end. No grammar here accepts NUL, so a
// NUL in the line and the end of the line both stop a match.
inline char At(absl::string_view s, size_t pos) {
  return pos < s.size() ? s[pos] : '\0';
}

constexpr size_t kNpos = absl::string_view::npos;

// The first `c` in s[from..], or kNpos. This Abseil's string_view::find is
// out of line, and the strings searched here are a few bytes long: a plain
// loop beats a call.
inline size_t Find(absl::string_view s, char c, size_t from = 0) {
  for (size_t i = from; i < s.size(); ++i) {
    if (s[i] == c) return i;
  }
  return kNpos;
}

// An upper-case ASCII keyword of 1..16 octets to compare text with,
// ignoring ASCII case, prepared at compile time: the text is read as two
// overlapping words (8, 4, 2 or 1 octets each, whatever the keyword's size
// allows) compared under a mask that clears the case bit (0x20) where the
// keyword has a letter, and nowhere else, so 'a' matches 'A' but '`' never
// matches '@'.
class Upper {
 public:
  consteval Upper(const char* upper) {  // NOLINT: built from literals
    while (upper[size_] != '\0') ++size_;
    if (size_ == 0 || size_ > 16) Invalid();
    word_ = size_ >= 8 ? 8 : size_ >= 4 ? 4 : size_ >= 2 ? 2 : 1;
    for (size_t i = 0; i < word_; ++i) {
      Add(upper[i], i, head_value_, head_mask_);
      Add(upper[size_ - word_ + i], i, tail_value_, tail_mask_);
    }
  }

  bool Matches(absl::string_view text) const {
    if (text.size() != size_) return false;
    const uint64_t head = Load(text.data());
    const uint64_t tail = Load(text.data() + size_ - word_);
    return (((head & head_mask_) ^ head_value_) |
            ((tail & tail_mask_) ^ tail_value_)) == 0;
  }

 private:
  static void Invalid() {}  // not constexpr: calling it fails the build

  // Byte `i` of a word as a native-order load would see it.
  constexpr void Add(char c, size_t i, uint64_t& value, uint64_t& mask) const {
    const int shift = std::endian::native == std::endian::little
                          ? 8 * static_cast<int>(i)
                          : 8 * static_cast<int>(word_ - 1 - i);
    const bool letter = c >= 'A' && c <= 'Z';
    value |= uint64_t{static_cast<uint8_t>(c)} << shift;
    mask |= uint64_t{letter ? 0xDFu : 0xFFu} << shift;
  }

  uint64_t Load(const char* p) const {
    switch (word_) {
      case 8: {
        uint64_t v;
        std::memcpy(&v, p, 8);
        return v;
      }
      case 4: {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return v;
      }
      case 2: {
        uint16_t v;
        std::memcpy(&v, p, 2);
        return v;
      }
      default:
        return static_cast<uint8_t>(*p);
    }
  }

  uint64_t head_value_ = 0;
  uint64_t head_mask_ = 0;
  uint64_t tail_value_ = 0;
  uint64_t tail_mask_ = 0;
  size_t size_ = 0;
  size_t word_ = 0;
};

inline bool EqualsUpper(absl::string_view text, Upper upper) {
  return upper.Matches(text);
}

// 1..20 decimal digits whose value fits uint64_t.
inline bool ParseUint64(absl::string_view digits, uint64_t* value) {
  if (digits.empty() || digits.size() > 20) return false;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t v = 0;
  for (char c : digits) {
    if (!IsDigit(c)) return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (kMax - d) / 10) return false;
    v = v * 10 + d;
  }
  *value = v;
  return true;
}

// RFC 3461 xtext: xchar / "+" 2(upper-case HEXDIG); non-empty. When
// `allow_utf8`, raw UTF-8 is accepted too (RFC 6533 utf-8-addr-unitext);
// its well-formedness is the caller's to check.
inline bool IsXtext(absl::string_view s, bool allow_utf8 = false) {
  if (s.empty()) return false;
  const uint16_t allowed = allow_utf8 ? kXchar | kHigh : kXchar;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (Is(c, allowed)) continue;
    if (c != '+' || i + 2 >= s.size() || !IsUpperHex(s[i + 1]) ||
        !IsUpperHex(s[i + 2])) {
      return false;
    }
    i += 2;
  }
  return true;
}

// RFC 4954 initial response: "=" (empty) or base64 with its padding.
bool IsInitialResponse(absl::string_view s) {
  if (s == "=") return true;
  if (s.empty() || s.size() % 4 != 0) return false;
  size_t pad = 0;
  if (s.back() == '=') pad = s[s.size() - 2] == '=' ? 2 : 1;
  for (size_t i = 0; i < s.size() - pad; ++i) {
    if (!Is(s[i], kBase64)) return false;
  }
  return true;
}

// ---- replies
// ------------------------------------------------------------------

absl::Status UnknownVerbError() {
  return ReplyError(500, "5.5.1", "Command unrecognized");
}
absl::Status SyntaxError(absl::string_view text) {
  return ReplyError(501, "5.5.2", text);
}
absl::Status ArgumentError(absl::string_view text) {
  return ReplyError(501, "5.5.4", text);
}
absl::Status ParameterError(absl::string_view text) {
  return ReplyError(555, "5.5.4", text);
}
// RFC 3463: X.1.7 bad sender's mailbox syntax, X.1.3 bad destination mailbox
// address syntax.
absl::Status AddressError(Verb verb, absl::string_view text) {
  return ReplyError(501, verb == Verb::kMail ? "5.1.7" : "5.1.3", text);
}

// ---- verbs
// --------------------------------------------------------------------

constexpr uint32_t Pack4(const char* s) {
  return static_cast<uint32_t>(static_cast<uint8_t>(s[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[3])) << 24;
}

// Four bytes folded to lower case. A byte | 0x20 is a lower-case letter only
// if the byte was that letter in either case, so comparing against lower-case
// verbs is exact.
uint32_t Pack4Lower(const char* s) { return Pack4(s) | 0x20202020u; }

inline std::optional<Verb> LookupVerb(absl::string_view token) {
  if (token.size() == 4) {
    switch (Pack4Lower(token.data())) {
      case Pack4("ehlo"):
        return Verb::kEhlo;
      case Pack4("helo"):
        return Verb::kHelo;
      case Pack4("mail"):
        return Verb::kMail;
      case Pack4("rcpt"):
        return Verb::kRcpt;
      case Pack4("data"):
        return Verb::kData;
      case Pack4("bdat"):
        return Verb::kBdat;
      case Pack4("rset"):
        return Verb::kRset;
      case Pack4("noop"):
        return Verb::kNoop;
      case Pack4("quit"):
        return Verb::kQuit;
      case Pack4("vrfy"):
        return Verb::kVrfy;
      case Pack4("expn"):
        return Verb::kExpn;
      case Pack4("help"):
        return Verb::kHelp;
      case Pack4("auth"):
        return Verb::kAuth;
      default:
        return std::nullopt;
    }
  }
  if (token.size() == 8 && EqualsUpper(token, "STARTTLS")) {
    return Verb::kStartTls;
  }
  return std::nullopt;
}

// ---- domains and address literals ------------------------------------------

// RFC 5321 Domain at s[*pos]: sub-domain *("." sub-domain), each label
// Let-dig [Ldh-str], at most 63 octets. With `allow_high`, bytes >= 0x80 count
// as letters (RFC 6531 U-labels; UTF-8 validity is checked separately).
inline bool ScanDomain(absl::string_view s, size_t* pos, bool allow_high) {
  const char* const begin = s.data();
  const char* const end = begin + s.size();
  const char* p = begin + *pos;
  const char* label = p;
  bool ascii = true;
  // Checks the label [label, p) when a '.' or the end of the domain is met.
  auto label_ok = [&] {
    return p != label && *label != '-' && p[-1] != '-' &&
           (!ascii || p - label <= 63);
  };
  while ((p = Skip(p, end, kLdh)) < end) {
    const char c = *p;
    if (c == '.') {
      if (!label_ok()) return false;
      label = ++p;
      ascii = true;
    } else if (allow_high && IsHigh(c)) {
      ascii = false;
      ++p;
    } else {
      break;
    }
  }
  if (!label_ok()) return false;
  *pos = static_cast<size_t>(p - begin);
  return true;
}

// What real clients put in EHLO/HELO besides RFC 5321 Domains: labels of
// letters, digits, '-' and '_' (Windows host names such as "my_host"), a
// hyphen at either end of a label, and one trailing dot. Postfix and aiosmtpd
// accept these; nothing that could end a header comment or a line gets in.
inline bool ScanHostName(absl::string_view s, size_t* pos) {
  const char* const begin = s.data();
  const char* const end = begin + s.size();
  const char* p = begin + *pos;
  size_t labels = 0;
  while (true) {
    const char* const label = p;
    p = Skip(p, end, kMechChar);  // letters, digits, '-', '_'
    if (p - label > 63) return false;
    // An empty label: "" and "." are no names; after "a." it ends the name
    // (a trailing dot, or the second dot of "a..b", which the caller rejects).
    if (p == label) {
      if (labels == 0) return false;
      break;
    }
    if (p == end || *p != '.') break;
    ++labels;
    ++p;
  }
  *pos = static_cast<size_t>(p - begin);
  return true;
}

// Snum "." Snum "." Snum "." Snum, each 1*3DIGIT of value 0..255.
bool IsIpv4(absl::string_view s) {
  size_t p = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (At(s, p) != '.') return false;
      ++p;
    }
    int value = 0;
    size_t digits = 0;
    while (IsDigit(At(s, p)) && digits < 3) {
      value = value * 10 + (s[p] - '0');
      ++p;
      ++digits;
    }
    if (digits == 0 || value > 255) return false;
  }
  return p == s.size();
}

// RFC 5321 IPv6-addr: 8 groups, or at most 6 around one "::" (which stands
// for at least two groups); an IPv4 tail counts as two groups.
bool IsIpv6(absl::string_view s) {
  size_t p = 0;
  int groups = 0;
  bool compressed = false;
  if (s.substr(0, 2) == "::") {
    compressed = true;
    p = 2;
  }
  while (p < s.size()) {
    size_t q = p;
    while (q < s.size() &&
           absl::ascii_isxdigit(static_cast<unsigned char>(s[q]))) {
      ++q;
    }
    if (q < s.size() && s[q] == '.') {
      if (!IsIpv4(s.substr(p))) return false;
      groups += 2;
      p = s.size();
      break;
    }
    if (q == p || q - p > 4) return false;
    ++groups;
    p = q;
    if (p == s.size()) break;
    if (s[p] != ':') return false;
    ++p;
    if (At(s, p) == ':') {
      if (compressed) return false;
      compressed = true;
      ++p;
    } else if (p == s.size()) {
      return false;  // a single trailing colon
    }
  }
  return compressed ? groups <= 6 : groups == 8;
}

// address-literal at s[*pos] == '[': IPv4, "IPv6:" IPv6-addr, or a
// Standardized-tag ":" 1*dcontent.
bool ScanAddressLiteral(absl::string_view s, size_t* pos) {
  const size_t open = *pos;
  const size_t close = Find(s, ']', open + 1);
  if (close == kNpos) return false;
  const absl::string_view content = s.substr(open + 1, close - open - 1);
  const size_t colon = Find(content, ':');
  bool ok;
  if (colon == kNpos) {
    ok = IsIpv4(content);
  } else {
    const absl::string_view tag = content.substr(0, colon);
    const absl::string_view rest = content.substr(colon + 1);
    if (EqualsUpper(tag, "IPV6")) {
      ok = IsIpv6(rest);
    } else {
      ok = !tag.empty() && Is(tag.front(), kLetDig) &&
           Is(tag.back(), kLetDig) && !rest.empty();
      for (char c : tag) ok = ok && Is(c, kLdh);
      for (char c : rest) ok = ok && Is(c, kDcontent);
    }
  }
  if (ok) *pos = close + 1;
  return ok;
}

// ---- paths
// --------------------------------------------------------------------

// Local-part = Dot-string / Quoted-string at s[pos], with bytes >= 0x80 where
// RFC 6531 allows UTF-8 (atext, qtextSMTP; never after a backslash). Returns
// the offset just past it, or kNpos.
inline size_t ScanLocalPart(absl::string_view s, size_t pos) {
  const char* const begin = s.data();
  const char* const end = begin + s.size();
  const char* p = begin + pos;
  if (p < end && *p == '"') {
    for (++p; p < end; ++p) {
      const char c = *p;
      if (c == '"') return static_cast<size_t>(p + 1 - begin);
      if (c == '\\') {
        if (++p == end || !Is(*p, kQpair)) return kNpos;
      } else if (!Is(c, kQtext | kHigh)) {
        return kNpos;
      }
    }
    return kNpos;  // no closing quote
  }
  while (true) {
    const char* const atom = p;
    p = Skip(p, end, kAtext | kHigh);
    if (p == atom) return kNpos;
    if (p == end || *p != '.') return static_cast<size_t>(p - begin);
    ++p;
  }
}

// The parse fills a Command (copies) or a CommandView (views of the line).
void Set(absl::string_view& to, absl::string_view from) { to = from; }
void Set(std::string& to, absl::string_view from) {
  to.assign(from.data(), from.size());
}
template <typename String>
void Set(std::optional<String>& to, absl::string_view from) {
  Set(to.emplace(), from);
}

enum class PathError {
  kSyntax,
  kNullRecipient,
  kLocalPartTooLong,
  kDomainTooLong,
  kPathTooLong,
};

absl::string_view PathErrorText(PathError error) {
  switch (error) {
    case PathError::kSyntax:
      return "Bad address syntax";
    case PathError::kNullRecipient:
      return "Null recipient address not allowed";
    case PathError::kLocalPartTooLong:
      return "Local part too long";
    case PathError::kDomainTooLong:
      return "Domain too long";
    case PathError::kPathTooLong:
      return "Path too long";
  }
  return "Bad address syntax";
}

// Parses a reverse-path (MAIL) or forward-path (RCPT) at the front of `s`,
// which starts with '<'. Bytes >= 0x80 are accepted where RFC 6531 allows
// UTF-8; the caller decides whether UTF-8 is permitted and well-formed.
// On success sets *end to the offset just past '>' and fills *path (left
// nullopt for the null path "<>").
template <typename String>
std::optional<PathError> ParsePath(absl::string_view s, Verb verb,
                                   const CommandParseOptions& options,
                                   std::optional<BasicMailbox<String>>* path,
                                   size_t* end) {
  size_t p = 1;  // past '<'
  if (At(s, p) == '>') {
    if (verb != Verb::kMail) return PathError::kNullRecipient;
    *end = 2;
    if (*end > options.max_path) return PathError::kPathTooLong;
    return std::nullopt;
  }

  // A-d-l ":" — a source route, parsed and dropped (RFC 5321 §4.1.2, C).
  const bool routed = At(s, p) == '@';
  if (routed) {
    while (true) {
      ++p;  // past '@'
      if (!ScanDomain(s, &p, /*allow_high=*/true)) return PathError::kSyntax;
      const char c = At(s, p);
      if (c == ':') {
        ++p;
        break;
      }
      if (c != ',' || At(s, p + 1) != '@') return PathError::kSyntax;
      ++p;
    }
  }

  // Local-part = Dot-string / Quoted-string.
  const size_t local_start = p;
  p = ScanLocalPart(s, p);
  if (p == kNpos) return PathError::kSyntax;
  const absl::string_view local = s.substr(local_start, p - local_start);

  absl::string_view domain;
  if (At(s, p) == '>') {
    // RCPT TO:<Postmaster> (RFC 5321 §4.5.1), never routed.
    if (verb != Verb::kRcpt || routed || !EqualsUpper(local, "POSTMASTER")) {
      return PathError::kSyntax;
    }
  } else {
    if (At(s, p) != '@') return PathError::kSyntax;
    ++p;
    const size_t domain_start = p;
    const bool ok = At(s, p) == '[' ? ScanAddressLiteral(s, &p)
                                    : ScanDomain(s, &p, /*allow_high=*/true);
    if (!ok || At(s, p) != '>') return PathError::kSyntax;
    domain = s.substr(domain_start, p - domain_start);
  }
  ++p;  // past '>'

  if (local.size() > options.max_local_part) {
    return PathError::kLocalPartTooLong;
  }
  if (domain.size() > options.max_domain) return PathError::kDomainTooLong;
  if (p > options.max_path) return PathError::kPathTooLong;

  *end = p;
  BasicMailbox<String>& mailbox = path->emplace();
  Set(mailbox.local_part, local);
  Set(mailbox.domain, domain);
  return std::nullopt;
}

// ---- MAIL / RCPT parameters ----------------------------------------------

enum Keyword : uint8_t {
  kSize,
  kBody,
  kSmtpUtf8,
  kRequireTls,
  kRet,
  kEnvid,
  kAuthParam,
  kNotify,
  kOrcpt,
  kUnknownKeyword,
};

inline Keyword LookupKeyword(absl::string_view k) {
  switch (k.size()) {
    case 3:
      if (EqualsUpper(k, "RET")) return kRet;
      break;
    case 4:
      if (EqualsUpper(k, "SIZE")) return kSize;
      if (EqualsUpper(k, "BODY")) return kBody;
      if (EqualsUpper(k, "AUTH")) return kAuthParam;
      break;
    case 5:
      if (EqualsUpper(k, "ENVID")) return kEnvid;
      if (EqualsUpper(k, "ORCPT")) return kOrcpt;
      break;
    case 6:
      if (EqualsUpper(k, "NOTIFY")) return kNotify;
      break;
    case 8:
      if (EqualsUpper(k, "SMTPUTF8")) return kSmtpUtf8;
      break;
    case 10:
      if (EqualsUpper(k, "REQUIRETLS")) return kRequireTls;
      break;
  }
  return kUnknownKeyword;
}

// RFC 3461 §4.1: NEVER, or a comma list of SUCCESS, FAILURE, DELAY without
// repeats.
inline bool ParseNotify(absl::string_view value, DsnNotify* notify) {
  DsnNotify n;
  while (true) {
    const size_t comma = Find(value, ',');
    const absl::string_view item = value.substr(0, comma);
    bool* flag = nullptr;
    switch (item.empty() ? '\0' : item.front() & ~0x20) {
      case 'N':
        if (EqualsUpper(item, "NEVER")) flag = &n.never;
        break;
      case 'S':
        if (EqualsUpper(item, "SUCCESS")) flag = &n.success;
        break;
      case 'F':
        if (EqualsUpper(item, "FAILURE")) flag = &n.failure;
        break;
      case 'D':
        if (EqualsUpper(item, "DELAY")) flag = &n.delay;
        break;
    }
    if (flag == nullptr || *flag) return false;
    *flag = true;
    if (comma == kNpos) break;
    value.remove_prefix(comma + 1);
  }
  if (n.never && (n.success || n.failure || n.delay)) return false;
  *notify = n;
  return true;
}

// RFC 3461 §4.2: addr-type ";" xtext (RFC 6533 utf-8 addresses may carry raw
// UTF-8 when the transaction allows UTF-8 addresses).
constexpr size_t kMaxOrcpt = 500;
inline bool IsOrcpt(absl::string_view value, bool allow_utf8) {
  if (value.size() > kMaxOrcpt) return false;
  const size_t semi = Find(value, ';');
  if (semi == 0 || semi == kNpos) return false;
  for (char c : value.substr(0, semi)) {
    if (!Is(c, kAtext) || c == '+' || c == '=') return false;
  }
  const absl::string_view text = value.substr(semi + 1);
  return IsXtext(text, allow_utf8) && (!allow_utf8 || IsValidUtf8(text));
}

constexpr size_t kMaxEnvid = 100;  // RFC 3461 §4.4

// Parses the SP-separated esmtp-params in `params` (non-empty, no leading or
// trailing SP) for MAIL or RCPT into `command`.
template <typename String>
absl::Status ParseParameters(absl::string_view params,
                             const CommandParseOptions& options,
                             BasicCommand<String>& command) {
  const bool mail = command.verb == Verb::kMail;
  uint32_t seen = 0;
  const char* p = params.data();
  const char* const end = p + params.size();
  while (p < end) {
    // esmtp-keyword ["=" esmtp-value], then SPs or the end.
    const char* const keyword_start = p;
    p = Skip(p, end, kLdh);
    const absl::string_view keyword(keyword_start, p - keyword_start);
    absl::string_view value;
    const bool has_value = p < end && *p == '=';
    if (has_value) {
      const char* const value_start = ++p;
      const void* sp = std::memchr(p, ' ', end - p);
      p = sp == nullptr ? end : static_cast<const char*>(sp);
      value = absl::string_view(value_start, p - value_start);
    }
    if (keyword.empty() || !Is(keyword.front(), kLetDig) ||
        (p < end && *p != ' ')) {
      return ArgumentError("Malformed parameter");
    }
    while (p < end && *p == ' ') ++p;

    const Keyword k = LookupKeyword(keyword);
    const bool known =
        k != kUnknownKeyword && (mail ? k < kNotify : k >= kNotify);
    if (!known) return ParameterError("Unsupported parameter");
    if (seen & (1u << k)) return ParameterError("Duplicate parameter");
    seen |= 1u << k;

    const bool wants_value = k != kSmtpUtf8 && k != kRequireTls;
    if (wants_value != has_value) {
      return ArgumentError(wants_value ? "Parameter requires a value"
                                       : "Parameter takes no value");
    }
    BasicMailParameters<String>& m = command.mail;
    BasicRcptParameters<String>& r = command.rcpt;
    bool ok = true;
    switch (k) {
      case kSize: {
        uint64_t size = 0;
        ok = ParseUint64(value, &size);
        if (ok) m.size = size;
        break;
      }
      case kBody:
        if (EqualsUpper(value, "7BIT")) {
          m.body = BodyType::k7Bit;
        } else if (EqualsUpper(value, "8BITMIME")) {
          m.body = BodyType::k8BitMime;
        } else if (EqualsUpper(value, "BINARYMIME")) {
          m.body = BodyType::kBinaryMime;
        } else {
          ok = false;
        }
        break;
      case kSmtpUtf8:
        m.smtputf8 = true;
        break;
      case kRequireTls:
        m.requiretls = true;
        break;
      case kRet:
        if (EqualsUpper(value, "FULL")) {
          m.ret = DsnReturn::kFull;
        } else if (EqualsUpper(value, "HDRS")) {
          m.ret = DsnReturn::kHeaders;
        } else {
          ok = false;
        }
        break;
      case kEnvid:
        ok = value.size() <= kMaxEnvid && IsXtext(value);
        if (ok) Set(m.envid, value);
        break;
      case kAuthParam:
        ok = IsXtext(value);
        if (ok) Set(m.auth, value);
        break;
      case kNotify: {
        DsnNotify notify;
        ok = ParseNotify(value, &notify);
        if (ok) r.notify = notify;
        break;
      }
      case kOrcpt:
        ok = IsOrcpt(value, options.utf8_addresses);
        if (ok) Set(r.orcpt, value);
        break;
      case kUnknownKeyword:
        break;
    }
    if (!ok) return ArgumentError("Invalid parameter value");
  }
  return absl::OkStatus();
}

// MAIL FROM:<reverse-path> [SP params] / RCPT TO:<forward-path> [SP params];
// `args` is what follows the verb and its SP.
template <typename String>
absl::Status ParsePathCommand(absl::string_view args,
                              const CommandParseOptions& options,
                              BasicCommand<String>& command) {
  const Verb verb = command.verb;
  const bool mail = verb == Verb::kMail;
  const size_t prefix = mail ? 5 : 3;
  if (mail ? !EqualsUpper(args.substr(0, prefix), "FROM:")
           : !EqualsUpper(args.substr(0, prefix), "TO:")) {
    return SyntaxError(mail ? "Syntax: MAIL FROM:<address>"
                            : "Syntax: RCPT TO:<address>");
  }
  args.remove_prefix(prefix);
  // One SP after the colon is common (Postfix accepts it); more is not.
  if (!args.empty() && args.front() == ' ') args.remove_prefix(1);
  if (args.empty()) {
    return SyntaxError(mail ? "Syntax: MAIL FROM:<address>"
                            : "Syntax: RCPT TO:<address>");
  }
  if (args.front() != '<') return AddressError(verb, "Bad address syntax");

  // The fields the parse may leave unset, reset here rather than the whole
  // view up front (which would cost more than the rest of a short command).
  command.path.reset();
  if (mail) {
    command.mail = {};
  } else {
    command.rcpt = {};
  }
  size_t end = 0;
  if (auto error = ParsePath(args, verb, options, &command.path, &end)) {
    return AddressError(verb, PathErrorText(*error));
  }
  const absl::string_view path_text = args.substr(0, end);
  args.remove_prefix(end);
  if (!args.empty()) {
    if (args.front() != ' ') return SyntaxError("Junk after address");
    while (args.front() == ' ') args.remove_prefix(1);  // the line ends non-SP
    absl::Status status = ParseParameters(args, options, command);
    if (!status.ok()) return status;
  }

  // RFC 6531: UTF-8 in an address needs SMTPUTF8 (on this MAIL, or on the
  // transaction's MAIL for RCPT).
  if (ScanBytes(path_text).high) {
    const bool allowed = mail ? command.mail.smtputf8 : options.utf8_addresses;
    if (!allowed) {
      return ReplyError(553, "5.6.7",
                        "UTF-8 address requires the SMTPUTF8 parameter");
    }
    if (!IsValidUtf8(path_text)) {
      return AddressError(verb, "Malformed UTF-8 in address");
    }
  }
  return absl::OkStatus();
}

// ---- whole lines
// ----------------------------------------------------------------

// Parses `line`, assuming nothing about its bytes: every grammar below
// accepts only printable ASCII, SP (and UTF-8 where allowed), except the free
// text of NOOP/HELP/VRFY/EXPN, which is checked for control characters itself.
template <typename String>
absl::Status ParseGrammar(absl::string_view line,
                          const CommandParseOptions& options,
                          BasicCommand<String>& command) {
  // Trailing SPs are tolerated (and dropped) like Postfix and Exim do.
  while (!line.empty() && line.back() == ' ') line.remove_suffix(1);

  // The verb is 4 letters (or STARTTLS) followed by SP or the end.
  size_t verb_size = line.size() < 4 || line.size() == 4 || line[4] == ' '
                         ? std::min<size_t>(line.size(), 4)
                         : std::min<size_t>(Find(line, ' '), line.size());
  const std::optional<Verb> verb = LookupVerb(line.substr(0, verb_size));
  if (!verb.has_value()) return UnknownVerbError();
  command.verb = *verb;
  // Non-empty whenever a SP followed the verb: the line does not end in SP.
  const absl::string_view args = verb_size < line.size()
                                     ? line.substr(verb_size + 1)
                                     : absl::string_view();

  switch (*verb) {
    case Verb::kEhlo:
    case Verb::kHelo: {
      if (args.empty()) return ArgumentError("Domain name required");
      size_t p = 0;
      const bool ok = args.front() == '['
                          ? ScanAddressLiteral(args, &p)
                      : options.strict_helo
                          ? ScanDomain(args, &p, /*allow_high=*/false)
                          : ScanHostName(args, &p);
      if (!ok || p != args.size() || args.size() > options.max_domain) {
        return SyntaxError("Invalid domain name");
      }
      Set(command.domain, args);
      return absl::OkStatus();
    }
    case Verb::kMail:
    case Verb::kRcpt:
      if (args.empty()) {
        return SyntaxError(*verb == Verb::kMail ? "Syntax: MAIL FROM:<address>"
                                                : "Syntax: RCPT TO:<address>");
      }
      return ParsePathCommand(args, options, command);
    case Verb::kData:
    case Verb::kRset:
    case Verb::kQuit:
    case Verb::kStartTls:
      if (!args.empty()) return ArgumentError("No parameters allowed");
      return absl::OkStatus();
    case Verb::kBdat: {
      // "BDAT" SP chunk-size [SP "LAST"]
      const size_t space = Find(args, ' ');
      command.last_chunk = false;
      if (!ParseUint64(args.substr(0, space), &command.chunk_size)) {
        return ArgumentError("Syntax: BDAT chunk-size [LAST]");
      }
      if (space != kNpos) {
        if (!EqualsUpper(args.substr(space + 1), "LAST")) {
          return ArgumentError("Syntax: BDAT chunk-size [LAST]");
        }
        command.last_chunk = true;
      }
      return absl::OkStatus();
    }
    case Verb::kNoop:
    case Verb::kHelp:
    case Verb::kVrfy:
    case Verb::kExpn: {
      absl::string_view text = args;
      while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
      if (ScanBytes(text).control) {
        return SyntaxError("Control character in command");
      }
      if (text.empty() && (*verb == Verb::kVrfy || *verb == Verb::kExpn)) {
        return ArgumentError("Argument required");
      }
      Set(command.argument, text);
      return absl::OkStatus();
    }
    case Verb::kAuth: {
      // "AUTH" SP sasl-mech [SP initial-response]
      const size_t space = Find(args, ' ');
      const absl::string_view mech = args.substr(0, space);
      if (mech.empty() || mech.size() > 20) {
        return ArgumentError("Syntax: AUTH mechanism [initial-response]");
      }
      for (char c : mech) {
        if (!Is(c, kMechChar)) {
          return ArgumentError("Syntax: AUTH mechanism [initial-response]");
        }
      }
      command.initial_response.reset();
      if (space != kNpos) {
        const absl::string_view response = args.substr(space + 1);
        if (!IsInitialResponse(response)) {
          return SyntaxError("Invalid base64 in initial response");
        }
        Set(command.initial_response, response);
      }
      Set(command.argument, mech);
      if constexpr (std::is_same_v<String, std::string>) {
        for (char& c : command.argument) c = absl::ascii_toupper(c);
      }
      return absl::OkStatus();
    }
  }
  return UnknownVerbError();
}

template <typename String>
absl::Status ParseLine(absl::string_view line,
                       const CommandParseOptions& options,
                       BasicCommand<String>& command) {
  absl::Status status = ParseGrammar(line, options, command);
  // A control character anywhere (NUL, TAB, bare CR, DEL...) is reported as
  // such, whatever else failed: the grammars above never accept one, so
  // looking for them only on failure is enough.
  if (!status.ok() && ScanBytes(line).control) {
    return SyntaxError("Control character in command");
  }
  return status;
}

void AppendMailbox(const std::optional<Mailbox>& path, std::string* out) {
  out->push_back('<');
  if (path.has_value()) {
    out->append(path->local_part);
    if (!path->domain.empty()) {
      out->push_back('@');
      out->append(path->domain);
    }
  }
  out->push_back('>');
}

}  // namespace

size_t MaxCommandLine(Verb verb, const LineExtensions& extensions) {
  constexpr size_t kBase = 512;
  if (verb == Verb::kRcpt) return kBase + (extensions.dsn ? 500 : 0);
  if (verb != Verb::kMail) return kBase;
  return kBase + (extensions.size ? 26 : 0) + (extensions.body ? 16 : 0) +
         (extensions.smtputf8 ? 10 : 0) + (extensions.requiretls ? 11 : 0) +
         (extensions.dsn ? 500 : 0) + (extensions.auth ? 500 : 0);
}

LineExtensions ExtensionsUsed(const Command& command) {
  LineExtensions used;
  const MailParameters& m = command.mail;
  used.size = m.size.has_value();
  used.body = m.body.has_value();
  used.smtputf8 = m.smtputf8;
  used.requiretls = m.requiretls;
  used.dsn = m.ret.has_value() || m.envid.has_value() ||
             command.rcpt.notify.has_value() || command.rcpt.orcpt.has_value();
  used.auth = m.auth.has_value();
  return used;
}

absl::string_view VerbName(Verb verb) {
  switch (verb) {
    case Verb::kEhlo:
      return "EHLO";
    case Verb::kHelo:
      return "HELO";
    case Verb::kMail:
      return "MAIL";
    case Verb::kRcpt:
      return "RCPT";
    case Verb::kData:
      return "DATA";
    case Verb::kBdat:
      return "BDAT";
    case Verb::kRset:
      return "RSET";
    case Verb::kNoop:
      return "NOOP";
    case Verb::kQuit:
      return "QUIT";
    case Verb::kVrfy:
      return "VRFY";
    case Verb::kExpn:
      return "EXPN";
    case Verb::kHelp:
      return "HELP";
    case Verb::kStartTls:
      return "STARTTLS";
    case Verb::kAuth:
      return "AUTH";
  }
  return "UNKNOWN";
}

absl::Status ParseCommandView(absl::string_view line,
                              const CommandParseOptions& options,
                              CommandView& command) {
  return ParseLine(line, options, command);
}

Command ToCommand(const CommandView& view) {
  // Default-initialised, not value-initialised: Command{} would first zero
  // all of its few hundred bytes.
  Command command;
  command.verb = view.verb;
  const auto copy = [](const std::optional<absl::string_view>& from,
                       std::optional<std::string>& to) {
    if (from.has_value()) Set(to, *from);
  };
  // Only the verb's fields: the view's others may be stale.
  switch (view.verb) {
    case Verb::kEhlo:
    case Verb::kHelo:
      Set(command.domain, view.domain);
      break;
    case Verb::kMail:
    case Verb::kRcpt:
      if (view.path.has_value()) {
        Mailbox& mailbox = command.path.emplace();
        Set(mailbox.local_part, view.path->local_part);
        Set(mailbox.domain, view.path->domain);
      }
      if (view.verb == Verb::kRcpt) {
        command.rcpt.notify = view.rcpt.notify;
        copy(view.rcpt.orcpt, command.rcpt.orcpt);
        break;
      }
      command.mail.size = view.mail.size;
      command.mail.body = view.mail.body;
      command.mail.smtputf8 = view.mail.smtputf8;
      command.mail.requiretls = view.mail.requiretls;
      command.mail.ret = view.mail.ret;
      copy(view.mail.envid, command.mail.envid);
      copy(view.mail.auth, command.mail.auth);
      break;
    case Verb::kBdat:
      command.chunk_size = view.chunk_size;
      command.last_chunk = view.last_chunk;
      break;
    case Verb::kAuth:
      command.argument = absl::AsciiStrToUpper(view.argument);
      copy(view.initial_response, command.initial_response);
      break;
    case Verb::kNoop:
    case Verb::kHelp:
    case Verb::kVrfy:
    case Verb::kExpn:
      Set(command.argument, view.argument);
      break;
    case Verb::kData:
    case Verb::kRset:
    case Verb::kQuit:
    case Verb::kStartTls:
      break;
  }
  return command;
}

absl::StatusOr<Command> ParseCommand(absl::string_view line,
                                     const CommandParseOptions& options) {
  // Parsed in place rather than through a view and ToCommand: both the view
  // and the copy would cost more than the rest of a short command.
  // Default-initialised, not value-initialised: Command{} (and StatusOr's
  // in_place) would first zero all of its few hundred bytes.
  Command command;
  absl::Status status = ParseLine(line, options, command);
  if (!status.ok()) return status;
  return command;
}

std::string SerializeCommand(const Command& command) {
  std::string out;
  AppendCommand(command, &out);
  return out;
}

void AppendCommand(const Command& command, std::string* out_ptr) {
  std::string& out = *out_ptr;
  // One allocation at most: fixed text (verb, keywords, numbers) fits in 128
  // bytes.
  size_t variable = command.domain.size() + command.argument.size();
  if (command.path.has_value()) {
    variable += command.path->local_part.size() + command.path->domain.size();
  }
  for (const std::optional<std::string>* field :
       {&command.mail.envid, &command.mail.auth, &command.rcpt.orcpt,
        &command.initial_response}) {
    if (field->has_value()) variable += (*field)->size();
  }
  out.reserve(out.size() + 128 + variable);
  const absl::string_view verb = VerbName(command.verb);
  out.append(verb.data(), verb.size());
  switch (command.verb) {
    case Verb::kEhlo:
    case Verb::kHelo:
      out.push_back(' ');
      out.append(command.domain);
      break;
    case Verb::kMail: {
      out.append(" FROM:");
      AppendMailbox(command.path, &out);
      const MailParameters& m = command.mail;
      if (m.size.has_value()) absl::StrAppend(&out, " SIZE=", *m.size);
      if (m.body.has_value()) {
        switch (*m.body) {
          case BodyType::k7Bit:
            out.append(" BODY=7BIT");
            break;
          case BodyType::k8BitMime:
            out.append(" BODY=8BITMIME");
            break;
          case BodyType::kBinaryMime:
            out.append(" BODY=BINARYMIME");
            break;
        }
      }
      if (m.smtputf8) out.append(" SMTPUTF8");
      if (m.requiretls) out.append(" REQUIRETLS");
      if (m.ret.has_value()) {
        out.append(*m.ret == DsnReturn::kFull ? " RET=FULL" : " RET=HDRS");
      }
      if (m.envid.has_value()) absl::StrAppend(&out, " ENVID=", *m.envid);
      if (m.auth.has_value()) absl::StrAppend(&out, " AUTH=", *m.auth);
      break;
    }
    case Verb::kRcpt: {
      out.append(" TO:");
      AppendMailbox(command.path, &out);
      const RcptParameters& r = command.rcpt;
      if (r.notify.has_value()) {
        out.append(" NOTIFY=");
        if (r.notify->never) {
          out.append("NEVER");
        } else {
          const size_t start = out.size();
          auto add = [&](bool on, absl::string_view name) {
            if (!on) return;
            if (out.size() != start) out.push_back(',');
            out.append(name.data(), name.size());
          };
          add(r.notify->success, "SUCCESS");
          add(r.notify->failure, "FAILURE");
          add(r.notify->delay, "DELAY");
        }
      }
      if (r.orcpt.has_value()) absl::StrAppend(&out, " ORCPT=", *r.orcpt);
      break;
    }
    case Verb::kBdat:
      absl::StrAppend(&out, " ", command.chunk_size);
      if (command.last_chunk) out.append(" LAST");
      break;
    case Verb::kNoop:
    case Verb::kHelp:
      if (!command.argument.empty())
        absl::StrAppend(&out, " ", command.argument);
      break;
    case Verb::kVrfy:
    case Verb::kExpn:
      absl::StrAppend(&out, " ", command.argument);
      break;
    case Verb::kAuth:
      absl::StrAppend(&out, " ", command.argument);
      if (command.initial_response.has_value()) {
        absl::StrAppend(&out, " ", *command.initial_response);
      }
      break;
    case Verb::kData:
    case Verb::kRset:
    case Verb::kQuit:
    case Verb::kStartTls:
      break;
  }
  out.append("\r\n");
}

}  // namespace starling::smtp
