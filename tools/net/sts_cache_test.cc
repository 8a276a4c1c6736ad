#include "tools/net/sts_cache.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/testing/subprocess.h"

namespace starling::net {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kFetched =
    absl::FromUnixSeconds(1719835200) + absl::Milliseconds(250);  // 2024-07-01

policy::StsCacheEntry Entry(int64_t max_age = 86400) {
  policy::StsCacheEntry entry;
  entry.id = "20240701T1";
  entry.policy.mode = policy::StsMode::kEnforce;
  entry.policy.mx = {"mx.example.com", "*.backup.example.com"};
  entry.policy.max_age = max_age;
  entry.fetched_at = kFetched;
  return entry;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, absl::string_view text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  return names;
}

class StsCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> dir = tools::testing::MakeTestDirectory("sts-cache");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir + "/cache";  // Open creates it
    absl::StatusOr<StsCache> cache = StsCache::Open(dir_);
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_.emplace(*std::move(cache));
  }

  // Writes `text` as example.com's entry and loads it.
  absl::Status LoadText(absl::string_view text) {
    WriteFile(dir_ + "/example.com.json", text);
    return cache_->Load("example.com").status();
  }

  std::string dir_;
  std::optional<StsCache> cache_;
};

TEST_F(StsCacheTest, StoreThenLoadGivesTheSameEntry) {
  ASSERT_TRUE(cache_->Store("Example.COM.", Entry()).ok());
  absl::StatusOr<std::optional<policy::StsCacheEntry>> loaded =
      cache_->Load("example.com");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, Entry());
  EXPECT_THAT(Files(dir_), ElementsAre("example.com.json"));
}

TEST_F(StsCacheTest, FileFormat) {
  ASSERT_TRUE(cache_->Store("example.com", Entry()).ok());
  EXPECT_EQ(ReadFile(dir_ + "/example.com.json"),
            R"({
  "domain": "example.com",
  "fetched_at": "2024-07-01T12:00:00.25+00:00",
  "format": "starling-mta-sts-cache/1",
  "id": "20240701T1",
  "policy": {
    "max_age": 86400,
    "mode": "enforce",
    "mx": [
      "mx.example.com",
      "*.backup.example.com"
    ]
  }
}
)");
}

TEST_F(StsCacheTest, NothingCachedIsNotAnError) {
  absl::StatusOr<std::optional<policy::StsCacheEntry>> loaded =
      cache_->Load("example.org");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(StsCacheTest, MaxAgeIsClampedOnStore) {
  ASSERT_TRUE(cache_->Store("example.com", Entry(999999999999)).ok());
  EXPECT_THAT(ReadFile(dir_ + "/example.com.json"),
              HasSubstr("\"max_age\": 31557600,"));
  absl::StatusOr<std::optional<policy::StsCacheEntry>> loaded =
      cache_->Load("example.com");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->policy.max_age, policy::kStsMaxAgeLimit);
}

TEST_F(StsCacheTest, MaxAgeIsClampedOnLoad) {
  ASSERT_TRUE(cache_->Store("example.com", Entry()).ok());
  const std::string path = dir_ + "/example.com.json";
  WriteFile(path, absl::StrReplaceAll(ReadFile(path),
                                      {{"86400", "99999999999"}}));
  absl::StatusOr<std::optional<policy::StsCacheEntry>> loaded =
      cache_->Load("example.com");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->policy.max_age, policy::kStsMaxAgeLimit);
}

TEST_F(StsCacheTest, StoreReplacesAtomicallyAndLeavesNoTemporaryFiles) {
  ASSERT_TRUE(cache_->Store("example.com", Entry()).ok());
  policy::StsCacheEntry newer = Entry();
  newer.id = "20240702";
  newer.policy.mode = policy::StsMode::kTesting;
  ASSERT_TRUE(cache_->Store("example.com", newer).ok());
  EXPECT_EQ(**cache_->Load("example.com"), newer);
  EXPECT_THAT(Files(dir_), ElementsAre("example.com.json"));
}

TEST_F(StsCacheTest, ModeNoneWithoutMx) {
  policy::StsCacheEntry none = Entry();
  none.policy.mode = policy::StsMode::kNone;
  none.policy.mx.clear();
  ASSERT_TRUE(cache_->Store("example.com", none).ok());
  EXPECT_EQ(**cache_->Load("example.com"), none);
}

