#include <array>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "planificador/os/fd.hpp"
#include "planificador/sandbox/wire.hpp"

namespace planificador::sandbox {
namespace {

struct SocketPair {
  os::Fd a;
  os::Fd b;
};

SocketPair make_pair() {
  std::array<int, 2> ends{-1, -1};
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends.data()), 0);
  return {os::Fd(ends[0]), os::Fd(ends[1])};
}

void write_raw(int fd, const std::string& bytes) {
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

std::string prefix_of(std::uint32_t length) {
  return {static_cast<char>(length >> 24), static_cast<char>(length >> 16),
          static_cast<char>(length >> 8), static_cast<char>(length)};
}

TEST(SandboxWire, RoundTripsABody) {
  auto pair = make_pair();
  const nlohmann::json body = {{"op", "exec"}, {"argv", {"python3", "main.py"}}, {"n", 42}};
  ASSERT_TRUE(send_message(pair.a.get(), body));
  auto got = receive_message(pair.b.get());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->body, body);
  EXPECT_TRUE(got->fds.empty());
}

TEST(SandboxWire, FramesAsBigEndianLengthThenJson) {
  auto pair = make_pair();
  ASSERT_TRUE(send_message(pair.a.get(), {{"ok", true}}));
  const std::string expected = prefix_of(11) + R"({"ok":true})";
  std::string raw(expected.size(), '\0');
  ASSERT_EQ(::read(pair.b.get(), raw.data(), raw.size()), static_cast<ssize_t>(raw.size()));
  EXPECT_EQ(raw, expected);
}

TEST(SandboxWire, PassesDescriptorsThatReallyWork) {
  auto pair = make_pair();
  std::array<std::array<int, 2>, 3> pipes{};
  for (auto& p : pipes) {
    ASSERT_EQ(::pipe2(p.data(), O_CLOEXEC), 0);
  }
  const std::array<int, 3> write_ends{pipes[0][1], pipes[1][1], pipes[2][1]};
  ASSERT_TRUE(send_message(pair.a.get(), {{"op", "exec"}}, write_ends));
  for (auto& p : pipes) {
    ::close(p[1]);  // only the received copies remain
  }
  auto got = receive_message(pair.b.get());
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->fds.size(), 3U);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NE(::fcntl(got->fds[i].get(), F_GETFD) & FD_CLOEXEC, 0);
    const std::string text = "pipe " + std::to_string(i);
    write_raw(got->fds[i].get(), text);
    got->fds[i].reset();
    std::array<char, 64> buffer{};
    ASSERT_EQ(::read(pipes[i][0], buffer.data(), buffer.size()), static_cast<ssize_t>(text.size()));
    EXPECT_EQ(std::string(buffer.data(), text.size()), text);
    EXPECT_EQ(::read(pipes[i][0], buffer.data(), buffer.size()), 0) << "writer still open";
    ::close(pipes[i][0]);
  }
}

TEST(SandboxWire, RefusesToSendTooManyDescriptors) {
  auto pair = make_pair();
  const std::array<int, 4> fds{0, 1, 2, 0};
  auto sent = send_message(pair.a.get(), {{"op", "exec"}}, fds);
  ASSERT_FALSE(sent);
  EXPECT_NE(sent.error().message.find("at most 3"), std::string::npos);
}

TEST(SandboxWire, RejectsTooManyReceivedDescriptors) {
  auto pair = make_pair();
  const std::string payload = "{}";
  const std::string bytes = prefix_of(2) + payload;
  std::array<int, 5> fds{0, 0, 0, 0, 0};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof fds)> control{};
  iovec io{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr header{};
  header.msg_iov = &io;
  header.msg_iovlen = 1;
  header.msg_control = control.data();
  header.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&header);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof fds);
  ASSERT_EQ(::sendmsg(pair.a.get(), &header, 0), static_cast<ssize_t>(bytes.size()));
  auto got = receive_message(pair.b.get());
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("descriptors"), std::string::npos);
}

