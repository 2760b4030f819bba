#include <set>

#include <gtest/gtest.h>

#include "planificador/backend/docker/container.hpp"

namespace planificador::backend::docker {
namespace {

TEST(ContainerRegistry, EveryLeasedUidIsItsContainersAlone) {
  ContainerRegistry registry(5000, 3);
  std::set<std::uint32_t> leased;
  for (int i = 0; i < 3; ++i) {
    const auto uid = registry.lease_uid();
    ASSERT_TRUE(uid);
    EXPECT_GE(*uid, 5000U);
    EXPECT_LT(*uid, 5003U);
    EXPECT_TRUE(leased.insert(*uid).second) << "uid " << *uid << " leased twice";
  }
  EXPECT_FALSE(registry.lease_uid()) << "the range is used up";
  registry.release_uid(5001);
  EXPECT_EQ(registry.lease_uid(), 5001U);
}

TEST(ContainerRegistry, ReleasedUidsAreTheLastToBeLeasedAgain) {
  // A uid given back is not handed out again at once: a process of its old container
  // that the engine has not reaped yet never shares it with a new one.
  ContainerRegistry registry(100, 4);
  const auto first = registry.lease_uid();
  ASSERT_TRUE(first);
  registry.release_uid(*first);
  const auto second = registry.lease_uid();
  ASSERT_TRUE(second);
  EXPECT_NE(*second, *first);
}

TEST(UidRange, InstancesGetBlocksOfTheirOwn) {
  const auto [first, count] = uid_range_of("host-a-1234abcd");
  EXPECT_EQ(count, 4096U);
  EXPECT_GE(first, 1'000'000'000U);
  EXPECT_EQ((first - 1'000'000'000U) % 4096, 0U);
  EXPECT_LE(std::uint64_t{first} + count, std::uint64_t{1} << 31) << "docker takes uids below 2^31";
  EXPECT_EQ(uid_range_of("host-a-1234abcd").first, first) << "stable across restarts";
  EXPECT_NE(uid_range_of("host-b-1234abcd").first, first);
}

}  // namespace
}  // namespace planificador::backend::docker
