#ifndef STARLING_CORE_SMTP_DOT_STUFFING_H_
#define STARLING_CORE_SMTP_DOT_STUFFING_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace starling::smtp {

// Streams a message body into its wire form. Text modes turn every bare CR,
// bare LF and CRLF into CRLF, so no bare line ending ever reaches the wire;
// kData also dot-stuffs (RFC 5321 §4.5.2) and ends with ".\r\n". A line
// longer than the limit (CRLF and any stuffing dot included) is an error,
// sticky, because splitting it would corrupt the message.
class BodyEncoder {
 public:
  enum class Mode : uint8_t {
    kData,      // DATA: normalise, dot-stuff, end with ".\r\n"
    kBdatText,  // BDAT with a text body: normalise only
    kBinary,    // BDAT with BODY=BINARYMIME: octets as they are
  };

  // max_line_length 0: no limit. RFC 5321 §4.5.3.1.6: 1000 with CRLF.
  explicit BodyEncoder(Mode mode, size_t max_line_length = 1000);

  // Appends the wire form of the next piece of the body to `out`.
  absl::Status Encode(absl::string_view piece, std::string* out);
  // Ends the body: CRLF after an unterminated last line, then ".\r\n" for
  // kData. The encoder is spent afterwards.
  absl::Status Finish(std::string* out);

  // Octets of body read so far (before encoding).
  uint64_t consumed() const { return consumed_; }
  // A body sent as 7BIT (no BODY=8BITMIME) must not hold an octet >= 0x80:
  // when set, such an octet is an error (sticky), before it is written.
  void set_seven_bit(bool seven_bit) { seven_bit_ = seven_bit; }

 private:
  absl::Status EndLine(std::string* out);
  absl::Status LineTooLong();

  Mode mode_;
  size_t max_line_length_;
  bool at_line_start_ = true;
  bool pending_cr_ = false;
  size_t line_length_ = 0;  // octets of the current line on the wire
  uint64_t consumed_ = 0;
  bool seven_bit_ = false;
  absl::Status error_;
};

// The whole DATA form of `body` (no line limit): what a client sends after
// the 354, end-of-data line included.
std::string DotStuff(absl::string_view body);

// `body` with every bare CR, bare LF and CRLF as CRLF, ending in CRLF unless
// empty: what a server reads back from DotStuff(body).
std::string NormalizeLineEndings(absl::string_view body);

}  // namespace starling::smtp

#endif  // STARLING_CORE_SMTP_DOT_STUFFING_H_
