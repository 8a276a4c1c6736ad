#include "tools/sink/sink_handler.h"

#include <unistd.h>

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/policy/level.h"
#include "tools/sink/received.h"

namespace starling::sink {

std::string NextMessageId() {
  static std::atomic<uint64_t> counter{0};
  // The pid keeps ids from two sinks writing into one maildir apart.
  return absl::StrFormat("%08X%06X", static_cast<uint32_t>(::getpid()),
                         ++counter & 0xFFFFFF);
}

SinkHandler::SinkHandler(std::shared_ptr<const SinkConfig> config)
    : config_(std::move(config)) {}

void SinkHandler::OnOpen(const asio::ip::tcp::endpoint& peer,
                         const asio::ip::tcp::endpoint&) {
  peer_ip_ = peer.address().to_string();
  peer_ = peer.address().is_v6()
              ? absl::StrCat("[", peer_ip_, "]:", peer.port())
              : absl::StrCat(peer_ip_, ":", peer.port());
  config_->log->Line(absl::StrCat(config_->name, ": connect from ", peer_));
}

void SinkHandler::Reset() {
  if (writer_ != nullptr) writer_->Abort();
  writer_.reset();
  envelope_ = Envelope();
  smtputf8_ = false;
  id_.clear();
  failure_.clear();
}

void SinkHandler::Fail(absl::string_view why) {
  if (failure_.empty()) failure_ = std::string(why);
  if (writer_ != nullptr) writer_->Abort();
  writer_.reset();
}

bool SinkHandler::OnEvent(smtp::ServerEvent& event,
                          starttls::ServerConnection& connection,
                          absl::Time now) {
  using smtp::ServerEventType;
  const smtp::ServerSession& session = connection.session();
  switch (event.type) {
    case ServerEventType::kHelo:
      (void)connection.Accept(now);
      break;
    case ServerEventType::kMailFrom:
      Reset();
      envelope_.sender = event.command.path ? event.command.path->ToString() : "";
      smtputf8_ = event.command.mail.smtputf8;
      (void)connection.Accept(now);
      break;
    case ServerEventType::kRcptTo:
      envelope_.recipients.push_back(event.command.path->ToString());
      (void)connection.Accept(now);
      break;
    case ServerEventType::kMessageData:
    case ServerEventType::kMessageComplete: {
      if (id_.empty()) {
        // The first octets (or an empty body): open the store with the
        // trace header the envelope and the session now determine.
        id_ = NextMessageId();
        absl::StatusOr<std::unique_ptr<MessageWriter>> writer =
            config_->store->Begin(envelope_, id_, now);
        if (!writer.ok()) {
          Fail(writer.status().message());
        } else {
          writer_ = *std::move(writer);
          ReceivedFacts facts;
          facts.helo = std::string(session.helo_name());
          facts.peer_ip = peer_ip_;
          facts.by = config_->hostname;
          facts.esmtp = session.esmtp();
          facts.authenticated = !session.authenticated_user().empty();
          facts.smtputf8 = smtputf8_;
          facts.tls = session.tls();
          facts.client_certificate_requested = config_->client_certificate_requested;
          facts.id = id_;
          facts.recipients = envelope_.recipients;
          facts.when = now;
          const std::string header = ReceivedHeader(facts);
          if (absl::Status status = writer_->Append(header); !status.ok()) {
            Fail(status.message());
          }
        }
      }
      if (event.type == ServerEventType::kMessageData) {
        if (writer_ != nullptr) {
          if (absl::Status status = writer_->Append(event.data); !status.ok()) {
            Fail(status.message());
          }
        }
        break;
      }
      // Accepted only once durable: a store that failed refuses it (the
      // client keeps it and retries), nothing accepted is ever lost.
      absl::StatusOr<std::string> where =
          writer_ != nullptr ? writer_->Commit()
                             : absl::StatusOr<std::string>(
                                   absl::InternalError(failure_));
      writer_.reset();
      if (!where.ok()) {
        config_->log->Line(absl::StrCat(config_->name, ": ", id_, ": from=<",
                                        envelope_.sender, "> nrcpt=",
                                        envelope_.recipients.size(),
                                        " refused: ", where.status().message()));
        (void)connection.Reject(
            smtp::Reply::Make(451, "4.3.0",
                              "Error: cannot store the message, try again later"),
            now);
      } else {
        ++messages_;
        config_->log->Line(absl::StrCat(
            config_->name, ": ", id_, ": from=<", envelope_.sender,
            "> nrcpt=", envelope_.recipients.size(), " size=", event.message_size,
            event.via_bdat ? " bdat" : "", " -> ", *where));
        (void)connection.Accept(
            smtp::Reply::Make(250, "2.0.0", absl::StrCat("Ok: queued as ", id_)),
            now);
      }
      envelope_ = Envelope();
      id_.clear();
      failure_.clear();
      break;
    }
    case ServerEventType::kMessageAborted:
      Reset();
      break;
    case ServerEventType::kAuth: {
      const auto user = config_->users.find(event.auth.username);
      const bool known = user != config_->users.end() &&
                         user->second == event.auth.password &&
                         (event.auth.authorization_id.empty() ||
                          event.auth.authorization_id == event.auth.username);
      if (known) {
        (void)connection.Accept(now);
      } else {
        config_->log->Line(absl::StrCat(config_->name, ": ", peer_,
                                        ": authentication failed for \"",
                                        event.auth.username, "\""));
        (void)connection.Reject(
            smtp::Reply::Make(535, "5.7.8",
                              "Authentication credentials invalid"),
            now);
      }
      break;
    }
    case ServerEventType::kStartTls:
    case ServerEventType::kClosed:
      break;
  }
  return true;
}

void SinkHandler::OnClosed(const starttls::ServerConnection& connection,
                           absl::string_view reason) {
  Reset();
  const smtp::ServerSession& session = connection.session();
  std::string tls = "plaintext";
  if (const TlsFacts* facts = session.tls(); facts != nullptr) {
    tls = absl::StrCat(policy::TlsVersionName(facts->version), " ", facts->cipher_suite);
  } else if (connection.tls_failure().has_value()) {
    tls = absl::StrCat("TLS failed: ", connection.tls_failure()->detail);
  }
  config_->log->Line(absl::StrCat(
      config_->name, ": disconnect from ", peer_, " helo=",
      session.helo_name().empty() ? "-" : session.helo_name(), " ", tls,
      " messages=", messages_, " (", reason, ")"));
}

}  // namespace starling::sink
