// The daemon's requests (see planificador/sandbox/messages.hpp), one function each.
#include <array>
#include <csignal>
#include <string>
#include <type_traits>
#include <vector>

#include "server.hpp"

#include "planificador/sandbox/bwrap_plan.hpp"

namespace planificador::sandboxd {

void Server::on_daemon_message() {
  auto message = sandbox::receive_message(m_connection.get());
  if (message) {
    handle_message(std::move(*message));
    return;
  }
  if (sandbox::connection_closed(message.error())) {
    m_connection_failed = true;
    return;
  }
  log("daemon connection: " + message.error().message);
  if (sandbox::in_step(message.error())) {
    send(sandbox::Reply{false, false, message.error().message});
    return;
  }
  reject(message.error().message);
}

void Server::send(const sandbox::Answer& answer) {
  if (!m_connection || m_connection_failed) {
    return;
  }
  auto sent = std::visit(
      [&](const auto& message) { return sandbox::send(m_connection.get(), message); }, answer);
  if (!sent) {
    log("daemon connection: " + sent.error().message);
    m_connection_failed = true;
  }
}

void Server::reject(const std::string& error) {
  send(sandbox::Reply{false, false, error});
  m_connection_failed = true;
}

void Server::handle_message(sandbox::Message message) {
  if (m_running && sandbox::is_exec(message)) {
    reject("exec while a program is running");
    return;
  }
  auto request = sandbox::decode_request(message);
  if (!request) {
    // Refused, and the connection goes on: the stream is in step. The daemon waits for an
    // exec's "exited", whatever was wrong with the exec.
    log("daemon message: " + request.error().message);
    if (sandbox::is_exec(message)) {
      send(sandbox::Exited{std::nullopt, request.error().message});
    } else {
      send(sandbox::Reply{false, false, request.error().message});
    }
    return;
  }
  std::visit(
      [&](const auto& decoded) {
        using T = std::decay_t<decltype(decoded)>;
        if constexpr (std::is_same_v<T, sandbox::PrepareRequest>) {
          handle_prepare(decoded);
        } else if constexpr (std::is_same_v<T, sandbox::ExecRequest>) {
          handle_exec(decoded, message);
        } else if constexpr (std::is_same_v<T, sandbox::KillRequest>) {
          handle_kill();
        } else {
          handle_reset(decoded);
        }
      },
      *request);
}

void Server::handle_prepare(const sandbox::PrepareRequest& request) {
  if (auto refused = write_files(request.files)) {
    send(sandbox::Reply{false, false, *refused});
    return;
  }
  send(sandbox::Reply{});
}

std::optional<std::string> Server::write_files(const std::vector<sandbox::File>& files) {
  for (const auto& file : files) {
    if (auto written = m_workspace.write_file(file.path, file.content, file.mode); !written) {
      return written.error().message;
    }
  }
  return std::nullopt;
}

void Server::handle_exec(const sandbox::ExecRequest& request, sandbox::Message& message) {
  auto env = sandbox::program_environment(request.env);
  if (!env) {
    send(sandbox::Exited{std::nullopt, env.error().message});
    return;
  }
  if (auto refused = write_files(request.files)) {
    send(sandbox::Exited{std::nullopt, *refused, true});
    return;
  }
  // A sandbox is normally waiting already; after a failed start or a kill, try once more.
  if (!m_sandbox) {
    if (auto started = start_sandbox(); !started) {
      log("exec: " + started.error().message);
      send(sandbox::Exited{std::nullopt, started.error().message});
      return;
    }
  }
  const sandbox::ProgramExec program{request.argv, std::move(*env), request.rlimit_cpu_s};
  const std::array<int, 3> fds{message.fds[0].get(), message.fds[1].get(), message.fds[2].get()};
  auto sent = sandbox::send(m_sandbox->control(), program, fds);
  // The helper's copies go now: only the program may keep the pipes open.
  message.fds.clear();
  m_running = true;
  if (!sent) {
    log("exec: " + sent.error().message);
    on_sandbox_failure();
  }
}

// Kills the running program's whole tree: the sandbox goes with it (a fresh one is started
// by the next reset).
void Server::handle_kill() {
  if (!m_running) {
    return;
  }
  if (auto reaped = kill_and_reap(); !reaped) {
    log(reaped.error().message);
  }
  m_sandbox.reset();
  end_program(SIGKILL);
}

void Server::handle_reset(const sandbox::ResetRequest& request) {
  handle_kill();
  const bool fast = request.isolation == sandbox::Isolation::fast;
  Result<void> done = fail("strict");
  if (fast && m_sandbox) {
    done = clean_sandbox();
    if (!done) {
      log("reset: " + done.error().message + "; replacing the sandbox");
    }
  }
  if (!done) {
    done = renew_sandbox();
  }
  if (!done) {
    log("reset: " + done.error().message);
    send(sandbox::Reply{false, false, "reset: " + done.error().message});
    return;
  }
  send(sandbox::Reply{true, true, ""});
  // After the answer: the next strict reset takes this one instead of starting bwrap.
  if (!fast) {
    prepare_standby();
  }
}

}  // namespace planificador::sandboxd
