#include "planificador/backend/docker/exec_session.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <poll.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "planificador/os/pipe.hpp"
#include "planificador/sandbox/messages.hpp"
#include "planificador/sandbox/wire.hpp"

namespace planificador::backend::docker {
namespace {

using Clock = ExecPolicy::Clock;
using std::chrono::milliseconds;

constexpr std::size_t k_stdin_chunk = 65536;

std::uint64_t elapsed_ms(Clock::time_point since) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<milliseconds>(Clock::now() - since).count());
}

// The I/O of one exec: the pipes, the helper connection, the cgroup and the sink. Every
// decision is the policy's; this polls, reads, writes, and tells it what happened.
class ExecSession {
 public:
  ExecSession(const ExecEnvironment& environment, const ExecRequest& request, OutputBudget& budget)
      : m_env(environment),
        m_request(request),
        m_budget(budget),
        m_buffer(std::max<std::size_t>(budget.chunk_bytes, 1)) {}

  Result<ExecResult> run() {
    PLAN_TRY(send_exec());
    while (!m_policy->has_exited()) {
      poll_once();
      flush_if_due();
      check_limits();
    }
    m_stdin.reset();
    drain();
    apply(m_policy->flush());
    m_result.verdict = m_policy->verdict();
    m_result.wall_ms = elapsed_ms(m_start);
    if (auto usage = m_env.cgroup->cpu_usage_ns(); usage && *usage >= m_cpu_base) {
      m_result.cpu_ns = *usage - m_cpu_base;
    }
    return m_result;
  }

