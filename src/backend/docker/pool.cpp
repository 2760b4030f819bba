#include "planificador/backend/docker/pool.hpp"

#include <algorithm>
#include <poll.h>
#include <vector>

#include <spdlog/spdlog.h>

#include "planificador/sandbox/messages.hpp"
#include "planificador/sandbox/wire.hpp"
#include "planificador/util/thread_entry.hpp"

namespace planificador::backend::docker {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often idle containers are checked for a helper that went away.
constexpr milliseconds k_sweep_interval{500};
// How long a task waits between looks at its cancel flag while a container is being made.
constexpr milliseconds k_take_slice{20};
// How long a taken container's helper may take to finish its reset.
constexpr milliseconds k_reset_timeout{5000};
// Retry pacing after a container could not be made (engine down, image missing).
constexpr milliseconds k_first_backoff{1000};
constexpr milliseconds k_max_backoff{30000};

}  // namespace

Pool::Pool(const EngineClient& engine, ContainerRegistry& registry, PoolSettings settings)
    : m_engine(engine), m_registry(registry), m_settings(std::move(settings)) {}

Pool::~Pool() { stop(); }

void Pool::start() {
  const std::scoped_lock lock(m_mutex);
  if (m_filler.joinable() || m_stopping || m_settings.size == 0) {
    return;
  }
  m_filler = std::thread([this] { util::guarded("pool filler", [this] { fill_loop(); }); });
}

std::unique_ptr<PooledContainer> Pool::make_one() {
  std::string name;
  {
    const std::scoped_lock lock(m_mutex);
    name = m_settings.name_prefix + std::to_string(++m_counter);
  }
  ContainerSpec spec = m_settings.spec;
  spec.task = k_pooled_task_label;
  spec.run_dir = m_settings.state_dir + "/" + name;
  auto container = Container::acquire(m_engine, m_registry, spec, name, m_stop_event);
  if (!container) {
    if (container.error().kind != ErrorKind::cancelled) {
      spdlog::warn("warm container for {}: {}", m_settings.spec.image, container.error().message);
    }
    return nullptr;
  }
  return std::make_unique<PooledContainer>(PooledContainer{std::move(*container), 0});
}

void Pool::fill_loop() {
  std::unique_lock lock(m_mutex);
  milliseconds backoff{0};
  auto retry_at = Clock::now();
  while (!m_stopping) {
    sweep_idle(lock);
    if (m_stopping) {
      break;
    }
    const auto now = Clock::now();
    if ((m_idle.size() + m_busy >= m_settings.size || now < retry_at) && !m_retiring.empty()) {
      // Removal comes after the refill: a task may be waiting for the new container.
      auto retired = std::move(m_retiring.back());
      m_retiring.pop_back();
      lock.unlock();
      retired.reset();
      lock.lock();
      continue;
    }
    if (m_idle.size() + m_busy >= m_settings.size || now < retry_at) {
      const auto wait = now < retry_at ? std::chrono::duration_cast<milliseconds>(retry_at - now)
                                       : k_sweep_interval;
      m_changed.wait_for(lock, std::min(wait, k_sweep_interval));
      continue;
    }
    ++m_creating;
    lock.unlock();
    auto made = make_one();
    lock.lock();
    --m_creating;
    if (!made) {
      backoff = backoff.count() == 0 ? k_first_backoff : std::min(backoff * 2, k_max_backoff);
      retry_at = Clock::now() + backoff;
    } else if (!m_stopping) {
      m_idle.push_back(std::move(made));
      ++m_stats.created;
      backoff = milliseconds{0};
    }
    m_changed.notify_all();
    if (made) {
      // Made while stopping: removed outside the lock (an engine call).
      lock.unlock();
      made.reset();
      lock.lock();
    }
  }
}

// Returns true when `container` may serve a task: its reset (if one is pending) answered
// clean within `timeout`, and its helper connection is otherwise silent and open.
bool Pool::ready_to_serve(PooledContainer& container, milliseconds timeout) const {
  if (container.reset_pending) {
    if (auto reset = await_reset(container.container.socket(), timeout); !reset) {
      spdlog::warn("warm container {} of {}: {}; replacing it",
                   container.container.id().substr(0, 12), m_settings.spec.image,
                   reset.error().message);
      return false;
    }
    container.reset_pending = false;
  }
  if (!container.container.connection_quiet()) {
    spdlog::warn("warm container {} of {} went away while idle; replacing it",
                 container.container.id().substr(0, 12), m_settings.spec.image);
    return false;
  }
  return true;
}

