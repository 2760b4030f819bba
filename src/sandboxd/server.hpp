#pragma once
// The helper's main loop: one listening unix socket, one daemon connection at a time, one
// started sandbox waiting for (or running) a program, everything driven by poll() over the
// sockets and a signalfd. The messages are typed in planificador/sandbox/messages.hpp.

#include <optional>
#include <string>

#include "sandbox.hpp"
#include "workspace.hpp"

#include "planificador/os/fd.hpp"
#include "planificador/os/signal_fd.hpp"
#include "planificador/sandbox/bwrap_plan.hpp"
#include "planificador/sandbox/messages.hpp"
#include "planificador/sandbox/wire.hpp"
#include "planificador/util/result.hpp"

namespace planificador::sandboxd {

struct ServerOptions {
  std::string socket_path;  // where the listening socket appears once ready
  std::string root;         // holds work/, tmp/, shm/, vartmp/
  std::string bwrap;        // the bwrap binary
  std::string self;         // this binary, re-run inside the sandbox as the stub
};

class Server {
 public:
  // Opens and renews the workspace, then listens on options.socket_path (created under a
  // temporary name and renamed, so its existence means ready). Returns the Server or an
  // Error naming the failed step.
  [[nodiscard]] static Result<Server> create(ServerOptions options);

  // Serves connections until SIGTERM, SIGINT, SIGHUP or SIGQUIT; then kills the task,
  // wipes the workspace and removes the socket. Returns an Error only for a failure of the
  // loop itself.
  [[nodiscard]] Result<void> run();

 private:
  Server(ServerOptions options, Workspace workspace, os::SignalFd signals, os::Fd listener)
      : m_options(std::move(options)),
        m_workspace(std::move(workspace)),
        m_signals(std::move(signals)),
        m_listener(std::move(listener)) {}

  void handle_signals();
  bool reap_children();
  Result<void> kill_and_reap();
  Result<void> start_sandbox();
  Result<void> renew_sandbox();
  // Strict renewal from the standby: the used sandbox is killed and reaped alone, the
  // directories are wiped, and the standby (fresh namespaces, never given a program)
  // takes its place. An Error when anything else of the container remained.
  Result<void> promote_standby();
  // Launches the standby sandbox when there is none (after a strict reset).
  void prepare_standby();
  // Reads the launched standby's "ready" (or learns that it failed).
  void on_standby_ready();
  Result<void> clean_sandbox();
  void end_program(int wait_status);
  void on_sandbox_message();
  void on_sandbox_failure();
  void accept_connection();
  void end_connection();
  // Reads the daemon's next message and serves it; a body that is not a JSON object is
  // answered with an error and the connection goes on.
  void on_daemon_message();
  void handle_message(sandbox::Message message);
  void handle_prepare(const sandbox::PrepareRequest& request);
  // Writes `files` into the work directory; the refusal's text otherwise.
  [[nodiscard]] std::optional<std::string> write_files(const std::vector<sandbox::File>& files);
  void handle_exec(const sandbox::ExecRequest& request, sandbox::Message& message);
  void handle_kill();
  void handle_reset(const sandbox::ResetRequest& request);
  // Answers `error` and closes the connection at the next turn of the loop.
  void reject(const std::string& error);
  void send(const sandbox::Answer& answer);

  ServerOptions m_options;
  Workspace m_workspace;
  std::vector<std::string> m_bwrap_arguments;
  os::Fd m_self;  // this binary (O_PATH), the zygote of every sandbox
  os::SignalFd m_signals;
  os::Fd m_listener;
  os::Fd m_connection;
  bool m_connection_failed = false;  // close it at the next turn of the loop
  bool m_stopping = false;
  int m_stop_signal = 0;
  std::optional<Sandbox> m_sandbox;  // started and ready, or running a program
  std::optional<Sandbox> m_standby;  // launched or ready: the next strict reset's sandbox
  bool m_running = false;            // an exec was handed to the zygote, no "exited" yet
};

// Writes "sandboxd: <message>" to stderr.
void log(const std::string& message);

}  // namespace planificador::sandboxd
