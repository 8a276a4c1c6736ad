#include "tools/interop/peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace starling::interop {
namespace {

namespace fs = std::filesystem;
using tools::testing::ChildProcess;
using tools::testing::ProgramResult;
using tools::testing::RunProgram;
using tools::testing::RunProgramForResult;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

absl::Status MakeDirectory(const std::string& path, int mode) {
  if (mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST) {
    return Errno(absl::StrCat("mkdir ", path));
  }
  if (chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    return Errno(absl::StrCat("chmod ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> WaitForText(
    const std::function<std::string()>& read,
    const std::function<bool(const std::string&)>& done, absl::Duration timeout,
    absl::string_view what) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    std::string text = read();
    if (done(text)) return text;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": not there after ",
                       absl::FormatDuration(timeout), "; it says:\n", text));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

}  // namespace

std::string FindPeerProgram(absl::string_view program) {
  std::string path = tools::testing::FindProgram(program);
  if (!path.empty()) return path;
  std::error_code error;
  for (const auto& package : fs::directory_iterator(kUnpackedPeers, error)) {
    for (const char* dir : {"/usr/sbin/", "/usr/bin/"}) {
      std::string candidate =
          absl::StrCat(package.path().string(), dir, program);
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return "";
}

std::string DebianPython() {
  return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "";
}

absl::StatusOr<PeerDirectory> PeerDirectory::Create(absl::string_view name) {
  std::string path = absl::StrCat("/tmp/starling-interop-", name, ".XXXXXX");
  if (mkdtemp(path.data()) == nullptr)
    return Errno(absl::StrCat("mkdtemp ", path));
  if (chmod(path.c_str(), 0755) != 0)
    return Errno(absl::StrCat("chmod ", path));
  PeerDirectory dir;
  dir.path_ = std::move(path);
  return dir;
}

PeerDirectory::PeerDirectory(PeerDirectory&& other)
    : path_(std::exchange(other.path_, "")) {}

PeerDirectory& PeerDirectory::operator=(PeerDirectory&& other) {
  if (this != &other) {
    PeerDirectory gone(std::move(*this));
    path_ = std::exchange(other.path_, "");
  }
  return *this;
}

PeerDirectory::~PeerDirectory() {
  if (path_.empty()) return;
  // KEEP_INTEROP_DIRS=1 leaves them for a post-mortem.
  const char* keep = getenv("KEEP_INTEROP_DIRS");
  if (keep != nullptr && std::string(keep) == "1") return;
  std::error_code error;
  fs::remove_all(path_, error);
}

std::string PeerDirectory::Path(absl::string_view name) const {
  return absl::StrCat(path_, "/", name);
}

absl::Status WriteFile(const std::string& path, absl::string_view contents,
                       int mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  if (chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    return Errno(absl::StrCat("chmod ", path));
  }
  return absl::OkStatus();
}

absl::Status ChownTree(const std::string& path, const std::string& user) {
  const passwd* entry = getpwnam(user.c_str());
  if (entry == nullptr) {
    return absl::NotFoundError(absl::StrCat("no user ", user));
  }
  const uid_t uid = entry->pw_uid;
  const gid_t gid = entry->pw_gid;
  if (lchown(path.c_str(), uid, gid) != 0)
    return Errno(absl::StrCat("chown ", path));
  std::error_code error;
  for (const auto& item : fs::recursive_directory_iterator(path, error)) {
    if (lchown(item.path().c_str(), uid, gid) != 0) {
      return Errno(absl::StrCat("chown ", item.path().string()));
    }
  }
  return absl::OkStatus();
}

uint16_t PickPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

absl::Status WaitForPort(uint16_t port, absl::Duration timeout,
                         ChildProcess* child) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (child != nullptr && !child->Running()) {
      return absl::UnavailableError(
          absl::StrCat("the server exited before listening on port ", port));
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&address),
                              sizeof address) == 0;
    ::close(fd);
    if (up) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("nothing listens on 127.0.0.1:", port, " after ",
                   absl::FormatDuration(timeout)));
}

