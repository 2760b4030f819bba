#pragma once
// The validated configuration of the fleet broker (docs/fleet.md §9, deploy/broker.toml).
// broker_config.cpp is the only place that reads it with toml++; everything else sees
// these plain structs.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "planificador/util/result.hpp"

namespace planificador::config {

struct BrokerSection {
  std::string intake = "tcp://127.0.0.1:5555";   // PULL, as SPEC §5 server.intake
  std::string events = "tcp://127.0.0.1:5556";   // PUSH
  std::string control;                           // SUB; empty = none
  std::string workers = "tcp://127.0.0.1:5557";  // the ROUTER daemons connect to
  std::string admin;                             // REP answering `planctl fleet`; empty = none
  std::string clients;          // the client endpoint, a ROUTER (docs/protocol.md); empty = none
  std::size_t backlog = 10000;  // tasks waiting in the broker at most
  std::size_t max_code_bytes = std::size_t{1} << 20;
  std::uint32_t heartbeat_ms = 1000;
  std::uint32_t heartbeat_misses = 3;
  std::uint64_t unserved_ms = 30000;  // how long a task waits while no daemon is connected
  std::uint32_t dispatch_attempts = 3;
  std::uint64_t grace_ms = 5000;  // on SIGTERM, how long dispatched tasks may still finish
};

struct CurveSection {
  // Paths as written, except that a relative one is made relative to the config file's
  // directory by load_broker(). Empty = not set.
  std::string key;            // the broker's key pair file
  std::string workers_allow;  // the daemons' public keys
  std::string clients_allow;  // set: the client sockets require CURVE and one of these keys
  bool plaintext = false;     // true: the worker link without CURVE
};

struct BrokerLog {
  std::string level = "info";
};

struct BrokerConfig {
  BrokerSection broker;
  CurveSection curve;
  BrokerLog log;
};

// Parses `text` as broker.toml; `source` names it in messages. Returns the config, or an
// Error reading "<source>:<line>: <key>: <what is wrong>" for the first problem in the file
// (an unknown key, a wrong type, a value out of range, CURVE without a key pair).
[[nodiscard]] Result<BrokerConfig> parse_broker(std::string_view text, std::string_view source);

// Reads and parses the file at `path`; relative key paths are resolved against its
// directory. Messages start with the path as given.
[[nodiscard]] Result<BrokerConfig> load_broker(const std::string& path);

}  // namespace planificador::config
