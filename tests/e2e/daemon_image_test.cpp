// The top-level Dockerfile: builds planificador's own image and has the containerized
// daemon, driving the host's engine through the mounted socket, run a task end to end.

#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_process.hpp"
#include "fake_backend.hpp"
#include "swarm_cluster.hpp"
#include "zmq_client.hpp"
#include <gtest/gtest.h>

#include "planificador/protocol/codec.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_image = "planificador/daemon:e2e";
constexpr const char* k_container = "planificador-daemon-image-e2e";

// Writes the shipped config with its endpoints moved to `intake`/`events`, the executor
// named and no HTTP, into `path`.
void write_config(const std::string& path, const std::string& intake, const std::string& events) {
  std::ifstream in(test_source_dir() + "/config.toml");
  std::ofstream out(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("intake")) {
      line = "intake = \"" + intake + "\"";
    } else if (line.starts_with("events")) {
      line = "events = \"" + events + "\"";
    } else if (line.starts_with("executor")) {
      line = "executor = \"daemon-image-e2e\"";
    } else if (line.starts_with("listen")) {
      line = "listen = \"\"";  // on the host's network: a port of its own is not needed
    }
    out << line << '\n';
  }
}

TEST(DaemonImage, ContainerizedDaemonRunsATask) {
  PLANIFICADOR_REQUIRE_E2E();
  const auto built =
      run_command({"docker", "build", "-q", "--force-rm", "-t", k_image, test_source_dir()}, "",
                  std::chrono::milliseconds(1800000));
  ASSERT_EQ(built.exit_code, 0) << built.out << built.err;

  const auto dir = std::filesystem::temp_directory_path() / "planificador-daemon-image-e2e";
  std::filesystem::create_directories(dir);
  const std::string config = (dir / "config.toml").string();
  const std::string intake = "tcp://127.0.0.1:" + std::to_string(loopback_port());
  const std::string events = "tcp://127.0.0.1:" + std::to_string(loopback_port());
  write_config(config, intake, events);

  (void)run_command({"docker", "rm", "-f", k_container});
  // The engine resolves bind-mount paths on the host: the state directory is the same path
  // inside and out, and the daemon puts its helper there for the task containers.
  const auto started =
      run_command({"docker", "run", "-d", "--name", k_container, "--network", "host", "--pid",
                   "host", "-v", "/var/run/docker.sock:/var/run/docker.sock", "-v",
                   "/run/planificador:/run/planificador", "-v", "/sys/fs/cgroup:/sys/fs/cgroup",
                   "-v", config + ":/etc/planificador/config.toml:ro", k_image});
  ASSERT_EQ(started.exit_code, 0) << started.err;

  ZmqClient client(intake, events);
  const auto id = make_id("image", 1);
  client.send(protocol::encode(protocol::Submit{id, "python", "print(6 * 7)\n", std::nullopt}));
  const auto result = client.collect_one(id, 120s);
  const auto logs = run_command({"docker", "logs", k_container});
  EXPECT_EQ(result.out, "42\n") << result.err << logs.out << logs.err;
  EXPECT_EQ(result.exit_code, 0) << logs.out << logs.err;

  // SIGTERM drains and exits 0.
  const auto stopped = run_command({"docker", "stop", "-t", "30", k_container});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  const auto state = run_command({"docker", "inspect", "-f", "{{.State.ExitCode}}", k_container});
  EXPECT_EQ(state.out, "0\n") << logs.out << logs.err;
  (void)run_command({"docker", "rm", "-f", k_container});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace planificador::testing