absl::StatusOr<std::string> WaitForFile(
    const std::string& path,
    const std::function<bool(const std::string&)>& done,
    absl::Duration timeout) {
  return WaitForText([&] { return ReadFile(path); }, done, timeout, path);
}

absl::StatusOr<Certificates> MakeCertificates(
    const std::string& dir, const std::vector<std::string>& names) {
  const std::string openssl = tools::testing::FindProgram("openssl");
  if (openssl.empty()) return absl::NotFoundError("openssl is not installed");
  const absl::Duration timeout = absl::Seconds(60);
  Certificates out;
  out.ca = dir + "/ca.pem";
  out.cert = dir + "/server.pem";
  out.chain = dir + "/server-chain.pem";
  out.key = dir + "/server-key.pem";
  out.client_cert = dir + "/client.pem";
  out.client_key = dir + "/client-key.pem";
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt",
                                       "ec_paramgen_curve:P-256", "-nodes"};
  auto run = [&](std::vector<std::string> argv) -> absl::Status {
    argv.insert(argv.begin(), openssl);
    return RunProgram(argv, dir, timeout).status();
  };
  std::vector<std::string> ca = {"req", "-x509"};
  ca.insert(ca.end(), ec.begin(), ec.end());
  for (const std::string& arg :
       {std::string("-keyout"), dir + "/ca-key.pem", std::string("-out"),
        out.ca, std::string("-days"), std::string("3"), std::string("-subj"),
        std::string("/O=Starling Interop/CN=Starling Interop Test CA"),
        std::string("-addext"),
        std::string("basicConstraints=critical,CA:TRUE"),
        std::string("-addext"),
        std::string("keyUsage=critical,keyCertSign,cRLSign")}) {
    ca.push_back(arg);
  }
  if (absl::Status s = run(ca); !s.ok()) return s;
  // Leaf certificates: a request, then signed by the CA with extensions.
  auto leaf = [&](const std::string& stem, const std::string& cn,
                  const std::string& extensions, int serial) -> absl::Status {
    std::vector<std::string> request = {"req", "-new"};
    request.insert(request.end(), ec.begin(), ec.end());
    for (const std::string& arg :
         {std::string("-keyout"), dir + "/" + stem + "-key.pem",
          std::string("-out"), dir + "/" + stem + ".csr", std::string("-subj"),
          "/O=Starling Interop/CN=" + cn}) {
      request.push_back(arg);
    }
    if (absl::Status s = run(request); !s.ok()) return s;
    const std::string ext_file = dir + "/" + stem + ".ext";
    if (absl::Status s = WriteFile(ext_file, extensions); !s.ok()) return s;
    return run({"x509", "-req", "-in", dir + "/" + stem + ".csr", "-CA", out.ca,
                "-CAkey", dir + "/ca-key.pem", "-set_serial",
                absl::StrCat(serial), "-days", "3", "-sha256", "-out",
                dir + "/" + stem + ".pem", "-extfile", ext_file});
  };
  std::vector<std::string> san;
  for (const std::string& name : names) san.push_back("DNS:" + name);
  san.push_back("IP:127.0.0.1");
  if (absl::Status s =
          leaf("server", names.empty() ? "localhost" : names[0],
               absl::StrCat("subjectAltName=", absl::StrJoin(san, ","),
                            "\nbasicConstraints=CA:FALSE\n"
                            "keyUsage=critical,digitalSignature\n"
                            "extendedKeyUsage=serverAuth,clientAuth\n"),
               2);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = leaf("client", "client.interop.test",
                            "subjectAltName=DNS:client.interop.test\n"
                            "basicConstraints=CA:FALSE\n"
                            "keyUsage=critical,digitalSignature\n"
                            "extendedKeyUsage=clientAuth\n",
                            3);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          WriteFile(out.chain, ReadFile(out.cert) + ReadFile(out.ca));
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> fingerprint = RunProgram(
      {openssl, "x509", "-in", out.cert, "-noout", "-fingerprint", "-sha256"},
      dir, timeout);
  if (!fingerprint.ok()) return fingerprint.status();
  const size_t equals = fingerprint->find('=');
  if (equals == std::string::npos) {
    return absl::InternalError(
        absl::StrCat("openssl fingerprint: ", *fingerprint));
  }
  out.sha256 =
      std::string(absl::StripAsciiWhitespace(fingerprint->substr(equals + 1)));
  // Every peer's user reads them.
  for (const std::string& file :
       {out.key, out.client_key, dir + "/ca-key.pem"}) {
    chmod(file.c_str(), 0644);
  }
  return out;
}

