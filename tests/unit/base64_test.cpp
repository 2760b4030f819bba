#include "planificador/util/base64.hpp"

#include <string>
#include <utility>

#include <gtest/gtest.h>

namespace planificador {
namespace {

// RFC 4648 §10.
const std::pair<std::string_view, std::string_view> k_rfc_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

TEST(Base64, EncodesRfc4648Vectors) {
  for (const auto& [plain, encoded] : k_rfc_vectors) {
    EXPECT_EQ(base64_encode(plain), encoded) << plain;
  }
}

TEST(Base64, DecodesRfc4648Vectors) {
  for (const auto& [plain, encoded] : k_rfc_vectors) {
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded << ": " << decoded.error().message;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64, RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all += static_cast<char>(i);
  }
  for (std::size_t size = 0; size <= all.size(); size += 37) {
    const std::string bytes = all.substr(all.size() - size);
    auto decoded = base64_decode(base64_encode(bytes));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, bytes);
  }
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(Base64, RejectsLengthNotMultipleOfFour) {
  for (const std::string_view text : {"Z", "Zg", "Zg=", "Zm9vY", "Zg==Z"}) {
    auto decoded = base64_decode(text);
    ASSERT_FALSE(decoded.has_value()) << text;
    EXPECT_NE(decoded.error().message.find("multiple of 4"), std::string::npos)
        << decoded.error().message;
  }
}

TEST(Base64, RejectsCharactersOutsideTheAlphabet) {
  for (const std::string_view text : {"Zm9v\nYmFy", "Zm9-", "Zm9_", "Zm 9", "Zm9\xff"}) {
    EXPECT_FALSE(base64_decode(text).has_value()) << text;
  }
  auto decoded = base64_decode(std::string_view("Zm\09", 4));
  ASSERT_FALSE(decoded.has_value());
  EXPECT_NE(decoded.error().message.find("0x00 at offset 2"), std::string::npos)
      << decoded.error().message;
}

TEST(Base64, RejectsMisplacedPadding) {
  for (const std::string_view text : {"====", "Z===", "=g==", "Zg=a", "Zg==Zg==", "Z=g="}) {
    EXPECT_FALSE(base64_decode(text).has_value()) << text;
  }
}

TEST(Base64, RejectsNonCanonicalPaddingBits) {
  // "Zh==" and "Zm9=" carry bits under the padding; only "Zg==" / "Zm8=" are canonical.
  EXPECT_FALSE(base64_decode("Zh==").has_value());
  EXPECT_FALSE(base64_decode("Zm9=").has_value());
  EXPECT_TRUE(base64_decode("Zg==").has_value());
  EXPECT_TRUE(base64_decode("Zm8=").has_value());
}

}  // namespace
}  // namespace planificador
