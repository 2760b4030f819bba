#include "planificador/backend/docker/orphan_sweeper.hpp"

#include <set>

#include <spdlog/spdlog.h>

#include "planificador/backend/docker/container_spec.hpp"
#include "planificador/util/thread_entry.hpp"

namespace planificador::backend::docker {

OrphanSweeper::OrphanSweeper(const EngineClient& engine, ContainerRegistry& registry,
                             std::string instance)
    : m_engine(engine), m_registry(registry), m_instance(std::move(instance)) {}

OrphanSweeper::~OrphanSweeper() { stop(); }

void OrphanSweeper::start() {
  const std::scoped_lock lock(m_mutex);
  if (m_thread.joinable() || m_stopping) {
    return;
  }
  m_thread = std::thread([this] { util::guarded("orphan sweeper", [this] { loop(); }); });
}

// Taken up at the thread's next look, within k_ping_interval: pinging sooner would not
// find a lost engine back any earlier.
void OrphanSweeper::engine_lost() {
  const std::scoped_lock lock(m_mutex);
  m_lost = true;
}

void OrphanSweeper::stop() {
  {
    const std::scoped_lock lock(m_mutex);
    m_stopping = true;
    m_wake.notify_all();
  }
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

void OrphanSweeper::loop() {
  using Clock = std::chrono::steady_clock;
  auto last_sweep = Clock::now();
  std::unique_lock lock(m_mutex);
  while (!m_wake.wait_for(lock, k_ping_interval, [&] { return m_stopping; })) {
    // A failed removal means the engine was unreachable when a container went away, as
    // surely as a task's failure does.
    m_lost = m_registry.take_removal_failed() || m_lost;
    const bool lost = m_lost;
    const bool due = Clock::now() - last_sweep >= k_sweep_interval;
    if (!lost && !due) {
      continue;
    }
    lock.unlock();
    const bool answers = m_engine.ping().has_value();
    if (answers) {
      if (lost) {
        spdlog::info("engine answers again");
      }
      (void)sweep();
    }
    lock.lock();
    if (answers) {
      last_sweep = Clock::now();
      m_lost = false;
    }
  }
}

std::size_t OrphanSweeper::sweep() const {
  auto listed = m_engine.list_by_label(std::string(k_instance_label) + "=" + m_instance);
  if (!listed) {
    spdlog::warn("list containers to sweep: {}", listed.error().message);
    return 0;
  }
  const auto owned_ids = m_registry.ids();
  const std::set<std::string> owned(owned_ids.begin(), owned_ids.end());
  std::size_t removed = 0;
  for (const auto& container : *listed) {
    if (owned.contains(container.id) || container.state == "created") {
      continue;
    }
    spdlog::info("removing orphaned container {} ({})", container.id.substr(0, 12),
                 container.state);
    if (auto done = m_engine.remove(container.id); !done) {
      spdlog::warn("remove container {}: {}", container.id.substr(0, 12), done.error().message);
    } else {
      ++removed;
    }
  }
  return removed;
}

}  // namespace planificador::backend::docker
