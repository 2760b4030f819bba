#pragma once
// The Backend interface: run one planned task to its end. The scheduler knows only this;
// the Docker backend (docker/) and the test fakes implement it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "planificador/config/config.hpp"
#include "planificador/os/event.hpp"
#include "planificador/protocol/messages.hpp"
#include "planificador/protocol/options.hpp"
#include "planificador/protocol/report.hpp"

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

class Backend {
 public:
  virtual ~Backend() = default;

  // Runs `spec` to its end, streaming output to `sink`, and returns the outcome. Stops the
  // task (whole tree) and returns Status::cancelled once `cancel` is signalled. Never
  // throws; engine failures become Status::error with a diagnostic. Thread-safe: workers
  // call it concurrently.
  virtual TaskResult run(const TaskSpec& spec, OutputSink& sink, const os::Event& cancel) = 0;

  // Prepares what run() needs (reaping leftovers, warming pools). Returns an error when
  // the backend cannot serve at all yet; run() then answers with Status::error.
  virtual Result<void> start() = 0;

  // Stops everything still running and removes every container this backend made.
  virtual void stop() = 0;
};

}  // namespace planificador::backend
