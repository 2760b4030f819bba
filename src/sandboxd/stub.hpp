#pragma once
// The stub: the helper's own binary re-executed inside the sandbox as the unprivileged
// user. It runs the program as its child and reports the program's exact wait status,
// which bwrap alone would fold into an exit code 128+N.

namespace planificador::sandboxd {

// Runs `argv` (null-terminated, non-empty) as a child whose stderr is `stderr_fd` (when
// >= 0; the stub's own stderr stays bwrap's, for its own failures), writes
// sandbox::k_stub_started to `status_fd` once the child exists, then the child's raw wait
// status once it has exited. A program that cannot be executed exits 127 (not found) or
// 126 (any other reason) with a message on its stderr. Returns the stub's own exit code.
[[nodiscard]] int run_stub(int status_fd, int stderr_fd, char** argv);

}  // namespace planificador::sandboxd
