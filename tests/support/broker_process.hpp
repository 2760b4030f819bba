#pragma once
// BrokerProcess: the real `planificador-broker` binary started on ephemeral 127.0.0.1 ports
// with a generated broker.toml in a private directory (where tests also put key files).
// The bound endpoints are read back from its log.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>

namespace planificador::testing {

struct BrokerSettings {
  std::string bin_dir;               // where planificador-broker is
  std::uint32_t heartbeat_ms = 200;  // a fake daemon beats every 50 ms: room for a loaded machine
  std::uint32_t heartbeat_misses = 3;
  std::uint64_t grace_ms = 3000;
  std::uint64_t unserved_ms = 3000;
  std::size_t backlog = 1000;
  bool control = true;
  bool admin = true;
  // The [curve] table's lines; empty: plaintext = true. `@DIR@` stands for dir().
  std::string curve;
  std::string log_level = "debug";
};

class BrokerProcess {
 public:
  // Makes the private directory (for key files written before start()).
  BrokerProcess();
  // SIGKILLs the broker if it still runs and removes the directory.
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  // Writes the config and starts the broker; waits until it logged that it serves. Returns
  // false with the log in `error` when it exited or did not come up within `timeout`.
  [[nodiscard]] bool start(const BrokerSettings& settings, std::string& error,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

  [[nodiscard]] const std::string& dir() const noexcept { return m_dir; }
  [[nodiscard]] const std::string& intake() const noexcept { return m_intake; }
  [[nodiscard]] const std::string& events() const noexcept { return m_events; }
  [[nodiscard]] const std::string& control() const noexcept { return m_control; }
  [[nodiscard]] const std::string& workers() const noexcept { return m_workers; }
  [[nodiscard]] const std::string& admin() const noexcept { return m_admin; }
  [[nodiscard]] pid_t pid() const noexcept { return m_pid; }

  // Sends `signal` and waits up to `timeout` for the exit; returns the status (128+signal
  // when killed by one), or nullopt.
  [[nodiscard]] std::optional<int> stop(int signal, std::chrono::milliseconds timeout);
  // Returns everything it logged so far.
  [[nodiscard]] std::string log() const;
  // Waits up to `timeout` until the log contains `text`.
  [[nodiscard]] bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const;
  // Returns its resident set size in KiB (VmRSS), 0 when unknown.
  [[nodiscard]] std::size_t rss_kib() const;

 private:
  std::string m_dir;
  pid_t m_pid = -1;
  bool m_reaped = false;
  std::string m_intake;
  std::string m_events;
  std::string m_control;
  std::string m_workers;
  std::string m_admin;
};

// Returns `text` with every `from` replaced by `to`.
[[nodiscard]] std::string replace_all(std::string text, const std::string& from,
                                      const std::string& to);

}  // namespace planificador::testing
