// Hostile programs against the network isolation: no path from a task to the host, the
// Docker bridge, the resolver, the outside world, the Docker engine, or another task.
// The only addresses aimed at are loopback, docker0's own address, the resolver and
// TEST-NET-1 (192.0.2.1, never routed). Host-side sockets prove nothing arrived.

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <netinet/in.h>
#include <regex>
#include <sys/socket.h>
#include <sys/un.h>

#include "hostile_fixture.hpp"

#include "planificador/os/fd.hpp"

namespace planificador::testing {
namespace {

// Warm python containers: two, for the tests of concurrent tasks.
constexpr std::size_t k_python_pool = 2;

using protocol::Status;
using namespace std::chrono_literals;

// A TCP listener and a UDP socket on every host address, on one port number: a sandbox
// with any path to the host would connect to the one or deliver to the other.
struct HostListeners {
  os::Fd tcp;
  os::Fd udp;
  int port = 0;
};

HostListeners listen_on_every_address() {
  HostListeners listeners;
  for (int attempt = 0; attempt < 8 && listeners.port == 0; ++attempt) {
    os::Fd tcp(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    os::Fd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t length = sizeof address;
    if (!tcp || !udp ||
        ::bind(tcp.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(tcp.get(), 8) != 0 ||
        ::getsockname(tcp.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      continue;
    }
    // The UDP port may be taken by someone else; then try another TCP port.
    if (::bind(udp.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      listeners = {std::move(tcp), std::move(udp), ntohs(address.sin_port)};
    }
  }
  return listeners;
}

// Returns true when something connected to `listener` or sent to `udp` (non-blocking).
bool host_was_reached(const os::Fd& listener, const os::Fd* udp = nullptr) {
  os::Fd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (accepted) {
    return true;
  }
  if (udp != nullptr) {
    char byte = 0;
    if (::recv(udp->get(), &byte, 1, MSG_DONTWAIT) >= 0) {
      return true;
    }
  }
  return false;
}

// The address of the host's Docker bridge, or "none" when this host has no docker0 (an
// engine started with --bridge=none): then there is no gateway to aim at, and nothing
// else may stand in for it (only local addresses are targets).
std::string bridge_gateway() {
  const std::string address = interface_ipv4("docker0");
  ::testing::Test::RecordProperty("docker0", address.empty() ? "absent" : address);
  return address.empty() ? "none" : address;
}

// The [start, end] epoch-ms window abstract_socket.py reports, or {0, 0}.
std::pair<long long, long long> window_of(const std::string& out) {
  std::smatch match;
  if (!std::regex_search(out, match, std::regex("window (\\d+) (\\d+)"))) {
    return {0, 0};
  }
  return {std::stoll(match[1]), std::stoll(match[2])};
}

class HostileNetwork : public HostileTest {
 protected:
  // Two Python tasks must run at once on warm containers for the abstract-socket attack.
  [[nodiscard]] std::size_t pool_size(const config::Runner& runner) const override {
    return runner.image == "planificador/python" ? k_python_pool : 1;
  }

  void expect_no_escape(const std::string& image, const std::string& program) {
    const auto listeners = listen_on_every_address();
    ASSERT_NE(listeners.port, 0) << "no host port for the listeners";
    const std::string gateway = bridge_gateway();
    const std::string resolver = host_resolver();
    protocol::TaskOptions options;
    options.args = {std::to_string(listeners.port), gateway,
                    resolver.empty() ? "127.0.0.53" : resolver};
    const auto outcome = attack(image, program, options);
    EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 0) << outcome.out;
    EXPECT_EQ(outcome.out.find("CONNECTED"), std::string::npos) << outcome.out;
    // Each target was really tried, by both protocols.
    for (const auto& target : {std::string("127.0.0.1"), gateway, std::string("192.0.2.1")}) {
      if (target == "none") {
        continue;
      }
      EXPECT_NE(outcome.out.find("tcp " + target), std::string::npos) << target << outcome.out;
      EXPECT_NE(outcome.out.find("udp " + target), std::string::npos) << target << outcome.out;
    }
    EXPECT_FALSE(host_was_reached(listeners.tcp, &listeners.udp)) << "the host was reached";
  }
};

TEST_P(HostileNetwork, TcpAndUdpFromPython) { expect_no_escape("python", "network_escape.py"); }

TEST_P(HostileNetwork, TcpAndUdpFromC) { expect_no_escape("c", "network_escape.c"); }

TEST_P(HostileNetwork, RawAndPacketSockets) {
  const auto outcome = attack("c", "raw_socket.c");
  EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_EQ(outcome.result.exit_code, 0) << outcome.out;
  EXPECT_EQ(outcome.out.find("SENT"), std::string::npos) << outcome.out;
  for (const char* kind : {"raw icmp:", "raw ip:", "packet:", "ping:"}) {
    EXPECT_NE(outcome.out.find(kind), std::string::npos) << kind << " not tried\n" << outcome.out;
  }
}

// Two tasks running at the same time, one listening on an abstract unix socket, the other
// connecting to the same name, which the host listens on as well: nobody may meet.
TEST_P(HostileNetwork, AbstractUnixSocketsOfConcurrentTasksDoNotMeet) {
  const std::string name = "planificador-hostile-" + unique_marker();
  os::Fd host(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  ASSERT_TRUE(host);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path + 1, name.data(), name.size());
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(::bind(host.get(), reinterpret_cast<sockaddr*>(&address), length), 0)
      << std::strerror(errno);
  ASSERT_EQ(::listen(host.get(), 8), 0);

  const std::string image = runner_image("python");
  std::size_t served = 0;
  if (pooled()) {
    ASSERT_TRUE(wait_for_full_pool(image));
    served = harness().pool_stats(image)->served;
  }
  const std::string code = hostile_program("abstract_socket.py");
  // One wall-clock deadline for both: each is active from its start until then, so they
  // overlap however long their containers took to start (CLOCK_REALTIME is the host's).
  const auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch() + 5s)
                            .count();
  const auto run_as = [&](const std::string& role) {
    protocol::TaskOptions options;
    options.args = {role, name, std::to_string(deadline)};
    return harness().run("python", code, options);
  };
  Outcome listener;
  std::thread listening([&] { listener = run_as("listen"); });
  const auto connector = run_as("connect");
  listening.join();

  EXPECT_EQ(listener.result.status, Status::exited) << describe(listener);
  EXPECT_EQ(connector.result.status, Status::exited) << describe(connector);
  EXPECT_NE(listener.out.find("self: connected"), std::string::npos) << listener.out;
  EXPECT_EQ(listener.out.find("ACCEPTED"), std::string::npos) << listener.out;
  EXPECT_EQ(connector.out.find("CONNECTED"), std::string::npos) << connector.out;
  EXPECT_FALSE(host_was_reached(host)) << "a task reached the host's abstract socket";
  const auto [listen_start, listen_end] = window_of(listener.out);
  const auto [connect_start, connect_end] = window_of(connector.out);
  EXPECT_GE(std::min(listen_end, connect_end) - std::max(listen_start, connect_start), 1000)
      << "the two tasks did not run at the same time:\n"
      << listener.out << connector.out;
  if (pooled()) {
    EXPECT_EQ(harness().pool_stats(image)->served, served + 2) << "not both on warm containers";
  }
}

TEST_P(HostileNetwork, DockerSocketIsUnreachable) {
  protocol::TaskOptions options;
  options.args = {bridge_gateway()};
  const auto outcome = attack("python", "docker_socket.py", options);
  EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_EQ(outcome.result.exit_code, 0) << outcome.out;
  EXPECT_EQ(outcome.out.find("CONNECTED"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("/var/run/docker.sock: blocked"), std::string::npos) << outcome.out;
}

// Every program has a network namespace of its own: a socket left in TIME_WAIT, loopback
// traffic and TCP counters of one task are not the next task's (before, in a kept sandbox,
// the next task saw them for 60 s and could not bind the port).
TEST_P(HostileNetwork, NetworkTracesDoNotReachTheNextTask) {
  // Once per warm container of the runner, so the next task finds traces wherever it runs.
  for (std::size_t container = 0; container < k_python_pool; ++container) {
    const auto left = attack("python", "leave_network_traces.py");
    ASSERT_EQ(left.out, "left\n") << describe(left);
  }
  const auto next = attack("python", "read_network_traces.py");
  std::cout << "[figure] " << to_string(mode()) << ": the next task saw " << next.out;
  EXPECT_EQ(next.out, "sockets 0\nloopback bytes 0\ntcp active opens 0\nbind ok\n")
      << describe(next);
}

PLANIFICADOR_HOSTILE_MODES(HostileNetwork);

}  // namespace
}  // namespace planificador::testing
