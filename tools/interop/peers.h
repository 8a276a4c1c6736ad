#ifndef STARLING_TOOLS_INTEROP_PEERS_H_
#define STARLING_TOOLS_INTEROP_PEERS_H_

// Real mail software on loopback for the interoperability suite: Postfix,
// Exim, OpenSMTPD and aiosmtpd instances of the test's own, each with a
// configuration written at run time into a throw-away directory, listening
// on 127.0.0.1 only, stopped by PID (every one runs in the foreground as a
// child of the test and dies with it). Nothing under /etc is touched.
//
// Exim and OpenSMTPD conflict with Postfix as Debian packages, so
// tools/install-test-peers unpacks them under /opt/starling-test-peers;
// FindPeerProgram() looks there after the system directories.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/testing/subprocess.h"

namespace starling::interop {

// Where tools/install-test-peers unpacks the MTAs that conflict with Postfix.
inline constexpr char kUnpackedPeers[] = "/opt/starling-test-peers";

// The absolute path of `program`: the system directories first
// (tools::testing::FindProgram), then the unpacked packages'
// usr/sbin and usr/bin. "" when absent.
std::string FindPeerProgram(absl::string_view program);

// The Debian interpreter that sees python3-aiosmtpd (a python3 earlier on
// PATH may not), or "".
std::string DebianPython();

// A directory under /tmp that the peers' own users (postfix, Debian-exim,
// opensmtpd) can enter — the test's TEST_TMPDIR lies below /root, which
// they cannot — removed with its contents when this goes.
class PeerDirectory {
 public:
  static absl::StatusOr<PeerDirectory> Create(absl::string_view name);

  PeerDirectory() = default;
  PeerDirectory(PeerDirectory&& other);
  PeerDirectory& operator=(PeerDirectory&& other);
  PeerDirectory(const PeerDirectory&) = delete;
  PeerDirectory& operator=(const PeerDirectory&) = delete;
  ~PeerDirectory();

  const std::string& path() const { return path_; }
  std::string Path(absl::string_view name) const;

 private:
  std::string path_;
};

// Writes `contents` to `path` with `mode`.
absl::Status WriteFile(const std::string& path, absl::string_view contents,
                       int mode = 0644);
// chown -R to a user (and its primary group).
absl::Status ChownTree(const std::string& path, const std::string& user);

// A TCP port on 127.0.0.1 the kernel just handed out and that is free again
// (for peers that must be told a port: Postfix, Exim, OpenSMTPD). 0 on
// failure.
uint16_t PickPort();

// Until something accepts on 127.0.0.1:`port`, while `child` (if any) runs.
absl::Status WaitForPort(uint16_t port, absl::Duration timeout,
                         tools::testing::ChildProcess* child = nullptr);

// Until `done(text of file)` holds, polling the file every 50 ms.
absl::StatusOr<std::string> WaitForFile(
    const std::string& path,
    const std::function<bool(const std::string&)>& done,
    absl::Duration timeout);

// A test CA and a server certificate it issued, made with openssl in `dir`
// (EC P-256; the leaf names every entry of `names` as DNS-IDs plus
// IP:127.0.0.1), and a client certificate.
struct Certificates {
  std::string ca;           // ca.pem
  std::string cert;         // server.pem (the leaf)
  std::string chain;        // server-chain.pem (leaf + CA)
  std::string key;          // server-key.pem (PKCS#8)
  std::string sha256;       // the leaf's SHA-256 fingerprint, AA:BB:...
  std::string client_cert;  // client.pem
  std::string client_key;   // client-key.pem
};
absl::StatusOr<Certificates> MakeCertificates(
    const std::string& dir, const std::vector<std::string>& names);

// The first line `program args` prints (stdout, else stderr), for the
// versions table; "" when it cannot run.
std::string VersionLine(const std::vector<std::string>& argv);

// The first line of `text` that matches the regular expression `pattern`
// (evidence for the report); "" when none does.
std::string Grep(const std::string& text, const std::string& pattern);

// A Postfix instance of its own: config directory, queue, data directory
// and log under one PeerDirectory, `postfix start-fg` as a child process.
class PostfixInstance {
 public:
  struct Options {
    // An smtpd listening on 127.0.0.1:port() ("smtpd" in master.cf).
    bool smtpd = true;
    // main.cf lines after the defaults (later lines win in Postfix).
    std::vector<std::string> main_cf;
    // Extra master.cf lines (e.g. smtp transports with -o overrides).
    std::vector<std::string> master_cf;
    // Files written into the config directory (texthash: maps, SASL
    // configuration in sasl/smtpd.conf, where Debian's Postfix looks),
    // relative name → contents.
    std::map<std::string, std::string> files;
    // Programs run in the config directory before Postfix starts (argv,
    // standard input), e.g. saslpasswd2.
    std::vector<std::pair<std::vector<std::string>, std::string>> commands;
  };
  // In every string of Options, "@DIR@" stands for the instance's
  // directory and "@ETC@" for its config directory.

