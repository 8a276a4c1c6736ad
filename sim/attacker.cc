#include "sim/attacker.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace starling::sim {
namespace {

// A line longer than this is passed on in pieces, uninterpreted (SMTP
// command lines are at most 512 octets, DATA lines usually at most 1000).
constexpr size_t kMaxHeldLine = 64 * 1024;
// The largest TLS record the downgrade waits for (RFC 5246 §6.2.1 plus the
// allowed expansion): anything claiming more is left alone.
constexpr size_t kMaxRecord = 5 + 16384 + 2048;

size_t Index(Side side) { return side == Side::kA ? 0 : 1; }

// The line without its CRLF (or bare LF).
absl::string_view Text(absl::string_view line) {
  absl::ConsumeSuffix(&line, "\n");
  absl::ConsumeSuffix(&line, "\r");
  return line;
}

absl::string_view FirstWord(absl::string_view text) {
  const size_t space = text.find(' ');
  return space == absl::string_view::npos ? text : text.substr(0, space);
}

}  // namespace

std::array<AttackKind, kAttackKindCount> AllAttackKinds() {
  std::array<AttackKind, kAttackKindCount> all;
  for (size_t i = 0; i < all.size(); ++i) {
    all[i] = static_cast<AttackKind>(i);
  }
  return all;
}

absl::string_view AttackKindName(AttackKind kind) {
  switch (kind) {
    case AttackKind::kStripStartTls:
      return "strip-starttls";
    case AttackKind::kInjectServerReply:
      return "inject-server-reply";
    case AttackKind::kInjectClientCommand:
      return "inject-client-command";
    case AttackKind::kTlsDowngrade:
      return "tls-downgrade";
  }
  return "unknown";
}

absl::StatusOr<AttackKind> ParseAttackKind(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (AttackKind kind : AllAttackKinds()) {
    if (AttackKindName(kind) == lower) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown attacker \"", name, "\""));
}

std::unique_ptr<Attacker> MakeAttacker(AttackKind kind) {
  return std::make_unique<Attacker>(kind);
}

std::string Attacker::Rewrite(Side from, absl::string_view bytes) {
  std::string& partial = partial_[Index(from)];
  if (tls_) {
    std::string data = std::move(partial);
    partial.clear();
    data.append(bytes.data(), bytes.size());
    return Tls(from, data);
  }
  partial.append(bytes.data(), bytes.size());
  std::string out = Plaintext(from);
  if (tls_) {
    // TLS started within these bytes: what follows is not SMTP any more.
    std::string rest = std::move(partial);
    partial.clear();
    out += Tls(from, rest);
  }
  return out;
}

std::string Attacker::Flush(Side from) {
  std::string out = std::move(partial_[Index(from)]);
  partial_[Index(from)].clear();
  if (from == Side::kA && !hello_done_) {
    out += hello_;
    hello_.clear();
    hello_done_ = true;
  }
  return out;
}

std::string Attacker::Plaintext(Side from) {
  std::string& buffer = partial_[Index(from)];
  bool& overlong = overlong_[Index(from)];
  std::string out;
  size_t pos = 0;
  while (!tls_ && pos < buffer.size()) {
    if (from == Side::kA && bdat_remaining_ > 0) {
      const size_t n = static_cast<size_t>(
          std::min<uint64_t>(bdat_remaining_, buffer.size() - pos));
      out.append(buffer, pos, n);
      pos += n;
      bdat_remaining_ -= n;
      continue;
    }
    const size_t newline = buffer.find('\n', pos);
    if (newline == std::string::npos) {
      if (overlong || buffer.size() - pos > kMaxHeldLine) {
        overlong = true;
        out.append(buffer, pos, std::string::npos);
        pos = buffer.size();
      }
      break;
    }
    const absl::string_view line =
        absl::string_view(buffer).substr(pos, newline + 1 - pos);
    pos = newline + 1;
    if (overlong) {
      // The end of a line passed on uninterpreted.
      overlong = false;
      out.append(line.data(), line.size());
      continue;
    }
    out += from == Side::kA ? ClientLine(line) : ServerLine(line);
  }
  buffer.erase(0, pos);
  return out;
}

