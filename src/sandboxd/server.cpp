#include "server.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process_tree.hpp"
#include "signals.hpp"
#include "system_view.hpp"

#include "planificador/os/unix_socket.hpp"

namespace planificador::sandboxd {
namespace {

constexpr int k_backlog = 4;
constexpr auto k_reap_deadline = std::chrono::seconds(10);
constexpr std::chrono::milliseconds k_ready_timeout{10000};
constexpr std::chrono::milliseconds k_clean_timeout{5000};
// How long the used sandbox may take to be gone before the standby is given up.
constexpr std::chrono::milliseconds k_standby_deadline{2000};
// Where the copy of /etc is staged (system_view.hpp): the container's own small /tmp.
constexpr const char* k_scratch = "/tmp";

}  // namespace

void log(const std::string& message) {
  (void)std::fprintf(stderr, "sandboxd: %s\n", message.c_str());
}

Result<Server> Server::create(ServerOptions options) {
  auto signals = open_signal_fd();
  PLAN_TRY(signals);
  // Off PID 1 (tests on a host), orphans of the task (bwrap's init once bwrap is killed)
  // must still come back to the helper to be reaped and counted.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return fail_errno("prctl PR_SET_CHILD_SUBREAPER");
  }
  auto workspace = Workspace::open(options.root);
  PLAN_TRY(workspace);
  PLAN_TRY(workspace->renew());
  sandbox::SandboxPlan plan;
  plan.root = workspace->root();
  plan.system = sandbox::probe_system_entries();
  PLAN_TRY(cover_system_directories(plan.system, k_scratch));
  auto arguments = sandbox::bwrap_arguments(plan);
  PLAN_TRY(arguments);
  // The zygote's binary, handed to each bwrap as a descriptor (sandbox::k_stub_fd).
  os::Fd self(::open(options.self.c_str(), O_PATH | O_CLOEXEC));
  if (!self) {
    return fail_errno("open `" + options.self + "`");
  }
  auto listener = os::listen_unix(options.socket_path, k_backlog);
  PLAN_TRY(listener);
  Server server(std::move(options), std::move(*workspace), std::move(*signals),
                std::move(*listener));
  server.m_bwrap_arguments = std::move(*arguments);
  server.m_self = std::move(self);
  // A sandbox that cannot start is no reason not to serve: the first exec reports why.
  if (auto started = server.start_sandbox(); !started) {
    log(started.error().message);
  }
  return server;
}

Result<void> Server::run() {
  while (!m_stopping) {
    std::array<pollfd, 4> fds{};
    fds[0] = {m_signals.fd(), POLLIN, 0};
    fds[1] = {m_connection ? m_connection.get() : m_listener.get(), POLLIN, 0};
    fds[2] = {m_sandbox ? m_sandbox->control() : -1, POLLIN, 0};
    fds[3] = {m_standby && !m_standby->ready() ? m_standby->control() : -1, POLLIN, 0};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno("poll");
    }
    if (fds[0].revents != 0) {
      handle_signals();
    }
    if (m_sandbox && fds[2].revents != 0) {
      on_sandbox_message();
    }
    if (m_standby && !m_standby->ready() && fds[3].revents != 0) {
      on_standby_ready();
    }
    if (fds[1].revents != 0 && !m_stopping) {
      if (!m_connection) {
        accept_connection();
      } else if (!m_connection_failed) {
        on_daemon_message();
      }
    }
    if (m_connection_failed) {
      end_connection();
    }
  }
  if (m_running) {
    // Told to stop (the engine stops the container): the program did not end by itself,
    // and the daemon must say so rather than read a SIGKILL as the program's fate.
    if (auto reaped = kill_and_reap(); !reaped) {
      log(reaped.error().message);
    }
    m_running = false;
    send(sandbox::Exited{std::nullopt,
                         "sandbox helper stopped by signal " + std::to_string(m_stop_signal)});
  }
  m_connection.reset();
  m_sandbox.reset();
  if (auto reaped = kill_and_reap(); !reaped) {
    log(reaped.error().message);
  }
  if (auto renewed = m_workspace.renew(); !renewed) {
    log(renewed.error().message);
  }
  (void)::unlink(m_options.socket_path.c_str());
  return {};
}

