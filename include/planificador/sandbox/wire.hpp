#pragma once
// The conversation between the daemon and planificador-sandboxd, the helper that runs as
// PID 1 in every task container. Unix SOCK_STREAM; each message is a u32 big-endian
// length followed by that many bytes of a JSON object. Up to k_max_fds descriptors may
// ride (SCM_RIGHTS) on the length prefix of a message.
//
// One connection serves one task:
//   daemon → {"op":"prepare","files":[{"path":"main.py","data":"<base64>"}]}
//   helper → {"ok":true} | {"ok":false,"error":"..."}
//   daemon → {"op":"exec","argv":[...],"env":["K=V",...],"rlimit_cpu_s":N}
//            + fds [stdin, stdout, stderr]
//   helper → {"event":"started","pid":N}
//            ... {"event":"exited","wait_status":S}      (S: the program's raw wait status)
//            or  {"event":"exited","error":"..."}         (the sandbox could not start it)
//   daemon → {"op":"kill"}   at any time: the running program's whole tree is killed and
//                            its "exited" event follows
//   (exec may come again: compile, then run, in the same work directory)
//   daemon → {"op":"reset"}  → helper kills every process of the task, wipes the work
//                              directory, /tmp, /var/tmp and /dev/shm, answers
//                              {"ok":true,"clean":true} or {"ok":false,"error":"..."}
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
inline constexpr const char* k_socket_dir = "/planificador/run";       // bind-mounted rw
inline constexpr const char* k_socket_name = "sandboxd.sock";
inline constexpr const char* k_sandbox_root = "/sandbox";  // size-limited tmpfs

struct Message {
  nlohmann::json body;
  std::vector<os::Fd> fds;
};

// Sends one message, with `fds` (at most k_max_fds) attached. Retries EINTR and short
// writes; blocks until all is written.
[[nodiscard]] Result<void> send_message(int socket, const nlohmann::json& body,
                                        std::span<const int> fds = {});

// Receives one message. Returns an Error with code 0 and message "connection closed" on a
// clean EOF before any byte, and an Error for truncation, oversize or invalid JSON.
[[nodiscard]] Result<Message> receive_message(int socket);

}  // namespace planificador::sandbox
