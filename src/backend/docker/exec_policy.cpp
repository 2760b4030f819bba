#include "planificador/backend/docker/exec_policy.hpp"

#include <algorithm>

namespace planificador::backend::docker {
namespace {

using std::chrono::milliseconds;

std::size_t index_of(Pipe pipe) { return pipe == Pipe::out ? 0 : 1; }

// Returns the figure `read`, read without error; nullopt when not read or failed.
template <class T>
std::optional<T> value_of(const std::optional<Result<T>>& read) {
  if (read && *read) {
    return **read;
  }
  return std::nullopt;
}

}  // namespace

ExecPolicy::ExecPolicy(ExecLimits limits, OutputBudget& budget, TimePoint start,
                       std::uint64_t cpu_base, std::uint64_t limit_hits_base)
    : m_limits(limits),
      m_budget(budget),
      m_start(start),
      m_cpu_base(cpu_base),
      m_limit_hits_base(limit_hits_base),
      m_next_cpu_check(start + k_cpu_poll) {}

std::uint64_t ExecPolicy::allowance() const {
  return m_budget.limit - std::min(m_budget.delivered, m_budget.limit);
}

protocol::Stream ExecPolicy::stream_of(Pipe pipe) const {
  return pipe == Pipe::out && !m_limits.merge_output ? protocol::Stream::out
                                                     : protocol::Stream::err;
}

std::size_t ExecPolicy::read_size() const {
  const std::size_t buffer = std::max<std::size_t>(m_budget.chunk_bytes, 1);
  if (m_verdict == Verdict::output_limit) {
    return buffer;
  }
  return static_cast<std::size_t>(std::min<std::uint64_t>(buffer, allowance() + 1));
}

Actions ExecPolicy::read(TimePoint now, Pipe pipe, std::string_view bytes) {
  if (m_verdict == Verdict::output_limit) {
    return {};  // discarded: the task has had all it may send
  }
  const std::uint64_t allowance = this->allowance();
  const auto deliver = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), allowance));
  Actions actions;
  if (deliver > 0) {
    actions = hold(now, stream_of(pipe), bytes.substr(0, deliver));
    m_budget.delivered += deliver;
    // A program that writes in tiny pieces is read again only at the next flush (within
    // flush_ms, so no byte waits longer than SPEC allows): one that waits for each byte to
    // be read pays with its own wall time instead of the daemon's CPU. Larger reads go on
    // at once, so bulk output keeps its pace.
    if (bytes.size() < k_small_read && m_flush_deadline) {
      m_resting[index_of(pipe)] = true;
    }
  }
  if (bytes.size() > allowance) {
    // Decided once what this read made due is out, as the frame limit of that flush is.
    if (actions.flush) {
      m_after_flush = Verdict::output_limit;
    } else {
      decide(now, Verdict::output_limit, actions);
    }
  }
  return actions;
}

bool ExecPolicy::resting(Pipe pipe) const { return !m_draining && m_resting[index_of(pipe)]; }

// Keeps `bytes` for delivery within flush_ms: a program that writes and ends at once has
// its output and its end sent together, one wakeup of the events path instead of several.
// Beyond k_max_runs_per_flush runs, output joins the last run of its stream: a program
// alternating one-byte writes on stdout and stderr would otherwise make a frame per byte,
// whose cost falls on the daemon and the consumer, not the task.
Actions ExecPolicy::hold(TimePoint now, protocol::Stream stream, std::string_view bytes) {
  auto run = m_pending.rbegin();
  if (m_pending.size() >= k_max_runs_per_flush) {
    run = std::find_if(m_pending.rbegin(), m_pending.rend(),
                       [stream](const auto& held) { return held.first == stream; });
  }
  if (run != m_pending.rend() && run->first == stream) {
    run->second.append(bytes);
  } else {
    m_pending.emplace_back(stream, std::string(bytes));
  }
  m_pending_bytes += bytes.size();
  if (!m_flush_deadline) {
    m_flush_deadline = now + milliseconds(m_budget.flush_ms);
  }
  if (m_budget.flush_ms == 0 || m_pending_bytes >= m_budget.chunk_bytes) {
    return flush();
  }
  return {};
}

bool ExecPolicy::flush_due(TimePoint now) const {
  return m_flush_deadline && now >= *m_flush_deadline;
}

Actions ExecPolicy::flush() {
  Actions actions;
  actions.flush = true;
  const std::size_t chunk = std::max<std::size_t>(m_budget.chunk_bytes, 1);
  for (auto& [stream, bytes] : m_pending) {
    if (bytes.size() <= chunk) {
      actions.emit.push_back(Chunk{stream, std::move(bytes)});
      continue;
    }
    for (std::size_t offset = 0; offset < bytes.size(); offset += chunk) {
      actions.emit.push_back(Chunk{stream, bytes.substr(offset, chunk)});
    }
  }
  m_budget.frames += actions.emit.size();
  m_pending.clear();
  m_pending_bytes = 0;
  m_flush_deadline.reset();
  m_resting = {false, false};
  return actions;
}

