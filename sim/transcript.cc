#include "sim/transcript.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sim/link.h"
#include "sim/output_files.h"

namespace starling::sim {
namespace {

std::string Offset(absl::Time time, absl::Time start) {
  const int64_t ms = absl::ToInt64Milliseconds(time - start);
  const int64_t abs = ms < 0 ? -ms : ms;
  return absl::StrFormat("%c%d.%03ds", ms < 0 ? '-' : '+', abs / 1000,
                         abs % 1000);
}

std::string Printable(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    }
  }
  return out;
}

// Whether a server reply line is the last of its reply ("250 ok", "250").
bool FinalReplyLine(absl::string_view line) {
  return line.size() < 4 || line[3] != '-';
}

// Turns the entries of one connection into lines, direction by direction.
class TranscriptWriter {
 public:
  TranscriptWriter(const CapturedConnection& connection,
                   const TranscriptOptions& options)
      : start_(connection.start), options_(options) {}

  void Add(const TranscriptEntry& entry) {
    Direction& d = entry.from_client ? client_ : server_;
    if (!d.pending.empty() && d.pending_tls != entry.tls) Flush(d);
    absl::string_view text = entry.text;
    while (!text.empty()) {
      if (entry.from_client && chunk_left_ > 0) {
        // BDAT chunk data: counted octets, not lines.
        if (chunk_left_ == chunk_size_) {
          chunk_time_ = entry.time;
          chunk_tls_ = entry.tls;
        }
        const size_t n = std::min<size_t>(text.size(), chunk_left_);
        chunk_left_ -= n;
        text.remove_prefix(n);
        if (chunk_left_ == 0) {
          Emit(chunk_time_, true, entry.tls,
               absl::StrCat("... BDAT chunk, ", chunk_size_, " octets ..."));
        }
        continue;
      }
      if (d.pending.empty()) {
        d.pending_time = entry.time;
        d.pending_tls = entry.tls;
      }
      // Up to the end of the first line only: what follows may be chunk
      // data. A CR ending the previous piece pairs with an LF opening this.
      size_t take = absl::string_view::npos;
      if (!d.pending.empty() && d.pending.back() == '\r' &&
          text.front() == '\n') {
        take = 1;
      } else if (const size_t crlf = text.find("\r\n");
                 crlf != absl::string_view::npos) {
        take = crlf + 2;
      }
      if (take == absl::string_view::npos) {
        d.pending.append(text.data(), text.size());
        break;
      }
      d.pending.append(text.data(), take);
      text.remove_prefix(take);
      std::string line = std::move(d.pending);
      d.pending.clear();
      line.resize(line.size() - 2);  // the CRLF
      Line(entry.from_client, d.pending_time, d.pending_tls, line, true);
    }
  }

  // A line about the connection itself (not part of the dialogue).
  void Note(absl::Time time, absl::string_view text) {
    absl::StrAppend(&out_, Offset(time, start_), " -- ", text, "\n");
  }

  // Prints what is left: unterminated lines, an unfinished chunk or body.
  void End() {
    Flush(server_);
    Flush(client_);
    if (chunk_left_ > 0) {
      Emit(chunk_time_, true, chunk_tls_,
           absl::StrCat("... BDAT chunk, ", chunk_size_ - chunk_left_, " of ",
                        chunk_size_, " octets ..."));
      chunk_left_ = 0;
    }
    if (elided_ > 0) EmitElided();
  }

  std::string Take() { return std::move(out_); }

 private:
  struct Direction {
    std::string pending;  // an unterminated line
    absl::Time pending_time;
    bool pending_tls = false;
  };
  enum class ClientState : uint8_t { kCommand, kAwaitData, kBody };

  void Flush(Direction& d) {
    if (d.pending.empty()) return;
    std::string line = std::move(d.pending);
    d.pending.clear();
    Line(&d == &client_, d.pending_time, d.pending_tls, line, false);
  }

  void Line(bool from_client, absl::Time time, bool tls,
            absl::string_view line, bool complete) {
    if (from_client) {
      ClientLine(time, tls, line, complete);
    } else {
      ServerLine(time, tls, line, complete);
    }
  }

  void ClientLine(absl::Time time, bool tls, absl::string_view line,
                  bool complete) {
    if (state_ == ClientState::kBody) {
      if (complete && line == ".") {
        if (elided_ > 0) EmitElided();
        Emit(time, true, tls, ".");
        state_ = ClientState::kCommand;
        ++outstanding_;  // the reply to the end of data
        return;
      }
      if (shown_ < options_.body_lines) {
        ++shown_;
        Emit(time, true, tls, Printable(line), complete);
      } else {
        if (elided_ == 0) {
          elided_time_ = time;
          elided_tls_ = tls;
        }
        ++elided_;
      }
      return;
    }
    Emit(time, true, tls, Printable(line), complete);
    if (!complete) return;
    ++outstanding_;
    if (absl::EqualsIgnoreCase(line, "DATA")) {
      state_ = ClientState::kAwaitData;
      data_reply_ = outstanding_;
      return;
    }
    std::vector<absl::string_view> words =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t size = 0;
    if (words.size() >= 2 && absl::EqualsIgnoreCase(words[0], "BDAT") &&
        absl::SimpleAtoi(words[1], &size) && size > 0) {
      chunk_size_ = size;
      chunk_left_ = size;
    }
  }

