#pragma once
// Event: a one-shot, thread-safe flag backed by an eventfd, so a thread blocked in poll()
// can wait for it next to its other descriptors.

#include "planificador/os/fd.hpp"

namespace planificador::os {

class Event {
 public:
  // Creates the eventfd; aborts the process if the kernel refuses one (fatal setup error).
  Event();

  // Sets the flag and wakes every poll() on fd(). Idempotent.
  void set() const noexcept;
  // Returns true once set() was called.
  [[nodiscard]] bool is_set() const noexcept;
  // Returns a descriptor that polls readable once the flag is set.
  [[nodiscard]] int fd() const noexcept { return m_fd.get(); }

 private:
  Fd m_fd;
};

}  // namespace planificador::os
