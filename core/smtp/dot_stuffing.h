#ifndef STARLING_CORE_SMTP_DOT_STUFFING_H_
#define STARLING_CORE_SMTP_DOT_STUFFING_H_

#include <string>

#include "absl/strings/string_view.h"

namespace starling::smtp {

// The DATA form of a message body (RFC 5321 §4.5.2): every bare CR, bare LF
// and CRLF becomes CRLF, a line that starts with "." gets one more, a final
// CRLF is added when the body does not end with one, and the end-of-data line
// ".\r\n" follows. A server that unstuffs it receives NormalizeLineEndings().
std::string DotStuff(absl::string_view body);

// The body with every bare CR, bare LF and CRLF as CRLF, ending in CRLF
// unless empty: what a server reads back from DotStuff(body).
std::string NormalizeLineEndings(absl::string_view body);

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_DOT_STUFFING_H_
