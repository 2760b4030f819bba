#pragma once
// Removes containers off the task's path. A task in a fresh container (pool 0) is done
// when its program is: the client's EXITED must not wait for the engine's removal, which
// takes longer than a warm task. The container is handed here and removed on a thread of
// its own; stop() (the backend's) removes whatever is still queued, and a crash leaves it
// to the orphan sweeper of the next start, as any container of this instance.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include "planificador/backend/docker/container.hpp"

namespace planificador::backend::docker {

class ContainerReaper {
 public:
  // At most `max_queued` containers wait for removal: retire() waits beyond that, so a
  // slow engine slows the tasks that make containers instead of piling them up.
  explicit ContainerReaper(std::size_t max_queued);
  ~ContainerReaper();
  ContainerReaper(const ContainerReaper&) = delete;
  ContainerReaper& operator=(const ContainerReaper&) = delete;

  // Queues `container` for removal (its connection to the helper is closed at once). After
  // stop(), removes it before returning.
  void retire(Container container);
  // Removes every queued container and joins the thread. Idempotent.
  void stop();
  // Returns how many containers wait for removal now.
  [[nodiscard]] std::size_t queued() const;

 private:
  void loop();

  const std::size_t m_max_queued;
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  std::deque<Container> m_queue;
  bool m_removing = false;  // the thread is removing one taken off the queue
  bool m_stopping = false;
  std::thread m_thread;
};

}  // namespace planificador::backend::docker
