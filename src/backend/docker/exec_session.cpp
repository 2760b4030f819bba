#include "planificador/backend/docker/exec_session.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <poll.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "planificador/os/pipe.hpp"
#include "planificador/sandbox/wire.hpp"

namespace planificador::backend::docker {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often the container's CPU time (and, on cgroup v1, memory with socket buffers) is
// read while the program runs.
constexpr milliseconds k_cpu_poll{15};
// How long the helper has to confirm a kill before the container itself is killed.
constexpr milliseconds k_kill_grace{1000};
// How long the pipes may stay open after the program ended: only a process that escaped
// the helper's kill could hold them.
constexpr milliseconds k_drain_grace{1000};
constexpr std::size_t k_stdin_chunk = 65536;
// Runs of one stream held for one flush beyond which further output joins the last run of
// its stream: a program alternating one-byte writes on stdout and stderr would otherwise
// make a frame per byte, whose cost falls on the daemon and the consumer, not the task.
constexpr std::size_t k_max_runs_per_flush = 8;
// A read this small means the program writes in tiny pieces: that pipe is read again only
// when the held output is flushed (within flush_ms, so no byte waits longer than SPEC
// allows), and a program that waits for each byte to be read pays with its own wall time
// instead of the daemon's CPU. Larger reads go on at once, so bulk output keeps its pace.
constexpr std::size_t k_small_read = 512;
// Times the memory limit was hit during an exec beyond which a program out of time at that
// limit counts as thrashing (a single allocation that grazes the limit hits it a few times).
constexpr std::uint64_t k_thrash_hits = 100;

std::uint64_t elapsed_ms(Clock::time_point since) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<milliseconds>(Clock::now() - since).count());
}

int poll_timeout(Clock::time_point now, Clock::time_point until) {
  if (until <= now) {
    return 0;
  }
  const auto left = std::chrono::duration_cast<milliseconds>(until - now).count() + 1;
  return static_cast<int>(std::min<long long>(left, k_cpu_poll.count()));
}

class ExecSession {
 public:
  ExecSession(const ExecEnvironment& environment, const ExecRequest& request, OutputBudget& budget)
      : m_env(environment),
        m_request(request),
        m_budget(budget),
        m_buffer(std::max<std::size_t>(budget.chunk_bytes, 1)) {}

  Result<ExecResult> run() {
    if (auto sent = send_exec(); !sent) {
      return tl::unexpected(sent.error());
    }
    while (!m_exited) {
      poll_once();
      flush_if_due();
      check_limits();
    }
    m_stdin.reset();
    drain();
    flush();
    m_result.wall_ms = elapsed_ms(m_start);
    if (auto usage = m_env.cgroup->cpu_usage_ns(); usage && *usage >= m_cpu_base) {
      m_result.cpu_ns = *usage - m_cpu_base;
    }
    return m_result;
  }

 private:
  Result<void> send_exec();
  [[nodiscard]] Clock::time_point wall_deadline() const {
    return m_start + milliseconds(m_request.wall_ms) +
           std::chrono::duration_cast<Clock::duration>(m_blocked);
  }
  void poll_once();
  void check_limits();
  void on_helper_message();
  void read_output(os::Fd& pipe, protocol::Stream stream);
  void write_stdin();
  void decide(Verdict verdict);
  [[nodiscard]] Verdict out_of_time(Verdict verdict) const;
  void drain();
  void hold(protocol::Stream stream, std::string_view bytes);
  void flush();
  void flush_if_due();
  [[nodiscard]] Clock::time_point next_wakeup(Clock::time_point until) const;

