#pragma once
// Pipes and the small descriptor settings around them.

#include "planificador/os/fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::os {

struct Pipe {
  Fd read;
  Fd write;
};

// Returns a new pipe whose both ends are O_CLOEXEC, or an error naming pipe2.
[[nodiscard]] Result<Pipe> make_pipe();

// Puts `fd` in non-blocking mode.
[[nodiscard]] Result<void> set_nonblocking(int fd);

}  // namespace planificador::os
