#pragma once
// planctl's subcommands, behind the command line parsed in main.cpp.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "planificador/transport/client.hpp"
#include "planificador/util/result.hpp"

namespace planificador::planctl {

// Exit status when planctl's own --timeout passes before the task's EXITED (as timeout(1)).
inline constexpr int k_exit_timed_out = 124;
// Exit status after Ctrl-C (the task was cancelled).
inline constexpr int k_exit_interrupted = 130;
// Exit status for a bad command line or an unreadable local file.
inline constexpr int k_exit_usage = 2;
// Exit status when the daemon could not be reached.
inline constexpr int k_exit_transport = 1;

// CURVE key files for a broker whose client sockets require CURVE (curve.clients_allow).
struct CurveFiles {
  std::string server_key;  // the broker's .pub; empty = a plain connection
  std::string key;         // this client's .key (both keys)
};

// Where a command finds the daemon: its client endpoint, or SPEC's sockets.
struct Endpoints {
  std::string endpoint = "tcp://127.0.0.1:5559";  // the client endpoint (server.clients)
  std::string intake = "tcp://127.0.0.1:5555";
  std::string events = "tcp://127.0.0.1:5556";
  bool spec_sockets = false;  // --intake or --events given: use them instead
};

// Connects to the client endpoint, or to intake and events (and `control`, if any).
[[nodiscard]] Result<std::unique_ptr<transport::Client>> connect(
    const Endpoints& endpoints, const std::string& control, const transport::CurveClient& curve);

struct RunRequest {
  std::string image;
  std::string code_path;  // "-" = standard input
  std::optional<std::string> stdin_path;
  std::vector<std::string> files;   // local[:remote]
  std::vector<std::string> limits;  // key=value
  std::vector<std::string> args;
  std::vector<std::string> env;  // KEY=VALUE
  bool report = false;
  Endpoints endpoints;
  std::string control;         // where Ctrl-C sends its CANCEL; empty = where the SUBMIT went
  double timeout_seconds = 0;  // 0 = wait for ever
  double connect_seconds = 5;  // how long intake may take to answer at all
  std::string id;              // 32 characters; empty = random hex
  CurveFiles curve;
};

struct RunnersRequest {
  Endpoints endpoints;
  bool json = false;           // print the daemon's JSON as it is
  double timeout_seconds = 5;  // for the answer, once intake answers
  double connect_seconds = 5;  // for intake to answer at all
  CurveFiles curve;
};

struct FleetRequest {
  std::string admin;  // the broker's admin endpoint
  bool json = false;  // print the broker's JSON as it is
  double timeout_seconds = 5;
  CurveFiles curve;
};

// Returns the SUBMIT_EXT options JSON `request` implies, nullopt when it needs none, or
// an error naming the bad argument or the unreadable file.
[[nodiscard]] Result<std::optional<std::string>> options_json(const RunRequest& request);

// Submits the task, streams its output and returns planctl's exit status.
[[nodiscard]] int run(const RunRequest& request);

// Returns the CURVE client keys `files` name (none when server_key is empty), or an error
// naming the file that cannot be read, or saying that one of the two is missing.
[[nodiscard]] Result<transport::CurveClient> load_curve(const CurveFiles& files);

// Sends CANCEL for `id` to `control` when non-empty, else to `intake`. Returns the exit
// status.
[[nodiscard]] int cancel(const std::string& id, const std::string& intake,
                         const std::string& control, const CurveFiles& curve);

// Asks the daemon for its runners (RUNNERS, docs/protocol.md) and prints them: a table, or
// the JSON. Returns the exit status (1 when nothing answers).
[[nodiscard]] int runners(const RunnersRequest& request);

// Prints the fleet view of the broker's admin socket: a table, or its JSON. Returns the
// exit status (1 when the broker does not answer).
[[nodiscard]] int fleet(const FleetRequest& request);

// Writes a new CURVE key pair to `prefix`.key (mode 0600) and `prefix`.pub, never replacing
// a file; `comment` names the owner in both. Returns the exit status.
[[nodiscard]] int keygen(const std::string& prefix, const std::string& comment);

}  // namespace planificador::planctl
