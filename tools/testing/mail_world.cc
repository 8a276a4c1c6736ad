#include "tools/testing/mail_world.h"

#include "absl/strings/str_cat.h"
#include "tools/net/testing/test_ca.h"

namespace starling::tools::testing {
namespace {

using net::testing::HostCertificate;
using net::testing::PolicyDomain;
using net::testing::PolicyResponse;
using net::testing::TestZone;

// SHA-256 sized values that are no key's digest.
constexpr char kOtherKey[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
constexpr char kSignedKey[] =
    "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
constexpr char kEditedKey[] =
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

std::vector<TestZone> Zones(const std::string& dane_key) {
  std::string example = absl::StrCat(R"(
dane IN MX 10 mx.dane
mx.dane IN A 127.0.0.1
_25._tcp.mx.dane IN TLSA 3 1 1 )", dane_key, R"(
_smtp._tls.dane IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@dane.example"
badtlsa IN MX 10 mx.badtlsa
mx.badtlsa IN A 127.0.0.1
_25._tcp.mx.badtlsa IN TLSA 3 1 1 )", kOtherKey, R"(
unusable IN MX 10 mx.unusable
mx.unusable IN A 127.0.0.1
_25._tcp.mx.unusable IN TLSA 0 0 1 )", kOtherKey, R"(
tampered IN MX 10 mx.tampered
mx.tampered IN A 127.0.0.1
_25._tcp.mx.tampered IN TLSA 3 1 1 )", kSignedKey, R"(
multi IN MX 10 mx1.multi
multi IN MX 20 mx2.multi
mx1.multi IN A 127.0.0.1
mx2.multi IN A 127.0.0.1
_25._tcp.mx2.multi IN TLSA 3 1 1 )", dane_key, R"(
plain IN MX 10 mx.plain
mx.plain IN A 127.0.0.1
nullmx IN MX 0 .
mx.sts IN A 127.0.0.1
)");
  for (const char* name : {"enforce", "testing", "none", "mismatch"}) {
    absl::StrAppend(&example, name, " IN MX 10 mx.sts\n_mta-sts.", name,
                    " IN TXT \"v=STSv1; id=1;\"\n_smtp._tls.", name,
                    " IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@", name, ".example\"\n");
  }
  return {
      {"example.", TestZone::Kind::kSigned, example, {{kSignedKey, kEditedKey}}},
      {"expired.example.", TestZone::Kind::kExpiredSignatures,
       "@ IN MX 10 mx\nmx IN A 127.0.0.1\n", {}},
      {"broken.example.", TestZone::Kind::kServFail, "", {}},
      {"example.net.", TestZone::Kind::kUnsigned,
       absl::StrCat("insecure IN MX 10 mx.insecure\nmx.insecure IN A 127.0.0.1\n"
                    "_25._tcp.mx.insecure IN TLSA 3 1 1 ",
                    kOtherKey, "\n"),
       {}},
  };
}

PolicyDomain Serve(const char* domain, absl::string_view mode, absl::string_view mx) {
  PolicyResponse response;
  response.body = absl::StrCat("version: STSv1\r\nmode: ", mode, "\r\n");
  if (!mx.empty()) absl::StrAppend(&response.body, "mx: ", mx, "\r\n");
  absl::StrAppend(&response.body, "max_age: 86400\r\n");
  return {domain, HostCertificate::kValid, response};
}

}  // namespace

std::string MailWorld::MissingTool() {
  if (std::string missing = net::testing::DnsWorld::MissingTool(); !missing.empty()) {
    return missing;
  }
  return net::testing::PolicyHost::MissingTool();
}

absl::StatusOr<std::unique_ptr<MailWorld>> MailWorld::Start() {
  std::unique_ptr<MailWorld> world(new MailWorld);
  absl::StatusOr<std::string> dir = MakeTestDirectory("mail-world");
  if (!dir.ok()) return dir.status();
  world->dir_ = *dir;
  const std::string& d = world->dir_;

  // The sinks first: the DANE domains' TLSA records come from a certificate.
  if (absl::Status s = net::testing::MakeSelfSignedCertificate(d, "dane", "mx.dane.example");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = net::testing::MakeTestCa(d, "ca", "/CN=Mail World Test CA"); !s.ok()) {
    return s;
  }
  if (absl::Status s = net::testing::MakeServerCertificate(d, "sts", "ca",
                                                           {"mx.sts.example"}, 2);
      !s.ok()) {
    return s;
  }
  world->ca_file_ = d + "/ca.pem";
  absl::StatusOr<std::string> key = net::testing::SpkiSha256Hex(d + "/dane.pem");
  if (!key.ok()) return key.status();
  world->dane_tlsa_ = absl::StrCat("3 1 1 ", *key);

  absl::StatusOr<std::unique_ptr<SinkProcess>> sink = SinkProcess::Start(
      {"--cert=" + d + "/dane.pem", "--key=" + d + "/dane.key", "--hostname=mx.dane.example"});
  if (!sink.ok()) return sink.status();
  world->dane_sink_ = *std::move(sink);
  sink = SinkProcess::Start(
      {"--cert=" + d + "/sts.pem", "--key=" + d + "/sts.key", "--hostname=mx.sts.example"});
  if (!sink.ok()) return sink.status();
  world->pki_sink_ = *std::move(sink);
  sink = SinkProcess::Start({"--hostname=mx.plain.example"});
  if (!sink.ok()) return sink.status();
  world->plain_sink_ = *std::move(sink);
  absl::StatusOr<LoopbackSocket> closed = LoopbackSocket::Bind(LoopbackSocket::Kind::kTcpListening);
  if (!closed.ok()) return closed.status();
  world->closed_port_ = closed->port();  // nothing listens once it closes

  absl::StatusOr<std::string> dns_dir = MakeTestDirectory("dns");
  if (!dns_dir.ok()) return dns_dir.status();
  absl::StatusOr<std::unique_ptr<net::testing::DnsWorld>> dns =
      net::testing::DnsWorld::Start(*dns_dir, Zones(*key));
  if (!dns.ok()) return dns.status();
  world->dns_ = *std::move(dns);

  absl::StatusOr<std::string> https_dir = MakeTestDirectory("policy-host");
  if (!https_dir.ok()) return https_dir.status();
  absl::StatusOr<std::unique_ptr<net::testing::PolicyHost>> host =
      net::testing::PolicyHost::Start(
          *https_dir, {Serve("enforce.example", "enforce", "mx.sts.example"),
                       Serve("testing.example", "testing", "mx.other.example"),
                       Serve("none.example", "none", ""),
                       Serve("mismatch.example", "enforce", "mx.other.example")});
  if (!host.ok()) return host.status();
  world->policy_host_ = *std::move(host);
  return world;
}

std::vector<std::string> MailWorld::Flags() const {
  const std::string dane = dane_sink_->address();
  std::vector<std::string> flags = {
      "--resolver=" + dns_->address(),
      "--trust-anchor-file=" + dns_->trust_anchor_file(),
      "--sts-ca=" + policy_host_->ca_file(),
      "--sts-connect-to=" + policy_host_->connect_to(),
      "--trust=" + ca_file_,
      absl::StrCat("--port=", dane_sink_->port()),
      "--connect=mx.badtlsa.example=" + dane,
      "--connect=mx.tampered.example=" + dane,
      "--connect=mx.insecure.example.net=" + dane,
      absl::StrCat("--connect=mx1.multi.example=127.0.0.1:", closed_port_),
      "--connect=mx2.multi.example=" + dane,
      "--connect=mx.unusable.example=" + plain_sink_->address(),
      "--connect=mx.plain.example=" + plain_sink_->address(),
      "--connect=mx.sts.example=" + pki_sink_->address(),
      "--dns-timeout=5",
      "--connect-timeout=5",
      "--timeout=10",
  };
  return flags;
}

}  // namespace starling::tools::testing
