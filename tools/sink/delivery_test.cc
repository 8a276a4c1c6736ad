#include "tools/sink/delivery.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace starling::sink {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  return dir.string();
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<fs::path> Files(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  return files;
}

Envelope Mail() { return Envelope{"a@example.org", {"b@example.net"}}; }

TEST(DeliveryTest, MaildirAppearsInNewOnlyOnCommit) {
  const std::string dir = TempDir("maildir");
  auto store = OpenStore("maildir:" + dir);
  ASSERT_TRUE(store.ok()) << store.status();
  auto writer = (*store)->Begin(Mail(), "ID1", absl::FromUnixSeconds(1));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("Subject: x\r\n\r\nbody\r\n").ok());
  EXPECT_EQ(Files(dir + "/new").size(), 0u);
  EXPECT_EQ(Files(dir + "/tmp").size(), 1u);
  auto where = (*writer)->Commit();
  ASSERT_TRUE(where.ok()) << where.status();
  ASSERT_EQ(Files(dir + "/new").size(), 1u);
  EXPECT_EQ(Files(dir + "/tmp").size(), 0u);
  EXPECT_EQ(Slurp(*where), "Subject: x\r\n\r\nbody\r\n");
}

TEST(DeliveryTest, AbortLeavesNothing) {
  const std::string dir = TempDir("abort");
  auto store = OpenStore("eml:" + dir);
  ASSERT_TRUE(store.ok());
  auto writer = (*store)->Begin(Mail(), "ID2", absl::FromUnixSeconds(1));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("half a mess").ok());
  (*writer)->Abort();
  EXPECT_TRUE(Files(dir).empty());
}

TEST(DeliveryTest, DestroyedUncommittedWriterLeavesNothing) {
  const std::string dir = TempDir("destroyed");
  auto store = OpenStore("eml:" + dir);
  ASSERT_TRUE(store.ok());
  {
    auto writer = (*store)->Begin(Mail(), "ID3", absl::FromUnixSeconds(1));
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("x").ok());
  }
  EXPECT_TRUE(Files(dir).empty());
}

TEST(DeliveryTest, EmlOneFilePerMessage) {
  const std::string dir = TempDir("eml");
  auto store = OpenStore("eml:" + dir);
  ASSERT_TRUE(store.ok());
  for (const char* id : {"A", "B"}) {
    auto writer = (*store)->Begin(Mail(), id, absl::FromUnixSeconds(1));
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(std::string("message ") + id + "\r\n").ok());
    ASSERT_TRUE((*writer)->Commit().ok());
  }
  const auto files = Files(dir);
  ASSERT_EQ(files.size(), 2u);
  for (const fs::path& file : files) EXPECT_EQ(file.extension(), ".eml");
}

TEST(DeliveryTest, MboxrdQuotesFromLinesAndSeparatesMessages) {
  const std::string dir = TempDir("mbox");
  fs::create_directories(dir);
  const std::string path = dir + "/box";
  auto store = OpenStore("mbox:" + path);
  ASSERT_TRUE(store.ok()) << store.status();
  for (const char* body : {"Subject: 1\r\n\r\nFrom here\r\n>From there\r\n",
                           "Subject: 2\r\n\r\nfine\r\n"}) {
    Envelope envelope = Mail();
    if (body[9] == '2') envelope.sender = "";
    auto writer = (*store)->Begin(envelope, "M", absl::FromUnixSeconds(0));
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(body).ok());
    ASSERT_TRUE((*writer)->Commit().ok());
  }
  EXPECT_EQ(Slurp(path),
            "From a@example.org Thu Jan  1 00:00:00 1970\n"
            "Subject: 1\n\n>From here\n>>From there\n\n"
            "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"
            "Subject: 2\n\nfine\n\n");
  // No temporary file is left beside the mbox.
  EXPECT_EQ(Files(dir).size(), 1u);
}

TEST(DeliveryTest, BadSpecsSayWhatIsWrong) {
  EXPECT_EQ(OpenStore("maildir").status().message(),
            "--deliver=maildir: maildir needs a path (maildir:PATH)");
  EXPECT_EQ(OpenStore("tape:/dev/st0").status().message(),
            "--deliver=tape:/dev/st0: expected discard, maildir:DIR, "
            "mbox:FILE or eml:DIR");
  EXPECT_FALSE(OpenStore("mbox:/nonexistent/dir/box").ok());
}

TEST(DeliveryTest, DiscardCountsOctets) {
  auto store = OpenStore("discard");
  ASSERT_TRUE(store.ok());
  auto writer = (*store)->Begin(Mail(), "D", absl::FromUnixSeconds(1));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("12345").ok());
  EXPECT_EQ(*(*writer)->Commit(), "discarded (5 octets)");
}

}  // namespace
}  // namespace starling::sink
