#include "core/policy/level.h"

#include <string>

#include "gtest/gtest.h"

namespace starling::policy {
namespace {

TEST(LevelTest, GradeOfCipherSuite) {
  struct Case {
    const char* suite;
    CipherGrade grade;
  };
  for (const Case& c : {
           Case{"ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", CipherGrade::kHigh},
           Case{"TLS_AES_128_GCM_SHA256", CipherGrade::kHigh},
           Case{"ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", CipherGrade::kHigh},
           Case{"RSA_WITH_CAMELLIA256_CBC_SHA", CipherGrade::kHigh},
           Case{"ecdhe-rsa-aes128-gcm-sha256", CipherGrade::kHigh},  // any case
           Case{"RSA_WITH_3DES_EDE_CBC_SHA", CipherGrade::kMedium},
           Case{"DES-CBC3-SHA", CipherGrade::kMedium},
           Case{"RSA_WITH_SEED_CBC_SHA", CipherGrade::kMedium},
           Case{"RSA_WITH_RC4_128_SHA", CipherGrade::kLow},
           Case{"rsa_with_des_cbc_sha", CipherGrade::kLow},
           Case{"RSA_EXPORT_WITH_RC4_40_MD5", CipherGrade::kExport},
           Case{"EXP-RC4-MD5", CipherGrade::kExport},
           Case{"RSA_WITH_NULL_SHA256", CipherGrade::kNull},
           Case{"ECDHE_ECDSA_WITH_NULL_AES", CipherGrade::kNull},  // worst wins
           Case{"SOMETHING_NEW", CipherGrade::kMedium},             // unknown
           Case{"", CipherGrade::kMedium},
           // A token longer than any name is no name.
           Case{"AESAESAESAESAES_CAMELLIA2566", CipherGrade::kMedium},
       }) {
    EXPECT_EQ(GradeOfCipherSuite(c.suite), c.grade) << c.suite;
  }
}

TEST(LevelTest, CipherSuiteHasToken) {
  EXPECT_TRUE(CipherSuiteHasToken("ECDHE_RSA_WITH_AES_128_CBC_SHA", "cbc"));
  EXPECT_FALSE(CipherSuiteHasToken("ECDHE_RSA_WITH_AES_128_GCM_SHA256", "CBC"));
  EXPECT_TRUE(CipherSuiteHasToken("RSA_WITH_3DES_EDE_CBC_SHA", "3DES"));
  EXPECT_TRUE(CipherSuiteHasToken("DES-CBC3-SHA", "3des"));
}

}  // namespace
}  // namespace starling::policy
