#pragma once
// Every program runs in namespaces of its own inside the sandbox. The zygote (PID 1 of the
// sandbox, the process that starts every program of a warm container) forks a task init
// ahead of each program: PID 1 of a new PID, mount, IPC and network namespace (its
// loopback up, nothing else: the sandbox has no network either). The task init mounts
// a /proc, an mqueue and a devpts file system of those namespaces (the devpts with a small
// pty budget), masks what /proc shows of the host (its kernel command line, configuration,
// memory, CPU and interrupt counters, pressure and locks), gives up every capability, sets
// the zygote's recorded limits and priorities (baseline.hpp), and then waits for its
// program. All of that happens while the sandbox waits for a task, off the task's path.
//
// With the program's exec message it starts the program as its only child and reaps
// whatever the program leaves. When the program ends it kills and reaps every other
// process of its PID namespace, passes the exact wait status to the zygote and exits; the
// namespaces are torn down after the zygote has the status (man 7 pid_namespaces).
//
// So no program can name the zygote: prlimit, setpriority, sched_setaffinity, kill and
// the like reach only processes of its own task, and a task leaves no process, System V
// IPC object or message queue behind, nor a socket, a network counter or a trace in the
// PID counter.

#include <array>
#include <optional>
#include <sys/types.h>

#include "baseline.hpp"
#include "spawn.hpp"

#include "planificador/os/fd.hpp"
#include "planificador/sandbox/messages.hpp"
#include "planificador/util/result.hpp"

namespace planificador::sandboxd {

// A task init waiting for its program.
struct PreparedTask {
  pid_t init = -1;
  os::Fd control;  // the zygote's end: the exec message goes here, once
  os::Fd status;   // read end: the program's wait status (an int), written before it exits
};

// Forks a task init. The zygote must hold CAP_SYS_ADMIN and CAP_SETPCAP in its user
// namespace (bwrap --cap-add), which the task init drops. A failure of the task init's own
// setup is reported later, to the program's stderr, as the program's start would be
// (status 125). Returns the waiting init, or an Error naming the call that failed.
[[nodiscard]] Result<PreparedTask> prepare_task(const ProcessBaseline& baseline);

// Hands `program` with its descriptors `stdio` (stdin, stdout, stderr) to the waiting init
// and closes the zygote's end of its control socket. An exec the task init cannot decode
// ends with status 125, its reason on the program's stderr.
[[nodiscard]] Result<void> launch_task(PreparedTask& task, const sandbox::ProgramExec& program,
                                       const std::array<int, 3>& stdio);

// Returns the program's wait status as task init `init` reported it on `status` (readable:
// by then no process of the task is left); an Error when the task init died without one.
[[nodiscard]] Result<int> task_status(const os::Fd& status, pid_t init);

}  // namespace planificador::sandboxd
