#include "tools/sink/received.h"

#include "absl/strings/str_cat.h"
#include "core/policy/level.h"

namespace starling::sink {

std::string ReceivedHeader(const ReceivedFacts& facts) {
  // Protocol names: RFC 3848, and RFC 6531 §3.7.3 for SMTPUTF8 messages.
  const std::string with =
      !facts.esmtp ? "SMTP"
                   : absl::StrCat(facts.smtputf8 ? "UTF8SMTP" : "ESMTP",
                                  facts.tls != nullptr ? "S" : "",
                                  facts.authenticated ? "A" : "");
  std::string header = absl::StrCat("Received: from ", facts.helo, " ([",
                                    facts.peer_ip, "])\r\n");
  if (facts.tls != nullptr) {
    const TlsFacts& tls = *facts.tls;
    absl::StrAppend(&header, "\t(using ", policy::TlsVersionName(tls.version),
                    " with cipher ", tls.cipher_suite);
    if (!tls.key_exchange_group.empty()) {
      absl::StrAppend(&header, "\r\n\t key-exchange ", tls.key_exchange_group);
    }
    absl::StrAppend(&header, ")\r\n");
    if (!tls.peer_chain.empty()) {
      const CertificateFacts& leaf = tls.peer_chain.front();
      absl::StrAppend(&header, "\t(Client certificate: ",
                      leaf.common_name.empty() ? leaf.subject_dn : leaf.common_name,
                      tls.chain_verdict == ChainVerdict::kTrusted
                          ? " (verified)"
                          : " (not verified)",
                      ")\r\n");
    } else {
      absl::StrAppend(&header, facts.client_certificate_requested
                                   ? "\t(No client certificate presented)\r\n"
                                   : "\t(No client certificate requested)\r\n");
    }
  }
  absl::StrAppend(&header, "\tby ", facts.by, " (Starling) with ", with, " id ",
                  facts.id);
  // One recipient is named (more would disclose Bcc recipients).
  if (facts.recipients.size() == 1) {
    absl::StrAppend(&header, "\r\n\tfor <", facts.recipients.front(), ">");
  }
  absl::StrAppend(&header, "; ",
                  absl::FormatTime("%a, %e %b %Y %H:%M:%S %z", facts.when,
                                   absl::UTCTimeZone()),
                  "\r\n");
  return header;
}

}  // namespace starling::sink