std::string Attacker::ClientLine(absl::string_view line) {
  std::string out(line);
  const absl::string_view text = Text(line);
  if (in_body_) {
    if (text == ".") in_body_ = false;
    return out;
  }
  const absl::string_view verb = FirstWord(text);
  if (absl::EqualsIgnoreCase(absl::StripTrailingAsciiWhitespace(text),
                             "STARTTLS")) {
    switch (kind_) {
      case AttackKind::kStripStartTls:
        // The server answers an unknown command: 500.
        out.replace(0, kStrippedStartTls.size(), kStrippedStartTls.data(),
                    kStrippedStartTls.size());
        ++strikes_;
        awaited_.push_back(Awaited::kOther);
        return out;
      case AttackKind::kInjectClientCommand:
        out.append(kInjectedClientCommand.data(),
                   kInjectedClientCommand.size());
        ++strikes_;
        break;
      case AttackKind::kInjectServerReply:
      case AttackKind::kTlsDowngrade:
        break;
    }
    awaited_.push_back(Awaited::kStartTls);
    return out;
  }
  if (absl::EqualsIgnoreCase(verb, "EHLO") ||
      absl::EqualsIgnoreCase(verb, "HELO")) {
    awaited_.push_back(Awaited::kEhlo);
  } else if (absl::EqualsIgnoreCase(text, "DATA")) {
    awaited_.push_back(Awaited::kData);
  } else if (absl::EqualsIgnoreCase(verb, "BDAT")) {
    // "BDAT <size> [LAST]": the chunk follows at once, counted, not lines.
    std::vector<absl::string_view> words =
        absl::StrSplit(text, ' ', absl::SkipEmpty());
    uint64_t size = 0;
    if (words.size() >= 2 && absl::SimpleAtoi(words[1], &size)) {
      bdat_remaining_ = size;
    }
    awaited_.push_back(Awaited::kOther);
  } else {
    awaited_.push_back(Awaited::kOther);
  }
  return out;
}

std::string Attacker::ServerLine(absl::string_view line) {
  std::string out(line);
  const absl::string_view text = Text(line);
  if (text.size() < 3 || !absl::ascii_isdigit(text[0]) ||
      !absl::ascii_isdigit(text[1]) || !absl::ascii_isdigit(text[2])) {
    return out;  // not a reply line: nothing to follow
  }
  const int code =
      (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
  const bool last = text.size() == 3 || text[3] != '-';
  const Awaited answers = awaited_.empty() ? Awaited::kOther : awaited_.front();
  if (kind_ == AttackKind::kStripStartTls && answers == Awaited::kEhlo &&
      text.size() >= 4 &&
      absl::EqualsIgnoreCase(
          FirstWord(absl::StripTrailingAsciiWhitespace(text.substr(4))),
          "STARTTLS")) {
    out.replace(4, kStrippedStartTls.size(), kStrippedStartTls.data(),
                kStrippedStartTls.size());
    ++strikes_;
  }
  if (!last) return out;
  if (!awaited_.empty()) awaited_.pop_front();
  if (answers == Awaited::kData && code == 354) in_body_ = true;
  if (answers == Awaited::kStartTls && code == 220) {
    tls_ = true;
    if (kind_ == AttackKind::kInjectServerReply) {
      // In the same write as the 220: the best chance that the client reads
      // them before it starts the handshake.
      out.append(kInjectedServerReplies.data(), kInjectedServerReplies.size());
      ++strikes_;
    }
  }
  return out;
}

std::string Attacker::Tls(Side from, absl::string_view bytes) {
  if (kind_ != AttackKind::kTlsDowngrade || from != Side::kA || hello_done_) {
    return std::string(bytes);
  }
  hello_.append(bytes.data(), bytes.size());
  if (hello_.size() < 5) return std::string();
  const size_t length =
      (static_cast<uint8_t>(hello_[3]) << 8) | static_cast<uint8_t>(hello_[4]);
  if (hello_[0] != 0x16 || 5 + length > kMaxRecord) {
    // Not a handshake record: nothing this attack understands.
    hello_done_ = true;
    return std::move(hello_);
  }
  if (hello_.size() < 5 + length) return std::string();
  hello_done_ = true;
  // Record layer version, then (for a ClientHello: handshake type 1, a
  // 3-octet length) client_version, then every version the
  // supported_versions extension lists (RFC 8446 §4.2.1; Botan 2 sends it
  // and its server prefers it to client_version): all TLS 1.0 (3, 1).
  // Lengths stay as they are.
  bool changed = false;
  auto set_tls10 = [&](size_t at) {
    if (hello_[at] != 0x03 || hello_[at + 1] != 0x01) {
      hello_[at] = 0x03;
      hello_[at + 1] = 0x01;
      changed = true;
    }
  };
  set_tls10(1);
  const size_t end = 5 + length;
  auto u8 = [&](size_t at) { return static_cast<uint8_t>(hello_[at]); };
  auto u16 = [&](size_t at) -> size_t { return (u8(at) << 8) | u8(at + 1); };
  if (length >= 6 && u8(5) == 0x01) {
    set_tls10(9);
    // client_version(2) random(32) session_id<1> suites<2> compression<1>
    // extensions<2>: walk to the extensions within the record.
    size_t at = 11 + 32;
    if (at < end) at += 1 + u8(at);
    if (at + 2 <= end) at += 2 + u16(at);
    if (at < end) at += 1 + u8(at);
    if (at + 2 <= end) {
      const size_t extensions_end = std::min(end, at + 2 + u16(at));
      at += 2;
      while (at + 4 <= extensions_end) {
        const size_t type = u16(at);
        const size_t size = u16(at + 2);
        const size_t data = at + 4;
        if (data + size > extensions_end) break;
        if (type == 43 && size >= 1) {
          const size_t list_end = std::min(data + 1 + u8(data), data + size);
          for (size_t v = data + 1; v + 2 <= list_end; v += 2) set_tls10(v);
        }
        at = data + size;
      }
    }
  }
  if (changed) ++strikes_;
  return std::move(hello_);
}

}  // namespace starling::sim