void Server::handle_signals() {
  for (int signal = m_signals.take(); signal != 0; signal = m_signals.take()) {
    if (signal != SIGCHLD) {
      m_stopping = true;
      m_stop_signal = signal;
    }
  }
  (void)reap_children();
}

// Reaps every child that has ended. Returns true when no child is left at all.
bool Server::reap_children() {
  while (true) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG | __WALL);
    if (pid > 0) {
      continue;
    }
    if (pid < 0 && errno == EINTR) {
      continue;
    }
    return pid < 0 && errno == ECHILD;
  }
}

// Kills the sandbox and, as the container's PID 1, every other process, then reaps them.
Result<void> Server::kill_and_reap() {
  const auto deadline = std::chrono::steady_clock::now() + k_reap_deadline;
  // The standby goes too: after a kill of everything, only a new one is trusted.
  if (m_standby) {
    m_standby->kill();
    m_standby.reset();
  }
  while (true) {
    if (m_sandbox) {
      m_sandbox->kill();
    }
    // As the container's PID 1 the helper can reach everything left of a task at once;
    // elsewhere (a host) only its own tree is its business.
    if (::getpid() == 1) {
      ::kill(-1, SIGKILL);
    }
    if (reap_children()) {
      return {};
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return fail("processes of the task survived SIGKILL for 10 s");
    }
    // Woken by the next SIGCHLD rather than a fixed sleep: a renewal is on the way to the
    // container's next task.
    pollfd fd{m_signals.fd(), POLLIN, 0};
    if (::poll(&fd, 1, 2) > 0) {
      handle_signals();
    }
  }
}

Result<void> Server::start_sandbox() {
  auto started =
      Sandbox::start({m_options.bwrap, m_bwrap_arguments, m_self.get()}, k_ready_timeout);
  PLAN_TRY(started);
  m_sandbox.emplace(std::move(*started));
  return {};
}

// Strict renewal: nothing of the old sandbox survives; wiped directories, fresh namespaces
// (the standby's when there is one, so no Bubblewrap start is waited for).
Result<void> Server::renew_sandbox() {
  if (m_standby) {
    auto promoted = promote_standby();
    if (promoted) {
      return promoted;
    }
    log("reset: " + promoted.error().message + "; starting a new sandbox");
  }
  auto done = kill_and_reap();
  m_sandbox.reset();
  if (done) {
    done = m_workspace.renew();
  }
  if (done) {
    done = start_sandbox();
  }
  return done;
}

Result<void> Server::promote_standby() {
  if (auto ready = m_standby->await_ready(k_ready_timeout); !ready) {
    m_standby.reset();
    return fail("standby: " + ready.error().message);
  }
  // A standby that spoke or hung up since its "ready" is not trusted.
  pollfd standby{m_standby->control(), POLLIN, 0};
  if (::poll(&standby, 1, 0) != 0) {
    return fail("the standby sandbox is gone");
  }
  if (m_sandbox) {
    m_sandbox->kill();
    m_sandbox.reset();
  }
  // Everything of the used sandbox dies with its namespace's init; what descends from the
  // helper outside the standby must be gone before the directories are wiped.
  const auto deadline = std::chrono::steady_clock::now() + k_standby_deadline;
  const pid_t keep = m_standby->pid();
  while (true) {
    (void)reap_children();
    const auto others = descendants_outside(read_process_parents(), ::getpid(), keep);
    if (others.empty()) {
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return fail(std::to_string(others.size()) + " processes outlived the used sandbox");
    }
    for (const pid_t pid : others) {
      ::kill(pid, SIGKILL);
    }
    pollfd fd{m_signals.fd(), POLLIN, 0};
    if (::poll(&fd, 1, 2) > 0) {
      handle_signals();
    }
  }
  if (auto renewed = m_workspace.renew(); !renewed) {
    return renewed;
  }
  m_sandbox = std::move(m_standby);
  m_standby.reset();
  return {};
}