TEST(SandboxWire, ReportsCleanEofAsConnectionClosed) {
  auto pair = make_pair();
  pair.a.reset();
  auto got = receive_message(pair.b.get());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message, "connection closed");
  EXPECT_EQ(got.error().code, 0);
}

TEST(SandboxWire, ReportsATruncatedPrefix) {
  auto pair = make_pair();
  write_raw(pair.a.get(), std::string("\0\0", 2));
  pair.a.reset();
  auto got = receive_message(pair.b.get());
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message, "connection closed");
  EXPECT_NE(got.error().message.find("truncated"), std::string::npos);
}

TEST(SandboxWire, ReportsATruncatedBody) {
  auto pair = make_pair();
  write_raw(pair.a.get(), prefix_of(100) + R"({"op":"pre)");
  pair.a.reset();
  auto got = receive_message(pair.b.get());
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("truncated after 10 of 100"), std::string::npos);
}

TEST(SandboxWire, RejectsAnOversizeLengthBeforeReadingIt) {
  auto pair = make_pair();
  write_raw(pair.a.get(), prefix_of(static_cast<std::uint32_t>(k_max_message_bytes + 1)));
  auto got = receive_message(pair.b.get());
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("at most"), std::string::npos);
}

TEST(SandboxWire, RejectsInvalidJsonAndNonObjects) {
  auto pair = make_pair();
  write_raw(pair.a.get(), prefix_of(5) + "{oops");
  auto invalid = receive_message(pair.b.get());
  ASSERT_FALSE(invalid);
  EXPECT_NE(invalid.error().message.find("invalid JSON"), std::string::npos);
  write_raw(pair.a.get(), prefix_of(7) + "[1,2,3]");
  auto array = receive_message(pair.b.get());
  ASSERT_FALSE(array);
  EXPECT_NE(array.error().message.find("not a JSON object"), std::string::npos);
}

TEST(SandboxWire, ReadsBodiesLargerThanTheSocketBuffer) {
  auto pair = make_pair();
  const std::string big(1U << 20, 'x');
  std::thread sender([&] {
    EXPECT_TRUE(send_message(pair.a.get(), {{"data", big}}, std::array<int, 1>{0}));
  });
  auto got = receive_message(pair.b.get());
  sender.join();
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->body["data"].get<std::string>().size(), big.size());
  EXPECT_EQ(got->fds.size(), 1U);
}

TEST(SandboxWire, WorksOnNonBlockingSockets) {
  auto pair = make_pair();
  for (const int fd : {pair.a.get(), pair.b.get()}) {
    ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
  }
  const std::string big(1U << 20, 'y');
  std::thread receiver([&] {
    auto got = receive_message(pair.b.get());
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->body["data"].get<std::string>(), big);
  });
  EXPECT_TRUE(send_message(pair.a.get(), {{"data", big}}));
  receiver.join();
}

TEST(SandboxWire, ReplacesInvalidUtf8InsteadOfThrowing) {
  auto pair = make_pair();
  ASSERT_TRUE(send_message(pair.a.get(), {{"error", std::string("bad \xff byte")}}));
  auto got = receive_message(pair.b.get());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->body["error"].get<std::string>().rfind("bad ", 0), 0U);
}

TEST(SandboxWire, ReportsAClosedPeerOnSendWithoutSigpipe) {
  auto pair = make_pair();
  pair.b.reset();
  auto sent = send_message(pair.a.get(), {{"ok", true}});
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, EPIPE);
}

TEST(SandboxWire, KeepsConsecutiveMessagesApart) {
  auto pair = make_pair();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(send_message(pair.a.get(), {{"i", i}}));
  }
  for (int i = 0; i < 5; ++i) {
    auto got = receive_message(pair.b.get());
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->body["i"], i);
  }
}

}  // namespace
}  // namespace planificador::sandbox
