#pragma once
// planctl's subcommands, behind the command line parsed in main.cpp.

#include <optional>
#include <string>
#include <vector>

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

struct RunRequest {
  std::string image;
  std::string code_path;                // "-" = standard input
  std::optional<std::string> stdin_path;
  std::vector<std::string> files;       // local[:remote]
  std::vector<std::string> limits;      // key=value
  std::vector<std::string> args;
  std::vector<std::string> env;         // KEY=VALUE
  bool report = false;
  std::string intake;
  std::string events;
  std::string control;                  // where Ctrl-C sends its CANCEL; empty = intake
  double timeout_seconds = 0;           // 0 = wait for ever
  std::string id;                       // 32 characters; empty = random hex
};

// Returns the SUBMIT_EXT options JSON `request` implies, nullopt when it needs none, or
// an error naming the bad argument or the unreadable file.
[[nodiscard]] Result<std::optional<std::string>> options_json(const RunRequest& request);

// Returns 32 random lowercase hex characters.
[[nodiscard]] std::string random_task_id();

// Submits the task, streams its output and returns planctl's exit status.
[[nodiscard]] int run(const RunRequest& request);

// Sends CANCEL for `id` to `control` when non-empty, else to `intake`. Returns the exit
// status.
[[nodiscard]] int cancel(const std::string& id, const std::string& intake,
                         const std::string& control);

// Writes a new CURVE key pair to `prefix`.key (mode 0600) and `prefix`.pub, never replacing
// a file; `comment` names the owner in both. Returns the exit status.
[[nodiscard]] int keygen(const std::string& prefix, const std::string& comment);

}  // namespace planificador::planctl
