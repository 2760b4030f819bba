#include "planificador/os/event.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace planificador::os {

Event::Event() : m_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!m_fd) {
    std::perror("eventfd");
    std::abort();
  }
}

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

}  // namespace planificador::os