  const ExecEnvironment& m_env;
  const ExecRequest& m_request;
  OutputBudget& m_budget;
  std::vector<char> m_buffer;
  ExecResult m_result;
  os::Fd m_out;
  os::Fd m_err;
  os::Fd m_stdin;
  std::size_t m_stdin_offset = 0;
  Clock::time_point m_start;
  // Waiting for the events consumer to take output, less the CPU time the program used
  // meantime: the program is not to blame for that wait, unless it went on running.
  Clock::duration m_blocked{0};
  Clock::time_point m_next_cpu_check;
  std::optional<Clock::time_point> m_kill_deadline;
  std::uint64_t m_cpu_base = 0;
  std::uint64_t m_limit_hits_base = 0;  // memory limit hits when the exec began
  bool m_exited = false;
  bool m_container_killed = false;
  // Output read but not yet delivered, in arrival order (adjacent reads of one stream
  // merged), and when its oldest byte must be out.
  std::vector<std::pair<protocol::Stream, std::string>> m_pending;
  std::size_t m_pending_bytes = 0;
  std::optional<Clock::time_point> m_flush_deadline;
  bool m_out_resting = false;  // not read again before the next flush (k_small_read)
  bool m_err_resting = false;
};

Result<void> ExecSession::send_exec() {
  auto in = os::make_pipe();
  auto out = os::make_pipe();
  // Merged output (a compiler's) shares one pipe, so its lines keep their order.
  auto err = m_request.merge_output ? Result<os::Pipe>(os::Pipe{}) : os::make_pipe();
  for (const auto* pipe : {&in, &out, &err}) {
    if (!*pipe) {
      return fail("pipe for the program: " + pipe->error().message);
    }
  }
  const int err_end = m_request.merge_output ? out->write.get() : err->write.get();
  const std::array<int, 3> fds{in->read.get(), out->write.get(), err_end};
  nlohmann::json exec = {{"op", "exec"},
                         {"argv", m_request.argv},
                         {"env", m_request.env},
                         {"rlimit_cpu_s", rlimit_cpu_seconds(m_request.cpu_ms)}};
  if (!m_request.files.is_null()) {
    exec["files"] = m_request.files;
  }
  m_cpu_base = m_env.cgroup->cpu_usage_ns().value_or(0);
  m_limit_hits_base = m_env.cgroup->memory_limit_hits().value_or(0);
  m_start = Clock::now();
  m_next_cpu_check = m_start + k_cpu_poll;
  if (auto sent = sandbox::send_message(m_env.socket, exec, fds); !sent) {
    return fail("send exec to the sandbox helper: " + sent.error().message);
  }
  // Only the program may hold the write ends now, so EOF means it (and its tree) closed them.
  m_out = std::move(out->read);
  m_err = std::move(err->read);
  m_stdin = std::move(in->write);
  for (const int fd : {m_out.get(), m_err.get(), m_stdin.get()}) {
    if (fd >= 0) {
      if (auto set = os::set_nonblocking(fd); !set) {
        return tl::unexpected(set.error());
      }
    }
  }
  if (m_request.stdin_data.empty()) {
    m_stdin.reset();
  }
  return {};
}

void ExecSession::poll_once() {
  std::array<pollfd, 5> fds{};
  std::size_t count = 0;
  const auto add = [&](int fd, short events) { fds[count++] = pollfd{fd, events, 0}; };
  add(m_env.socket, POLLIN);
  add(m_result.verdict == Verdict::none ? m_env.cancel->fd() : -1, POLLIN);
  add(m_out_resting ? -1 : m_out.get(), POLLIN);
  add(m_err_resting ? -1 : m_err.get(), POLLIN);
  add(m_stdin.get(), POLLOUT);
  auto until = wall_deadline();
  if (m_kill_deadline) {
    until = *m_kill_deadline;
  }
  const int ready = ::poll(fds.data(), count, poll_timeout(Clock::now(), next_wakeup(until)));
  if (ready <= 0) {
    return;
  }
  if (fds[2].revents != 0) {
    read_output(m_out, m_request.merge_output ? protocol::Stream::err : protocol::Stream::out);
  }
  if (fds[3].revents != 0) {
    read_output(m_err, protocol::Stream::err);
  }
  if (fds[4].revents != 0) {
    write_stdin();
  }
  if (fds[1].revents != 0) {
    decide(Verdict::cancelled);
  }
  if (fds[0].revents != 0) {
    on_helper_message();
  }
}