  void ServerLine(absl::Time time, bool tls, absl::string_view line,
                  bool complete) {
    Emit(time, false, tls, Printable(line), complete);
    if (!complete || !FinalReplyLine(line)) return;
    if (state_ == ClientState::kAwaitData && --data_reply_ <= 0) {
      if (absl::StartsWith(line, "354")) {
        state_ = ClientState::kBody;
        shown_ = 0;
        elided_ = 0;
      } else {
        state_ = ClientState::kCommand;
      }
    }
    if (outstanding_ > 0) --outstanding_;
  }

  void EmitElided() {
    Emit(elided_time_, true, elided_tls_,
         absl::StrCat("... ", elided_, " body line", elided_ == 1 ? "" : "s",
                      " ..."));
    elided_ = 0;
  }

  void Emit(absl::Time time, bool from_client, bool tls,
            absl::string_view text, bool complete = true) {
    absl::StrAppend(&out_, Offset(time, start_), " ", from_client ? "C" : "S",
                    tls ? "[tls]" : "", ": ", text,
                    complete ? "" : " [no CRLF]", "\n");
  }

  absl::Time start_;
  TranscriptOptions options_;
  std::string out_;
  Direction client_;
  Direction server_;
  ClientState state_ = ClientState::kCommand;
  int64_t outstanding_ = 0;  // client commands not yet answered
  int64_t data_reply_ = 0;   // replies until the one to DATA
  int shown_ = 0;
  int64_t elided_ = 0;
  absl::Time elided_time_;
  bool elided_tls_ = false;
  uint64_t chunk_size_ = 0;
  uint64_t chunk_left_ = 0;
  absl::Time chunk_time_;
  bool chunk_tls_ = false;
};

// What the link delivered about the connection itself (not the dialogue).
struct Marker {
  absl::Time time;
  std::string text;
  bool opens = false;  // goes before dialogue of the same time
};

std::vector<Marker> LinkMarkers(const CapturedConnection& connection) {
  std::vector<Marker> markers;
  bool reset = false;
  for (const CapturedEvent& event : connection.events) {
    const bool to_client = event.to == Side::kA;
    switch (event.type) {
      case LinkEventType::kConnected:
        if (to_client) markers.push_back({event.time, "connected", true});
        break;
      case LinkEventType::kData:
        break;
      case LinkEventType::kFin:
        markers.push_back({event.time, to_client ? "server closed (FIN)"
                                                 : "client closed (FIN)"});
        break;
      case LinkEventType::kReset:
        if (!reset) markers.push_back({event.time, "connection reset"});
        reset = true;
        break;
      case LinkEventType::kRefused:
        markers.push_back({event.time, "connection refused"});
        break;
    }
  }
  return markers;
}

std::string FileName(const CapturedConnection& connection) {
  std::string host = connection.mx_host.empty() ? "unknown" : connection.mx_host;
  for (char& c : host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') c = '_';
  }
  return absl::StrFormat("%04d-%s.txt", connection.index, host);
}

}  // namespace

std::string FormatTranscript(const CapturedConnection& connection,
                             const TranscriptOptions& options) {
  std::string out = absl::StrCat(
      "attempt ", connection.index, ": ", connection.domain, " via ",
      connection.mx_host, " at ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", connection.start,
                       absl::UTCTimeZone()),
      "\n");
  const std::vector<Marker> markers = LinkMarkers(connection);
  TranscriptWriter writer(connection, options);
  size_t next = 0;
  for (const TranscriptEntry& entry : connection.transcript) {
    for (; next < markers.size() &&
           (markers[next].time < entry.time ||
            (markers[next].opens && markers[next].time == entry.time));
         ++next) {
      writer.Note(markers[next].time, markers[next].text);
    }
    writer.Add(entry);
  }
  writer.End();
  for (; next < markers.size(); ++next) {
    writer.Note(markers[next].time, markers[next].text);
  }
  absl::StrAppend(&out, writer.Take());
  return out;
}

std::string FormatTranscripts(const std::vector<CapturedConnection>& connections,
                              const TranscriptOptions& options) {
  std::string out;
  for (const CapturedConnection& connection : connections) {
    if (!out.empty()) out += "\n";
    absl::StrAppend(&out, FormatTranscript(connection, options));
  }
  return out;
}

absl::Status WriteTranscriptFiles(
    const std::string& dir, const std::vector<CapturedConnection>& connections,
    const TranscriptOptions& options) {
  if (absl::Status made = MakeDirectory(dir); !made.ok()) return made;
  for (const CapturedConnection& connection : connections) {
    const absl::Status written = WriteFile(
        (std::filesystem::path(dir) / FileName(connection)).string(),
        FormatTranscript(connection, options));
    if (!written.ok()) return written;
  }
  return absl::OkStatus();
}

}  // namespace starling::sim
