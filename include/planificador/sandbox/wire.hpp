#pragma once
// The conversation between the daemon and planificador-sandboxd, the helper that runs as
// PID 1 in every task container. Unix SOCK_STREAM; each message is a u32 big-endian
// length followed by that many bytes of a JSON object. Up to k_max_fds descriptors may
// ride (SCM_RIGHTS) on the length prefix of a message.
//
// The helper creates its socket under a temporary name and renames it to k_socket_name
// once it listens, so the socket's existence means "ready to accept". It serves one
// connection at a time; one connection serves one task at a time. The messages, and how
// each is answered, are typed in planificador/sandbox/messages.hpp.
//
// Files of a prepare (or an exec) are created new (O_EXCL) in the work directory, with
// intermediate directories as needed; a list that does not decode is refused before any is
// written, and when the work directory refuses one, those before it stay written (the task
// should be reset). The program sees exactly the exec's `env`, plus PATH and HOME=/work
// when not in it; rlimit_cpu_s is RLIMIT_CPU, a backstop to the daemon's own CPU
// accounting. The helper closes its copies of the descriptors once the program has been
// forked, so the pipes reach EOF when the program's tree is gone. The sandbox is started
// before the exec comes (at the helper's start and by every reset), so an exec costs a
// fork inside it, not a Bubblewrap start. Every exec gets exactly one "exited", sent only
// after every process of the task has been killed and reaped (so all writers of the passed
// pipes are gone); when the program's status could not be seen (the tree was killed on
// request, or its status reporter was killed, e.g. by the OOM killer), it is the status of
// a SIGKILL (9). Exec may come again after "exited": compile, then run, in the same work
// directory.
//
// A kill is a no-op when nothing runs (its "exited" may be on the way). A reset
// kills every process of the task and wipes the work directory, /tmp, /var/tmp and
// /dev/shm; "strict" replaces the sandbox by a new one (new namespaces), "fast" keeps it
// once its zygote proved it empty (no process, no IPC object left), else replaces it; it is
// answered when the next sandbox is ready, and the connection then serves the next task.
//
// When the helper itself is told to stop (SIGTERM, SIGINT, SIGHUP, SIGQUIT: the engine
// stops the container) while a program runs, the program's tree is killed and its exec
// answered {"event":"exited","error":"sandbox helper stopped by signal N"}.
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

// Receives one message. Returns an Error of kind ErrorKind::closed ("connection closed")
// on a clean EOF before any byte, and an Error for truncation, oversize, a non-object or invalid
// JSON, or descriptors cut off (more than k_max_fds). Received descriptors are O_CLOEXEC.
// After an Error the stream is out of step (close the connection), unless in_step() says
// the frame was whole and only its body was not a JSON object (ErrorKind::malformed).
[[nodiscard]] Result<Message> receive_message(int socket);

// Returns true when `error`, from receive_message(), is the clean EOF before a message.
[[nodiscard]] bool connection_closed(const Error& error);

// Returns true when `error`, from receive_message(), left the stream in step: a whole frame
// whose body is not a JSON object (kind malformed, code EBADMSG). The next message can be
// read.
[[nodiscard]] bool in_step(const Error& error);

}  // namespace planificador::sandbox