void ExecSession::check_limits() {
  if (m_exited) {
    return;
  }
  const auto now = Clock::now();
  if (m_kill_deadline && now >= *m_kill_deadline && !m_container_killed) {
    spdlog::warn("sandbox helper did not confirm a kill within {} ms; killing the container",
                 k_kill_grace.count());
    m_container_killed = true;
    m_env.kill_container();
  }
  if (m_result.verdict != Verdict::none) {
    return;
  }
  if (now >= wall_deadline()) {
    decide(out_of_time(Verdict::time_limit));
  } else if (now >= m_next_cpu_check) {
    m_next_cpu_check = now + k_cpu_poll;
    const auto usage = m_env.cgroup->cpu_usage_ns();
    if (usage && *usage >= m_cpu_base && *usage - m_cpu_base >= m_request.cpu_ms * 1000000) {
      decide(out_of_time(Verdict::cpu_limit));
    } else if (const auto over = m_env.cgroup->over_memory_limit(); over && *over) {
      decide(Verdict::memory_limit);
    }
  }
}

void ExecSession::on_helper_message() {
  auto message = sandbox::receive_message(m_env.socket);
  if (!message) {
    m_exited = true;
    m_result.error = "sandbox helper connection lost: " + message.error().message;
    return;
  }
  const auto& body = message->body;
  if (body.value("event", "") == "started") {
    return;
  }
  m_exited = true;
  if (body.value("event", "") == "exited" && body.contains("wait_status") &&
      body["wait_status"].is_number_integer()) {
    m_result.wait_status = body["wait_status"].get<int>();
    return;
  }
  m_result.error = body.value("error", "unexpected answer from the sandbox helper: " + body.dump());
  m_result.rejected = body.value("rejected", false);
}

void ExecSession::read_output(os::Fd& pipe, protocol::Stream stream) {
  const bool discard = m_result.verdict == Verdict::output_limit;
  const std::uint64_t allowance = m_budget.limit - std::min(m_budget.delivered, m_budget.limit);
  // One byte more than allowed tells "exactly at the limit" from "over it".
  const std::size_t want =
      discard ? m_buffer.size()
              : static_cast<std::size_t>(std::min<std::uint64_t>(m_buffer.size(), allowance + 1));
  const ssize_t got = ::read(pipe.get(), m_buffer.data(), want);
  if (got < 0) {
    if (errno != EAGAIN && errno != EINTR) {
      pipe.reset();
    }
    return;
  }
  if (got == 0) {
    pipe.reset();
    return;
  }
  if (discard) {
    return;
  }
  const auto bytes = static_cast<std::uint64_t>(got);
  const auto deliver = static_cast<std::size_t>(std::min(bytes, allowance));
  if (deliver > 0) {
    hold(stream, std::string_view(m_buffer.data(), deliver));
    m_budget.delivered += deliver;
    if (bytes < k_small_read && m_flush_deadline) {
      (&pipe == &m_out ? m_out_resting : m_err_resting) = true;
    }
  }
  if (bytes > allowance) {
    decide(Verdict::output_limit);
  }
}

// Keeps `bytes` for delivery within flush_ms: a program that writes and ends at once has
// its output and its end sent together, one wakeup of the events path instead of several.
void ExecSession::hold(protocol::Stream stream, std::string_view bytes) {
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
    m_flush_deadline = Clock::now() + milliseconds(m_budget.flush_ms);
  }
  if (m_budget.flush_ms == 0 || m_pending_bytes >= m_budget.chunk_bytes) {
    flush();
  }
}

void ExecSession::flush() {
  // A slow events consumer blocks the sink (backpressure, SPEC §3); the program is not to
  // blame for that time, so the wall-clock deadline moves by it, except for what CPU time
  // the program used meanwhile: a program that runs on while the consumer is slow is
  // still ended by its own wall time.
  const auto before = Clock::now();
  const auto cpu_before = m_env.cgroup->cpu_usage_ns();
  const std::size_t chunk = std::max<std::size_t>(m_budget.chunk_bytes, 1);
  for (const auto& [stream, bytes] : m_pending) {
    for (std::size_t offset = 0; offset < bytes.size(); offset += chunk) {
      m_env.sink->output(stream, std::string_view(bytes).substr(offset, chunk));
      ++m_budget.frames;
    }
  }
  const auto waited = Clock::now() - before;
  if (waited > std::chrono::milliseconds(1)) {
    const auto cpu_after = m_env.cgroup->cpu_usage_ns();
    const auto ran = cpu_before && cpu_after && *cpu_after > *cpu_before
                         ? std::chrono::nanoseconds(*cpu_after - *cpu_before)
                         : std::chrono::nanoseconds(0);
    m_blocked += std::max<Clock::duration>(waited - ran, Clock::duration(0));
  }
  if (m_budget.frames > m_budget.max_frames) {
    decide(Verdict::frame_limit);
  }
  m_pending.clear();
  m_pending_bytes = 0;
  m_flush_deadline.reset();
  m_out_resting = false;
  m_err_resting = false;
}

