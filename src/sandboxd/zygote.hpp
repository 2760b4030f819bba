#pragma once
// The zygote: the helper's own binary re-executed inside Bubblewrap as PID 1 of the
// sandbox's PID namespace, as the unprivileged sandbox user. It waits for programs on its
// connection to the helper and runs each as its child, so a warm sandbox costs a fork per
// program, not a Bubblewrap start.
//
// Its conversation with the helper is typed in planificador/sandbox/messages.hpp (Ready,
// ProgramExec, Started, Exited, CleanRequest, Reply), framed as wire.hpp says. Exited comes
// after the program ended and every other process of the namespace was killed and reaped;
// a clean is answered ok once no process but the zygote is left and every System V IPC
// object and POSIX message queue of the sandbox is removed. A message it cannot decode, or
// one that does not fit (an exec or a clean while a program runs), is answered with an
// error and the zygote goes on; it exits when the helper closes the connection or the
// stream is out of step (the helper then replaces the sandbox).

namespace planificador::sandboxd {

// Serves the helper on descriptor `control` until it closes. Returns the exit code.
[[nodiscard]] int run_zygote(int control);

}  // namespace planificador::sandboxd
