#include "planificador/os/pipe.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace planificador::os {

Result<Pipe> make_pipe() {
  int ends[2] = {-1, -1};
  if (::pipe2(ends, O_CLOEXEC) != 0) {
    return fail_errno("pipe2");
  }
  return Pipe{Fd(ends[0]), Fd(ends[1])};
}

Result<void> set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return fail_errno("fcntl O_NONBLOCK");
  }
  return {};
}

}  // namespace planificador::os
