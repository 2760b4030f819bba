#include "server.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "signals.hpp"

namespace planificador::sandboxd {
namespace {

constexpr int k_backlog = 4;
constexpr auto k_reap_deadline = std::chrono::seconds(10);

Result<os::Fd> listen_on(const std::string& path) {
  // Bound under a temporary name and renamed once listening: a daemon that sees the socket
  // can connect at once, never meeting ECONNREFUSED between bind() and listen().
  const std::string temporary = path + ".new";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (temporary.size() >= sizeof address.sun_path) {
    return fail("socket path `" + path + "` is too long");
  }
  std::memcpy(address.sun_path, temporary.c_str(), temporary.size() + 1);
  const std::string directory = path.substr(0, path.find_last_of('/'));
  if (!directory.empty() && ::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
    return fail_errno("mkdir `" + directory + "`");
  }
  (void)::unlink(temporary.c_str());
  os::Fd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) {
    return fail_errno("socket");
  }
  // Reaching the socket is controlled by its directory, which only the daemon shares.
  if (::bind(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::chmod(temporary.c_str(), 0666) != 0) {
    return fail_errno("bind `" + temporary + "`");
  }
  if (::listen(socket.get(), k_backlog) != 0) {
    return fail_errno("listen on `" + temporary + "`");
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return fail_errno("rename `" + temporary + "` to `" + path + "`");
  }
  return socket;
}

}  // namespace

void log(const std::string& message) {
  (void)std::fprintf(stderr, "sandboxd: %s\n", message.c_str());
}

Result<Server> Server::create(ServerOptions options) {
  auto signals = open_signal_fd();
  if (!signals) {
    return tl::unexpected(signals.error());
  }
  // Off PID 1 (tests on a host), orphans of the task (bwrap's init once bwrap is killed)
  // must still come back to the helper to be reaped and counted.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return fail_errno("prctl PR_SET_CHILD_SUBREAPER");
  }
  auto workspace = Workspace::open(options.root);
  if (!workspace) {
    return tl::unexpected(workspace.error());
  }
  if (auto renewed = workspace->renew(); !renewed) {
    return tl::unexpected(renewed.error());
  }
  auto listener = listen_on(options.socket_path);
  if (!listener) {
    return tl::unexpected(listener.error());
  }
  Server server(std::move(options), std::move(*workspace), std::move(*signals),
                std::move(*listener));
  server.m_system = sandbox::probe_system_entries();
  return server;
}

Result<void> Server::run() {
  while (!m_stopping) {
    std::array<pollfd, 3> fds{};
    fds[0] = {m_signals.get(), POLLIN, 0};
    fds[1] = {m_connection ? m_connection.get() : m_listener.get(), POLLIN, 0};
    fds[2] = {m_task ? m_task->status_fd() : -1, POLLIN, 0};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_errno("poll");
    }
    if (fds[0].revents != 0) {
      handle_signals();
    }
    if (m_task && fds[2].revents != 0) {
      m_task->read_status();
    }
    if (m_task && (m_task->has_status() || m_task->reaped())) {
      finish_task(false);
    }
    if (fds[1].revents != 0 && !m_stopping) {
      if (!m_connection) {
        accept_connection();
      } else if (!m_connection_failed) {
        auto message = sandbox::receive_message(m_connection.get());
        if (message) {
          handle_message(std::move(*message));
        } else {
          if (message.error().message != "connection closed") {
            log("daemon connection: " + message.error().message);
            reject(message.error().message);
          }
          m_connection_failed = true;
        }
      }
    }
    if (m_connection_failed) {
      end_connection();
    }
  }
  if (m_task) {
    finish_task(true);
  }
  m_connection.reset();
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
  signalfd_siginfo info{};
  while (::read(m_signals.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo != SIGCHLD) {
      m_stopping = true;
    }
  }
  (void)reap_children();
}

// Reaps every child that has ended, noting the task's bwrap. Returns true when no child
// is left at all.
bool Server::reap_children() {
  while (true) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG | __WALL);
    if (pid > 0) {
      if (m_task && pid == m_task->pid()) {
        m_task->set_reaped(status);
      }
      continue;
    }
    if (pid < 0 && errno == EINTR) {
      continue;
    }
    return pid < 0 && errno == ECHILD;
  }
}

Result<void> Server::kill_and_reap() {
  const auto deadline = std::chrono::steady_clock::now() + k_reap_deadline;
  while (true) {
    if (m_task) {
      m_task->kill();
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
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void Server::finish_task(bool killed) {
  auto reaped = kill_and_reap();
  nlohmann::json event = m_task->exited_event(killed);
  if (!reaped) {
    log(reaped.error().message);
    event = {{"event", "exited"}, {"error", reaped.error().message}};
  }
  m_task.reset();
  send(event);
}

void Server::accept_connection() {
  m_connection.reset(::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!m_connection && errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
    log(std::string("accept: ") + std::strerror(errno));
  }
  m_connection_failed = false;
}

// A connection that ends, cleanly or not, is a reset: no process and no file of its task
// may meet the next one.
void Server::end_connection() {
  m_connection.reset();
  m_connection_failed = false;
  if (m_task) {
    finish_task(true);
  }
  if (auto reaped = kill_and_reap(); !reaped) {
    log(reaped.error().message);
  }
  if (auto renewed = m_workspace.renew(); !renewed) {
    log(renewed.error().message);
  }
}

void Server::send(const nlohmann::json& body) {
  if (!m_connection || m_connection_failed) {
    return;
  }
  if (auto sent = sandbox::send_message(m_connection.get(), body); !sent) {
    log("daemon connection: " + sent.error().message);
    m_connection_failed = true;
  }
}

void Server::reject(const std::string& error) {
  send({{"ok", false}, {"error", error}});
  m_connection_failed = true;
}

}  // namespace planificador::sandboxd
