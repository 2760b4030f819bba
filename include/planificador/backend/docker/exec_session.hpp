#pragma once
// One exec through planificador-sandboxd (compile or run): the pipes, the poll loop that
// streams output, feeds stdin and watches the limits, and the kill when one is crossed.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "planificador/backend/backend.hpp"
#include "planificador/os/cgroup.hpp"
#include "planificador/os/event.hpp"
#include "planificador/util/result.hpp"

namespace planificador::backend::docker {

// The daemon's own reason to stop an exec, if it had one.
// memory_limit: memory and socket buffers together crossed the container's limit where the
// kernel does not kill for it (cgroup v1 socket accounting, os/cgroup.hpp). frame_limit:
// the output came as more frames than OutputBudget::max_frames.
enum class Verdict {
  none,
  time_limit,
  cpu_limit,
  memory_limit,
  output_limit,
  frame_limit,
  cancelled
};

struct ExecRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=value"
  std::string_view stdin_data;
  bool merge_output = false;  // stdout and stderr into one pipe, delivered as Stream::err
  std::uint64_t wall_ms = 0;
  std::uint64_t cpu_ms = 0;
  nlohmann::json files;  // the files to write before the program starts (the wire's list)
};

struct ExecResult {
  Verdict verdict = Verdict::none;
  std::optional<int> wait_status;  // the program's raw wait status, when it ran and ended
  std::string error;               // why there is no wait status (sandbox failure, helper lost)
  bool rejected = false;           // the helper refused a file: the task's input is at fault
  std::uint64_t wall_ms = 0;
  std::uint64_t cpu_ns = 0;  // the container cgroup's CPU time during the exec
};

// Frames one task may send by default: far above what coalesced output of any sane
// program needs (a 64 KiB chunk or a flush_ms window each), far below a frame per byte.
inline constexpr std::uint64_t k_default_max_frames = 100'000;

// The output allowance of a whole task (stdout + stderr of every exec together).
struct OutputBudget {
  std::uint64_t limit = 0;
  std::uint64_t delivered = 0;
  std::size_t chunk_bytes = 65536;
  // How long read output may wait to be delivered together with what follows (SPEC:
  // output.flush_ms); 0 delivers every read at once.
  std::uint64_t flush_ms = 0;
  // The most APPEND frames the task may cause, and how many it did; beyond, it ends as an
  // output limit (each frame costs the daemon and the consumer, whatever its size).
  std::uint64_t max_frames = k_default_max_frames;
  std::uint64_t frames = 0;
};

// What an exec runs against: the helper connection, the container's cgroup, where output
// goes, the task's cancel flag, and the last resort when the helper does not answer.
struct ExecEnvironment {
  int socket = -1;
  const os::Cgroup* cgroup = nullptr;
  OutputSink* sink = nullptr;
  const os::Event* cancel = nullptr;
  std::function<void()> kill_container;
};

// Returns the RLIMIT_CPU (seconds) the helper sets as a backstop behind the cgroup watch.
[[nodiscard]] std::uint64_t rlimit_cpu_seconds(std::uint64_t cpu_ms);

// Runs `request` to its end and returns how it ended, after every output byte was
// delivered. Returns an error only when the exec could not be handed to the helper.
[[nodiscard]] Result<ExecResult> run_exec(const ExecEnvironment& environment,
                                          const ExecRequest& request, OutputBudget& budget);

}  // namespace planificador::backend::docker
