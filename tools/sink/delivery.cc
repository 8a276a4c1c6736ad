#include "tools/sink/delivery.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tools/io/address.h"

namespace starling::sink {
namespace {

absl::Status Errno(absl::string_view what, absl::string_view path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, absl::string_view octets, absl::string_view path) {
  while (!octets.empty()) {
    const ssize_t n = ::write(fd, octets.data(), octets.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    octets.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Makes a rename or a new file in `dir` durable.
void SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

absl::Status MakeDirectory(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create ", path, ": ", error.message()));
  }
  return absl::OkStatus();
}

class DiscardWriter : public MessageWriter {
 public:
  absl::Status Append(absl::string_view octets) override {
    size_ += octets.size();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> Commit() override {
    return absl::StrCat("discarded (", size_, " octets)");
  }
  void Abort() override {}

 private:
  uint64_t size_ = 0;
};

class DiscardStore : public MessageStore {
 public:
  absl::StatusOr<std::unique_ptr<MessageWriter>> Begin(const Envelope&,
                                                       absl::string_view,
                                                       absl::Time) override {
    return std::make_unique<DiscardWriter>();
  }
};

// A file written under a temporary name, fsynced and renamed into place:
// a reader never sees half a message, and a crash loses none that was
// accepted. `finish` may turn the temporary file into something else (mbox).
class FileWriter : public MessageWriter {
 public:
  FileWriter(int fd, std::string temp, std::string final_path)
      : fd_(fd), temp_(std::move(temp)), final_(std::move(final_path)) {}
  ~FileWriter() override { Abort(); }

  absl::Status Append(absl::string_view octets) override {
    return WriteAll(fd_, octets, temp_);
  }
  absl::StatusOr<std::string> Commit() override {
    if (::fsync(fd_) != 0) return Errno("cannot sync", temp_);
    ::close(fd_);
    fd_ = -1;
    if (::rename(temp_.c_str(), final_.c_str()) != 0) {
      return Errno("cannot move into place", final_);
    }
    SyncDirectory(std::filesystem::path(final_).parent_path().string());
    temp_.clear();
    return final_;
  }
  void Abort() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!temp_.empty()) ::unlink(temp_.c_str());
    temp_.clear();
  }

 protected:
  int fd_;
  std::string temp_;
  std::string final_;
};

absl::StatusOr<int> CreateExclusive(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", path);
  return fd;
}

// Maildir (tmp/ then new/, as qmail and Dovecot expect).
class MaildirStore : public MessageStore {
 public:
  explicit MaildirStore(std::string dir) : dir_(std::move(dir)), host_(io::MachineName()) {}

  absl::StatusOr<std::unique_ptr<MessageWriter>> Begin(
      const Envelope&, absl::string_view id, absl::Time now) override {
    const std::string name =
        absl::StrCat(absl::ToUnixSeconds(now), ".P", ::getpid(), "Q", id, ".", host_);
    const std::string temp = absl::StrCat(dir_, "/tmp/", name);
    absl::StatusOr<int> fd = CreateExclusive(temp);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<MessageWriter>(
        new FileWriter(*fd, temp, absl::StrCat(dir_, "/new/", name)));
  }

 private:
  std::string dir_;
  std::string host_;
};

// One .eml file per message.
class EmlStore : public MessageStore {
 public:
  explicit EmlStore(std::string dir) : dir_(std::move(dir)) {}

  absl::StatusOr<std::unique_ptr<MessageWriter>> Begin(
      const Envelope&, absl::string_view id, absl::Time now) override {
    const std::string name = absl::StrCat(absl::ToUnixSeconds(now), "-", ::getpid(),
                                          "-", id);
    const std::string temp = absl::StrCat(dir_, "/.", name, ".tmp");
    absl::StatusOr<int> fd = CreateExclusive(temp);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<MessageWriter>(
        new FileWriter(*fd, temp, absl::StrCat(dir_, "/", name, ".eml")));
  }

 private:
  std::string dir_;
};

// mboxrd: "From " separator lines, ">From " quoting of body lines that
// begin with ">*From ", LF line ends. The message goes to a temporary file
// first, then is appended under an exclusive flock.
class MboxWriter : public FileWriter {
 public:
  MboxWriter(int fd, std::string temp, std::string mbox, std::string sender,
             absl::Time now)
      : FileWriter(fd, std::move(temp), std::move(mbox)),
        sender_(std::move(sender)),
        now_(now) {}

  absl::StatusOr<std::string> Commit() override {
    const int in = ::open(temp_.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return Errno("cannot reopen", temp_);
    const int out = ::open(final_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (out < 0) {
      ::close(in);
      return Errno("cannot open", final_);
    }
    if (::flock(out, LOCK_EX) != 0) {
      ::close(in);
      ::close(out);
      return Errno("cannot lock", final_);
    }
    // On a failed append the mbox is cut back to where it was: no reader
    // ever sees half a message.
    const off_t start = ::lseek(out, 0, SEEK_END);
    std::string text = absl::StrCat(
        "From ", sender_.empty() ? "MAILER-DAEMON" : sender_, " ",
        absl::FormatTime("%a %b %e %H:%M:%S %Y", now_, absl::UTCTimeZone()), "\n");
    absl::Status status;
    char buffer[64 * 1024];
    std::string line;  // the current line, for quoting
    auto flush_line = [&](bool ended) {
      absl::string_view body = line;
      if (absl::EndsWith(body, "\r")) body.remove_suffix(1);
      const size_t gts = body.find_first_not_of('>');
      if (gts != absl::string_view::npos &&
          absl::StartsWith(body.substr(gts), "From ")) {
        text.push_back('>');
      }
      text.append(body.data(), body.size());
      if (ended) text.push_back('\n');
      line.clear();
    };
    for (;;) {
      const ssize_t n = ::read(in, buffer, sizeof buffer);
      if (n < 0) {
        status = Errno("cannot read", temp_);
        break;
      }
      if (n == 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        if (buffer[i] == '\n') {
          flush_line(true);
        } else {
          line.push_back(buffer[i]);
        }
      }
      if (text.size() > sizeof buffer) {
        status.Update(WriteAll(out, text, final_));
        text.clear();
      }
    }
    if (!line.empty()) flush_line(true);
    text.push_back('\n');  // a blank line ends the message
    if (status.ok()) status.Update(WriteAll(out, text, final_));
    if (status.ok() && ::fsync(out) != 0) status = Errno("cannot sync", final_);
    if (!status.ok() && start >= 0 && ::ftruncate(out, start) != 0) {
      status = absl::InternalError(absl::StrCat(
          status.message(), "; and cannot cut ", final_, " back: ",
          std::strerror(errno)));
    }
    ::flock(out, LOCK_UN);
    ::close(out);
    ::close(in);
    Abort();  // the temporary file
    if (!status.ok()) return status;
    return final_;
  }

 private:
  std::string sender_;
  absl::Time now_;
};

class MboxStore : public MessageStore {
 public:
  explicit MboxStore(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<std::unique_ptr<MessageWriter>> Begin(
      const Envelope& envelope, absl::string_view id, absl::Time now) override {
    const std::string temp = absl::StrCat(path_, ".starling-", ::getpid(), "-", id);
    absl::StatusOr<int> fd = CreateExclusive(temp);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<MessageWriter>(
        new MboxWriter(*fd, temp, path_, envelope.sender, now));
  }

 private:
  std::string path_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MessageStore>> OpenStore(absl::string_view spec) {
  if (spec == "discard") return std::unique_ptr<MessageStore>(new DiscardStore());
  const size_t colon = spec.find(':');
  const absl::string_view kind = spec.substr(0, colon);
  const std::string path =
      colon == absl::string_view::npos ? "" : std::string(spec.substr(colon + 1));
  if (path.empty() && (kind == "maildir" || kind == "mbox" || kind == "eml")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--deliver=", spec, ": ", kind, " needs a path (", kind,
                     ":PATH)"));
  }
  if (kind == "maildir") {
    for (const char* sub : {"/tmp", "/new", "/cur"}) {
      if (absl::Status s = MakeDirectory(path + sub); !s.ok()) return s;
    }
    return std::unique_ptr<MessageStore>(new MaildirStore(path));
  }
  if (kind == "eml") {
    if (absl::Status s = MakeDirectory(path); !s.ok()) return s;
    return std::unique_ptr<MessageStore>(new EmlStore(path));
  }
  if (kind == "mbox") {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--deliver=", spec, ": ", parent.string(),
                       " is not a directory"));
    }
    return std::unique_ptr<MessageStore>(new MboxStore(path));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--deliver=", spec, ": expected discard, maildir:DIR, mbox:FILE or eml:DIR"));
}

}  // namespace starling::sink
