#include "core/smtp/session_error.h"

namespace starling::smtp {

absl::string_view SessionErrorName(SessionError error) {
  switch (error) {
    case SessionError::kNone: return "none";
    case SessionError::kPregreet: return "pregreet";
    case SessionError::kImproperPipelining: return "improper-pipelining";
    case SessionError::kPlaintextAfterStartTls: return "plaintext-after-starttls";
    case SessionError::kBareLineEnding: return "bare-line-ending";
    case SessionError::kMalformedBdat: return "malformed-bdat";
    case SessionError::kTooMuchInput: return "too-much-input";
    case SessionError::kMalformedReply: return "malformed-reply";
    case SessionError::kRepliesOutOfStep: return "replies-out-of-step";
    case SessionError::kResponseInjection: return "response-injection";
    case SessionError::kInternal: return "internal";
  }
  return "?";
}

}  // namespace starling::smtp
