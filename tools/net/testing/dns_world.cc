#include "tools/net/testing/dns_world.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "tools/testing/loopback.h"

namespace starling::net::testing {
namespace {

constexpr absl::Duration kToolTimeout = absl::Seconds(20);

absl::Status WriteFile(const std::string& path, absl::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A loopback port that is free for UDP and TCP right now. NSD cannot be
// handed a socket, so there is a window in which another process could take
// it; StartNsd retries with a new port when NSD fails to bind.
absl::StatusOr<uint16_t> FreeLoopbackPort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    absl::StatusOr<LoopbackSocket> udp = LoopbackSocket::Bind(LoopbackSocket::Kind::kUdp);
    if (!udp.ok()) return udp.status();
    // The same number for TCP: bind a TCP socket to it explicitly.
    const int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(udp->port());
    const bool free_for_tcp =
        tcp >= 0 &&
        bind(tcp, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    if (tcp >= 0) close(tcp);
    if (free_for_tcp) return udp->port();
  }
  return absl::UnavailableError("no free loopback port for UDP and TCP");
}

bool IsSigned(TestZone::Kind kind) {
  return kind == TestZone::Kind::kSigned ||
         kind == TestZone::Kind::kExpiredSignatures;
}

std::string ZoneFile(absl::string_view origin) {
  return absl::StrCat(absl::StripSuffix(origin, "."), ".zone");
}

}  // namespace

std::string DnsWorld::MissingTool() {
  for (const char* tool : {"nsd", "ldns-keygen", "ldns-signzone"}) {
    if (FindProgram(tool).empty()) return tool;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<DnsWorld>> DnsWorld::Start(
    const std::string& dir, std::vector<TestZone> zones) {
  if (std::string missing = MissingTool(); !missing.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(missing, " is not installed (tools/install-test-peers)"));
  }
  std::unique_ptr<DnsWorld> world(new DnsWorld(dir));
  // Children first: a parent's zone file needs its children's DS records.
  std::stable_sort(zones.begin(), zones.end(),
                   [](const TestZone& a, const TestZone& b) {
                     return a.origin.size() > b.origin.size();
                   });
  for (TestZone& spec : zones) {
    if (!absl::EndsWith(spec.origin, ".")) {
      return absl::InvalidArgumentError(
          absl::StrCat("zone origin '", spec.origin, "' must end with '.'"));
    }
    Zone zone;
    zone.spec = std::move(spec);
    world->zones_.push_back(std::move(zone));
  }
  for (Zone& zone : world->zones_) {
    for (const Zone& other : world->zones_) {
      if (other.spec.origin.size() < zone.spec.origin.size() &&
          absl::EndsWith(zone.spec.origin, absl::StrCat(".", other.spec.origin)) &&
          other.spec.origin.size() > zone.parent.size()) {
        zone.parent = other.spec.origin;
      }
    }
  }
  std::string anchors;
  for (Zone& zone : world->zones_) {
    if (IsSigned(zone.spec.kind)) {
      absl::StatusOr<std::string> key = RunProgram(
          {FindProgram("ldns-keygen"), "-r", "/dev/urandom", "-a",
           "ECDSAP256SHA256", "-k", zone.spec.origin},
          dir, kToolTimeout);
      if (!key.ok()) return key.status();
      zone.key = std::string(absl::StripTrailingAsciiWhitespace(*key));
      absl::StatusOr<std::string> ds = ReadFile(absl::StrCat(dir, "/", zone.key, ".ds"));
      if (!ds.ok()) return ds.status();
      zone.ds = *std::move(ds);
      if (zone.parent.empty()) absl::StrAppend(&anchors, zone.ds);
    }
    if (absl::Status s = world->WriteZone(zone); !s.ok()) return s;
  }
  world->trust_anchor_file_ = absl::StrCat(dir, "/trust-anchors");
  if (absl::Status s = WriteFile(world->trust_anchor_file_, anchors); !s.ok()) {
    return s;
  }
  if (absl::Status s = world->StartNsd(); !s.ok()) return s;
  return world;
}

absl::Status DnsWorld::WriteZone(Zone& zone) {
  const TestZone& spec = zone.spec;
  if (spec.kind == TestZone::Kind::kServFail) return absl::OkStatus();
  std::string text = absl::StrCat(
      "$ORIGIN ", spec.origin, "\n$TTL 60\n",
      "@ IN SOA ns hostmaster ", zone.serial, " 3600 600 86400 60\n",
      "@ IN NS ns\nns IN A 127.0.0.1\n",
      "_serial IN TXT \"", zone.serial, "\"\n", spec.records, "\n");
  // Every child is delegated, a kServFail one too: without the cut, the
  // parent's signed denial would prove its names do not exist, and a
  // validator may synthesise NXDOMAIN from a cached NSEC (RFC 8198).
  for (const Zone& child : zones_) {
    if (child.parent != spec.origin) continue;
    absl::StrAppend(&text, child.spec.origin, " IN NS ns.", child.spec.origin,
                    "\n", child.ds);
  }
  const std::string file = absl::StrCat(dir_, "/", ZoneFile(spec.origin));
  if (absl::Status s = WriteFile(file, text); !s.ok()) return s;
  if (!IsSigned(spec.kind)) return absl::OkStatus();

  std::vector<std::string> sign = {FindProgram("ldns-signzone"), "-f",
                                   file + ".signed"};
  if (spec.kind == TestZone::Kind::kExpiredSignatures) {
    for (const char* arg : {"-i", "20200101000000", "-e", "20200201000000"}) {
      sign.push_back(arg);
    }
  }
  sign.push_back(file);
  sign.push_back(zone.key);
  if (absl::StatusOr<std::string> out = RunProgram(sign, dir_, kToolTimeout);
      !out.ok()) {
    return out.status();
  }
  absl::StatusOr<std::string> signed_text = ReadFile(file + ".signed");
  if (!signed_text.ok()) return signed_text.status();
  for (const auto& [from, to] : spec.edits_after_signing) {
    if (!absl::StrContains(*signed_text, from)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "edit after signing: '", from, "' not in zone ", spec.origin));
    }
    *signed_text = absl::StrReplaceAll(*signed_text, {{from, to}});
  }
  return WriteFile(file, *signed_text);
}

