#include "tools/net/lookup.h"

#include <sys/stat.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/testing/subprocess.h"

namespace starling::net {
namespace {

using ::testing::HasSubstr;

// A resolver that forwards to a port where nothing answers: Open must not
// need an answer (lookups happen later).
LookupOptions Local() {
  LookupOptions options;
  options.resolvers = {"127.0.0.1@9"};
  options.dns_timeout = absl::Seconds(1);
  return options;
}

TEST(LookupTest, OpensWithACacheDirectory) {
  absl::StatusOr<std::string> dir = tools::testing::MakeTestDirectory("lookup");
  ASSERT_TRUE(dir.ok()) << dir.status();
  LookupOptions options = Local();
  options.sts_cache_dir = *dir + "/mta-sts";
  absl::StatusOr<DestinationLookup> lookup = DestinationLookup::Open(options);
  ASSERT_TRUE(lookup.ok()) << lookup.status();
  struct stat info;
  EXPECT_EQ(stat(options.sts_cache_dir.c_str(), &info), 0);
  EXPECT_EQ(lookup->resolver_options().forwarders,
            std::vector<std::string>{"127.0.0.1@9"});
  EXPECT_TRUE(lookup->resolver_options().resolv_conf.empty());
}

TEST(LookupTest, NotADomainIsAnError) {
  absl::StatusOr<DestinationLookup> lookup = DestinationLookup::Open(Local());
  ASSERT_TRUE(lookup.ok()) << lookup.status();
  EXPECT_EQ(lookup->Resolve("not a domain", absl::Now()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LookupTest, LocalProblemsAreErrors) {
  LookupOptions options = Local();
  options.trust_anchor_file = "/nonexistent/root.key";
  EXPECT_FALSE(DestinationLookup::Open(options).ok());

  options = Local();
  options.resolvers = {"not-an-address"};
  EXPECT_FALSE(DestinationLookup::Open(options).ok());

  options = Local();
  options.sts_fetch.ca_file = "/nonexistent/ca.pem";
  EXPECT_FALSE(DestinationLookup::Open(options).ok());

  options = Local();
  options.dns_timeout = absl::ZeroDuration();
  absl::StatusOr<DestinationLookup> lookup = DestinationLookup::Open(options);
  ASSERT_FALSE(lookup.ok());
  EXPECT_THAT(lookup.status().message(), HasSubstr("timeout"));
}

}  // namespace
}  // namespace starling::net
