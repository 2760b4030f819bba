#pragma once
// FleetCluster: a real fleet for the end-to-end tests — the `planificador-broker` binary and
// N `planificador` daemons joined to it over 127.0.0.1, each daemon with a directory of its
// own (config, state, log) and its own executor name, the real engine behind them. Any
// process can be signalled (SIGKILL, SIGSTOP, SIGCONT, SIGTERM) and restarted: the broker on
// the very endpoints it bound first, a daemon with the same config (so the same container
// instance label). tear_down() ends every process and leaves no container.
//
// Besides its shipped patterns, every runner of daemon NAME also matches `<pattern>@NAME`
// (image_on()), so a test can send a task to one daemon and to no other.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "daemon_process.hpp"

#include "planificador/broker/fleet_view.hpp"
#include "planificador/transport/client.hpp"

namespace planificador::testing {

struct FleetDaemonSpec {
  // The executor name (REPORT's `executor`), also in the container instance label.
  std::string name;
  std::size_t workers = 1;
  std::vector<std::string> images{"planificador/bash"};  // the runners it has, by image
  std::uint64_t grace_ms = 5000;
  // Non-empty: the link is CURVE with this key pair file (planctl keygen's NAME.key) and
  // FleetSettings::broker_public_key; empty: plaintext.
  std::string key_file;
};

// Returns the spec of a daemon `name` with `workers` workers and the runners of `images`.
[[nodiscard]] inline FleetDaemonSpec fleet_daemon(
    std::string name, std::size_t workers, std::vector<std::string> images = {"planificador/bash"},
    std::string key_file = "") {
  FleetDaemonSpec spec;
  spec.name = std::move(name);
  spec.workers = workers;
  spec.images = std::move(images);
  spec.key_file = std::move(key_file);
  return spec;
}

struct FleetSettings {
  std::string bin_dir;         // planificador, planificador-broker, planctl
  std::string shipped_config;  // config.toml whose runners the daemons use
  // 2 s of silence before a daemon is lost: a loaded two-core machine leaves a process
  // unscheduled for up to a second now and then. Tests that time the loss set their own.
  std::uint32_t heartbeat_ms = 200;
  std::uint32_t heartbeat_misses = 10;
  std::uint64_t broker_grace_ms = 5000;
  std::uint64_t unserved_ms = 3000;
  std::uint32_t dispatch_attempts = 3;
  std::size_t backlog = 10000;
  // The broker's [curve] lines; empty: `plaintext = true`.
  std::string curve;
  std::string broker_public_key;  // the broker's .pub, for daemons with a key_file
  // The admin socket's CURVE client keys (needed when curve.clients_allow is set).
  transport::CurveClient admin_curve;
  std::vector<FleetDaemonSpec> daemons;
  // How long start() and add_daemon() wait for a daemon to be listed by the broker.
  std::chrono::milliseconds join_timeout{60000};
};

#ifdef PLANIFICADOR_BINARY_DIR
// Returns settings for the build and source trees of the test executable.
inline FleetSettings fleet_settings(std::vector<FleetDaemonSpec> daemons) {
  FleetSettings settings;
  settings.bin_dir = test_binary_dir();
  settings.shipped_config = test_source_dir() + "/config.toml";
  settings.daemons = std::move(daemons);
  return settings;
}
#endif

// Returns the image field that only daemon `daemon` serves: `image`@`daemon`.
[[nodiscard]] inline std::string image_on(const std::string& image, const std::string& daemon) {
  return image + "@" + daemon;
}

class FleetCluster {
 public:
  // Starts the broker, then every daemon of `settings`, and waits until the broker lists
  // them all. Returns nullptr with the reason (and the logs) in `error`.
  [[nodiscard]] static std::unique_ptr<FleetCluster> start(FleetSettings settings,
                                                           std::string& error);
  // tear_down(), its findings dropped.
  ~FleetCluster();
  FleetCluster(const FleetCluster&) = delete;
  FleetCluster& operator=(const FleetCluster&) = delete;

  [[nodiscard]] const FleetSettings& settings() const noexcept { return m_settings; }
  [[nodiscard]] const std::string& dir() const noexcept { return m_dir; }
  // The broker's endpoints, as it bound them the first time (restarts keep them).
  [[nodiscard]] const std::string& intake() const noexcept { return m_intake; }
  // The broker's client endpoint (broker.clients, docs/protocol.md).
  [[nodiscard]] const std::string& clients() const noexcept { return m_clients; }
  [[nodiscard]] const std::string& events() const noexcept { return m_events; }
  [[nodiscard]] const std::string& control() const noexcept { return m_control; }
  [[nodiscard]] const std::string& workers() const noexcept { return m_workers; }
  [[nodiscard]] const std::string& admin() const noexcept { return m_admin; }

