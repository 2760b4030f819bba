#pragma once
// The conversation between the daemon and planificador-sandboxd, the helper that runs as
// PID 1 in every task container. Unix SOCK_STREAM; each message is a u32 big-endian
// length followed by that many bytes of a JSON object. Up to k_max_fds descriptors may
// ride (SCM_RIGHTS) on the length prefix of a message.
//
// The helper creates its socket under a temporary name and renames it to k_socket_name
// once it listens, so the socket's existence means "ready to accept". It serves one
// connection at a time; one connection serves one task at a time:
//   daemon → {"op":"prepare","files":[{"path":"main.py","data":"<base64>","mode":493}]}
//            "mode" is optional (default 0644 = 420), permission bits only (<= 0777);
//            each file is created new (O_EXCL) in the work directory, intermediate
//            directories are created as needed; prepare may come more than once.
//   helper → {"ok":true} | {"ok":false,"error":"file `../x`: path escapes the work directory"}
//            (files before the failing one stay written; the task should be reset)
//   daemon → {"op":"exec","argv":[...],"env":["K=V",...],"rlimit_cpu_s":N,"files":[...]}
//            + fds [stdin, stdout, stderr]  (exactly 3; "env", "rlimit_cpu_s", "files"
//            optional). "files" is prepare's list, written before the program starts (one
//            round trip instead of two); when one is refused the answer is
//            {"event":"exited","error":"file `../x`: ...","rejected":true} and nothing runs.
//            The program sees exactly `env`, plus PATH and HOME=/work when not in it.
//            rlimit_cpu_s (a positive integer) is RLIMIT_CPU, a backstop to the daemon's own
//            CPU accounting. The helper closes its copies of the fds once the program has
//            been forked, so the pipes reach EOF when the program's tree is gone.
//            The sandbox is started before the exec comes (at the helper's start and by
//            every reset), so an exec costs a fork inside it, not a Bubblewrap start.
//   helper → {"event":"started","pid":N}     (N: the program, as the sandbox sees it)
//            ... {"event":"exited","wait_status":S}   (S: the program's raw wait status, as
//                                                      waitpid() gives it: WIFSIGNALED(S)
//                                                      for a signal, never bwrap's 128+N)
//            or  {"event":"exited","error":"..."}      (the sandbox could not start it; may
//                                                      come without "started", e.g. for an
//                                                      exec with a bad argv, env or fds)
//            Every exec gets exactly one "exited", sent only after every process of the
//            task has been killed and reaped (so all writers of the passed pipes are gone).
//            When the program's status could not be seen (the tree was killed on request,
//            or its status reporter was killed, e.g. by the OOM killer), S is the status of
//            a SIGKILL (9).
//   daemon → {"op":"kill"}   at any time: the running program's whole tree is killed (with
//                            its sandbox) and its "exited" event follows. No reply of its
//                            own; a no-op when nothing runs (its "exited" may be on the way).
//   (exec may come again after "exited": compile, then run, in the same work directory)
//   daemon → {"op":"reset","isolation":"strict"|"fast"}  (default "strict")
//                           → helper kills every process of the task (a running program's
//                              "exited" comes first) and wipes the work directory, /tmp,
//                              /var/tmp and /dev/shm. "strict": the sandbox is replaced by a
//                              new one (new namespaces). "fast": the sandbox stays once its
//                              zygote proved it empty (no process, no IPC object left);
//                              otherwise it is replaced. Answers {"ok":true,"clean":true}
//                              when the next sandbox is ready, or {"ok":false,"error":"..."};
//                              the connection then serves the next task.
// When the helper itself is told to stop (SIGTERM, SIGINT, SIGHUP, SIGQUIT: the engine
// stops the container) while a program runs, the program's tree is killed and its exec
// answered {"event":"exited","error":"sandbox helper stopped by signal N"}.
// A message that is not a JSON object, has an unknown or missing "op", or an exec while a
// program runs, is answered {"ok":false,"error":"..."} and the helper closes the connection.
// A connection closed by the daemon is a reset. The helper takes the next connection
// only after that reset is done.

#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "planificador/os/fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::sandbox {

inline constexpr std::size_t k_max_fds = 3;
inline constexpr std::size_t k_max_message_bytes = std::size_t{64} << 20;

// Where things are inside a task container.
inline constexpr const char* k_helper_path = "/planificador/sandboxd";  // bind-mounted ro
inline constexpr const char* k_socket_dir = "/planificador/run";        // bind-mounted rw
inline constexpr const char* k_socket_name = "sandboxd.sock";
inline constexpr const char* k_sandbox_root = "/sandbox";  // size-limited tmpfs

struct Message {
  nlohmann::json body;
  std::vector<os::Fd> fds;
};

// Sends one message, with `fds` (at most k_max_fds) attached. Retries EINTR and short
// writes; blocks until all is written (polling when `socket` is non-blocking). Never raises
// SIGPIPE: a closed peer is an Error carrying EPIPE.
[[nodiscard]] Result<void> send_message(int socket, const nlohmann::json& body,
                                        std::span<const int> fds = {});

// Receives one message. Returns an Error with code 0 and message "connection closed" on a
// clean EOF before any byte, and an Error for truncation, oversize, a non-object or invalid
// JSON, or descriptors cut off (more than k_max_fds). Received descriptors are O_CLOEXEC.
// After an Error the stream is out of step: close the connection.
[[nodiscard]] Result<Message> receive_message(int socket);

}  // namespace planificador::sandbox