TEST_F(StsCacheTest, RemoveIsIdempotent) {
  ASSERT_TRUE(cache_->Store("example.com", Entry()).ok());
  ASSERT_TRUE(cache_->Remove("example.com").ok());
  EXPECT_FALSE(cache_->Load("example.com")->has_value());
  EXPECT_TRUE(cache_->Remove("example.com").ok());
}

TEST_F(StsCacheTest, CorruptFilesAreErrorsNamingTheFile) {
  ASSERT_TRUE(cache_->Store("example.com", Entry()).ok());
  const std::string good = ReadFile(dir_ + "/example.com.json");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not JSON"},
      {"{\"format\": ", "not JSON"},
      {"[1, 2]", "not a JSON object"},
      {"\xff\xfe", "not JSON"},
      {absl::StrReplaceAll(good, {{"\"format\"", "\"fromat\""}}), "unknown field"},
      {absl::StrReplaceAll(good, {{"starling-mta-sts-cache/1", "v2"}}), "format"},
      {absl::StrReplaceAll(good, {{"\"domain\": \"example.com\"",
                                   "\"domain\": \"example.org\""}}),
       "example.org"},
      {absl::StrReplaceAll(good, {{"20240701T1", "has space"}}), "bad id"},
      {absl::StrReplaceAll(good, {{"20240701T1", ""}}), "bad id"},
      {absl::StrReplaceAll(good, {{"2024-07-01T12:00:00.25+00:00", "yesterday"}}),
       "fetched_at"},
      {absl::StrReplaceAll(good, {{"\"enforce\"", "\"strict\""}}), "mode"},
      {absl::StrReplaceAll(good, {{"\"enforce\"", "7"}}), "mode"},
      {absl::StrReplaceAll(good, {{"\"mx.example.com\"", "\"mx .example.com\""}}),
       "mx"},
      {absl::StrReplaceAll(good, {{"\"mx.example.com\"", "\"a\\nmode: none\""}}),
       "line break"},
      {absl::StrReplaceAll(good, {{"\"mx.example.com\",", ""},
                                  {"\"*.backup.example.com\"", ""}}),
       "mx"},
      {absl::StrReplaceAll(good, {{"86400", "-1"}}), "negative"},
      {absl::StrReplaceAll(good, {{"86400", "1.5"}}), "max_age"},
      {R"({"format": "starling-mta-sts-cache/1", "domain": "example.com",
           "id": "1", "fetched_at": "2024-07-01T12:00:00Z", "policy": []})",
       "'policy' is missing or not an object"},
      {std::string(300 * 1024, ' '), "larger than"},
  };
  for (const auto& [text, why] : cases) {
    const absl::Status status = LoadText(text);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << text;
    EXPECT_THAT(status.message(), HasSubstr(dir_ + "/example.com.json")) << text;
    EXPECT_THAT(status.message(), HasSubstr(why)) << text;
  }
}

TEST_F(StsCacheTest, NamesThatAreNotDomainsNeverReachTheFileSystem) {
  for (const char* name : {"../etc/passwd", "a/b.example", "", ".", "x..y"}) {
    EXPECT_EQ(cache_->Load(name).status().code(),
              absl::StatusCode::kInvalidArgument)
        << name;
    EXPECT_EQ(cache_->Store(name, Entry()).code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
  EXPECT_TRUE(Files(dir_).empty());
}

TEST_F(StsCacheTest, EntryWithoutAFetchTimeIsRefused) {
  policy::StsCacheEntry entry = Entry();
  entry.fetched_at = absl::InfiniteFuture();
  EXPECT_EQ(cache_->Store("example.com", entry).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StsCacheTest, OpenRefusesAFile) {
  WriteFile(dir_ + "/plain-file", "x");
  EXPECT_FALSE(StsCache::Open(dir_ + "/plain-file").ok());
  EXPECT_FALSE(StsCache::Open("").ok());
}

TEST_F(StsCacheTest, FailedWriteIsAnError) {
  ASSERT_EQ(rmdir(dir_.c_str()), 0);  // the directory vanished after Open
  const absl::Status status = cache_->Store("example.com", Entry());
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr(dir_));
}

}  // namespace
}  // namespace starling::net
