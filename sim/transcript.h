#ifndef STARLING_SIM_TRANSCRIPT_H_
#define STARLING_SIM_TRANSCRIPT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sim/capture.h"

namespace starling::sim {

// Readable SMTP dialogues of captured connections (docs/simulator-output.md,
// "Transcripts"):
//
//   attempt 1: good.example via mx.good.example at 2026-01-01T00:00:00.000Z
//   +0.019s -- connected
//   +0.031s S: 220 mx.good.example ESMTP
//   +0.032s C: EHLO relay.example.org
//   ...
//   +0.120s C[tls]: DATA
//   +0.151s S[tls]: 354 go ahead
//   +0.152s C[tls]: Subject: mtasim load 1 to good.example
//   +0.152s C[tls]: ... 25 body lines ...
//   +0.152s C[tls]: .
//
// One line per CRLF-terminated SMTP line, stamped with the time (relative to
// the connection's start) of the entry that carried its first octet. An
// entry may hold several lines or part of one; a line still unterminated when
// the TLS state of its direction changes or the transcript ends is printed
// with " [no CRLF]". Octets other than printable ASCII appear as \xNN.
// Message bodies (after DATA's 354 up to the "." line) show their first
// `body_lines` lines, then "... N body lines ..."; a BDAT chunk is shown as
// "... BDAT chunk, N octets ...". Lines with "--" are what the link delivered
// about the connection itself, merged in by time: connected (the client
// learnt it), server / client closed (FIN, as delivered to the peer),
// connection reset, connection refused.

struct TranscriptOptions {
  int body_lines = 3;  // body lines shown before the rest are elided
};

std::string FormatTranscript(const CapturedConnection& connection,
                             const TranscriptOptions& options = {});

// The transcripts of all connections, separated by an empty line.
std::string FormatTranscripts(const std::vector<CapturedConnection>& connections,
                              const TranscriptOptions& options = {});

// Writes one `<index:04>-<mx host>.txt` file per connection into `dir`
// (created when missing); errors name the path.
absl::Status WriteTranscriptFiles(
    const std::string& dir, const std::vector<CapturedConnection>& connections,
    const TranscriptOptions& options = {});

}  // namespace starling::sim

#endif  // STARLING_SIM_TRANSCRIPT_H_
