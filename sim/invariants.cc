#include "sim/invariants.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace starling::sim {
namespace {

constexpr absl::string_view kMessageIdPrefix = "Message-ID: <";
constexpr absl::string_view kMessageIdSuffix = "@mtasim.invalid>";

absl::string_view MessageKeyView(absl::string_view body) {
  const size_t start = body.find(kMessageIdPrefix);
  if (start == absl::string_view::npos) return "";
  const absl::string_view rest = body.substr(start + kMessageIdPrefix.size());
  const size_t end = rest.find(kMessageIdSuffix);
  if (end == absl::string_view::npos) return "";
  return rest.substr(0, end);
}

// At most 60 octets of `bytes`, with CR and LF made visible.
std::string Excerpt(absl::string_view bytes) {
  std::string out;
  for (const char c : bytes.substr(0, 60)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  if (bytes.size() > 60) out += "...";
  return out;
}

// The last complete line of `text` (without its CRLF) and whatever follows
// it.
std::pair<absl::string_view, absl::string_view> LastLine(
    absl::string_view text) {
  const size_t end = text.rfind('\n');
  if (end == absl::string_view::npos) return {{}, text};
  absl::string_view before = text.substr(0, end);
  if (absl::EndsWith(before, "\r")) before.remove_suffix(1);
  const size_t start = before.rfind('\n');
  return {start == absl::string_view::npos ? before : before.substr(start + 1),
          text.substr(end + 1)};
}

bool EndsWithStartTls(absl::string_view text) {
  return text.size() >= 10 &&
         absl::EqualsIgnoreCase(text.substr(text.size() - 10), "STARTTLS\r\n");
}

// The command verb of a line (up to the first space, CR or LF).
absl::string_view Verb(absl::string_view line) {
  size_t end = 0;
  while (end < line.size() && line[end] != ' ' && line[end] != '\r' &&
         line[end] != '\n') {
    ++end;
  }
  return line.substr(0, end);
}

// What a client may say in the clear under mandatory TLS.
constexpr absl::string_view kSetupVerbs[] = {"EHLO", "HELO", "STARTTLS",
                                             "RSET", "NOOP", "QUIT"};

bool SetupVerb(absl::string_view verb) {
  for (absl::string_view allowed : kSetupVerbs) {
    if (absl::EqualsIgnoreCase(verb, allowed)) return true;
  }
  return false;
}

}  // namespace

absl::string_view InvariantKindName(InvariantKind kind) {
  switch (kind) {
    case InvariantKind::kStartTlsBoundary:
      return "starttls-boundary";
    case InvariantKind::kPlaintextUnderMandatory:
      return "plaintext-under-mandatory-tls";
    case InvariantKind::kExactlyOnce:
      return "exactly-once";
    case InvariantKind::kPartnerOverAccept:
      return "partner-over-accept";
    case InvariantKind::kBufferBound:
      return "buffer-bound";
  }
  return "unknown";
}

int InvariantExitCode(InvariantKind kind) {
  return 10 + static_cast<int>(kind);
}

std::string FormatViolation(const InvariantViolation& violation) {
  return absl::StrCat(
      InvariantKindName(violation.kind), " at ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", violation.time,
                       absl::UTCTimeZone()),
      ": ", violation.detail);
}

std::optional<std::string> CheckClientBoundary(
    absl::string_view sent_clear, absl::string_view received_clear_tail) {
  if (!EndsWithStartTls(sent_clear)) {
    return absl::StrCat(
        "client: TLS came up but its cleartext does not end with STARTTLS: '",
        Excerpt(sent_clear.substr(sent_clear.size() - std::min<size_t>(
                                                          sent_clear.size(), 40))),
        "'");
  }
  const auto [line, rest] = LastLine(received_clear_tail);
  if (!rest.empty()) {
    return absl::StrCat("client: cleartext after the last reply line before "
                        "TLS: '",
                        Excerpt(rest), "'");
  }
  if (!absl::StartsWith(line, "220 ")) {
    return absl::StrCat(
        "client: TLS came up but the last cleartext line was not a final "
        "220: '",
        Excerpt(line), "'");
  }
  return std::nullopt;
}

std::optional<std::string> CheckServerBoundary(
    absl::string_view sent_clear, absl::string_view received_clear_tail) {
  if (!EndsWithStartTls(received_clear_tail)) {
    const auto [line, rest] = LastLine(received_clear_tail);
    return absl::StrCat(
        "server: went into TLS although the cleartext it received does not "
        "end with STARTTLS (last line '",
        Excerpt(line), "', then '", Excerpt(rest), "')");
  }
  const auto [line, rest] = LastLine(sent_clear);
  if (!rest.empty() || !absl::StartsWith(line, "220 ")) {
    return absl::StrCat(
        "server: its last cleartext was not the 220 to STARTTLS: '",
        Excerpt(line), Excerpt(rest), "'");
  }
  return std::nullopt;
}

