#pragma once
// The zygote: the helper's own binary re-executed inside Bubblewrap as PID 1 of the
// sandbox's PID namespace, as the unprivileged sandbox user. It waits for programs on its
// connection to the helper and runs each as its child, so a warm sandbox costs a fork per
// program, not a Bubblewrap start.
//
// Its conversation with the helper uses the framing of planificador/sandbox/wire.hpp:
//   zygote → {"event":"ready"}                        once, when it listens
//   helper → {"op":"exec","argv":[...],"env":[...],"rlimit_cpu_s":N} + fds [in, out, err]
//            ("env" is the program's whole environment; "rlimit_cpu_s" optional)
//   zygote → {"event":"started","pid":N}               N as seen inside the sandbox
//            {"event":"exited","wait_status":S}        after the program ended and every
//                                                      other process of the namespace was
//                                                      killed and reaped
//   helper → {"op":"clean"} (no program running)
//   zygote → {"ok":true} once no process but itself is left and every System V IPC object
//            and POSIX message queue of the sandbox is removed, else {"ok":false,"error":…}
// The zygote exits when the helper closes the connection; anything it cannot parse ends
// it too (the helper then replaces the sandbox).

namespace planificador::sandboxd {

// Serves the helper on descriptor `control` until it closes. Returns the exit code.
[[nodiscard]] int run_zygote(int control);

}  // namespace planificador::sandboxd
