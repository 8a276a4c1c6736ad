#ifndef STARLING_TOOLS_SINK_SINK_HANDLER_H_
#define STARLING_TOOLS_SINK_SINK_HANDLER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/smtp/server_session.h"
#include "core/starttls/connection.h"
#include "tools/io/inbound.h"
#include "tools/sink/delivery.h"
#include "tools/sink/log.h"

namespace starling::sink {

struct SinkConfig {
  std::shared_ptr<MessageStore> store;
  std::map<std::string, std::string> users;  // AUTH: user -> password
  std::string hostname;
  bool client_certificate_requested = false;
  std::shared_ptr<Log> log;
  std::string name = "starling-sink";  // the log's prefix
};

// A unique message id in this process ("1A2B3C4D0001").
std::string NextMessageId();

// Accepts every envelope; stores each message (with a Received header that
// carries the TLS facts) and accepts it only once it is durable; logs one
// line per connection and one per message.
class SinkHandler : public io::InboundHandler {
 public:
  explicit SinkHandler(std::shared_ptr<const SinkConfig> config);

  void OnOpen(const asio::ip::tcp::endpoint& peer,
              const asio::ip::tcp::endpoint& local) override;
  bool OnEvent(smtp::ServerEvent& event, starttls::ServerConnection& connection,
               absl::Time now) override;
  void OnClosed(const starttls::ServerConnection& connection,
                absl::string_view reason) override;

 private:
  void Reset();
  void Fail(absl::string_view why);

  std::shared_ptr<const SinkConfig> config_;
  std::string peer_;
  std::string peer_ip_;
  // The transaction.
  Envelope envelope_;
  bool smtputf8_ = false;  // the transaction's MAIL carried SMTPUTF8
  std::string id_;
  std::unique_ptr<MessageWriter> writer_;
  std::string failure_;  // the store failed: the message will be refused
  size_t messages_ = 0;
};

}  // namespace starling::sink

#endif  // STARLING_TOOLS_SINK_SINK_HANDLER_H_
