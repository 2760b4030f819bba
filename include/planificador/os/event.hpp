#pragma once
// Event and Wakeup: eventfd(2)-backed signals between threads, so a thread blocked in poll()
// can wait for one next to its other descriptors. An Event is a one-shot flag; a Wakeup is
// raised and cleared again and again.

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

// Wakeup: one thread raises it to wake another's poll(); the woken thread clears it before
// it looks at what changed, so a raise that comes after the look wakes it again and none is
// lost. Raising never blocks.
class Wakeup {
 public:
  // Creates the eventfd; aborts the process if the kernel refuses one (fatal setup error).
  Wakeup();

  // Makes fd() readable until the next clear(). Thread-safe.
  void raise() const noexcept;
  // Makes fd() unreadable again.
  void clear() const noexcept;
  // Returns a descriptor that polls readable while raised.
  [[nodiscard]] int fd() const noexcept { return m_fd.get(); }

 private:
  Fd m_fd;
};

}  // namespace planificador::os
