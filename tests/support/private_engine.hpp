#pragma once
// PrivateEngine: a second Docker engine of the test's own (its own socket, data root and
// exec root, no networking), so a test may stop, crash and restart "the engine" without
// touching the machine's main one that other tests and people use. The data root is kept
// between runs: images loaded once stay loaded, so a rerun starts in seconds.

#include <chrono>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace planificador::testing {

struct PrivateEngineSettings {
  // Socket, pid file, exec root and log; a tmpfs, recreated per run.
  std::string run_dir = "/run/planificador-test-engine";
  // Images and containers; kept between runs as the image cache.
  std::string data_root = "/var/lib/planificador-test-engine";
  // How long the engine gives containers to stop on SIGTERM (dockerd --shutdown-timeout).
  int shutdown_timeout_s = 2;
  // The engine's default bridge, made on the host when absent (at most 15 characters), so
  // engines of different settings can run at once.
  std::string bridge = "plnf-test0";
  // Added to dockerd's environment, "NAME=value" each.
  std::vector<std::string> environment;
  // When destroyed, once the engine stopped: unmount what it left mounted under run_dir
  // (netns files), remove run_dir and delete the bridge. Off: they stay for the next run.
  bool remove_host_state = false;
};

class PrivateEngine {
 public:
  // Takes the engine's lock (one user at a time), stops what an earlier, crashed run left
  // of it, starts dockerd and waits until it answers, then removes every container in it.
  // Returns nullptr with the reason in `error` (dockerd missing, not answering in time).
  [[nodiscard]] static std::unique_ptr<PrivateEngine> start(
      std::string& error, PrivateEngineSettings settings = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Removes every container in the engine, stops it (and removes its host state when the
  // settings say so) and releases the lock.
  ~PrivateEngine();
  PrivateEngine(const PrivateEngine&) = delete;
  PrivateEngine& operator=(const PrivateEngine&) = delete;

  // Returns the engine's unix socket path, for docker.socket.
  [[nodiscard]] const std::string& socket() const noexcept { return m_socket; }
  // Returns "unix://" + socket(), for `docker -H`.
  [[nodiscard]] std::string host() const { return "unix://" + m_socket; }
  // Returns dockerd's pid, or -1 while it is stopped.
  [[nodiscard]] pid_t pid() const noexcept { return m_pid; }

  // Makes the main engine's `image` available here (docker save | docker load) unless the
  // same image id is loaded already. Returns "" on success, else what failed.
  [[nodiscard]] std::string load_image(const std::string& image) const;

  // Sends `signal` to dockerd (SIGTERM: a restart's graceful stop; SIGKILL: a crash) and
  // waits up to `timeout` until it exited. Returns true once it is gone.
  [[nodiscard]] bool stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Starts dockerd again (up to three times when it gives up at start) and waits up to
  // `timeout` each time until it answers. Returns "" on success, else the reason with the
  // tail of its log.
  [[nodiscard]] std::string start_again(
      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Returns true when the engine answers a ping now.
  [[nodiscard]] bool answering() const;
  // Returns the last `bytes` of dockerd's log.
  [[nodiscard]] std::string log_tail(std::size_t bytes = 4000) const;

 private:
  explicit PrivateEngine(PrivateEngineSettings settings);
  [[nodiscard]] std::string launch(std::chrono::milliseconds timeout);
  void wait_containerd_gone(std::chrono::steady_clock::time_point deadline) const;
  void remove_all_containers() const;
  void remove_host_state() const;

  PrivateEngineSettings m_settings;
  std::string m_socket;
  int m_lock_fd = -1;
  pid_t m_pid = -1;
};

}  // namespace planificador::testing
