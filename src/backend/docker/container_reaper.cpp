#include "planificador/backend/docker/container_reaper.hpp"

#include <utility>

#include "planificador/util/thread_entry.hpp"

namespace planificador::backend::docker {

ContainerReaper::ContainerReaper(std::size_t max_queued)
    : m_max_queued(max_queued == 0 ? 1 : max_queued),
      m_thread([this] { util::guarded("container reaper", [this] { loop(); }); }) {}

ContainerReaper::~ContainerReaper() { stop(); }

void ContainerReaper::retire(Container container) {
  container.disconnect();
  std::unique_lock lock(m_mutex);
  m_changed.wait(lock, [&] { return m_stopping || m_queue.size() < m_max_queued; });
  if (m_stopping) {
    lock.unlock();
    return;  // `container` is removed as it goes out of scope, here
  }
  m_queue.push_back(std::move(container));
  m_changed.notify_all();
}

void ContainerReaper::loop() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_changed.wait(lock, [&] { return m_stopping || !m_queue.empty(); });
    if (m_queue.empty()) {
      return;  // stopping, and nothing is left
    }
    {
      const Container removed = std::move(m_queue.front());
      m_queue.pop_front();
      m_removing = true;
      m_changed.notify_all();
      lock.unlock();
    }  // the engine removes it here, outside the lock
    lock.lock();
    m_removing = false;
    m_changed.notify_all();
  }
}

void ContainerReaper::stop() {
  {
    const std::scoped_lock lock(m_mutex);
    m_stopping = true;
  }
  m_changed.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

std::size_t ContainerReaper::queued() const {
  const std::scoped_lock lock(m_mutex);
  return m_queue.size() + (m_removing ? 1 : 0);
}

}  // namespace planificador::backend::docker
