#include <gtest/gtest.h>

#include "planificador/protocol/link.hpp"

namespace planificador::protocol::link {
namespace {

TaskId id_of(char fill) {
  TaskId id;
  id.bytes.fill(static_cast<unsigned char>(fill));
  return id;
}

std::string hex(std::string_view bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out += k_digits[static_cast<unsigned char>(c) >> 4U];
    out += k_digits[static_cast<unsigned char>(c) & 0xfU];
  }
  return out;
}

// The worked example of docs/fleet.md §1.
TEST(Link, ReadyOfTheWorkedExample) {
  Ready ready;
  ready.slots = 2;
  ready.free = 2;
  ready.name = "host-a";
  ready.build = "0.1.0";
  ready.patterns = {"bash"};
  const std::string bytes = encode(ready);
  EXPECT_EQ(bytes.size(), 45U);
  EXPECT_EQ(hex(bytes),
            "40"
            "01"
            "00000002"
            "00000002"
            "0000000000000000"
            "0006"
            "686f73742d61"
            "0005"
            "302e312e30"
            "0001"
            "0004"
            "62617368"
            "00000000");
  const auto decoded = decode_from_daemon(bytes);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Ready>(*decoded), ready);
}

TEST(Link, WelcomeOfTheWorkedExample) {
  const Welcome welcome{k_version, 0x0102030405060708ULL, 1000, 3};
  const std::string bytes = encode(welcome);
  EXPECT_EQ(hex(bytes),
            "48"
            "01"
            "0102030405060708"
            "000003e8"
            "00000003");
  const auto decoded = decode_from_broker(bytes);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Welcome>(*decoded), welcome);
}

TEST(Link, ReadyWithHeldTasksRoundTrips) {
  Ready ready;
  ready.slots = 4;
  ready.free = 1;
  ready.epoch = 77;
  ready.name = "b";
  ready.patterns = {"python", "python3*", ""};
  ready.held = {{id_of('a'), true, false}, {id_of('b'), false, true}, {id_of('c'), true, true}};
  const auto decoded = decode_from_daemon(encode(ready));
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Ready>(*decoded), ready);
}

TEST(Link, EveryOtherMessageRoundTrips) {
  for (const FromDaemon& message :
       {FromDaemon(Heartbeat{}), FromDaemon(Started{id_of('s')}), FromDaemon(Returned{id_of('r')}),
        FromDaemon(Draining{}), FromDaemon(Bye{})}) {
    const auto decoded = decode_from_daemon(encode(message));
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, message);
  }
  for (const FromBroker& message : {FromBroker(Heartbeat{}), FromBroker(Unknown{42})}) {
    const auto decoded = decode_from_broker(encode(message));
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, message);
  }
}

TEST(Link, EveryTruncationOfReadyIsAnError) {
  Ready ready;
  ready.slots = 1;
  ready.name = "name";
  ready.patterns = {"a", "bb"};
  ready.held = {{id_of('x'), true, true}};
  const std::string bytes = encode(ready);
  for (std::size_t size = 1; size < bytes.size(); ++size) {
    EXPECT_FALSE(decode_from_daemon(bytes.substr(0, size))) << "size " << size;
  }
  EXPECT_FALSE(decode_from_daemon(bytes + "x")) << "a trailing byte";
}

TEST(Link, HostileCountsAreRefusedBeforeAllocating) {
  // 65535 patterns and 2^32-1 held tasks declared in a frame of a few bytes.
  Ready ready;
  std::string bytes = encode(ready);
  const std::size_t patterns_at = 1 + 1 + 4 + 4 + 8 + 2 + 2;
  bytes[patterns_at] = '\xff';
  bytes[patterns_at + 1] = '\xff';
  EXPECT_FALSE(decode_from_daemon(bytes));
  bytes = encode(ready);
  for (std::size_t i = bytes.size() - 4; i < bytes.size(); ++i) {
    bytes[i] = '\xff';
  }
  EXPECT_FALSE(decode_from_daemon(bytes));
}

TEST(Link, WrongVersionFlagsAndDirectionAreErrors) {
  Ready ready;
  std::string bytes = encode(ready);
  bytes[1] = 2;
  EXPECT_FALSE(decode_from_daemon(bytes));

  ready.held = {{id_of('x'), false, false}};
  bytes = encode(ready);
  bytes.back() = 4;  // an undefined flag
  EXPECT_FALSE(decode_from_daemon(bytes));

  EXPECT_FALSE(decode_from_daemon(encode(Welcome{})));
  EXPECT_FALSE(decode_from_broker(encode(Started{id_of('s')})));
  EXPECT_FALSE(decode_from_daemon(""));
  EXPECT_FALSE(decode_from_broker(""));
  EXPECT_FALSE(decode_from_daemon(std::string("\x41\x00", 2)));
  EXPECT_FALSE(decode_from_daemon(encode(Started{id_of('s')}) + "x"));
  EXPECT_FALSE(decode_from_broker(encode(Unknown{1}).substr(0, 8)));
}

TEST(Link, LinkTypesAreTheirOwnRange) {
  for (const int spec : {0x00, 0x01, 0x02, 0x03, 0x10}) {
    EXPECT_FALSE(is_link_type(static_cast<unsigned char>(spec)));
  }
  for (const auto type : {Type::ready, Type::heartbeat, Type::welcome, Type::unknown}) {
    EXPECT_TRUE(is_link_type(static_cast<unsigned char>(type)));
  }
}

}  // namespace
}  // namespace planificador::protocol::link
