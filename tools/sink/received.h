#ifndef STARLING_TOOLS_SINK_RECEIVED_H_
#define STARLING_TOOLS_SINK_RECEIVED_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/tlsfacts/tls_facts.h"

namespace starling::sink {

struct ReceivedFacts {
  std::string helo;         // the client's EHLO/HELO name
  std::string peer_ip;      // its address
  std::string by;           // our host name
  bool esmtp = true;
  bool authenticated = false;
  bool smtputf8 = false;  // the message came with MAIL ... SMTPUTF8
  const TlsFacts* tls = nullptr;  // null: plaintext
  bool client_certificate_requested = false;
  std::string id;
  std::vector<std::string> recipients;
  absl::Time when;
};

// The trace header for an accepted message (RFC 5321 §4.4, with the TLS
// facts in a comment as Postfix writes them), folded, ending in CRLF:
//   Received: from client.example ([192.0.2.1])
//           (using TLSv1.2 with cipher ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
//            key-exchange x25519)
//           (No client certificate requested)
//           by mx.example.org (Starling) with ESMTPS id 1A2B
//           for <rcpt@example.org>; Mon, 7 Dec 2026 07:00:00 +0000
std::string ReceivedHeader(const ReceivedFacts& facts);

}  // namespace starling::sink

#endif  // STARLING_TOOLS_SINK_RECEIVED_H_
