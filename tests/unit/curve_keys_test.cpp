#include "planificador/transport/curve_keys.hpp"

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

#include <gtest/gtest.h>

namespace planificador::transport::curve {
namespace {

class CurveKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/planificador-keys-XXXXXX";
    m_dir = ::mkdtemp(pattern);
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  [[nodiscard]] std::string write(const std::string& name, const std::string& text) const {
    const std::string path = m_dir + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string m_dir;
};

TEST_F(CurveKeys, WrittenFilesLoadBack) {
  const auto keys = generate_key_pair();
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_TRUE(is_key(keys->public_key));
  EXPECT_TRUE(is_key(keys->secret_key));
  ASSERT_TRUE(write_key_files(m_dir + "/broker", *keys, "the broker"));

  struct stat info {};
  ASSERT_EQ(::stat((m_dir + "/broker.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600U);
  const auto pair = load_key_pair(m_dir + "/broker.key");
  ASSERT_TRUE(pair) << pair.error().message;
  EXPECT_EQ(pair->public_key, keys->public_key);
  EXPECT_EQ(pair->secret_key, keys->secret_key);
  const auto public_key = load_public_key(m_dir + "/broker.pub");
  ASSERT_TRUE(public_key) << public_key.error().message;
  EXPECT_EQ(*public_key, keys->public_key);
}

TEST_F(CurveKeys, ExistingFilesAreNeverReplaced) {
  const auto keys = generate_key_pair();
  ASSERT_TRUE(keys);
  ASSERT_TRUE(write_key_files(m_dir + "/d", *keys, "d"));
  const auto again = write_key_files(m_dir + "/d", *generate_key_pair(), "d");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("d.key"), std::string::npos) << again.error().message;
  EXPECT_EQ(load_key_pair(m_dir + "/d.key")->secret_key, keys->secret_key);
}

TEST_F(CurveKeys, AllowListsAreConcatenatedPublicFiles) {
  const auto a = generate_key_pair();
  const auto b = generate_key_pair();
  ASSERT_TRUE(a && b);
  const auto path = write("allow", "# daemons of the fleet\n\n" + a->public_key + " host-a\n  " +
                                       b->public_key + "\n#\n");
  const auto keys = load_public_keys(path);
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(*keys, (std::vector<std::string>{a->public_key, b->public_key}));
  EXPECT_FALSE(load_public_key(path)) << "two keys where one is expected";
}

TEST_F(CurveKeys, BadKeysNameTheirLine) {
  const auto bad_list = load_public_keys(write("bad", "# ok\nnot-a-key\n"));
  ASSERT_FALSE(bad_list);
  EXPECT_NE(bad_list.error().message.find("bad:2:"), std::string::npos) << bad_list.error().message;

  const auto keys = generate_key_pair();
  const auto other = generate_key_pair();
  ASSERT_TRUE(keys && other);
  const auto mismatched =
      load_key_pair(write("mismatch.key", "public-key = \"" + other->public_key +
                                              "\"\nsecret-key = \"" + keys->secret_key + "\"\n"));
  ASSERT_FALSE(mismatched);
  EXPECT_NE(mismatched.error().message.find("not the one secret-key implies"), std::string::npos);
  EXPECT_FALSE(load_key_pair(write("half.key", "public-key = \"" + keys->public_key + "\"\n")));
  EXPECT_FALSE(load_key_pair(m_dir + "/missing.key"));
  EXPECT_FALSE(is_key(std::string(39, '0')));
  EXPECT_FALSE(is_key(std::string(40, ' ')));
}

}  // namespace
}  // namespace planificador::transport::curve
