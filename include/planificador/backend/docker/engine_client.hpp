#pragma once
// A client of the Docker Engine API over its unix socket (libcurl + nlohmann-json).
// Thread-safe: each call uses its own connection. No `docker` CLI on any path.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "planificador/os/cgroup.hpp"
#include "planificador/util/result.hpp"

namespace planificador::backend::docker {

struct ContainerSummary {
  std::string id;
  std::vector<std::string> names;
  std::string state;  // "running", "exited", "created", ...
  std::map<std::string, std::string> labels;
};

// The OCI runtimes the engine knows (GET /info: Runtimes, DefaultRuntime).
struct EngineRuntimes {
  std::string default_name;  // used when a container names none
  std::map<std::string, std::string>
      paths;  // name → the runtime's binary ("runc", "/usr/bin/runsc")
};

// What the daemon needs to know of the engine (GET /info).
struct EngineInfo {
  EngineRuntimes runtimes;
  os::CgroupLayout cgroups;  // CgroupDriver, CgroupVersion ("1" or "2")
};

// A container's output as the logs endpoint returns it, demultiplexed.
struct Logs {
  std::string out;
  std::string err;
};

class EngineClient {
 public:
  // `socket_path`: the engine's unix socket. `timeout`: the longest one call may take.
  explicit EngineClient(std::string socket_path,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Returns success when the engine answers GET /_ping.
  [[nodiscard]] Result<void> ping() const;
  // Returns the engine's runtimes and cgroup layout (GET /info).
  [[nodiscard]] Result<EngineInfo> info() const;
  // Returns true when the engine has `image` (GET /images/{name}/json).
  [[nodiscard]] Result<bool> image_exists(std::string_view image) const;
  // POST /containers/create; returns the new container's id.
  [[nodiscard]] Result<std::string> create(const nlohmann::json& body,
                                           std::string_view name = {}) const;
  [[nodiscard]] Result<void> start(std::string_view id) const;
  // Sends `signal` (e.g. "SIGKILL"); a container that is not running counts as success.
  [[nodiscard]] Result<void> kill(std::string_view id, std::string_view signal = "SIGKILL") const;
  // Force-removes the container and its anonymous volumes; one that is gone counts as success.
  [[nodiscard]] Result<void> remove(std::string_view id) const;
  // GET /containers/{id}/json.
  [[nodiscard]] Result<nlohmann::json> inspect(std::string_view id) const;
  // Blocks until the container stops; returns its exit code.
  [[nodiscard]] Result<std::int64_t> wait(std::string_view id) const;
  // Same, giving up after `timeout` instead of the client's own.
  [[nodiscard]] Result<std::int64_t> wait(std::string_view id,
                                          std::chrono::milliseconds timeout) const;
  // Containers (running or not) carrying label `label` ("key" or "key=value").
  [[nodiscard]] Result<std::vector<ContainerSummary>> list_by_label(std::string_view label) const;
  // The container's stdout and stderr so far (GET /containers/{id}/logs, demultiplexed).
  // Only for containers created without a TTY, whose logs come multiplexed.
  [[nodiscard]] Result<Logs> logs(std::string_view id) const;

  [[nodiscard]] const std::string& socket_path() const { return m_socket; }

 private:
  std::string m_socket;
  std::chrono::milliseconds m_timeout;
};

// Splits Docker's multiplexed stream (8-byte headers: stream type, 3 zero bytes, u32
// big-endian length), as sent for a container without a TTY; a TTY container's stream is
// raw and fails here. Stream 0 (stdin) counts as stdout. Returns an error naming the offset
// when a frame is truncated or the stream type is unknown.
[[nodiscard]] Result<Logs> demultiplex(std::string_view raw);

}  // namespace planificador::backend::docker
