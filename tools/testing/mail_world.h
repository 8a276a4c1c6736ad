#ifndef STARLING_TOOLS_TESTING_MAIL_WORLD_H_
#define STARLING_TOOLS_TESTING_MAIL_WORLD_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/net/testing/dns_world.h"
#include "tools/net/testing/policy_host.h"
#include "tools/testing/loopback.h"
#include "tools/testing/sink_process.h"

namespace starling::tools::testing {

// Mail domains for starling-probe and starling-send --to, all on loopback:
// signed zones served by NSD (tools/net/testing's DnsWorld), an HTTPS
// MTA-STS policy host, and three starling-sinks as MX hosts — one with a
// self-signed certificate (the DANE domains' TLSA records are computed from
// it by openssl), one with a certificate from the world's CA naming
// mx.sts.example (the MTA-STS domains), one without STARTTLS. Flags() point
// the programs at it; MX hosts reach the sinks through --connect (and
// dane.example through its A record and --port).
//
// Domains (all below example. unless said):
//   dane           MX mx.dane, TLSA 3 1 1 of the self-signed sink's key
//   badtlsa        TLSA 3 1 1 of another key (mismatch)
//   unusable       TLSA 0 0 1 only (unusable in SMTP); MX without STARTTLS
//   tampered       TLSA edited after signing (bogus)
//   multi          MX 10 mx1.multi (nothing listens), MX 20 mx2.multi (DANE)
//   plain          MX without STARTTLS, no DANE, no MTA-STS
//   nullmx         MX 0 .
//   missing        does not exist
//   expired.example  zone with expired signatures (bogus MX)
//   broken.example   SERVFAIL
//   insecure.example.net  unsigned zone, TLSA of another key (ignored)
//   enforce, testing, none, mismatch  MTA-STS (MX mx.sts.example): enforce
//       listing it; testing listing mx.other.example; mode none; enforce
//       listing mx.other.example
class MailWorld {
 public:
  // The first program the world needs that is not installed, or "".
  static std::string MissingTool();

  static absl::StatusOr<std::unique_ptr<MailWorld>> Start();

  // --resolver, --trust-anchor-file, --sts-ca, --sts-connect-to, --trust,
  // --port and --connect for starling-probe and starling-send --to.
  std::vector<std::string> Flags() const;

  SinkProcess& dane_sink() { return *dane_sink_; }
  SinkProcess& pki_sink() { return *pki_sink_; }
  SinkProcess& plain_sink() { return *plain_sink_; }
  const std::string& dane_tlsa() const { return dane_tlsa_; }  // "3 1 1 <hex>"
  net::testing::PolicyHost& policy_host() { return *policy_host_; }

 private:
  MailWorld() = default;

  std::string dir_;
  std::string ca_file_;
  std::string dane_tlsa_;
  std::unique_ptr<SinkProcess> dane_sink_;
  std::unique_ptr<SinkProcess> pki_sink_;
  std::unique_ptr<SinkProcess> plain_sink_;
  uint16_t closed_port_ = 0;
  std::unique_ptr<net::testing::DnsWorld> dns_;
  std::unique_ptr<net::testing::PolicyHost> policy_host_;
};

}  // namespace starling::tools::testing

#endif  // STARLING_TOOLS_TESTING_MAIL_WORLD_H_
