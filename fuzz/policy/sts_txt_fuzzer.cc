// MTA-STS TXT parsing: an accepted record yields an id of 1..32 letters and
// digits, and the record rebuilt from that id parses to the same id.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "core/policy/mta_sts.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using starling::fuzz::Require;
  using namespace starling::policy;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<std::string> id = ParseStsTxt(text);
  if (id.ok()) {
    Require(!id->empty() && id->size() <= 32);
    Require(std::all_of(id->begin(), id->end(), [](char c) {
      return absl::ascii_isalnum(static_cast<unsigned char>(c));
    }));
    Require(ParseStsTxt("v=STSv1; id=" + *id + ";").value() == *id);
  }
  // Several TXT strings (NUL-separated) at once.
  std::vector<std::string> records = absl::StrSplit(text, '\0');
  (void)StsIdFromTxtRecords(records);
  return 0;
}