std::string Grep(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::string l(line);
    if (std::regex_search(l, re)) return l;
  }
  return "";
}

std::string VersionLine(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty()) return "";
  absl::StatusOr<ProgramResult> result =
      RunProgramForResult(argv, "/tmp", absl::Seconds(30));
  if (!result.ok()) return "";
  for (const std::string* text : {&result->out, &result->err}) {
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      // Exim warns about its environment before it names itself.
      if (!line.empty() && !absl::StrContains(line, "Warning") &&
          !absl::StrContains(line, "Suggested action")) {
        return std::string(line);
      }
    }
  }
  return "";
}

// --- Postfix ---------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PostfixInstance>> PostfixInstance::Start(
    Options options) {
  const std::string postfix = tools::testing::FindProgram("postfix");
  const std::string master = "/usr/lib/postfix/sbin/master";
  if (postfix.empty() || access(master.c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        "Postfix is not installed (postfix, tools/install-test-peers)");
  }
  auto instance = std::unique_ptr<PostfixInstance>(new PostfixInstance());
  absl::StatusOr<PeerDirectory> dir = PeerDirectory::Create("postfix");
  if (!dir.ok()) return dir.status();
  instance->dir_ = *std::move(dir);
  const PeerDirectory& d = instance->dir_;
  for (const char* sub : {"etc", "queue", "data"}) {
    if (absl::Status s = MakeDirectory(d.Path(sub), 0755); !s.ok()) return s;
  }
  if (absl::Status s = ChownTree(d.Path("data"), "postfix"); !s.ok()) return s;
  if (options.smtpd) {
    instance->port_ = PickPort();
    if (instance->port_ == 0) return absl::InternalError("no free port");
  }
  // main.cf written from scratch: Postfix's compiled-in defaults at
  // compatibility level 3.6 (SMTPUTF8 on), plus what a test instance needs.
  std::vector<std::string> main_cf = {
      "compatibility_level = 3.6",
      "queue_directory = " + d.Path("queue"),
      "data_directory = " + d.Path("data"),
      "mail_owner = postfix",
      "setgid_group = postdrop",
      "myhostname = postfix.interop.test",
      "mydomain = interop.test",
      "myorigin = $myhostname",
      "mydestination =",
      "inet_interfaces = 127.0.0.1",
      "inet_protocols = ipv4",
      "mynetworks = 127.0.0.0/8",
      "maillog_file = " + d.Path("maillog"),
      "maillog_file_prefixes = " + d.path(),
      "alias_maps =",
      "alias_database =",
      "local_recipient_maps =",
      "default_transport = discard:",
      "relay_transport = discard:",
      "local_transport = discard:",
      "virtual_transport = discard:",
      "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
      "smtpd_error_sleep_time = 0",
      "disable_dns_lookups = yes",
      "smtp_dns_support_level = disabled",
      "smtp_host_lookup = native",
      "biff = no",
      "smtputf8_enable = yes",
  };
  main_cf.insert(main_cf.end(), options.main_cf.begin(), options.main_cf.end());
  const std::string etc = d.Path("etc");
  const auto expand = [&](const std::string& text) {
    return absl::StrReplaceAll(text, {{"@DIR@", d.path()}, {"@ETC@", etc}});
  };
  for (std::string& line : main_cf) line = expand(line);
  std::vector<std::string> master_cf;
  if (options.smtpd) {
    master_cf.push_back(
        absl::StrCat("127.0.0.1:", instance->port_, " inet n - n - - smtpd"));
  }
  for (const char* line : {
           "pickup    unix  n - n 60 1 pickup",
           "cleanup   unix  n - n -  0 cleanup",
           "qmgr      unix  n - n 300 1 qmgr",
           "tlsmgr    unix  - - n 1000? 1 tlsmgr",
           "rewrite   unix  - - n - - trivial-rewrite",
           "bounce    unix  - - n - 0 bounce",
           "defer     unix  - - n - 0 bounce",
           "trace     unix  - - n - 0 bounce",
           "verify    unix  - - n - 1 verify",
           "flush     unix  n - n 1000? 0 flush",
           "proxymap  unix  - - n - - proxymap",
           "proxywrite unix - - n - 1 proxymap",
           "smtp      unix  - - n - - smtp",
           "relay     unix  - - n - - smtp",
           "showq     unix  n - n - - showq",
           "error     unix  - - n - - error",
           "retry     unix  - - n - - error",
           "discard   unix  - - n - - discard",
           "local     unix  - n n - - local",
           "virtual   unix  - n n - - virtual",
           "lmtp      unix  - - n - - lmtp",
           "anvil     unix  - - n - 1 anvil",
           "scache    unix  - - n - 1 scache",
           "postlog   unix-dgram n - n - 1 postlogd",
       }) {
    master_cf.push_back(line);
  }
  for (const std::string& line : options.master_cf)
    master_cf.push_back(expand(line));
  if (absl::Status s =
          WriteFile(etc + "/main.cf", absl::StrJoin(main_cf, "\n") + "\n");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          WriteFile(etc + "/master.cf", absl::StrJoin(master_cf, "\n") + "\n");
      !s.ok()) {
    return s;
  }
  for (const auto& [name, contents] : options.files) {
    std::error_code error;
    fs::create_directories(fs::path(etc + "/" + name).parent_path(), error);
    if (absl::Status s = WriteFile(etc + "/" + name, expand(contents));
        !s.ok()) {
      return s;
    }
  }
  for (const auto& [argv, input] : options.commands) {
    std::vector<std::string> expanded;
    for (const std::string& arg : argv) expanded.push_back(expand(arg));
    absl::StatusOr<ProgramResult> result =
        RunProgramForResult(expanded, etc, absl::Seconds(60), input);
    if (!result.ok()) return result.status();
    if (result->exit_code != 0) {
      return absl::InternalError(absl::StrCat(absl::StrJoin(expanded, " "),
                                              ": exit ", result->exit_code,
                                              ": ", result->err));
    }
  }
  // `postfix check` creates the queue's subdirectories with their owners.
  absl::StatusOr<ProgramResult> check = RunProgramForResult(
      {postfix, "-c", etc, "check"}, d.path(), absl::Seconds(60));
  if (!check.ok()) return check.status();
  if (check->exit_code != 0) {
    return absl::InternalError(absl::StrCat("postfix check: ", check->out,
                                            check->err, instance->Log()));
  }
  // The master daemon in the foreground (-d): a child of this test, in its
  // process group with every Postfix process it starts.
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(
      {master, "-c", etc, "-d"}, d.path(), d.Path("master.out"), false);
  if (!child.ok()) return child.status();
  instance->master_ = *std::move(child);
  absl::Status up =
      options.smtpd
          ? WaitForPort(instance->port_, absl::Seconds(30), &instance->master_)
          : instance
                ->WaitForLog(
                    [](const std::string& log) {
                      return absl::StrContains(log, "daemon started");
                    },
                    absl::Seconds(30))
                .status();
  if (!up.ok()) {
    return absl::UnavailableError(absl::StrCat(
        up.message(), "\n", instance->Log(), ReadFile(d.Path("master.out"))));
  }
  return instance;
}

