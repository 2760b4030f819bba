#include "planificador/os/descriptors.hpp"

#include <array>
#include <fcntl.h>
#include <unistd.h>

namespace planificador::os {

// Runs on the stack of a clone()d child in the parent's memory: no AddressSanitizer
// bookkeeping here (it would take that stack for a corrupted one).
__attribute__((no_sanitize_address)) const char* arrange_descriptors(const int* sources,
                                                                     std::size_t count, int first,
                                                                     int close_from,
                                                                     bool cloexec) noexcept {
  if (count > k_max_arranged) {
    return "arrange descriptors: too many";
  }
  std::array<int, k_max_arranged> moved{};
  const int above = first + static_cast<int>(count);
  for (std::size_t i = 0; i < count; ++i) {
    moved[i] = ::fcntl(sources[i], F_DUPFD_CLOEXEC, above);
    if (moved[i] < 0) {
      return "move a descriptor";
    }
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (::dup3(moved[i], first + static_cast<int>(i), cloexec ? O_CLOEXEC : 0) < 0) {
      return "dup3";
    }
    ::close(moved[i]);
  }
  if (::close_range(static_cast<unsigned>(close_from), ~0U, 0) != 0) {
    for (int fd = close_from; fd < 65536; ++fd) {
      ::close(fd);
    }
  }
  return nullptr;
}

}  // namespace planificador::os
