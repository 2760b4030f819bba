#pragma once
// The validated configuration (SPEC §5 and its extensions). config.cpp is the only place
// that includes toml++; everything else sees these plain structs.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "planificador/util/result.hpp"

namespace planificador::config {

// Hard limits of one task. Those of a runner are also the most a task may ask for.
struct Limits {
  std::uint64_t wall_ms = 10000;
  std::uint64_t cpu_ms = 10000;
  std::uint64_t memory_bytes = std::uint64_t{256} << 20;
  std::uint64_t pids = 64;
  std::uint64_t output_bytes = std::uint64_t{1024} << 10;
  friend bool operator==(const Limits&, const Limits&) = default;
};

// strict: a fresh bwrap (fresh namespaces, fresh tmpfs) per task.
// fast: the helper keeps one prepared sandbox and only forks per task.
enum class Isolation { strict, fast };

struct Runner {
  std::vector<std::string> match;    // glob patterns against SUBMIT's image field
  std::string image;                 // Docker image
  std::string file;                  // the code's file name in the work directory
  std::vector<std::string> run;      // argv run inside Bubblewrap
  std::vector<std::string> compile;  // optional argv run before `run`; empty = none
  std::vector<std::pair<std::string, std::string>> env;  // the sandbox's environment
  Limits limits;  // [limits] with this runner's overrides applied
  std::uint64_t compile_wall_ms = 30000;
  std::size_t pool = 0;  // warm containers kept; 0 = a fresh container per task
  Isolation isolation = Isolation::strict;
  std::size_t max_tasks = 1000;  // tasks a warm container serves before it is replaced
  std::size_t line = 0;          // where the [[runner]] starts in the file (for messages)
};

struct Server {
  std::string intake = "tcp://127.0.0.1:5555";
  std::string events = "tcp://127.0.0.1:5556";
  std::string control;  // empty = no control socket
  bool connect = false;
  std::size_t workers = 4;
  std::size_t backlog = 1000;
  std::string executor;  // name in REPORTs; parse() puts the host name here if the file has none
  std::uint64_t grace_ms = 5000;  // how long running tasks may finish on SIGTERM
  std::size_t max_code_bytes = std::size_t{1} << 20;
  std::string state_dir = "/run/planificador";  // host directory for helper sockets
  std::size_t pool = 4;  // default of Runner::pool; parse() makes it `workers` if the file has none
  std::string broker;    // the fleet broker's worker endpoint; empty = serve intake/events/control
  std::string clients;   // the client endpoint (a ROUTER, docs/protocol.md); empty = none
};

// [link]: the worker link to server.broker (docs/fleet.md §8). parse() checks that both key
// files are named when a broker is set without plaintext; the daemon loads them (the
// config module knows nothing of CURVE), naming the key and line below when one does not.
struct Link {
  std::string key;                  // this daemon's key pair file (.key); empty = none
  std::string broker_key;           // the broker's public key file (.pub); empty = none
  bool plaintext = false;           // true: the link without CURVE
  std::size_t key_line = 0;         // where link.key is in the file (for messages)
  std::size_t broker_key_line = 0;  // where link.broker_key is
};

// [curve]: CURVE on the sockets the daemon binds (docs/protocol.md). parse() checks that
// the two files go together and that the daemon binds its sockets; the daemon loads them,
// naming the key and line below when one does not.
struct SocketCurve {
  std::string key;                     // the daemon's key pair file (.key); empty = none
  std::string clients_allow;           // the clients' public keys; empty = no CURVE
  std::size_t key_line = 0;            // where curve.key is in the file (for messages)
  std::size_t clients_allow_line = 0;  // where curve.clients_allow is
};

struct Output {
  std::size_t chunk_bytes = 65536;
  std::uint64_t flush_ms = 10;
};

struct Docker {
  std::string socket = "/var/run/docker.sock";
  std::string runtime;                                 // empty = the engine's default
  double cpus = 1.0;                                   // CPU quota of a task's container
  std::uint64_t work_bytes = std::uint64_t{64} << 20;  // tmpfs for work dir, /tmp, /dev/shm
  std::string helper;   // planificador-sandboxd on the host; empty = beside the daemon
  std::string seccomp;  // seccomp profile file; empty = the built-in profile
};

struct Log {
  std::string level = "info";
};

// [http]: the HTTP/JSON API, metrics and health (docs/http.md).
struct Http {
  std::string listen;      // host:port; empty = off
  std::string host;        // listen's host part ("[::1]" given as "::1")
  std::uint16_t port = 0;  // listen's port; 0 = one the kernel picks (logged)
  bool loopback = true;    // host is 127.0.0.0/8, ::1 or localhost
  std::string token_file;  // bearer token file; empty = no token (loopback only)
  // Largest request body; parse() makes it 2 x server.max_code_bytes + 2 MiB if the file
  // names none (code in JSON may be escaped; options are bounded by SPEC's own limit).
  std::size_t max_body_bytes = 0;
};

struct Config {
  Server server;
  Http http;
  Output output;
  Docker docker;
  Limits limits;                          // [limits]: defaults for every runner
  std::uint64_t compile_wall_ms = 30000;  // [limits] compile_ms: default of Runner::compile_wall_ms
  Log log;
  Link link;
  SocketCurve curve;
  std::vector<Runner> runners;
};

// Parses `text` as config.toml. `source` names it in messages. Returns the Config (at least
// one runner, every value in range), or an Error whose message reads
// "<source>:<line>: <key>: <what is wrong>" for the first problem in the file, where <key>
// is a dotted path such as `server.workers` or `runner[2].limits.wall_ms` (runners counted
// from 0), or "syntax error".
[[nodiscard]] Result<Config> parse(std::string_view text, std::string_view source);

// Reads and parses the file at `path` (messages start with the path as given).
[[nodiscard]] Result<Config> load(const std::string& path);

// Returns the first runner one of whose patterns matches `image`, or nullptr.
[[nodiscard]] const Runner* match_runner(const Config& config, std::string_view image);

// fnmatch-style glob: `*`, `?`, `[...]`; no special meaning for `/`.
[[nodiscard]] bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace planificador::config
