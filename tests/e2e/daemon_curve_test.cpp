// CURVE on a lone daemon's own sockets (docs/protocol.md): keys made by `planctl keygen`,
// the daemon started with a [curve] table, and planctl as a client with a listed key, an
// unlisted one and none, on the client endpoint and on SPEC's sockets.

#include <fstream>
#include <iterator>

#include "daemon_process.hpp"
#include "e2e_common.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>

#include "planificador/transport/curve_keys.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;

TEST(DaemonCurve, OnlyListedClientsAreServedOnEverySocket) {
  PLANIFICADOR_REQUIRE_E2E();
  TempDir keys("pld-keys-");
  ASSERT_FALSE(keys.path().empty());
  const std::string planctl = test_binary_dir() + "/planctl";
  for (const char* name : {"daemon", "client", "stranger"}) {
    const auto made = run_command({planctl, "keygen", keys.path() + "/" + name});
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  {
    std::ifstream pub(keys.path() + "/client.pub");
    std::ofstream(keys.path() + "/clients.allow")
        << "# who may submit\n"
        << std::string(std::istreambuf_iterator<char>(pub), {});
  }
  DaemonSettings settings;
  settings.bin_dir = test_binary_dir();
  settings.shipped_config = test_source_dir() + "/config.toml";
  settings.runner_images = {"planificador/bash"};
  settings.extra_tables = "[curve]\nkey = \"" + keys.path() + "/daemon.key\"\nclients_allow = \"" +
                          keys.path() + "/clients.allow\"\n";
  std::string error;
  auto daemon = DaemonProcess::start(settings, error);
  ASSERT_NE(daemon, nullptr) << error;

  const auto run = [&](std::vector<std::string> where, const std::string& key) {
    std::vector<std::string> argv{planctl, "run", "--image", "bash", "--connect-timeout", "3"};
    argv.insert(argv.end(), where.begin(), where.end());
    if (!key.empty()) {
      argv.insert(argv.end(), {"--curve-server-key", keys.path() + "/daemon.pub", "--curve-key",
                               keys.path() + "/" + key + ".key"});
    }
    argv.emplace_back("-");
    return run_command(argv, "echo served\n", 60s);
  };
  const std::vector<std::string> endpoint{"--endpoint", daemon->clients()};
  const std::vector<std::string> spec{"--intake", daemon->intake(), "--events", daemon->events()};

  for (const auto& where : {endpoint, spec}) {
    const auto listed = run(where, "client");
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_EQ(listed.out, "served\n");

    const auto stranger = run(where, "stranger");
    EXPECT_EQ(stranger.exit_code, 1) << stranger.err;
    EXPECT_NE(stranger.err.find("refused this client's CURVE keys"), std::string::npos)
        << stranger.err;
    EXPECT_EQ(stranger.out, "");

    const auto plain = run(where, "");
    EXPECT_EQ(plain.exit_code, 1) << plain.err;
    EXPECT_NE(plain.err.find("wants another security mechanism (CURVE"), std::string::npos)
        << plain.err;
    EXPECT_EQ(plain.out, "");
  }
  // The refusal names the stranger's key, so an operator can tell who knocked.
  auto stranger_key = transport::curve::load_key_pair(keys.path() + "/stranger.key");
  ASSERT_TRUE(stranger_key) << stranger_key.error().message;
  EXPECT_TRUE(wait_until(
      [&] {
        return daemon->log().find("refused a client with CURVE key " + stranger_key->public_key) !=
               std::string::npos;
      },
      5s))
      << daemon->log();
  EXPECT_EQ(daemon->terminate(30s), 0);
}

// A [curve] file that does not load stops the daemon at start, and --check-config says why.
TEST(DaemonCurve, AnUnreadableAllowListIsReportedAtItsKey) {
  PLANIFICADOR_REQUIRE_E2E();
  TempDir keys("pld-bad-");
  ASSERT_FALSE(keys.path().empty());
  const std::string planctl = test_binary_dir() + "/planctl";
  ASSERT_EQ(run_command({planctl, "keygen", keys.path() + "/daemon"}).exit_code, 0);
  std::ofstream(keys.path() + "/clients.allow") << "not a key\n";
  const std::string config_path = keys.path() + "/config.toml";
  {
    std::ifstream shipped(test_source_dir() + "/config.toml");
    std::ofstream(config_path) << std::string(std::istreambuf_iterator<char>(shipped), {})
                               << "\n[curve]\nkey = \"" << keys.path()
                               << "/daemon.key\"\nclients_allow = \"" << keys.path()
                               << "/clients.allow\"\n";
  }
  const auto checked =
      run_command({test_binary_dir() + "/planificador", "--check-config", config_path});
  EXPECT_EQ(checked.exit_code, 2) << checked.out << checked.err;
  EXPECT_NE(checked.err.find("curve.clients_allow: "), std::string::npos) << checked.err;
  EXPECT_NE(checked.err.find("clients.allow"), std::string::npos) << checked.err;
}

}  // namespace
}  // namespace planificador::testing
