#include "tools/sink/received.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace starling::sink {
namespace {

ReceivedFacts Base() {
  ReceivedFacts facts;
  facts.helo = "client.example";
  facts.peer_ip = "192.0.2.1";
  facts.by = "mx.example.org";
  facts.id = "ABC";
  facts.recipients = {"rcpt@example.org"};
  facts.when = absl::FromUnixSeconds(1796630400);  // 2026-12-07 08:00 UTC
  return facts;
}

TEST(ReceivedTest, Plaintext) {
  EXPECT_EQ(ReceivedHeader(Base()),
            "Received: from client.example ([192.0.2.1])\r\n"
            "\tby mx.example.org (Starling) with ESMTP id ABC\r\n"
            "\tfor <rcpt@example.org>; Mon,  7 Dec 2026 08:00:00 +0000\r\n");
}

TEST(ReceivedTest, TlsFactsAsPostfixWritesThem) {
  TlsFacts tls;
  tls.version = TlsVersion::kTls12;
  tls.cipher_suite = "ECDHE_ECDSA_WITH_AES_256_GCM_SHA384";
  tls.key_exchange_group = "x25519";
  ReceivedFacts facts = Base();
  facts.tls = &tls;
  facts.authenticated = true;
  facts.recipients.push_back("other@example.org");  // Bcc stays private
  EXPECT_EQ(ReceivedHeader(facts),
            "Received: from client.example ([192.0.2.1])\r\n"
            "\t(using TLSv1.2 with cipher ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\r\n"
            "\t key-exchange x25519)\r\n"
            "\t(No client certificate requested)\r\n"
            "\tby mx.example.org (Starling) with ESMTPSA id ABC; "
            "Mon,  7 Dec 2026 08:00:00 +0000\r\n");
}

TEST(ReceivedTest, ClientCertificate) {
  TlsFacts tls;
  tls.version = TlsVersion::kTls12;
  tls.cipher_suite = "X";
  CertificateFacts leaf;
  leaf.common_name = "client.example";
  tls.peer_chain.push_back(leaf);
  tls.chain_verdict = ChainVerdict::kTrusted;
  ReceivedFacts facts = Base();
  facts.tls = &tls;
  facts.client_certificate_requested = true;
  EXPECT_NE(ReceivedHeader(facts).find(
                "\t(Client certificate: client.example (verified))\r\n"),
            std::string::npos);
  tls.peer_chain.clear();
  EXPECT_NE(ReceivedHeader(facts).find("(No client certificate presented)"),
            std::string::npos);
}

// RFC 3848 and RFC 6531 §3.7.3: every combination of SMTPUTF8, TLS and AUTH.
TEST(ReceivedTest, ProtocolNames) {
  TlsFacts tls;
  tls.version = TlsVersion::kTls12;
  tls.cipher_suite = "X";
  struct Case {
    bool smtputf8, tls, authenticated;
    const char* with;
  };
  for (const Case& c : std::vector<Case>{
           {false, false, false, "ESMTP"},
           {false, false, true, "ESMTPA"},
           {false, true, false, "ESMTPS"},
           {false, true, true, "ESMTPSA"},
           {true, false, false, "UTF8SMTP"},
           {true, false, true, "UTF8SMTPA"},
           {true, true, false, "UTF8SMTPS"},
           {true, true, true, "UTF8SMTPSA"},
       }) {
    ReceivedFacts facts = Base();
    facts.smtputf8 = c.smtputf8;
    facts.tls = c.tls ? &tls : nullptr;
    facts.authenticated = c.authenticated;
    EXPECT_NE(ReceivedHeader(facts).find(absl::StrCat(" with ", c.with, " id ")),
              std::string::npos)
        << c.with;
  }
}

TEST(ReceivedTest, HeloWithoutEsmtp) {
  ReceivedFacts facts = Base();
  facts.esmtp = false;
  EXPECT_NE(ReceivedHeader(facts).find(" with SMTP id "), std::string::npos);
}

}  // namespace
}  // namespace starling::sink
