#pragma once
// DaemonProcess: the real `planificador` binary started with a generated config (the
// shipped config.toml with its [server] table replaced: ephemeral ports, a private state
// directory), for the end-to-end tests. Also: running a command and capturing its output,
// and the e2e precondition check.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "skip.hpp"

namespace planificador::testing {

// Returns the directory holding the built binaries: $PLANIFICADOR_BIN, else
// `build_dir`/bin.
[[nodiscard]] std::string binary_dir(const std::string& build_dir);

// The build and source trees, known only to test executables (compile definitions).
#ifdef PLANIFICADOR_BINARY_DIR
inline std::string test_binary_dir() { return binary_dir(PLANIFICADOR_BINARY_DIR); }
inline std::string test_source_dir() { return PLANIFICADOR_SOURCE_DIR; }
#endif

// Returns what the end-to-end tests lack (binaries in `bin_dir`, engine, runner images),
// or "" when everything is there.
[[nodiscard]] std::string e2e_missing(const std::string& bin_dir);

// Skips the calling test when e2e_missing() says something, except under CI, where the
// test fails instead.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define PLANIFICADOR_REQUIRE_E2E()      \
  PLANIFICADOR_REQUIRE_NOTHING_MISSING( \
      ::planificador::testing::e2e_missing(::planificador::testing::test_binary_dir()))

struct CommandResult {
  int exit_code = -1;  // the exit status, or 128+signal
  std::string out;
  std::string err;
};

// Runs `argv` with `input` on stdin and returns its status and output. Kills it after
// `timeout`.
[[nodiscard]] CommandResult run_command(
    const std::vector<std::string>& argv, const std::string& input = "",
    std::chrono::milliseconds timeout = std::chrono::milliseconds(120000));

struct DaemonSettings {
  std::string bin_dir;         // where `planificador` is
  std::string shipped_config;  // config.toml whose non-[server] tables are used
  std::size_t workers = 2;
  std::size_t backlog = 1000;
  std::uint64_t grace_ms = 5000;
  bool control = true;
  std::string executor = "e2e-host";
  // Non-empty: the [docker] socket (a private engine, or a path with no engine yet).
  std::string docker_socket;
  // Non-empty: only the [[runner]] tables whose image is one of these.
  std::vector<std::string> runner_images;
  // Lines added to the [server] table (e.g. "pool = 1").
  std::string extra_server;
  // The [http] table's listen (the shipped one is dropped: daemons of a test must not
  // share a port); "127.0.0.1:0" serves HTTP on a port the kernel picks (http_port()).
  std::string http_listen;
  // Tables added at the end of the config (e.g. a [curve] table).
  std::string extra_tables;
  // Non-empty: an existing directory for the config, state and log, kept afterwards, so
  // a second start() with the same settings runs with the very same config (a restart).
  std::string directory;
};

class DaemonProcess {
 public:
  // Starts the daemon and waits (up to `timeout`) until it logged that it is serving.
  // Returns nullopt-like nullptr on failure, with the log in `error`.
  [[nodiscard]] static std::unique_ptr<DaemonProcess> start(
      const DaemonSettings& settings, std::string& error,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));
  // SIGKILLs the daemon if it still runs and removes the temporary directory.
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  [[nodiscard]] const std::string& intake() const noexcept { return m_intake; }
  [[nodiscard]] const std::string& events() const noexcept { return m_events; }
  [[nodiscard]] const std::string& control() const noexcept { return m_control; }
  // The client endpoint (server.clients, docs/protocol.md): every test daemon binds one.
  [[nodiscard]] const std::string& clients() const noexcept { return m_clients; }
  // The HTTP API's port, or 0 when the daemon serves none.
  [[nodiscard]] int http_port() const noexcept { return m_http_port; }
  // Returns the instance name the daemon labels its containers with.
  [[nodiscard]] const std::string& instance() const noexcept { return m_instance; }
  [[nodiscard]] pid_t pid() const noexcept { return m_pid; }

  // Sends SIGTERM and waits up to `timeout`; returns the exit status (128+signal when
  // killed by one), or nullopt when it did not exit in time.
  [[nodiscard]] std::optional<int> terminate(std::chrono::milliseconds timeout);
  // Returns everything the daemon logged so far.
  [[nodiscard]] std::string log() const;
  // Waits up to `timeout` until the log contains `text`; returns whether it does.
  [[nodiscard]] bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const;
  // SIGKILLs the daemon (no drain, nothing cleaned up) and reaps it; returns the status
  // (137), or nullopt when it did not die within `timeout`.
  [[nodiscard]] std::optional<int> kill_now(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  // Returns true while the process runs (not yet reaped).
  [[nodiscard]] bool running();
  // Returns the config file and the state directory ([server] state_dir) it runs with.
  [[nodiscard]] std::string config_path() const { return m_dir + "/config.toml"; }
  [[nodiscard]] std::string state_dir() const { return m_dir + "/state"; }
  // Returns the engine it uses as `docker -H` takes it, "" for the main engine.
  [[nodiscard]] std::string docker_host() const;

 private:
  DaemonProcess() = default;
  std::optional<int> wait(std::chrono::milliseconds timeout);

  std::string m_dir;
  bool m_keep_dir = false;
  std::string m_docker_socket;
  pid_t m_pid = -1;
  bool m_reaped = false;
  std::string m_intake;
  std::string m_events;
  std::string m_control;
  std::string m_clients;
  int m_http_port = 0;
  std::string m_instance;
};

// Returns the ids of containers (running or not) labelled with `instance`, asking the
// engine `docker_host` names (`docker -H`; empty: the main engine).
[[nodiscard]] std::vector<std::string> containers_of(const std::string& instance,
                                                     const std::string& docker_host = "");

}  // namespace planificador::testing