 private:
  Result<void> send_exec();
  void poll_once();
  void check_limits();
  void read_figure(Reading figure, CgroupReadings& readings) const;
  void on_helper_message();
  void read_output(os::Fd& pipe, Pipe which);
  void write_stdin();
  void flush_if_due();
  void drain();
  // Carries out the policy's `actions`, in their order.
  void apply(const Actions& actions);
  // Hands `chunks` to the sink and tells the policy how long that took.
  void deliver(const std::vector<Chunk>& chunks);
  void kill_program();
  void kill_container();

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
  std::uint64_t m_cpu_base = 0;
  std::optional<ExecPolicy> m_policy;  // from the moment the exec is sent
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
  const sandbox::ExecRequest exec{m_request.argv, m_request.env,
                                  rlimit_cpu_seconds(m_request.cpu_ms), m_request.files};
  m_cpu_base = m_env.cgroup->cpu_usage_ns().value_or(0);
  const std::uint64_t limit_hits_base = m_env.cgroup->memory_limit_hits().value_or(0);
  m_start = Clock::now();
  m_policy.emplace(ExecLimits{m_request.wall_ms, m_request.cpu_ms, m_request.merge_output},
                   m_budget, m_start, m_cpu_base, limit_hits_base);
  if (auto sent = sandbox::send(m_env.socket, exec, fds); !sent) {
    return fail("send exec to the sandbox helper: " + sent.error().message);
  }
  // Only the program may hold the write ends now, so EOF means it (and its tree) closed them.
  m_out = std::move(out->read);
  m_err = std::move(err->read);
  m_stdin = std::move(in->write);
  for (const int fd : {m_out.get(), m_err.get(), m_stdin.get()}) {
    if (fd >= 0) {
      PLAN_TRY(os::set_nonblocking(fd));
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
  add(m_policy->watches_cancel() ? m_env.cancel->fd() : -1, POLLIN);
  add(m_policy->resting(Pipe::out) ? -1 : m_out.get(), POLLIN);
  add(m_policy->resting(Pipe::err) ? -1 : m_err.get(), POLLIN);
  add(m_stdin.get(), POLLOUT);
  const int ready = ::poll(fds.data(), count, m_policy->poll_timeout_ms(Clock::now()));
  if (ready <= 0) {
    return;
  }
  if (fds[2].revents != 0) {
    read_output(m_out, Pipe::out);
  }
  if (fds[3].revents != 0) {
    read_output(m_err, Pipe::err);
  }
  if (fds[4].revents != 0) {
    write_stdin();
  }
  if (fds[1].revents != 0) {
    apply(m_policy->cancel(Clock::now()));
  }
  if (fds[0].revents != 0) {
    on_helper_message();
  }
}

// Reads what the policy needs from the cgroup, and nothing else (a memory figure only
// when the CPU time is within its limit, the thrash figures only when time ran out).
void ExecSession::check_limits() {
  const auto now = Clock::now();
  CgroupReadings readings;
  while (const auto figure = m_policy->needed(now, readings)) {
    read_figure(*figure, readings);
  }
  apply(m_policy->check(now, readings));
}

void ExecSession::read_figure(Reading figure, CgroupReadings& readings) const {
  const os::Cgroup& cgroup = *m_env.cgroup;
  switch (figure) {
    case Reading::cpu_ns:
      readings.cpu_ns = cgroup.cpu_usage_ns();
      break;
    case Reading::over_memory:
      readings.over_memory = cgroup.over_memory_limit();
      break;
    case Reading::limit_hits:
      readings.limit_hits = cgroup.memory_limit_hits();
      break;
    case Reading::pinned:
      readings.pinned = cgroup.memory_pinned_at_limit();
      break;
  }
}

void ExecSession::on_helper_message() {
  auto message = sandbox::receive_message(m_env.socket);
  if (!message) {
    m_policy->exited();
    m_result.error = "sandbox helper connection lost: " + message.error().message;
    return;
  }
  const auto answer = sandbox::decode_answer(*message);
  if (answer && std::holds_alternative<sandbox::Started>(*answer)) {
    return;
  }
  m_policy->exited();
  const auto* exited = answer ? std::get_if<sandbox::Exited>(&*answer) : nullptr;
  const auto* reply = answer ? std::get_if<sandbox::Reply>(&*answer) : nullptr;
  if (exited != nullptr && exited->wait_status) {
    m_result.wait_status = *exited->wait_status;
  } else if (exited != nullptr) {
    m_result.error = exited->error;
    m_result.rejected = exited->rejected;
  } else if (reply != nullptr && !reply->error.empty()) {
    m_result.error = reply->error;
  } else {
    m_result.error = "unexpected answer from the sandbox helper: " + sandbox::describe(*message);
  }
}

void ExecSession::read_output(os::Fd& pipe, Pipe which) {
  const ssize_t got = ::read(pipe.get(), m_buffer.data(), m_policy->read_size());
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
  const std::string_view bytes(m_buffer.data(), static_cast<std::size_t>(got));
  apply(m_policy->read(Clock::now(), which, bytes));
}

void ExecSession::flush_if_due() {
  if (m_policy->flush_due(Clock::now())) {
    apply(m_policy->flush());
  }
}

void ExecSession::apply(const Actions& actions) {
  if (actions.flush) {
    deliver(actions.emit);
  }
  if (actions.kill_program) {
    kill_program();
  }
  if (actions.kill_container) {
    spdlog::warn("sandbox helper did not confirm a kill within {} ms; killing the container",
                 ExecPolicy::k_kill_grace.count());
    kill_container();
  }
}

void ExecSession::deliver(const std::vector<Chunk>& chunks) {
  // The sink may block while the events consumer is slow; the policy is told how long,
  // and how much CPU time the program used meanwhile.
  const auto before = Clock::now();
  const auto cpu_before = m_env.cgroup->cpu_usage_ns();
  for (const auto& chunk : chunks) {
    m_env.sink->output(chunk.stream, chunk.bytes);
  }
  const auto waited = Clock::now() - before;
  Clock::duration ran{0};
  if (waited > ExecPolicy::k_blocked_min) {
    const auto cpu_after = m_env.cgroup->cpu_usage_ns();
    if (cpu_before && cpu_after && *cpu_after > *cpu_before) {
      ran = std::chrono::nanoseconds(*cpu_after - *cpu_before);
    }
  }
  apply(m_policy->flushed(Clock::now(), waited, ran));
}

void ExecSession::kill_program() {
  if (auto sent = sandbox::send(m_env.socket, sandbox::KillRequest{}); !sent) {
    kill_container();
  }
}

void ExecSession::kill_container() {
  m_env.kill_container();
  m_policy->container_killed(Clock::now());
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

// What the program left in the pipes is read to EOF; the policy says when to kill the
// container for a writer that escaped the helper, and when to give up on the pipes.
void ExecSession::drain() {
  m_policy->start_drain(Clock::now());
  while (m_out || m_err) {
    const auto now = Clock::now();
    const auto actions = m_policy->drain_check(now);
    if (actions.give_up) {
      spdlog::error("output pipes still open after the container was killed");
      break;
    }
    if (actions.kill_container) {
      spdlog::warn("output pipes still open {} ms after the program ended; killing the container",
                   ExecPolicy::k_drain_grace.count());
      kill_container();
    }
    std::array<pollfd, 2> fds{pollfd{m_out.get(), POLLIN, 0}, pollfd{m_err.get(), POLLIN, 0}};
    const int ready = ::poll(fds.data(), fds.size(), m_policy->poll_timeout_ms(now));
    flush_if_due();
    if (ready <= 0) {
      continue;
    }
    if (fds[0].revents != 0) {
      read_output(m_out, Pipe::out);
    }
    if (fds[1].revents != 0) {
      read_output(m_err, Pipe::err);
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