void ExecSession::flush_if_due() {
  if (m_flush_deadline && Clock::now() >= *m_flush_deadline) {
    flush();
  }
}

Clock::time_point ExecSession::next_wakeup(Clock::time_point until) const {
  return m_flush_deadline ? std::min(until, *m_flush_deadline) : until;
}

void ExecSession::write_stdin() {
  const std::string_view data = m_request.stdin_data;
  const std::size_t size = std::min(data.size() - m_stdin_offset, k_stdin_chunk);
  const ssize_t written = ::write(m_stdin.get(), data.data() + m_stdin_offset, size);
  if (written < 0) {
    // EPIPE: the program stopped reading (SIGPIPE is blocked by the caller).
    if (errno != EAGAIN && errno != EINTR) {
      m_stdin.reset();
    }
    return;
  }
  m_stdin_offset += static_cast<std::size_t>(written);
  if (m_stdin_offset >= data.size()) {
    m_stdin.reset();
  }
}

// A program out of time whose memory is pinned at the limit, after the kernel reclaimed for
// it again and again during the exec, is thrashing on what little it can still reclaim
// (a compiler's own code pages): the memory limit ended it, whatever clock ran out first.
Verdict ExecSession::out_of_time(Verdict verdict) const {
  const auto hits = m_env.cgroup->memory_limit_hits();
  const auto pinned = m_env.cgroup->memory_pinned_at_limit();
  if (hits && *hits >= m_limit_hits_base + k_thrash_hits && pinned && *pinned) {
    return Verdict::memory_limit;
  }
  return verdict;
}

void ExecSession::decide(Verdict verdict) {
  if (m_result.verdict != Verdict::none || m_exited) {
    return;
  }
  m_result.verdict = verdict;
  m_kill_deadline = Clock::now() + k_kill_grace;
  if (auto sent = sandbox::send_message(m_env.socket, {{"op", "kill"}}); !sent) {
    m_container_killed = true;
    m_env.kill_container();
  }
}

void ExecSession::drain() {
  auto deadline = Clock::now() + k_drain_grace;
  bool escalated = false;
  while (m_out || m_err) {
    const auto now = Clock::now();
    if (now >= deadline) {
      if (escalated) {
        spdlog::error("output pipes still open after the container was killed");
        break;
      }
      spdlog::warn("output pipes still open {} ms after the program ended; killing the container",
                   k_drain_grace.count());
      escalated = true;
      m_container_killed = true;
      m_env.kill_container();
      deadline = Clock::now() + 2 * k_drain_grace;
    }
    std::array<pollfd, 2> fds{pollfd{m_out.get(), POLLIN, 0}, pollfd{m_err.get(), POLLIN, 0}};
    const auto left =
        std::chrono::duration_cast<milliseconds>(next_wakeup(deadline) - now).count() + 1;
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left));
    flush_if_due();
    if (ready <= 0) {
      continue;
    }
    if (fds[0].revents != 0) {
      read_output(m_out, m_request.merge_output ? protocol::Stream::err : protocol::Stream::out);
    }
    if (fds[1].revents != 0) {
      read_output(m_err, protocol::Stream::err);
    }
  }
}

}  // namespace

std::uint64_t rlimit_cpu_seconds(std::uint64_t cpu_ms) { return (cpu_ms + 999) / 1000 + 1; }

Result<ExecResult> run_exec(const ExecEnvironment& environment, const ExecRequest& request,
                            OutputBudget& budget) {
  ExecSession session(environment, request, budget);
  return session.run();
}

}  // namespace planificador::backend::docker