// Reads the reset answers that have arrived and retires idle containers that answered
// unclean or whose helper is gone (killed from outside, crashed).
void Pool::sweep_idle(std::unique_lock<std::mutex>& lock) {
  std::vector<std::unique_ptr<PooledContainer>> dead;
  for (auto it = m_idle.begin(); it != m_idle.end();) {
    auto& container = **it;
    pollfd fd{container.container.socket(), POLLIN, 0};
    const bool answered = ::poll(&fd, 1, 0) > 0;
    if ((container.reset_pending && !answered) || ready_to_serve(container, milliseconds{0})) {
      ++it;
      continue;
    }
    dead.push_back(std::move(*it));
    it = m_idle.erase(it);
    ++m_stats.retired;
  }
  if (dead.empty()) {
    return;
  }
  lock.unlock();
  dead.clear();
  lock.lock();
}

std::unique_ptr<PooledContainer> Pool::take(const os::Event& cancel) {
  std::unique_lock lock(m_mutex);
  for (;;) {
    while (!m_idle.empty()) {
      auto container = std::move(m_idle.front());
      m_idle.pop_front();
      ++m_busy;
      lock.unlock();
      if (ready_to_serve(*container, k_reset_timeout)) {
        return container;
      }
      lock.lock();
      --m_busy;
      ++m_stats.retired;
      retire(std::move(container), lock);
    }
    if (m_stopping || m_creating == 0 || cancel.is_set()) {
      return nullptr;
    }
    m_changed.wait_for(lock, k_take_slice);
  }
}

void Pool::give_back(std::unique_ptr<PooledContainer> container, bool reusable) {
  if (reusable && container->tasks < m_settings.max_tasks) {
    if (auto sent = request_reset(container->container.socket(), m_settings.isolation); sent) {
      container->reset_pending = true;
    } else {
      spdlog::warn("warm container {}: {}; replacing it", container->container.id().substr(0, 12),
                   sent.error().message);
      reusable = false;
    }
  }
  std::unique_lock lock(m_mutex);
  --m_busy;
  ++m_stats.served;
  if (container->tasks > 1) {
    ++m_stats.reused;
  }
  if (reusable && !m_stopping && container->tasks < m_settings.max_tasks) {
    m_idle.push_back(std::move(container));
    m_changed.notify_all();
    return;
  }
  ++m_stats.retired;
  retire(std::move(container), lock);
}

void Pool::retire(std::unique_ptr<PooledContainer> container, std::unique_lock<std::mutex>& lock) {
  container->container.disconnect();
  if (m_filler.joinable() && !m_stopping) {
    m_retiring.push_back(std::move(container));
    m_changed.notify_all();
    return;
  }
  m_changed.notify_all();
  lock.unlock();
  container.reset();
  lock.lock();
}

void Pool::stop() {
  std::deque<std::unique_ptr<PooledContainer>> idle;
  {
    const std::scoped_lock lock(m_mutex);
    m_stopping = true;
    m_stop_event.set();
    m_changed.notify_all();
  }
  if (m_filler.joinable() && m_filler.get_id() != std::this_thread::get_id()) {
    m_filler.join();
  }
  std::vector<std::unique_ptr<PooledContainer>> retiring;
  {
    const std::scoped_lock lock(m_mutex);
    idle.swap(m_idle);
    retiring.swap(m_retiring);
  }
  idle.clear();
  retiring.clear();
}

PoolStats Pool::stats() const {
  const std::scoped_lock lock(m_mutex);
  PoolStats stats = m_stats;
  stats.idle = m_idle.size();
  stats.busy = m_busy;
  return stats;
}

Result<void> request_reset(int socket, config::Isolation isolation) {
  const sandbox::ResetRequest reset{
      isolation == config::Isolation::fast ? sandbox::Isolation::fast : sandbox::Isolation::strict};
  if (auto sent = sandbox::send(socket, reset); !sent) {
    return fail("send reset: " + sent.error().message);
  }
  return {};
}

Result<void> await_reset(int socket, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd fd{socket, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(std::max<long long>(left, 0))) <= 0) {
      return fail("no answer to reset within " + std::to_string(timeout.count()) + " ms");
    }
    auto message = sandbox::receive_message(socket);
    if (!message) {
      return fail("reset: " + message.error().message);
    }
    const auto answer = sandbox::decode_answer(*message);
    if (!answer) {
      return fail("reset: " + answer.error().message);
    }
    const auto* reply = std::get_if<sandbox::Reply>(&*answer);
    if (reply == nullptr) {
      continue;  // the "exited" of a program the reset killed
    }
    if (reply->ok && reply->clean) {
      return {};
    }
    return fail("reset: " + (reply->error.empty() ? "not clean: " + sandbox::describe(*message)
                                                  : reply->error));
  }
}

}  // namespace planificador::backend::docker