namespace {

// What CheckClearText says of one line under a mandatory verdict: `line`
// ends in LF when `complete`, else the stream was cut short inside it.
std::optional<std::string> MandatoryViolation(absl::string_view line,
                                              bool complete) {
  bool allowed = SetupVerb(Verb(line));
  if (!allowed && !complete) {
    // A line cut short: it must be the start of an allowed one.
    for (absl::string_view ok : kSetupVerbs) {
      allowed |= absl::StartsWithIgnoreCase(ok, line);
    }
  }
  if (allowed) return std::nullopt;
  return absl::StrCat("in the clear under mandatory TLS: '", Excerpt(line),
                      "'");
}

// ... and under any verdict: only a MAIL command can carry REQUIRETLS.
std::optional<std::string> RequireTlsViolation(absl::string_view line) {
  if (absl::StartsWithIgnoreCase(line, "MAIL ") &&
      absl::StrContains(absl::AsciiStrToUpper(line), " REQUIRETLS")) {
    return absl::StrCat("a REQUIRETLS message in the clear: '", Excerpt(line),
                        "'");
  }
  return std::nullopt;
}

}  // namespace

void ClearTextWatch::Feed(absl::string_view bytes) {
  while (!bytes.empty()) {
    // Both found: nothing later changes either answer.
    if (mandatory_.has_value() && requiretls_.has_value()) return;
    const size_t lf = bytes.find('\n');
    if (lf == absl::string_view::npos) {
      AppendPartial(bytes);
      return;
    }
    const absl::string_view line = bytes.substr(0, lf + 1);
    bytes.remove_prefix(lf + 1);
    if (partial_.empty()) {
      Line(line);
    } else {
      AppendPartial(line);
      Line(partial_);
      partial_.clear();
    }
  }
}

void ClearTextWatch::AppendPartial(absl::string_view bytes) {
  partial_.append(bytes.data(), bytes.size());
  // Past its first kKeep octets only a MAIL line's text matters (the verb
  // and the excerpt of any other line lie within them).
  if (partial_.size() > kKeep &&
      !absl::StartsWithIgnoreCase(partial_, "MAIL ")) {
    partial_.resize(kKeep);
  }
}

void ClearTextWatch::Line(absl::string_view line) {
  if (!mandatory_.has_value()) mandatory_ = MandatoryViolation(line, true);
  if (!requiretls_.has_value()) requiretls_ = RequireTlsViolation(line);
}

std::optional<std::string> ClearTextWatch::Check(bool mandatory) const {
  const std::optional<std::string>& found =
      mandatory ? mandatory_ : requiretls_;
  if (found.has_value() || partial_.empty()) return found;
  return mandatory ? MandatoryViolation(partial_, false)
                   : RequireTlsViolation(partial_);
}

std::optional<std::string> CheckClearText(absl::string_view sent_clear,
                                          bool mandatory) {
  ClearTextWatch watch;
  watch.Feed(sent_clear);
  return watch.Check(mandatory);
}

size_t DeliveryLedger::CaseFoldHash::operator()(absl::string_view s) const {
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a over the lower-cased octets
  for (const char c : s) {
    hash ^= static_cast<unsigned char>(absl::ascii_tolower(c));
    hash *= 0x100000001b3ULL;
  }
  return static_cast<size_t>(hash);
}

bool DeliveryLedger::CaseFoldEq::operator()(absl::string_view a,
                                            absl::string_view b) const {
  return absl::EqualsIgnoreCase(a, b);
}

void DeliveryLedger::Sent(const std::string& key,
                          const std::vector<std::string>& recipients) {
  Message& message = messages_[key];
  message.sent = true;
  for (const std::string& r : recipients) message.recipients[r].sent = true;
}

void DeliveryLedger::OpenedWindow(const std::string& key,
                                  const std::string& recipient) {
  ++messages_[key].recipients[recipient].windows;
}

std::optional<InvariantViolation> DeliveryLedger::Accepted(
    absl::Time time, absl::string_view partner, absl::string_view body,
    const std::vector<std::string>& recipients) {
  const absl::string_view key = MessageKeyView(body);
  auto message = messages_.find(key);
  if (message == messages_.end() || !message->second.sent) {
    return InvariantViolation{
        InvariantKind::kPartnerOverAccept, time,
        absl::StrCat(partner, " accepted a message that was never sent (",
                     key.empty() ? "no Message-ID" : key, ")")};
  }
  for (const std::string& recipient : recipients) {
    auto tally = message->second.recipients.find(recipient);
    if (tally == message->second.recipients.end() || !tally->second.sent) {
      return InvariantViolation{
          InvariantKind::kPartnerOverAccept, time,
          absl::StrCat(partner, " accepted ", recipient, " for message ", key,
                       " which was not sent to it")};
    }
    const int64_t count = ++tally->second.accepted;
    if (count == 1) continue;
    if (tally->second.windows < count - 1) {
      return InvariantViolation{
          InvariantKind::kExactlyOnce, time,
          absl::StrCat(partner, " accepted ", recipient, " of message ", key,
                       " ", count,
                       " times outside the after-end-of-data window")};
    }
    ++duplicates_in_window_;
  }
  return std::nullopt;
}

bool DeliveryLedger::WasAccepted(const std::string& key,
                                 const std::string& recipient) const {
  auto message = messages_.find(key);
  if (message == messages_.end()) return false;
  auto tally = message->second.recipients.find(recipient);
  return tally != message->second.recipients.end() &&
         tally->second.accepted > 0;
}

std::string MessageIdHeader(absl::string_view key) {
  return absl::StrCat(kMessageIdPrefix, key, kMessageIdSuffix);
}

std::string MessageKeyOf(absl::string_view body) {
  return std::string(MessageKeyView(body));
}

}  // namespace starling::sim
