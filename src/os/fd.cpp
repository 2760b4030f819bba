#include "planificador/os/fd.hpp"

#include <unistd.h>

namespace planificador::os {

void Fd::reset(int fd) noexcept {
  if (m_fd >= 0) {
    // close() may report EINTR, but on Linux the descriptor is released regardless.
    ::close(m_fd);
  }
  m_fd = fd;
}

}  // namespace planificador::os
