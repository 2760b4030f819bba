#pragma once
// What a task init (task_init.hpp) sets up in its fresh PID, mount and IPC namespaces
// before its program arrives, one step per function in task_setup.cpp.

#include "baseline.hpp"

namespace planificador::sandboxd {

// How many pseudo-terminals one task may hold at once (its own devpts instance's `max`):
// enough for a program that wants a terminal, far from the host-wide kernel.pty.max.
inline constexpr int k_task_ptys = 8;

// Mounts the task's /proc, /dev/mqueue and /dev/pts, masks the host's views in /proc,
// drops every capability and sets `baseline`. Returns nullptr on success, else the name
// of the step that failed, with errno set.
[[nodiscard]] const char* set_up_task(const ProcessBaseline& baseline) noexcept;

}  // namespace planificador::sandboxd