void Server::prepare_standby() {
  if (m_standby || m_stopping) {
    return;
  }
  // Launched only: its "ready" is read by the loop, which serves the daemon meanwhile.
  auto launched = Sandbox::launch({m_options.bwrap, m_bwrap_arguments, m_self.get()});
  if (!launched) {
    log("standby: " + launched.error().message);
    return;
  }
  m_standby.emplace(std::move(*launched));
}

void Server::on_standby_ready() {
  if (auto ready = m_standby->await_ready(std::chrono::milliseconds(0)); !ready) {
    log("standby: " + ready.error().message);
    m_standby.reset();
  }
}

// Fast renewal: the zygote proves its namespaces empty, the directories are wiped in place
// (the sandbox's binds keep pointing at them).
Result<void> Server::clean_sandbox() {
  if (!m_sandbox) {
    return fail("no sandbox");
  }
  const int control = m_sandbox->control();
  if (auto sent = sandbox::send(control, sandbox::CleanRequest{}); !sent) {
    return fail("clean: " + sent.error().message);
  }
  pollfd fd{control, POLLIN, 0};
  if (::poll(&fd, 1, static_cast<int>(k_clean_timeout.count())) <= 0) {
    return fail("clean: no answer from the sandbox");
  }
  auto message = sandbox::receive_message(control);
  if (!message) {
    return fail("clean: " + message.error().message);
  }
  const auto answer = sandbox::decode_answer(*message);
  const auto* reply = answer ? std::get_if<sandbox::Reply>(&*answer) : nullptr;
  if (reply == nullptr || !reply->ok) {
    return fail(reply != nullptr && !reply->error.empty()
                    ? reply->error
                    : "clean: unexpected answer " + sandbox::describe(*message));
  }
  return m_workspace.renew();
}

void Server::end_program(int wait_status) {
  m_running = false;
  send(sandbox::Exited{wait_status, ""});
}

void Server::on_sandbox_message() {
  auto message = sandbox::receive_message(m_sandbox->control());
  if (message) {
    const auto answer = sandbox::decode_answer(*message);
    const auto* started = answer ? std::get_if<sandbox::Started>(&*answer) : nullptr;
    const auto* exited = answer ? std::get_if<sandbox::Exited>(&*answer) : nullptr;
    if (started != nullptr && m_running) {
      send(*started);
      return;
    }
    if (exited != nullptr && m_running) {
      if (exited->wait_status) {
        end_program(*exited->wait_status);
      } else {
        m_running = false;
        send(sandbox::Exited{std::nullopt, exited->error});
      }
      return;
    }
    log("sandbox: unexpected message " + sandbox::describe(*message) +
        (answer ? "" : " (" + answer.error().message + ")"));
  } else if (!sandbox::connection_closed(message.error())) {
    log("sandbox: " + message.error().message);
  }
  on_sandbox_failure();
}

// The zygote died (the OOM killer, say) or broke the conversation: the sandbox goes, and
// with it every process of the program, before its end is reported as a SIGKILL.
void Server::on_sandbox_failure() {
  if (auto reaped = kill_and_reap(); !reaped) {
    log(reaped.error().message);
  }
  m_sandbox.reset();
  if (m_running) {
    end_program(SIGKILL);
  }
}

void Server::accept_connection() {
  m_connection.reset(::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!m_connection && errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
    log(std::string("accept: ") + std::strerror(errno));
  }
  m_connection_failed = false;
}

// A connection that ends, cleanly or not, is a strict reset: no process and no file of its
// task may meet the next one.
void Server::end_connection() {
  m_connection.reset();
  m_connection_failed = false;
  m_running = false;
  if (auto renewed = renew_sandbox(); !renewed) {
    log(renewed.error().message);
  }
}

}  // namespace planificador::sandboxd
