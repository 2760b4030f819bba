#pragma once
// RealFleet: what the scenarios with real daemons run against — one planificador-broker and
// real `planificador` daemons, each started with a generated config in a private temporary
// directory: the shipped config.toml's [output], [docker] and [limits], and two runners on
// the bash image, both in isolation "fast" with a warm pool of `workers` containers:
//   "true"   run = ["/bin/true"]              (the measured program, as bench/latency.py's)
//   "sleep"  run = ["bash", "main.sh"]        (tasks that stay running, for SIGKILL)
// A daemon is either direct (it binds its own intake and events) or a member of the
// broker's fleet (server.broker). Every daemon is drained (its containers removed) and the
// broker stopped when the fleet is destroyed, on every exit path; with Options::logs_dir,
// their logs are copied there first.

#include <memory>
#include <string>
#include <vector>

#include "broker_process.hpp"
#include "daemon_process.hpp"
#include "load_client.hpp"
#include "options.hpp"
#include <zmq.hpp>

namespace planificador::bench {

// The code of a "sleep" task: it says "up" once running, then stays.
inline constexpr const char* k_sleep_code = "echo up\nexec sleep 600\n";

class RealFleet {
 public:
  // Writes the daemons' config and starts the broker. Throws std::runtime_error when the
  // broker does not come up.
  explicit RealFleet(const Options& options);
  ~RealFleet();
  RealFleet(const RealFleet&) = delete;
  RealFleet& operator=(const RealFleet&) = delete;

  // Starts a direct daemon named `name`; throws when it does not serve.
  testing::DaemonProcess& start_direct(const std::string& name);
  // Starts a daemon named `name` in the broker's fleet and waits until the broker welcomed
  // it; throws when it does not.
  testing::DaemonProcess& join(const std::string& name);
  // SIGKILLs the fleet member at `index` (no drain, its tasks left running); returns the
  // moment the signal was sent.
  Clock::time_point kill(std::size_t index);
  // Removes the killed member at `index` and its containers, and starts a member with the
  // same name in its place.
  void replace(std::size_t index);

  [[nodiscard]] std::size_t members() const noexcept { return m_members.size(); }
  [[nodiscard]] const std::string& member_name(std::size_t index) const {
    return m_names.at(index);
  }
  [[nodiscard]] const testing::BrokerProcess& broker() const noexcept { return m_broker; }
  [[nodiscard]] zmq::context_t& context() noexcept { return m_context; }

 private:
  [[nodiscard]] testing::DaemonSettings settings(const std::string& name,
                                                 const std::string& broker) const;
  void keep_logs() const;
  std::unique_ptr<testing::DaemonProcess> start(const testing::DaemonSettings& settings);

  const Options& m_options;
  std::string m_dir;
  std::string m_config;
  testing::BrokerProcess m_broker;
  zmq::context_t m_context{1};
  std::vector<std::unique_ptr<testing::DaemonProcess>> m_direct;
  std::vector<std::unique_ptr<testing::DaemonProcess>> m_members;
  std::vector<std::string> m_names;
};

// Returns what the real-daemon scenarios lack (a binary in options.bin_dir, the Docker
// engine, the runner image planificador/bash), or "" when everything is there.
[[nodiscard]] std::string real_missing(const Options& options);

// Runs one-at-a-time tasks on `client` until the last ten took at most three times their
// median (the warm pools are full), as bench/latency.py does. Throws when none succeeds
// within two minutes.
void warm_up(Client& client, const std::string& what);

}  // namespace planificador::bench