  static absl::StatusOr<std::unique_ptr<PostfixInstance>> Start(
      Options options);
  ~PostfixInstance();

  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string config_dir() const { return dir_.Path("etc"); }
  std::string Log() const;

  // sendmail -C <config> -f from -- to...: queues one message.
  absl::Status Submit(const std::string& from,
                      const std::vector<std::string>& to,
                      const std::string& message);
  // Until the log satisfies `done`.
  absl::StatusOr<std::string> WaitForLog(
      const std::function<bool(const std::string&)>& done,
      absl::Duration timeout);
  // `postqueue -f` (attempt deferred mail now).
  absl::Status Flush();

  void Stop();

 private:
  PostfixInstance() = default;
  PeerDirectory dir_;
  uint16_t port_ = 0;
  tools::testing::ChildProcess master_;
};

// Exim 4 (`exim4 -C FILE -bdf -oX PORT`) with a configuration of its own.
class EximInstance {
 public:
  struct Options {
    // Lines of the main section: the defaults (listening address, spool,
    // log, permissive ACLs, every extension advertised, no TLS) with these
    // added; a line here replaces the default that sets the same option.
    std::vector<std::string> main;
    // The ACL section's body.
    std::string acls;
    // The router, transport and authenticator sections' bodies. Default
    // router: everything to :blackhole:.
    std::string routers;
    std::string transports;
    std::string authenticators;
  };
  static absl::StatusOr<std::unique_ptr<EximInstance>> Start(Options options);
  ~EximInstance();

  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string Log() const;  // mainlog, then rejectlog and paniclog
  absl::StatusOr<std::string> WaitForLog(
      const std::function<bool(const std::string&)>& done,
      absl::Duration timeout);
  void Stop();

 private:
  EximInstance() = default;
  PeerDirectory dir_;
  uint16_t port_ = 0;
  tools::testing::ChildProcess daemon_;
};

// OpenSMTPD (`smtpd -d -f FILE`). Its spool (/var/spool/smtpd) and control
// socket (/run/smtpd.sock) are compiled in, so it runs in a mount namespace
// of its own (unshare) where a private directory is mounted on /var/spool
// and on /run: instances never share a queue, and nothing outlives it.
class OpenSmtpdInstance {
 public:
  // `config`: smtpd.conf with "$PORT" standing for port().
  static absl::StatusOr<std::unique_ptr<OpenSmtpdInstance>> Start(
      const std::string& config);
  ~OpenSmtpdInstance();

  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string Log() const;
  absl::StatusOr<std::string> WaitForLog(
      const std::function<bool(const std::string&)>& done,
      absl::Duration timeout);
  void Stop();

 private:
  OpenSmtpdInstance() = default;
  PeerDirectory dir_;
  uint16_t port_ = 0;
  tools::testing::ChildProcess daemon_;
};

// aiosmtpd (tools/interop/aiosmtpd_server.py, a data dependency) with
// STARTTLS, AUTH and SMTPUTF8; one JSON line per message in its log.
class AiosmtpdInstance {
 public:
  struct Options {
    std::string cert, key;    // STARTTLS (both or neither)
    std::string auth;         // USER:PASS (AUTH PLAIN/LOGIN, inside TLS)
    size_t max_size = 0;      // SIZE (0: none)
    bool pipelining = false;  // advertise PIPELINING
  };
  static absl::StatusOr<std::unique_ptr<AiosmtpdInstance>> Start(
      Options options);
  ~AiosmtpdInstance();

  uint16_t port() const { return port_; }
  std::string Log() const;
  absl::StatusOr<std::string> WaitForLog(
      const std::function<bool(const std::string&)>& done,
      absl::Duration timeout);
  void Stop();

 private:
  AiosmtpdInstance() = default;
  PeerDirectory dir_;
  uint16_t port_ = 0;
  tools::testing::ChildProcess server_;
};

}  // namespace starling::interop

#endif  // STARLING_TOOLS_INTEROP_PEERS_H_