PostfixInstance::~PostfixInstance() { Stop(); }

void PostfixInstance::Stop() { master_.Stop(absl::Seconds(10)); }

std::string PostfixInstance::Log() const {
  return ReadFile(dir_.Path("maillog"));
}

absl::StatusOr<std::string> PostfixInstance::WaitForLog(
    const std::function<bool(const std::string&)>& done,
    absl::Duration timeout) {
  return WaitForText([this] { return Log(); }, done, timeout, "Postfix log");
}

absl::Status PostfixInstance::Submit(const std::string& from,
                                     const std::vector<std::string>& to,
                                     const std::string& message) {
  const std::string sendmail = tools::testing::FindProgram("sendmail");
  if (sendmail.empty()) return absl::NotFoundError("no sendmail (Postfix)");
  std::vector<std::string> argv = {sendmail, "-C", config_dir(),
                                   "-f",     from, "--"};
  argv.insert(argv.end(), to.begin(), to.end());
  absl::StatusOr<ProgramResult> result =
      RunProgramForResult(argv, dir_.path(), absl::Seconds(60), message);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("sendmail exit ", result->exit_code, ": ", result->err));
  }
  return absl::OkStatus();
}

absl::Status PostfixInstance::Flush() {
  const std::string postqueue = tools::testing::FindProgram("postqueue");
  return RunProgram({postqueue, "-c", config_dir(), "-f"}, dir_.path(),
                    absl::Seconds(30))
      .status();
}

