#pragma once
// PrivateSwarm: a one-node Docker Swarm on a private engine of its own (PrivateEngine), for
// the tests of deploy/stack.yml. The machine's main engine never enters swarm mode. What a
// swarm leaves on the host is removed again at the end: the `docker_gwbridge` interface
// (only when the host did not have it before the swarm's engine made it), the namespace
// mounts under the engine's run directory, the run directory and the engine's bridge.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "private_engine.hpp"

namespace planificador::testing {

// Returns a TCP port on 127.0.0.1 that was free a moment ago, 0 when none could be had.
[[nodiscard]] int loopback_port();

class PrivateSwarm {
 public:
  // Starts a private engine with `settings` (remove_host_state forced on), leaves a swarm
  // an earlier, crashed run left in its data root, and inits a swarm advertised and
  // listening on 127.0.0.1 only. Returns nullptr with the reason in `error`.
  [[nodiscard]] static std::unique_ptr<PrivateSwarm> start(PrivateEngineSettings settings,
                                                           std::string& error);
  // tear_down(), its findings dropped.
  ~PrivateSwarm();
  PrivateSwarm(const PrivateSwarm&) = delete;
  PrivateSwarm& operator=(const PrivateSwarm&) = delete;

  // Returns the engine, until tear_down().
  [[nodiscard]] PrivateEngine& engine() { return *m_engine; }

  // Runs `docker -H <the engine> args…` with `environment` ("NAME=value") added to it.
  [[nodiscard]] CommandResult docker(const std::vector<std::string>& args,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(120),
                                     const std::vector<std::string>& environment = {}) const;
  // Creates the secret `name` from the file `path`. Returns "" or what failed.
  [[nodiscard]] std::string create_secret(const std::string& name, const std::string& path) const;
  // Adds `label` ("key=value") to the node. Returns "" or what failed.
  [[nodiscard]] std::string label_node(const std::string& label) const;
  // `docker stack deploy` of `stack_file` as `name`, with `environment` for the file's
  // variables; local images only (no registry is asked). Returns "" or what failed.
  [[nodiscard]] std::string deploy(const std::string& stack_file, const std::string& name,
                                   const std::vector<std::string>& environment);
  // Returns the full ids of the running containers of `service` (stack_service).
  [[nodiscard]] std::vector<std::string> running_tasks(const std::string& service) const;
  // Returns `docker service ps` and the last log lines of `service`, for failure messages.
  [[nodiscard]] std::string describe(const std::string& service) const;
  // Stops the running containers of `service` (SIGTERM, SIGKILL after `grace`); under a
  // restart condition of on-failure Swarm does not replace one that exits 0. Returns their
  // exit codes.
  [[nodiscard]] std::vector<int> stop_tasks(const std::string& service,
                                            std::chrono::seconds grace) const;
  // Removes the stack `name` and waits up to `timeout` until the engine holds no container
  // at all (the services' and those their tasks made). Returns "" or what is left.
  [[nodiscard]] std::string remove_stack(const std::string& name,
                                         std::chrono::milliseconds timeout);
  // Removes the stacks still deployed, leaves the swarm, removes docker_gwbridge when this
  // swarm's engine made it, stops the engine and removes its host state. Returns what is
  // still on the host afterwards, "" when nothing is. A second call does nothing.
  [[nodiscard]] std::string tear_down();

 private:
  PrivateSwarm() = default;
  [[nodiscard]] std::string init();

  std::unique_ptr<PrivateEngine> m_engine;
  PrivateEngineSettings m_settings;
  std::vector<std::string> m_stacks;
  bool m_gwbridge_ours = false;
};

}  // namespace planificador::testing
