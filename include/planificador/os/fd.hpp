#pragma once
// Fd: a move-only owner of a file descriptor, closed when it goes out of scope.

#include <utility>

namespace planificador::os {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : m_fd(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset(std::exchange(other.m_fd, -1));
    }
    return *this;
  }
  ~Fd() { reset(); }

  // Returns the descriptor, or -1 when empty.
  [[nodiscard]] int get() const noexcept { return m_fd; }
  [[nodiscard]] bool valid() const noexcept { return m_fd >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership; the caller closes the returned descriptor.
  [[nodiscard]] int release() noexcept { return std::exchange(m_fd, -1); }

  // Closes the current descriptor (if any) and owns `fd` instead.
  void reset(int fd = -1) noexcept;

 private:
  int m_fd = -1;
};

}  // namespace planificador::os
