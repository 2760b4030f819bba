#pragma once
// Every program runs in namespaces of its own inside the sandbox. The zygote (PID 1 of the
// sandbox, the process that starts every program of a warm container) forks a task init:
// PID 1 of a new PID, mount and IPC namespace. The task init mounts a /proc and an mqueue
// file system of those namespaces, gives up every capability, sets the zygote's recorded
// limits and priorities (baseline.hpp), starts the program as its only child and reaps
// whatever the program leaves. When the program ends it kills and reaps every other
// process of its PID namespace, passes the exact wait status to the zygote and exits; the
// namespaces are torn down after the zygote has the status (man 7 pid_namespaces).
//
// So no program can name the zygote: prlimit, setpriority, sched_setaffinity, kill and
// the like reach only processes of its own task, and a task leaves no process, System V
// IPC object or message queue behind, nor a trace in the PID counter.

#include <sys/types.h>

#include "baseline.hpp"
#include "spawn.hpp"

#include "planificador/os/fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::sandboxd {

struct TaskProcess {
  pid_t init = -1;  // the task init, the zygote's child
  os::Fd status;    // read end: the program's wait status (an int), written before it exits
};

// Starts `request` under a task init. The zygote must hold CAP_SYS_ADMIN and CAP_SETPCAP
// in its user namespace (bwrap --cap-add), which the task init drops before the program
// starts. Returns the task init, or an Error naming the call that failed.
[[nodiscard]] Result<TaskProcess> start_task(const SpawnRequest& request,
                                             const ProcessBaseline& baseline);

// Returns the program's wait status as task init `init` reported it on `status` (readable:
// by then no process of the task is left); an Error when the task init died without one.
[[nodiscard]] Result<int> task_status(const os::Fd& status, pid_t init);

}  // namespace planificador::sandboxd
