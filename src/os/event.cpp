#include "planificador/os/event.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace planificador::os {

namespace {

Fd open_eventfd() {
  Fd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) {
    std::perror("eventfd");
    std::abort();
  }
  return fd;
}

}  // namespace

Event::Event() : m_fd(open_eventfd()) {}

void Event::set() const noexcept {
  const std::uint64_t one = 1;
  // The counter only grows; a full counter (EAGAIN) is still readable, which is all that
  // matters for a flag.
  [[maybe_unused]] const auto written = ::write(m_fd.get(), &one, sizeof one);
}

bool Event::is_set() const noexcept {
  pollfd pfd{m_fd.get(), POLLIN, 0};
  return ::poll(&pfd, 1, 0) == 1;
}

Wakeup::Wakeup() : m_fd(open_eventfd()) {}

void Wakeup::raise() const noexcept {
  const std::uint64_t one = 1;
  // A full counter (EAGAIN) is still readable: the wakeup is not lost.
  [[maybe_unused]] const auto written = ::write(m_fd.get(), &one, sizeof one);
}

void Wakeup::clear() const noexcept {
  std::uint64_t value = 0;
  [[maybe_unused]] const auto got = ::read(m_fd.get(), &value, sizeof value);
}

}  // namespace planificador::os
