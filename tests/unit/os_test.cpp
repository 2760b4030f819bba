// The os/ layer: signalfd, eventfd wakeups, unix sockets by path and a child's descriptor
// table, against the real kernel.

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "planificador/os/descriptors.hpp"
#include "planificador/os/event.hpp"
#include "planificador/os/pipe.hpp"
#include "planificador/os/signal_fd.hpp"
#include "planificador/os/unix_socket.hpp"

namespace planificador::os {
namespace {

using namespace std::chrono_literals;

bool readable(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, 0) == 1;
}

TEST(SignalFd, ABlockedSignalIsReadAsItsNumber) {
  auto signals = SignalFd::block_and_open({SIGUSR1, SIGUSR2});
  ASSERT_TRUE(signals) << signals.error().message;
  EXPECT_EQ(signals->take(), 0);  // none pending
  EXPECT_EQ(signals->wait(10ms), 0);
  ASSERT_EQ(::raise(SIGUSR2), 0);  // blocked: queued, not delivered
  EXPECT_TRUE(readable(signals->fd()));
  EXPECT_EQ(signals->wait(5s), SIGUSR2);
  EXPECT_EQ(signals->take(), 0);
}

TEST(Wakeup, RaisedUntilClearedAndRaisedAgain) {
  const Wakeup wakeup;
  EXPECT_FALSE(readable(wakeup.fd()));
  wakeup.raise();
  wakeup.raise();
  EXPECT_TRUE(readable(wakeup.fd()));
  wakeup.clear();  // one clear for any number of raises
  EXPECT_FALSE(readable(wakeup.fd()));
  wakeup.raise();
  EXPECT_TRUE(readable(wakeup.fd()));
}

TEST(Event, SetOnceStaysSet) {
  const Event event;
  EXPECT_FALSE(event.is_set());
  event.set();
  event.set();
  EXPECT_TRUE(event.is_set());
  EXPECT_TRUE(event.is_set());
}

class UnixSocket : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "os-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    m_dir = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  std::filesystem::path m_dir;
};

TEST_F(UnixSocket, WhatListensIsReachedAtOnceAndOnlyUnderItsName) {
  const std::string path = (m_dir / "run" / "sock").string();
  auto missing = connect_unix(path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  auto listener = listen_unix(path, 4);  // makes run/
  ASSERT_TRUE(listener) << listener.error().message;
  EXPECT_FALSE(std::filesystem::exists(path + ".new"));
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0666U);
  auto connection = connect_unix(path);
  ASSERT_TRUE(connection) << connection.error().message;
  const Fd accepted(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(accepted);
  EXPECT_EQ(::fcntl(connection->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST_F(UnixSocket, APathLongerThanASocketAddressIsReachedThroughItsDirectory) {
  const std::string path = (m_dir / "sock").string();
  auto listener = listen_unix(path, 4);
  ASSERT_TRUE(listener) << listener.error().message;
  // 150 bytes of directory name, a link to the socket's directory.
  const auto long_dir = m_dir / std::string(150, 'd');
  std::filesystem::create_directory_symlink(m_dir, long_dir);
  const std::string long_path = (long_dir / "sock").string();
  ASSERT_GT(long_path.size(), 108U);
  auto connection = connect_unix(long_path);
  ASSERT_TRUE(connection) << connection.error().message;
  const Fd accepted(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(accepted);
  auto refused = listen_unix(long_path, 4);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("too long"), std::string::npos) << refused.error().message;
}

// In a forked child: the sources land on their descriptors in order (one of them crossing
// another's place), everything from close_from up is closed, and the child says so in its
// exit status.
TEST(ArrangeDescriptors, PlacesEachSourceAndClosesTheRest) {
  auto first = make_pipe();
  auto second = make_pipe();
  ASSERT_TRUE(first && second);
  // Put a source on the very descriptor another source is to take.
  const int crossing = 20;
  ASSERT_EQ(::dup2(first->read.get(), crossing), crossing);
  struct stat want_a {};
  struct stat want_b {};
  ASSERT_EQ(::fstat(crossing, &want_a), 0);
  ASSERT_EQ(::fstat(second->write.get(), &want_b), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int sources[] = {crossing, second->write.get()};  // 20 → 19, then → 20
    if (arrange_descriptors(sources, 2, 19, 21, false) != nullptr) {
      ::_exit(10);
    }
    struct stat got {};
    if (::fstat(19, &got) != 0 || got.st_ino != want_a.st_ino) {
      ::_exit(11);
    }
    if (::fstat(20, &got) != 0 || got.st_ino != want_b.st_ino) {
      ::_exit(12);
    }
    if ((::fcntl(19, F_GETFD) & FD_CLOEXEC) != 0) {
      ::_exit(13);
    }
    for (int fd = 21; fd < 64; ++fd) {
      if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) {
        ::_exit(14);
      }
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ::close(crossing);
}

TEST(ArrangeDescriptors, CloseOnExecWhenAsked) {
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int sources[] = {pipe->read.get()};
    if (arrange_descriptors(sources, 1, 30, 31, true) != nullptr) {
      ::_exit(10);
    }
    ::_exit((::fcntl(30, F_GETFD) & FD_CLOEXEC) != 0 ? 0 : 11);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ArrangeDescriptors, MoreThanItHoldsIsRefusedBeforeAnyChange) {
  int sources[k_max_arranged + 1] = {};
  EXPECT_NE(arrange_descriptors(sources, k_max_arranged + 1, 0, 100, false), nullptr);
}

}  // namespace
}  // namespace planificador::os
