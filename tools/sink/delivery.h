#ifndef STARLING_TOOLS_SINK_DELIVERY_H_
#define STARLING_TOOLS_SINK_DELIVERY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace starling::sink {

// The envelope of a message being received.
struct Envelope {
  std::string sender;  // empty: the null reverse-path
  std::vector<std::string> recipients;
};

// One message on its way into a store: octets are appended as they arrive
// (nothing is held whole in memory), then Commit() makes it durable - only
// then is it accepted - or Abort() throws it away.
class MessageWriter {
 public:
  virtual ~MessageWriter() = default;
  virtual absl::Status Append(absl::string_view octets) = 0;
  // Durable on success (fsync); where it went, for the log.
  virtual absl::StatusOr<std::string> Commit() = 0;
  virtual void Abort() = 0;
};

// Where accepted messages go: `--deliver discard|maildir:DIR|mbox:FILE|eml:DIR`.
class MessageStore {
 public:
  virtual ~MessageStore() = default;
  // A writer for one message (`id` is unique in the process).
  virtual absl::StatusOr<std::unique_ptr<MessageWriter>> Begin(
      const Envelope& envelope, absl::string_view id, absl::Time now) = 0;
};

// Parses `--deliver`; creates maildir/eml directories as needed.
// kInvalidArgument with one readable line when the spec or path is bad.
absl::StatusOr<std::unique_ptr<MessageStore>> OpenStore(absl::string_view spec);

}  // namespace starling::sink

#endif  // STARLING_TOOLS_SINK_DELIVERY_H_