  // Returns the broker's fleet view, nullopt when the admin socket did not answer.
  [[nodiscard]] std::optional<broker::FleetView> view(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) const;
  // Asks the view until `done` holds for it or `timeout` passed; returns whether it held.
  [[nodiscard]] bool wait_view(const std::function<bool(const broker::FleetView&)>& done,
                               std::chrono::milliseconds timeout) const;
  // Waits until the view lists every one of `names`, none draining.
  [[nodiscard]] bool wait_joined(const std::vector<std::string>& names,
                                 std::chrono::milliseconds timeout) const;
  // Returns the view's entry of executor `name`, nullopt when it is not listed.
  [[nodiscard]] static std::optional<broker::ExecutorView> executor(const broker::FleetView& view,
                                                                    const std::string& name);

  // The broker.
  [[nodiscard]] pid_t broker_pid() const noexcept { return m_broker_pid; }
  // Returns true while the broker's process runs (not yet reaped).
  [[nodiscard]] bool broker_running();
  // Sends `signal` to the broker (SIGSTOP, SIGCONT).
  void signal_broker(int signal) const;
  // Returns what the broker logged since its last start.
  [[nodiscard]] std::string broker_log() const;
  // Waits until the broker's log (since its last start) holds `text`.
  [[nodiscard]] bool wait_broker_log(const std::string& text,
                                     std::chrono::milliseconds timeout) const;
  // Sends `signal` to the broker and waits up to `timeout` for its exit; returns the status
  // (128+signal when killed), or nullopt when it did not exit.
  [[nodiscard]] std::optional<int> stop_broker(int signal, std::chrono::milliseconds timeout);
  // Starts the broker again on the same endpoints (after stop_broker()). Returns "" or why
  // it did not come up.
  [[nodiscard]] std::string restart_broker();

  // The daemons, in the order they were added.
  [[nodiscard]] std::size_t size() const noexcept { return m_members.size(); }
  [[nodiscard]] const FleetDaemonSpec& spec(std::size_t i) const { return m_members.at(i).spec; }
  [[nodiscard]] const std::string& name(std::size_t i) const { return spec(i).name; }
  // Returns the running process of daemon `i`; only while it runs.
  [[nodiscard]] DaemonProcess& daemon(std::size_t i) { return *m_members.at(i).process; }
  // Returns its log (of its current or last run) and its container instance label.
  [[nodiscard]] std::string daemon_log(std::size_t i) const;
  [[nodiscard]] const std::string& instance(std::size_t i) const {
    return m_members.at(i).instance;
  }
  // Starts one more daemon; with `wait_join`, waits until the broker lists it. Returns its
  // index, or nullopt with the reason in `error`.
  [[nodiscard]] std::optional<std::size_t> add_daemon(const FleetDaemonSpec& spec,
                                                      std::string& error, bool wait_join = true);
  // Sends `signal` to daemon `i` (SIGSTOP and SIGCONT are remembered for tear_down).
  void signal(std::size_t i, int signal);
  // SIGKILLs daemon `i` and reaps it; returns its status (137), nullopt when it did not die.
  [[nodiscard]] std::optional<int> kill(std::size_t i);
  // SIGTERMs daemon `i` once and waits up to `timeout`; returns its exit status, or nullopt
  // when it did not exit in time.
  [[nodiscard]] std::optional<int> terminate(std::size_t i, std::chrono::milliseconds timeout);
  // Returns true while daemon `i`'s process runs.
  [[nodiscard]] bool running(std::size_t i);
  // Starts daemon `i` again with the same config (SIGTERMs it first when it runs); with
  // `wait_join`, waits until the broker lists it. Returns "" or why it did not come up.
  [[nodiscard]] std::string restart(std::size_t i, bool wait_join = true);

  // SIGCONTs stopped daemons, SIGTERMs every daemon (SIGKILL after 40 s), then the broker,
  // removes what is left and the directory. Returns "" when every daemon drained (exit 0),
  // the broker exited, and no process of the cluster and no container of its daemons is
  // left; else what was wrong. A second call returns "".
  [[nodiscard]] std::string tear_down();

 private:
  struct Member {
    FleetDaemonSpec spec;
    DaemonSettings settings;
    std::unique_ptr<DaemonProcess> process;
    std::string instance;
    std::string last_log;
    bool stopped = false;
  };

  FleetCluster() = default;
  [[nodiscard]] std::string start_broker(std::chrono::milliseconds timeout);
  [[nodiscard]] std::string write_broker_config() const;
  [[nodiscard]] std::string launch(Member& member, bool wait_join);
  [[nodiscard]] std::string logs() const;
  [[nodiscard]] std::string drain_daemons();
  [[nodiscard]] std::string end_broker();
  [[nodiscard]] std::string sweep();

  FleetSettings m_settings;
  std::string m_dir;
  pid_t m_broker_pid = -1;
  bool m_broker_reaped = true;
  int m_broker_runs = 0;
  std::string m_intake;
  std::string m_clients;
  std::string m_events;
  std::string m_control;
  std::string m_workers;
  std::string m_admin;
  std::vector<Member> m_members;
  bool m_torn_down = false;
};

}  // namespace planificador::testing
