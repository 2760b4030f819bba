#pragma once
// The decisions of one exec, apart from its I/O (exec_session.cpp polls and feeds them
// in): the wall-clock deadline and how a slow events consumer extends it, the CPU and
// memory checks, the output allowance with its exact cut, the flush schedule (what is
// held, when it goes out, in which frames and order), which pipe rests until the next
// flush, and when a kill escalates to the container. Pure: it is told the time and every
// reading, and says what to do; it makes no system call and reads no clock.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "planificador/protocol/messages.hpp"
#include "planificador/util/result.hpp"

namespace planificador::backend::docker {

// The daemon's own reason to stop an exec, if it had one.
// memory_limit: memory and socket buffers together crossed the container's limit where the
// kernel does not kill for it (cgroup v1 socket accounting, os/cgroup.hpp), or the program
// ran out of time thrashing at the memory limit. frame_limit: the output came as more
// frames than OutputBudget::max_frames.
enum class Verdict {
  none,
  time_limit,
  cpu_limit,
  memory_limit,
  output_limit,
  frame_limit,
  cancelled
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

// The limits of one exec.
struct ExecLimits {
  std::uint64_t wall_ms = 0;
  std::uint64_t cpu_ms = 0;
  bool merge_output = false;  // the stdout pipe carries stderr too: its output is Stream::err
};

// One of the program's two output pipes.
enum class Pipe { out, err };

// One APPEND frame's worth of output.
struct Chunk {
  protocol::Stream stream = protocol::Stream::out;
  std::string bytes;
  friend bool operator==(const Chunk&, const Chunk&) = default;
};

// What the I/O shell is to do after an event, in this order.
struct Actions {
  // Output was taken for delivery: hand `emit` (possibly empty) to the sink in this order,
  // then report flushed().
  bool flush = false;
  std::vector<Chunk> emit;
  bool kill_program = false;    // ask the helper to kill the program's tree
  bool kill_container = false;  // kill the container; then report container_killed()
  bool give_up = false;         // draining: leave the pipes, the container is dead already
};

// The cgroup figures a limit check uses, each as read (with its error) or not read at all.
struct CgroupReadings {
  std::optional<Result<std::uint64_t>> cpu_ns;      // Cgroup::cpu_usage_ns()
  std::optional<Result<bool>> over_memory;          // Cgroup::over_memory_limit()
  std::optional<Result<std::uint64_t>> limit_hits;  // Cgroup::memory_limit_hits()
  std::optional<Result<bool>> pinned;               // Cgroup::memory_pinned_at_limit()
};

// A figure of CgroupReadings.
enum class Reading { cpu_ns, over_memory, limit_hits, pinned };

class ExecPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  // How often CPU time (and, on cgroup v1, memory with socket buffers) is checked.
  static constexpr std::chrono::milliseconds k_cpu_poll{15};
  // How long the helper has to confirm a kill before the container itself is killed.
  static constexpr std::chrono::milliseconds k_kill_grace{1000};
  // How long the pipes may stay open after the program ended (only a process that escaped
  // the helper's kill could hold them) before the container is killed; twice that after.
  static constexpr std::chrono::milliseconds k_drain_grace{1000};
  // Runs held for one flush beyond which output joins the last run of its stream.
  static constexpr std::size_t k_max_runs_per_flush = 8;
  // A read smaller than this rests its pipe until the next flush.
  static constexpr std::size_t k_small_read = 512;
  // Memory limit hits during an exec beyond which running out of time at the limit is
  // thrashing (a single allocation that grazes the limit hits it a few times).
  static constexpr std::uint64_t k_thrash_hits = 100;
  // A flush that took longer than this was held up by the events consumer.
  static constexpr std::chrono::milliseconds k_blocked_min{1};

  // Starts the exec at `start`, when the cgroup's CPU time was `cpu_base` and its memory
  // limit hits `limit_hits_base`. `budget` is the task's, and must outlive the policy.
  ExecPolicy(ExecLimits limits, OutputBudget& budget, TimePoint start, std::uint64_t cpu_base,
             std::uint64_t limit_hits_base);

  // Returns how many bytes to read from a pipe now: one more than the allowance left (to
  // tell "at the limit" from "over it"), a whole buffer once output is being discarded.
  [[nodiscard]] std::size_t read_size() const;
  // `bytes` (non-empty) were read from `pipe` at `now`. Keeps what the allowance admits;
  // beyond it the verdict is output_limit and what follows is discarded.
  [[nodiscard]] Actions read(TimePoint now, Pipe pipe, std::string_view bytes);
  // Returns true when `pipe` is not to be polled until the next flush: its last read was
  // small, so the program writes in tiny pieces (never while draining).
  [[nodiscard]] bool resting(Pipe pipe) const;

