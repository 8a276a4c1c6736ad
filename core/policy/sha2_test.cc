#include "core/policy/sha2.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace starling::policy {
namespace {

std::string Hex(const std::string& raw) { return absl::BytesToHexString(raw); }

// FIPS 180-4 example vectors (NIST CSRC "Examples with intermediate values").
TEST(Sha2Test, Sha256Vectors) {
  EXPECT_EQ(Hex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(Sha256(
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Hex(Sha256(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha2Test, Sha512Vectors) {
  EXPECT_EQ(Hex(Sha512("abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(Hex(Sha512("")),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
  EXPECT_EQ(
      Hex(Sha512("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                 "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")),
      "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
      "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909");
  EXPECT_EQ(Hex(Sha512(std::string(1000000, 'a'))),
            "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
            "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b");
}

// Lengths around the padding boundaries (55/56/64 and 111/112/128 bytes)
// must differ from each other and be stable.
TEST(Sha2Test, PaddingBoundariesDiffer) {
  std::string previous256, previous512;
  for (size_t n : {55, 56, 57, 63, 64, 65, 111, 112, 113, 127, 128, 129}) {
    const std::string a = Sha256(std::string(n, 'x'));
    const std::string b = Sha512(std::string(n, 'x'));
    EXPECT_EQ(a.size(), 32u);
    EXPECT_EQ(b.size(), 64u);
    EXPECT_NE(a, previous256);
    EXPECT_NE(b, previous512);
    previous256 = a;
    previous512 = b;
  }
}

}  // namespace
}  // namespace starling::policy