// --- Exim ------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<EximInstance>> EximInstance::Start(
    Options options) {
  const std::string exim = FindPeerProgram("exim4");
  if (exim.empty()) {
    return absl::NotFoundError(
        "Exim is not installed (exim4-daemon-light, unpacked by "
        "tools/install-test-peers)");
  }
  if (getpwnam("Debian-exim") == nullptr) {
    return absl::NotFoundError(
        "no Debian-exim user (tools/install-test-peers)");
  }
  auto instance = std::unique_ptr<EximInstance>(new EximInstance());
  absl::StatusOr<PeerDirectory> dir = PeerDirectory::Create("exim");
  if (!dir.ok()) return dir.status();
  instance->dir_ = *std::move(dir);
  const PeerDirectory& d = instance->dir_;
  for (const char* sub : {"spool", "log"}) {
    if (absl::Status s = MakeDirectory(d.Path(sub), 0750); !s.ok()) return s;
    if (absl::Status s = ChownTree(d.Path(sub), "Debian-exim"); !s.ok())
      return s;
  }
  instance->port_ = PickPort();
  std::vector<std::string> main = {
      "exim_path = " + exim,  // it re-executes itself for deliveries
      "keep_environment =",
      "primary_hostname = exim.interop.test",
      "local_interfaces = 127.0.0.1",
      absl::StrCat("daemon_smtp_ports = ", instance->port_),
      "spool_directory = " + d.Path("spool"),
      "log_file_path = " + d.Path("log") + "/%slog",
      "log_selector = +smtp_protocol_error +smtp_syntax_error "
      "+tls_certificate_verified +tls_peerdn +received_recipients",
      "exim_user = Debian-exim",
      "exim_group = Debian-exim",
      "never_users = root",
      "host_lookup =",
      "rfc1413_hosts =",
      "acl_smtp_rcpt = accept",
      "acl_smtp_data = accept",
      "pipelining_advertise_hosts = *",
      "chunking_advertise_hosts = *",
      "dsn_advertise_hosts = *",
      "smtputf8_advertise_hosts = *",
      "accept_8bitmime = true",
      "tls_advertise_hosts =",
      "queue_only = false",
  };
  // An option set in options.main replaces its default.
  std::vector<std::string> defaults = std::move(main);
  main.clear();
  for (const std::string& line : defaults) {
    const std::string key = line.substr(0, line.find(' '));
    bool replaced = false;
    for (const std::string& mine : options.main) {
      if (mine.substr(0, mine.find(' ')) == key) replaced = true;
    }
    if (!replaced) main.push_back(line);
  }
  main.insert(main.end(), options.main.begin(), options.main.end());
  const std::string routers =
      options.routers.empty()
          ? "discard:\n  driver = redirect\n  data = :blackhole:\n"
          : options.routers;
  const std::string config =
      absl::StrCat(absl::StrJoin(main, "\n"), "\n\nbegin acl\n", options.acls,
                   "\nbegin routers\n", routers, "\nbegin transports\n",
                   options.transports, "\nbegin retry\n* * F,1m,1m\n",
                   "\nbegin rewrite\n\nbegin authenticators\n",
                   options.authenticators, "\n");
  const std::string file = d.Path("exim.conf");
  if (absl::Status s = WriteFile(file, config); !s.ok()) return s;
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(
      {exim, "-C", file, "-bdf", "-oX", absl::StrCat(instance->port_)},
      d.path(), d.Path("daemon.out"), false);
  if (!child.ok()) return child.status();
  instance->daemon_ = *std::move(child);
  if (absl::Status up =
          WaitForPort(instance->port_, absl::Seconds(30), &instance->daemon_);
      !up.ok()) {
    return absl::UnavailableError(absl::StrCat(
        up.message(), "\n", instance->Log(), ReadFile(d.Path("daemon.out"))));
  }
  return instance;
}