  // Returns true when held output is due at `now` (flush_ms after its oldest byte).
  [[nodiscard]] bool flush_due(TimePoint now) const;
  // Takes all held output for delivery, in arrival order, cut into chunks.
  [[nodiscard]] Actions flush();
  // The sink took the last flush's chunks in `waited`, while the program used
  // `program_cpu`: the wall deadline moves by the difference (the program is not to blame
  // for a slow consumer, unless it went on running). May decide frame_limit.
  [[nodiscard]] Actions flushed(TimePoint now, Clock::duration waited, Clock::duration program_cpu);

  // Returns the figure check() at `now` still needs, given those read so far; nullopt
  // when it has all it will look at.
  [[nodiscard]] std::optional<Reading> needed(TimePoint now, const CgroupReadings& read) const;
  // Checks the limits at `now`: a kill the helper did not confirm in time escalates to the
  // container; the wall deadline, then (every k_cpu_poll) CPU time and memory. A figure
  // not read counts as not over its limit.
  [[nodiscard]] Actions check(TimePoint now, const CgroupReadings& read);
  // The task was cancelled at `now`.
  [[nodiscard]] Actions cancel(TimePoint now);
  // Returns true while a cancel would still make a difference (no verdict yet).
  [[nodiscard]] bool watches_cancel() const { return m_verdict == Verdict::none; }

  // The helper said "exited" (or is gone): from now on no verdict is taken but the
  // output's own (output or frame limit, for what the program wrote before it ended), and
  // nothing is killed.
  void exited() { m_exited = true; }
  [[nodiscard]] bool has_exited() const { return m_exited; }
  // The container was killed at `now` (asked for or not): no kill escalates again, and a
  // drain gives the pipes 2 * k_drain_grace more from now.
  void container_killed(TimePoint now);

  // The program ended: the pipes are drained from `now` on, for k_drain_grace before the
  // container is killed.
  void start_drain(TimePoint now);
  // Returns, while draining, whether the container is to be killed or the pipes left.
  [[nodiscard]] Actions drain_check(TimePoint now);

  // Returns when the shell must look again even if nothing happens: the next deadline of
  // the kill, the wall clock or the drain, or the held output's flush.
  [[nodiscard]] TimePoint next_wakeup() const;
  // Returns the poll timeout at `now` for next_wakeup(): rounded up to whole milliseconds,
  // at most k_cpu_poll while the program runs, 0 when it passed.
  [[nodiscard]] int poll_timeout_ms(TimePoint now) const;

  [[nodiscard]] Verdict verdict() const { return m_verdict; }
  // Returns the wall-clock deadline: the start, wall_ms, and the time the consumer held up.
  [[nodiscard]] TimePoint wall_deadline() const;

 private:
  [[nodiscard]] std::uint64_t allowance() const;
  [[nodiscard]] protocol::Stream stream_of(Pipe pipe) const;
  [[nodiscard]] Actions hold(TimePoint now, protocol::Stream stream, std::string_view bytes);
  [[nodiscard]] bool cpu_over(const CgroupReadings& read) const;
  [[nodiscard]] Verdict out_of_time(Verdict verdict, const CgroupReadings& read) const;
  void decide(TimePoint now, Verdict verdict, Actions& actions);

  ExecLimits m_limits;
  OutputBudget& m_budget;
  TimePoint m_start;
  std::uint64_t m_cpu_base;
  std::uint64_t m_limit_hits_base;
  Verdict m_verdict = Verdict::none;
  // Waiting for the events consumer to take output, less the CPU time the program used
  // meantime.
  Clock::duration m_blocked{0};
  TimePoint m_next_cpu_check;
  std::optional<TimePoint> m_kill_deadline;
  bool m_exited = false;
  bool m_container_killed = false;
  // Output read but not yet delivered, in arrival order (adjacent reads of one stream
  // merged), and when its oldest byte must be out.
  std::vector<std::pair<protocol::Stream, std::string>> m_pending;
  std::size_t m_pending_bytes = 0;
  std::optional<TimePoint> m_flush_deadline;
  std::array<bool, 2> m_resting{false, false};  // by Pipe
  // A verdict reached by a read whose output was being flushed: taken once it is out.
  std::optional<Verdict> m_after_flush;
  bool m_draining = false;
  bool m_drain_escalated = false;
  TimePoint m_drain_deadline;
};

}  // namespace planificador::backend::docker
