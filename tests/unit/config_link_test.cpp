// config.toml's fleet keys, server.broker and [link] (docs/fleet.md §9), and the client
// endpoint's, server.clients and [curve] (docs/protocol.md).

#include <string>

#include <gtest/gtest.h>

#include "planificador/config/config.hpp"

namespace planificador::config {
namespace {

constexpr const char* k_runner = R"(
[[runner]]
match = ["x"]
image = "img"
file = "main.x"
run = ["x"]
)";

Config parse_ok(const std::string& text) {
  auto config = parse(text, "config.toml");
  EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().message);
  return config ? *config : Config{};
}

std::string error_of(const std::string& text) {
  auto config = parse(text, "config.toml");
  EXPECT_FALSE(config.has_value()) << "parsed without error:\n" << text;
  return config ? std::string() : config.error().message;
}

TEST(ConfigLink, DefaultsServeDirectlyWithCurve) {
  const Config config = parse_ok(k_runner);
  EXPECT_EQ(config.server.broker, "");
  EXPECT_EQ(config.link.key, "");
  EXPECT_EQ(config.link.broker_key, "");
  EXPECT_FALSE(config.link.plaintext);
  // Key files are only needed once a broker is named.
  EXPECT_EQ(parse_ok(std::string("[link]\nkey = \"\"\n") + k_runner).link.key, "");
}

TEST(ConfigLink, BrokerWithKeysRecordsWhereTheyAre) {
  const Config config = parse_ok(std::string(R"([server]
broker = "tcp://10.0.0.1:5557"

[link]
key = "/etc/planificador/daemon.key"
broker_key = "/etc/planificador/broker.pub"
)") + k_runner);
  EXPECT_EQ(config.server.broker, "tcp://10.0.0.1:5557");
  EXPECT_EQ(config.link.key, "/etc/planificador/daemon.key");
  EXPECT_EQ(config.link.broker_key, "/etc/planificador/broker.pub");
  EXPECT_EQ(config.link.key_line, 5U);
  EXPECT_EQ(config.link.broker_key_line, 6U);
  EXPECT_FALSE(config.link.plaintext);
}

TEST(ConfigLink, PlaintextNeedsNoKeys) {
  const Config config = parse_ok(
      std::string("[server]\nbroker = \"tcp://127.0.0.1:5557\"\n[link]\nplaintext = true\n") +
      k_runner);
  EXPECT_TRUE(config.link.plaintext);
}

TEST(ConfigLink, CurveWithoutKeyFilesNamesTheMissingKey) {
  const std::string broker = "[server]\nworkers = 2\nbroker = \"tcp://127.0.0.1:5557\"\n";
  constexpr const char* k_what = "required when server.broker is set and link.plaintext is false";
  // No [link] at all: the line of server.broker.
  EXPECT_EQ(error_of(broker + k_runner), std::string("config.toml:3: link.key: ") + k_what);
  // A [link] without the key: the table's line.
  EXPECT_EQ(error_of(broker + "\n[link]\nkey = \"/k.key\"\n" + k_runner),
            std::string("config.toml:5: link.broker_key: ") + k_what);
  // An empty value: its own line.
  EXPECT_EQ(error_of(broker + "[link]\nbroker_key = \"/b.pub\"\nkey = \"\"\n" + k_runner),
            std::string("config.toml:6: link.key: ") + k_what);
}

TEST(ConfigLink, ValuesAndUnknownKeys) {
  const std::string r = k_runner;
  EXPECT_EQ(error_of("[server]\nbroker = \"localhost:5557\"\n" + r),
            "config.toml:2: server.broker: expected a ZeroMQ endpoint (tcp://, ipc:// or "
            "inproc://) or an empty string");
  EXPECT_EQ(error_of("[link]\nkey = \"daemon.key\"\n" + r),
            "config.toml:2: link.key: expected an absolute path or an empty string");
  EXPECT_EQ(error_of("[link]\nplaintext = \"yes\"\n" + r),
            "config.toml:2: link.plaintext: expected a boolean");
  EXPECT_EQ(error_of("[link]\nsecret = \"x\"\n" + r), "config.toml:2: link.secret: unknown key");
  EXPECT_EQ(error_of("link = 1\n" + r), "config.toml:1: link: expected a table");
}

TEST(ConfigClients, TheClientEndpointIsOffUnlessNamed) {
  EXPECT_EQ(parse_ok(k_runner).server.clients, "");
  EXPECT_EQ(parse_ok(std::string("[server]\nclients = \"tcp://127.0.0.1:5559\"\n") + k_runner)
                .server.clients,
            "tcp://127.0.0.1:5559");
  EXPECT_EQ(
      error_of(std::string("[server]\nclients = \"127.0.0.1:5559\"\n") + k_runner),
      "config.toml:2: server.clients: expected a ZeroMQ endpoint (tcp://, ipc:// or inproc://) "
      "or an empty string");
}

TEST(ConfigClients, CurveOnTheSocketsNeedsBothFilesAndBoundSockets) {
  const Config config = parse_ok(std::string(R"([curve]
key = "/etc/planificador/daemon.key"
clients_allow = "/etc/planificador/clients.pub"
)") + k_runner);
  EXPECT_EQ(config.curve.key, "/etc/planificador/daemon.key");
  EXPECT_EQ(config.curve.clients_allow, "/etc/planificador/clients.pub");
  EXPECT_EQ(config.curve.key_line, 2U);
  EXPECT_EQ(config.curve.clients_allow_line, 3U);
  EXPECT_EQ(parse_ok(k_runner).curve.clients_allow, "");
  EXPECT_EQ(error_of(std::string("[curve]\nclients_allow = \"/k/clients.pub\"\n") + k_runner),
            "config.toml:2: curve.key: required when curve.clients_allow is set (write one with "
            "`planctl keygen NAME`)");
  EXPECT_EQ(error_of(std::string("[curve]\nkey = \"/k/daemon.key\"\n") + k_runner),
            "config.toml:2: curve.clients_allow: required when curve.key is set (the public keys "
            "of the clients allowed)");
  EXPECT_EQ(
      error_of(std::string("[server]\nbroker = \"tcp://10.0.0.1:5557\"\n[link]\nplaintext = "
                           "true\n[curve]\nkey = \"/k/d.key\"\nclients_allow = \"/k/c.pub\"\n") +
               k_runner),
      "config.toml:7: curve.clients_allow: a fleet member binds no socket to guard: set it "
      "on the broker");
  EXPECT_EQ(error_of(std::string("[server]\nconnect = true\n[curve]\nkey = \"/k/d.key\"\n"
                                 "clients_allow = \"/k/c.pub\"\n") +
                     k_runner),
            "config.toml:5: curve.clients_allow: a daemon with server.connect = true binds no "
            "socket to guard");
  EXPECT_EQ(
      error_of(std::string("[curve]\nkey = \"relative.key\"\nclients_allow = \"/c\"\n") + k_runner)
          .substr(0, 26),
      "config.toml:2: curve.key: ");
  EXPECT_EQ(error_of(std::string("[curve]\nworkers_allow = \"/w\"\n") + k_runner),
            "config.toml:2: curve.workers_allow: unknown key");
}

}  // namespace
}  // namespace planificador::config
