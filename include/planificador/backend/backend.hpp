#pragma once
// The Backend interface: run one planned task to its end. The scheduler knows only this;
// the Docker backend (docker/) and the test fakes implement it.

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "planificador/config/config.hpp"
#include "planificador/os/event.hpp"
#include "planificador/protocol/messages.hpp"
#include "planificador/protocol/options.hpp"
#include "planificador/protocol/report.hpp"
#include "planificador/util/result.hpp"

namespace planificador::backend {

// Everything needed to run one task, already validated and admitted.
struct TaskSpec {
  protocol::TaskId id;
  const config::Runner* runner = nullptr;  // outlives the task
  std::string code;
  protocol::TaskOptions options;
  config::Limits limits;  // effective: the runner's, lowered by what the task asked for
};

// Receives a task's output while it runs. Called from the thread running the task.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  // Delivers one non-empty chunk of at most output.chunk_bytes, in arrival order. May
  // block while the events consumer is slow (backpressure).
  virtual void output(protocol::Stream stream, std::string_view bytes) = 0;
};

// How a task ended. `diagnostic` is the daemon's own explanation (sent as
// "planificador: <diagnostic>\n" before EXITED), empty when the program simply exited.
struct TaskResult {
  protocol::Status status = protocol::Status::error;
  std::int32_t exit_code = 125;
  std::optional<int> signal;
  std::string diagnostic;
  std::uint64_t wall_ms = 0;
  std::uint64_t cpu_ms = 0;
  std::uint64_t memory_peak_bytes = 0;
  std::uint64_t output_bytes = 0;
};

// A runner's warm pool as an operator sees it (docs/http.md: /metrics, /readyz).
struct PoolState {
  const config::Runner* runner = nullptr;
  std::size_t idle = 0;     // ready and waiting for a task
  std::size_t busy = 0;     // serving a task
  std::size_t created = 0;  // made ready since start
  std::size_t retired = 0;  // removed
};

// What health checks and metrics read of a backend.
struct BackendState {
  std::optional<std::string> not_ready;    // why start() has not succeeded; nullopt once it has
  std::optional<std::string> engine_down;  // why the engine does not answer now; nullopt: it does
  std::vector<PoolState> pools;            // the runners that keep warm containers, in order
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Runs `spec` to its end, streaming output to `sink`, and returns the outcome. Stops the
  // task (whole tree) and returns Status::cancelled once `cancel` is signalled. Never
  // throws; engine failures become Status::error with a diagnostic. Thread-safe: workers
  // call it concurrently.
  virtual TaskResult run(const TaskSpec& spec, OutputSink& sink, const os::Event& cancel) = 0;

  // Makes one attempt at what run() needs (for Docker: staging the helper, loading the
  // seccomp profile, reaching the engine, reaping leftovers, warming pools) and returns why
  // the backend cannot serve yet; calling it again retries. Until an attempt succeeds run()
  // answers Status::error (exit 125) with that reason and never starts the backend itself:
  // one owner calls start() (the daemon's starter). Safe concurrently with run() and
  // stop(); fails with "shutting down" once stop() began.
  virtual Result<void> start() = 0;

  // Stops everything still running and removes every container this backend made. Waits
  // for a start() in flight to end first. Idempotent.
  virtual void stop() = 0;
  // Returns the backend's state now; may ask the engine (a ping), so not for a task's path.
  // Thread-safe. A backend without an engine or pools is ready with nothing to report.
  [[nodiscard]] virtual BackendState state() const { return {}; }
};

// A backend's readiness, owned by the backend: `starting` (with why it is not ready: the
// last attempt's error) until an attempt succeeds, then `ready`; `stopped` for good once
// stop() began. One attempt runs at a time, and a task asking not_ready() never waits
// behind one (a stalled engine may hold it for the engine client's whole timeout).
// Thread-safe.
class Readiness {
 public:
  enum class State { starting, ready, stopped };

  // What a task gets before the first attempt has ended, and once stopped.
  static constexpr std::string_view k_not_started = "backend not ready: starting";
  static constexpr std::string_view k_stopped = "shutting down";

  // Runs `prepare` as the one attempt in flight (after another caller's has ended) and
  // records its outcome. Returns success at once, without running it, when ready; an Error
  // k_stopped without running it once stopped, and also when stop() began while it ran
  // (what it made is then the stopper's to tear down); otherwise `prepare`'s result. An
  // exception from `prepare` is recorded as the reason and rethrown.
  [[nodiscard]] Result<void> attempt(const std::function<Result<void>()>& prepare);

  // Returns nullopt when ready, else why not: the last attempt's error, k_not_started
  // before an attempt ended, or k_stopped. Never waits for an attempt in flight.
  [[nodiscard]] std::optional<std::string> not_ready() const;

  [[nodiscard]] State state() const;

  // Returns true once stop() began: a long attempt checks it between steps to give up.
  [[nodiscard]] bool stopping() const { return state() == State::stopped; }

  // Makes the state `stopped` (every later attempt fails at once) and waits until the
  // attempt in flight, if any, has ended, so the caller may then tear down what attempts
  // made. Idempotent; must not be called from inside `prepare`.
  void stop();

 private:
  Result<void> finish(Result<void> outcome);

  mutable std::mutex m_mutex;
  std::condition_variable m_changed;  // an attempt ended, or stop() began
  State m_state = State::starting;
  bool m_attempting = false;
  std::string m_reason{k_not_started};  // why not ready while starting
};

inline Result<void> Readiness::attempt(const std::function<Result<void>()>& prepare) {
  {
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [this] { return !m_attempting || m_state == State::stopped; });
    if (m_state == State::ready) {
      return {};
    }
    if (m_state == State::stopped) {
      return fail(std::string(k_stopped));
    }
    m_attempting = true;
  }
  Result<void> outcome;
  try {
    outcome = prepare();
  } catch (const std::exception& error) {
    (void)finish(fail(std::string("start failed: ") + error.what()));
    throw;
  } catch (...) {
    (void)finish(fail("start failed: unknown exception"));
    throw;
  }
  return finish(std::move(outcome));
}

inline Result<void> Readiness::finish(Result<void> outcome) {
  const std::scoped_lock lock(m_mutex);
  m_attempting = false;
  m_changed.notify_all();
  if (m_state == State::stopped) {
    return fail(std::string(k_stopped));
  }
  if (outcome) {
    m_state = State::ready;
    m_reason.clear();
  } else {
    m_reason = outcome.error().message;
  }
  return outcome;
}

inline std::optional<std::string> Readiness::not_ready() const {
  const std::scoped_lock lock(m_mutex);
  switch (m_state) {
    case State::ready:
      return std::nullopt;
    case State::stopped:
      return std::string(k_stopped);
    case State::starting:
      break;
  }
  return m_reason;
}

inline Readiness::State Readiness::state() const {
  const std::scoped_lock lock(m_mutex);
  return m_state;
}

inline void Readiness::stop() {
  std::unique_lock lock(m_mutex);
  m_state = State::stopped;
  m_changed.notify_all();
  m_changed.wait(lock, [this] { return !m_attempting; });
}

}  // namespace planificador::backend