absl::Status DnsWorld::StartNsd() {
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<uint16_t> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    port_ = *port;
    std::string config = absl::StrCat(
        "server:\n"
        "  ip-address: 127.0.0.1\n"
        "  port: ", port_, "\n"
        "  server-count: 1\n"
        "  username: \"\"\n"
        "  chroot: \"\"\n"
        "  database: \"\"\n"
        "  zonesdir: \"", dir_, "\"\n"
        "  zonelistfile: \"", dir_, "/zone.list\"\n"
        "  xfrdfile: \"", dir_, "/xfrd.state\"\n"
        "  xfrdir: \"", dir_, "\"\n"
        "  pidfile: \"", dir_, "/nsd.pid\"\n"
        "  logfile: \"", dir_, "/nsd.log\"\n"
        "  verbosity: 1\n"
        "remote-control:\n"
        "  control-enable: no\n");
    for (const Zone& zone : zones_) {
      // A zone file that does not exist: NSD answers SERVFAIL for the zone.
      const std::string file = zone.spec.kind == TestZone::Kind::kServFail
                                   ? "absent-on-purpose.zone"
                                   : ZoneFile(zone.spec.origin);
      absl::StrAppend(&config, "zone:\n  name: \"", zone.spec.origin,
                      "\"\n  zonefile: \"", file, "\"\n");
    }
    const std::string config_file = absl::StrCat(dir_, "/nsd.conf");
    if (absl::Status s = WriteFile(config_file, config); !s.ok()) return s;
    absl::StatusOr<ChildProcess> nsd = ChildProcess::Start(
        {FindProgram("nsd"), "-d", "-c", config_file}, dir_,
        absl::StrCat(dir_, "/nsd.stderr"), /*pipe_stdout=*/false);
    if (!nsd.ok()) return nsd.status();
    nsd_ = *std::move(nsd);
    last = WaitServed(absl::Seconds(10));
    if (last.ok()) return last;
    nsd_.Stop();
  }
  absl::StatusOr<std::string> log = ReadFile(absl::StrCat(dir_, "/nsd.log"));
  return absl::UnavailableError(absl::StrCat(
      "NSD did not come up: ", last.message(), "; nsd.log: ",
      log.ok() ? *log : "(none)"));
}

absl::Status DnsWorld::WaitServed(absl::Duration timeout) {
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(timeout);
  ResolverOptions options;
  options.forwarders = {address()};
  options.timeout = absl::Milliseconds(500);
  while (true) {
    if (!nsd_.Running()) return absl::UnavailableError("NSD exited");
    // A fresh resolver each round: no cached answer from before the reload.
    absl::StatusOr<std::unique_ptr<Resolver>> resolver = Resolver::Create(options);
    if (!resolver.ok()) return resolver.status();
    DnsQueries queries;
    std::vector<std::string> expected;
    for (const Zone& zone : zones_) {
      if (zone.spec.kind == TestZone::Kind::kServFail) continue;
      queries.txt.push_back(absl::StrCat("_serial.", zone.spec.origin));
      expected.push_back(absl::StrCat(zone.serial));
    }
    absl::StatusOr<DnsAnswers> answers = (*resolver)->Lookup(queries);
    if (!answers.ok()) return answers.status();
    bool served = true;
    for (size_t i = 0; i < expected.size(); ++i) {
      const DnsAnswer<std::string>& answer = answers->txt[i];
      served = served && answer.outcome == DnsOutcome::kAnswer &&
               answer.records == std::vector<std::string>{expected[i]};
    }
    if (served) return absl::OkStatus();
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "NSD did not serve the zones within ", absl::FormatDuration(timeout)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

DnsWorld::~DnsWorld() { nsd_.Stop(); }

std::string DnsWorld::address() const {
  return absl::StrCat("127.0.0.1@", port_);
}

ResolverOptions DnsWorld::ValidatingResolver(absl::Duration timeout) const {
  ResolverOptions options;
  options.forwarders = {address()};
  options.trust_anchor_file = trust_anchor_file_;
  options.timeout = timeout;
  return options;
}

absl::Status DnsWorld::UpdateZone(absl::string_view origin,
                                  std::string records) {
  for (Zone& zone : zones_) {
    if (zone.spec.origin != origin) continue;
    zone.spec.records = std::move(records);
    zone.spec.edits_after_signing.clear();
    ++zone.serial;
    if (absl::Status s = WriteZone(zone); !s.ok()) return s;
    if (absl::Status s = nsd_.Signal(SIGHUP); !s.ok()) return s;
    return WaitServed(absl::Seconds(10));
  }
  return absl::NotFoundError(absl::StrCat("no zone ", origin));
}

}  // namespace starling::net::testing
