#pragma once
// Removes the containers of an instance that no object owns any more: their removal failed
// (the engine was down when their task ended) or they died with a restarted engine. It
// works on a thread of its own, so a return of the engine is noticed and cleaned up after
// whether or not tasks arrive, and no task pays for a sweep.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "planificador/backend/docker/container.hpp"
#include "planificador/backend/docker/engine_client.hpp"

namespace planificador::backend::docker {

class OrphanSweeper {
 public:
  // How often a lost engine is asked whether it is back (and failed removals looked for).
  static constexpr std::chrono::milliseconds k_ping_interval{1000};
  // How often the containers are swept when no failure was seen (an outage nobody noticed
  // leaves orphans too).
  static constexpr std::chrono::milliseconds k_sweep_interval{60000};

  // `engine` and `registry` must outlive the sweeper; `instance` is the label value.
  OrphanSweeper(const EngineClient& engine, ContainerRegistry& registry, std::string instance);
  OrphanSweeper(const OrphanSweeper&) = delete;
  OrphanSweeper& operator=(const OrphanSweeper&) = delete;
  ~OrphanSweeper();

  // Starts the thread; a second call does nothing.
  void start();
  // Says that a task found the engine unreachable: the sweeper pings it every
  // k_ping_interval and sweeps as soon as it answers.
  void engine_lost();
  // Stops and joins the thread.
  void stop();

  // Removes, once, every container of the instance that the registry does not hold and
  // that is past "created" (one still created may be one whose owner has not registered
  // it yet). Returns the number removed.
  std::size_t sweep() const;

 private:
  void loop();

  const EngineClient& m_engine;
  ContainerRegistry& m_registry;
  std::string m_instance;
  std::mutex m_mutex;
  std::condition_variable m_wake;  // stop() wakes the thread
  bool m_stopping = false;
  bool m_lost = false;
  std::thread m_thread;
};

}  // namespace planificador::backend::docker