Actions ExecPolicy::flushed(TimePoint now, Clock::duration waited, Clock::duration program_cpu) {
  // A slow events consumer blocks the sink (backpressure, SPEC §3); the program is not to
  // blame for that time, so the wall-clock deadline moves by it, except for what CPU time
  // the program used meanwhile: a program that runs on while the consumer is slow is
  // still ended by its own wall time.
  if (waited > k_blocked_min) {
    m_blocked += std::max<Clock::duration>(waited - program_cpu, Clock::duration(0));
  }
  Actions actions;
  if (m_budget.frames > m_budget.max_frames) {
    decide(now, Verdict::frame_limit, actions);
  }
  if (m_after_flush) {
    decide(now, *m_after_flush, actions);
    m_after_flush.reset();
  }
  return actions;
}

bool ExecPolicy::cpu_over(const CgroupReadings& read) const {
  const auto usage = value_of(read.cpu_ns);
  return usage && *usage >= m_cpu_base && *usage - m_cpu_base >= m_limits.cpu_ms * 1000000;
}

// A program out of time whose memory is pinned at the limit, after the kernel reclaimed for
// it again and again during the exec, is thrashing on what little it can still reclaim
// (a compiler's own code pages): the memory limit ended it, whatever clock ran out first.
Verdict ExecPolicy::out_of_time(Verdict verdict, const CgroupReadings& read) const {
  const auto hits = value_of(read.limit_hits);
  const auto pinned = value_of(read.pinned);
  if (hits && *hits > m_limit_hits_base + k_thrash_hits && pinned && *pinned) {
    return Verdict::memory_limit;
  }
  return verdict;
}

std::optional<Reading> ExecPolicy::needed(TimePoint now, const CgroupReadings& read) const {
  if (m_exited || m_verdict != Verdict::none) {
    return std::nullopt;
  }
  const bool wall = now >= wall_deadline();
  if (!wall && now < m_next_cpu_check) {
    return std::nullopt;
  }
  if (!wall && !read.cpu_ns) {
    return Reading::cpu_ns;
  }
  if (wall || cpu_over(read)) {
    if (!read.limit_hits) {
      return Reading::limit_hits;
    }
    return read.pinned ? std::nullopt : std::optional<Reading>(Reading::pinned);
  }
  return read.over_memory ? std::nullopt : std::optional<Reading>(Reading::over_memory);
}

Actions ExecPolicy::check(TimePoint now, const CgroupReadings& read) {
  Actions actions;
  if (m_exited) {
    return actions;
  }
  if (m_kill_deadline && now >= *m_kill_deadline && !m_container_killed) {
    m_container_killed = true;
    actions.kill_container = true;
  }
  if (m_verdict != Verdict::none) {
    return actions;
  }
  if (now >= wall_deadline()) {
    decide(now, out_of_time(Verdict::time_limit, read), actions);
  } else if (now >= m_next_cpu_check) {
    m_next_cpu_check = now + k_cpu_poll;
    if (cpu_over(read)) {
      decide(now, out_of_time(Verdict::cpu_limit, read), actions);
    } else if (value_of(read.over_memory).value_or(false)) {
      decide(now, Verdict::memory_limit, actions);
    }
  }
  return actions;
}

Actions ExecPolicy::cancel(TimePoint now) {
  Actions actions;
  decide(now, Verdict::cancelled, actions);
  return actions;
}

void ExecPolicy::decide(TimePoint now, Verdict verdict, Actions& actions) {
  if (m_verdict != Verdict::none) {
    return;
  }
  if (m_exited) {
    // The output the program wrote before it ended is read after: crossing the output
    // limit (or the frame limit) with it is still the task's end, with nothing to kill.
    if (verdict == Verdict::output_limit || verdict == Verdict::frame_limit) {
      m_verdict = verdict;
    }
    return;
  }
  m_verdict = verdict;
  m_kill_deadline = now + k_kill_grace;
  actions.kill_program = true;
}

void ExecPolicy::container_killed(TimePoint now) {
  m_container_killed = true;
  if (m_draining && m_drain_escalated) {
    m_drain_deadline = now + 2 * k_drain_grace;
  }
}

void ExecPolicy::start_drain(TimePoint now) {
  m_draining = true;
  m_drain_deadline = now + k_drain_grace;
}

Actions ExecPolicy::drain_check(TimePoint now) {
  Actions actions;
  if (!m_draining || now < m_drain_deadline) {
    return actions;
  }
  if (m_drain_escalated) {
    actions.give_up = true;
    return actions;
  }
  m_drain_escalated = true;
  actions.kill_container = true;
  return actions;
}

ExecPolicy::TimePoint ExecPolicy::wall_deadline() const {
  return m_start + milliseconds(m_limits.wall_ms) + m_blocked;
}

ExecPolicy::TimePoint ExecPolicy::next_wakeup() const {
  TimePoint until = wall_deadline();
  if (m_draining) {
    until = m_drain_deadline;
  } else if (m_kill_deadline) {
    // Once the container was killed only the helper's answer (or its connection closing) is
    // awaited: a kill deadline already passed would make every poll return at once.
    until = m_container_killed ? TimePoint::max() : *m_kill_deadline;
  }
  return m_flush_deadline ? std::min(until, *m_flush_deadline) : until;
}

int ExecPolicy::poll_timeout_ms(TimePoint now) const {
  const TimePoint until = next_wakeup();
  if (until <= now) {
    return 0;
  }
  const auto left = std::chrono::duration_cast<milliseconds>(until - now).count() + 1;
  // While the program runs the CPU time is looked at every k_cpu_poll, whatever the next
  // deadline; a drain waits only for the pipes and its own deadlines.
  return static_cast<int>(m_draining ? left : std::min<long long>(left, k_cpu_poll.count()));
}

}  // namespace planificador::backend::docker
