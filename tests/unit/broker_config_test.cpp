// broker.toml: every key, its default and range, unknown keys, CURVE's requirements.

#include "planificador/config/broker_config.hpp"

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>

namespace planificador::config {
namespace {

const std::string k_plain = "[curve]\nplaintext = true\n";

Result<BrokerConfig> parse(const std::string& text) { return parse_broker(text, "broker.toml"); }

std::string problem(const std::string& text) {
  auto config = parse(text);
  return config ? std::string("(no problem)") : config.error().message;
}

TEST(BrokerConfig, DefaultsAreDocsFleetSection9) {
  const auto config = parse(k_plain);
  ASSERT_TRUE(config) << config.error().message;
  const auto& b = config->broker;
  EXPECT_EQ(b.intake, "tcp://127.0.0.1:5555");
  EXPECT_EQ(b.events, "tcp://127.0.0.1:5556");
  EXPECT_EQ(b.control, "");
  EXPECT_EQ(b.workers, "tcp://127.0.0.1:5557");
  EXPECT_EQ(b.admin, "");
  EXPECT_EQ(b.backlog, 10000U);
  EXPECT_EQ(b.max_code_bytes, 1048576U);
  EXPECT_EQ(b.heartbeat_ms, 1000U);
  EXPECT_EQ(b.heartbeat_misses, 3U);
  EXPECT_EQ(b.unserved_ms, 30000U);
  EXPECT_EQ(b.dispatch_attempts, 3U);
  EXPECT_EQ(b.grace_ms, 5000U);
  EXPECT_TRUE(config->curve.plaintext);
  EXPECT_EQ(config->curve.key, "");
  EXPECT_EQ(config->log.level, "info");
}

TEST(BrokerConfig, EveryKeyIsRead) {
  const auto config = parse(R"([broker]
intake = "tcp://*:6000"
events = "ipc:///tmp/events"
control = "tcp://127.0.0.1:6002"
workers = "tcp://0.0.0.0:6003"
admin = "ipc:///tmp/admin"
backlog = 5
max_code_bytes = 100
heartbeat_ms = 250
heartbeat_misses = 4
unserved_ms = 0
dispatch_attempts = 1
grace_ms = 0

[curve]
key = "/etc/planificador/broker.key"
workers_allow = "/etc/planificador/workers.allow"
clients_allow = "/etc/planificador/clients.allow"
plaintext = false

[log]
level = "debug"
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->broker.intake, "tcp://*:6000");
  EXPECT_EQ(config->broker.events, "ipc:///tmp/events");
  EXPECT_EQ(config->broker.control, "tcp://127.0.0.1:6002");
  EXPECT_EQ(config->broker.workers, "tcp://0.0.0.0:6003");
  EXPECT_EQ(config->broker.admin, "ipc:///tmp/admin");
  EXPECT_EQ(config->broker.backlog, 5U);
  EXPECT_EQ(config->broker.max_code_bytes, 100U);
  EXPECT_EQ(config->broker.heartbeat_ms, 250U);
  EXPECT_EQ(config->broker.heartbeat_misses, 4U);
  EXPECT_EQ(config->broker.unserved_ms, 0U);
  EXPECT_EQ(config->broker.dispatch_attempts, 1U);
  EXPECT_EQ(config->broker.grace_ms, 0U);
  EXPECT_EQ(config->curve.key, "/etc/planificador/broker.key");
  EXPECT_EQ(config->curve.workers_allow, "/etc/planificador/workers.allow");
  EXPECT_EQ(config->curve.clients_allow, "/etc/planificador/clients.allow");
  EXPECT_FALSE(config->curve.plaintext);
  EXPECT_EQ(config->log.level, "debug");
}

struct BadKey {
  std::string line;
  std::string message;
};

TEST(BrokerConfig, EachBadValueIsNamedWithItsLine) {
  const std::vector<BadKey> cases{
      {"intake = \"localhost:5555\"",
       "broker.intake: expected a ZeroMQ endpoint (tcp://, ipc:// or inproc://)"},
      {"events = 5556", "broker.events: expected a string"},
      {"control = \"udp://x\"",
       "broker.control: expected a ZeroMQ endpoint (tcp://, ipc:// or inproc://) or an empty "
       "string"},
      {"workers = \"\"",
       "broker.workers: expected a ZeroMQ endpoint (tcp://, ipc:// or inproc://)"},
      {"admin = true", "broker.admin: expected a string"},
      {"backlog = 0", "broker.backlog: 0 is out of range (1..1000000)"},
      {"max_code_bytes = 67108865",
       "broker.max_code_bytes: 67108865 is out of range (1..67108864)"},
      {"heartbeat_ms = 9", "broker.heartbeat_ms: 9 is out of range (10..60000)"},
      {"heartbeat_ms = \"1000\"", "broker.heartbeat_ms: expected an integer"},
      {"heartbeat_misses = 0", "broker.heartbeat_misses: 0 is out of range (1..100)"},
      {"unserved_ms = -1", "broker.unserved_ms: -1 is out of range (0..3600000)"},
      {"dispatch_attempts = 101", "broker.dispatch_attempts: 101 is out of range (1..100)"},
      {"grace_ms = 1.5", "broker.grace_ms: expected an integer"},
      {"wokers = \"tcp://127.0.0.1:1\"", "broker.wokers: unknown key"},
  };
  for (const auto& bad : cases) {
    const std::string text = k_plain + "\n[broker]\n" + bad.line + "\n";
    EXPECT_EQ(problem(text), "broker.toml:5: " + bad.message) << bad.line;
  }
}

TEST(BrokerConfig, UnknownKeysAndTablesAreErrors) {
  EXPECT_EQ(problem(k_plain + "[server]\nworkers = 2\n"), "broker.toml:3: server: unknown key");
  EXPECT_EQ(problem("[curve]\nplaintext = true\nsecret = \"x\"\n"),
            "broker.toml:3: curve.secret: unknown key");
  EXPECT_EQ(problem(k_plain + "[log]\nlevel = \"loud\"\n"),
            "broker.toml:4: log.level: expected one of trace, debug, info, warn, error, off");
  EXPECT_EQ(problem("broker = 1\n" + k_plain), "broker.toml:1: broker: expected a table");
}

TEST(BrokerConfig, TheFirstProblemInTheFileIsReported) {
  EXPECT_EQ(problem(k_plain + "[broker]\nbacklog = 0\nheartbeat_ms = 1\n"),
            "broker.toml:4: broker.backlog: 0 is out of range (1..1000000)");
}

TEST(BrokerConfig, CurveNeedsAKeyUnlessPlaintext) {
  EXPECT_EQ(problem(""),
            "broker.toml:1: curve.key: required unless curve.plaintext = true (write one with "
            "`planctl keygen broker`)");
  EXPECT_EQ(problem("[curve]\nplaintext = false\n"),
            "broker.toml:2: curve.key: required unless curve.plaintext = true (write one with "
            "`planctl keygen broker`)");
  EXPECT_EQ(problem("[curve]\nkey = \"/k/broker.key\"\n"),
            "broker.toml:2: curve.workers_allow: required unless curve.plaintext = true (the "
            "daemons' public keys)");
  EXPECT_EQ(problem("[curve]\nplaintext = true\nclients_allow = \"/k/clients\"\n"),
            "broker.toml:3: curve.key: required when curve.clients_allow is set");
  EXPECT_TRUE(parse("[curve]\nkey = \"/k/b.key\"\nworkers_allow = \"/k/w\"\n"));
}

TEST(BrokerConfig, SyntaxErrorsNameTheLine) {
  const auto message = problem(k_plain + "[broker]\nbacklog = = 3\n");
  EXPECT_EQ(message.rfind("broker.toml:4: syntax error: ", 0), 0U) << message;
}

TEST(BrokerConfig, TheShippedFileIsValid) {
  const auto config = load_broker(std::string(PLANIFICADOR_SOURCE_DIR) + "/deploy/broker.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->curve.plaintext);
  EXPECT_EQ(config->broker.intake.rfind("tcp://127.0.0.1:", 0), 0U);
  EXPECT_EQ(config->broker.workers.rfind("tcp://127.0.0.1:", 0), 0U);
}

TEST(BrokerConfig, RelativeKeyPathsAreReadFromTheFilesDirectory) {
  char pattern[] = "/tmp/planificador-broker-config-XXXXXX";
  const std::string dir = ::mkdtemp(pattern);
  std::ofstream(dir + "/broker.toml") << "[curve]\nkey = \"keys/broker.key\"\n"
                                         "workers_allow = \"/abs/workers\"\n";
  const auto config = load_broker(dir + "/broker.toml");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->curve.key, dir + "/keys/broker.key");
  EXPECT_EQ(config->curve.workers_allow, "/abs/workers");
  const auto missing = load_broker(dir + "/broker.toml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message.rfind(dir + "/broker.toml: ", 0), 0U)
      << missing.error().message;
}

}  // namespace
}  // namespace planificador::config