EximInstance::~EximInstance() { Stop(); }

void EximInstance::Stop() { daemon_.Stop(absl::Seconds(10)); }

std::string EximInstance::Log() const {
  return absl::StrCat(ReadFile(dir_.Path("log/mainlog")),
                      ReadFile(dir_.Path("log/rejectlog")),
                      ReadFile(dir_.Path("log/paniclog")));
}

absl::StatusOr<std::string> EximInstance::WaitForLog(
    const std::function<bool(const std::string&)>& done,
    absl::Duration timeout) {
  return WaitForText([this] { return Log(); }, done, timeout, "Exim log");
}

// --- OpenSMTPD ---------------------------------------------------------------

absl::StatusOr<std::unique_ptr<OpenSmtpdInstance>> OpenSmtpdInstance::Start(
    const std::string& config) {
  const std::string smtpd = FindPeerProgram("smtpd");
  const std::string unshare = tools::testing::FindProgram("unshare");
  if (smtpd.empty() ||
      !absl::StrContains(VersionLine({smtpd, "-h"}), "OpenSMTPD")) {
    return absl::NotFoundError(
        "OpenSMTPD is not installed (opensmtpd, unpacked by "
        "tools/install-test-peers)");
  }
  if (unshare.empty()) return absl::NotFoundError("no unshare (util-linux)");
  if (getpwnam("opensmtpd") == nullptr || getpwnam("opensmtpq") == nullptr) {
    return absl::NotFoundError(
        "no opensmtpd/opensmtpq users (tools/install-test-peers)");
  }
  auto instance = std::unique_ptr<OpenSmtpdInstance>(new OpenSmtpdInstance());
  absl::StatusOr<PeerDirectory> dir = PeerDirectory::Create("opensmtpd");
  if (!dir.ok()) return dir.status();
  instance->dir_ = *std::move(dir);
  const PeerDirectory& d = instance->dir_;
  for (const char* sub : {"spool", "run"}) {
    if (absl::Status s = MakeDirectory(d.Path(sub), 0755); !s.ok()) return s;
  }
  instance->port_ = PickPort();
  const std::string file = d.Path("smtpd.conf");
  // OpenSMTPD refuses a configuration others may write.
  if (absl::Status s =
          WriteFile(file,
                    absl::StrReplaceAll(
                        config, {{"$PORT", absl::StrCat(instance->port_)}}),
                    0600);
      !s.ok()) {
    return s;
  }
  const std::string script = absl::StrCat(
      "mount --bind ", d.Path("spool"), " /var/spool && mount --bind ",
      d.Path("run"), " /run && exec ", smtpd, " -d -f ", file);
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(
      {unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", script},
      d.path(), d.Path("smtpd.log"), false);
  if (!child.ok()) return child.status();
  instance->daemon_ = *std::move(child);
  if (absl::Status up =
          WaitForPort(instance->port_, absl::Seconds(30), &instance->daemon_);
      !up.ok()) {
    return absl::UnavailableError(
        absl::StrCat(up.message(), "\n", instance->Log()));
  }
  return instance;
}

OpenSmtpdInstance::~OpenSmtpdInstance() { Stop(); }

void OpenSmtpdInstance::Stop() { daemon_.Stop(absl::Seconds(10)); }

std::string OpenSmtpdInstance::Log() const {
  return ReadFile(dir_.Path("smtpd.log"));
}

absl::StatusOr<std::string> OpenSmtpdInstance::WaitForLog(
    const std::function<bool(const std::string&)>& done,
    absl::Duration timeout) {
  return WaitForText([this] { return Log(); }, done, timeout, "OpenSMTPD log");
}

// --- aiosmtpd ----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<AiosmtpdInstance>> AiosmtpdInstance::Start(
    Options options) {
  const std::string python = DebianPython();
  if (python.empty() || RunProgramForResult({python, "-c", "import aiosmtpd"},
                                            "/tmp", absl::Seconds(30))
                                ->exit_code != 0) {
    return absl::NotFoundError(
        "aiosmtpd is not installed (python3-aiosmtpd, "
        "tools/install-test-peers)");
  }
  absl::StatusOr<std::string> script =
      tools::testing::RunfilePath("tools/interop/aiosmtpd_server.py");
  if (!script.ok()) return script.status();
  auto instance = std::unique_ptr<AiosmtpdInstance>(new AiosmtpdInstance());
  absl::StatusOr<PeerDirectory> dir = PeerDirectory::Create("aiosmtpd");
  if (!dir.ok()) return dir.status();
  instance->dir_ = *std::move(dir);
  instance->port_ = PickPort();
  std::vector<std::string> argv = {python, "-u", *script, "--port",
                                   absl::StrCat(instance->port_)};
  if (!options.cert.empty()) {
    argv.insert(argv.end(), {"--cert", options.cert, "--key", options.key});
  }
  if (!options.auth.empty()) argv.insert(argv.end(), {"--auth", options.auth});
  if (options.max_size > 0) {
    argv.insert(argv.end(), {"--max-size", absl::StrCat(options.max_size)});
  }
  if (options.pipelining) argv.push_back("--pipelining");
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(
      argv, instance->dir_.path(), instance->dir_.Path("aiosmtpd.log"), false);
  if (!child.ok()) return child.status();
  instance->server_ = *std::move(child);
  if (absl::Status up =
          WaitForPort(instance->port_, absl::Seconds(30), &instance->server_);
      !up.ok()) {
    return absl::UnavailableError(
        absl::StrCat(up.message(), "\n", instance->Log()));
  }
  return instance;
}

AiosmtpdInstance::~AiosmtpdInstance() { Stop(); }

void AiosmtpdInstance::Stop() { server_.Stop(absl::Seconds(5)); }

std::string AiosmtpdInstance::Log() const {
  return ReadFile(dir_.Path("aiosmtpd.log"));
}

absl::StatusOr<std::string> AiosmtpdInstance::WaitForLog(
    const std::function<bool(const std::string&)>& done,
    absl::Duration timeout) {
  return WaitForText([this] { return Log(); }, done, timeout, "aiosmtpd log");
}

}  // namespace starling::interop
