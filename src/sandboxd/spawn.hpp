#pragma once
// Starting a program from the zygote. The child shares the zygote's memory until it execs
// (clone with CLONE_VM | CLONE_VFORK): no page tables are copied and no page is faulted in
// twice, which is most of what a fork of the zygote would cost per task. Everything the
// child needs (argv, environment, the PATH candidates) is laid out before the clone, and
// the child makes system calls only.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "planificador/util/result.hpp"

namespace planificador::sandboxd {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is looked up in the PATH of `env`, as execvp does
  std::vector<std::string> env;   // the program's whole environment
  std::optional<std::uint64_t> rlimit_cpu_s;
  std::array<int, 3> fds{-1, -1, -1};  // become the program's stdin, stdout and stderr
};

// Returns where execvp would look for `program` given the environment `env`: the name
// itself when it holds a '/', else each directory of env's PATH (default "/bin:/usr/bin";
// an empty entry is the current directory) joined with it.
[[nodiscard]] std::vector<std::string> exec_candidates(const std::string& program,
                                                       const std::vector<std::string>& env);

// Starts the program in its own session with only its three descriptors open, no blocked
// signal, RLIMIT_CPU when asked, under the task filter (task_filter.hpp), and with exactly
// its environment. Signal dispositions are the
// caller's (the zygote sets them all to default once, at its start).
// Returns its pid. When it cannot be executed the child writes why on the program's
// stderr and exits 127 (not found) or 126 (anything else), like a shell; when its setup
// fails, 125.
[[nodiscard]] Result<pid_t> spawn_program(const SpawnRequest& request);

}  // namespace planificador::sandboxd
