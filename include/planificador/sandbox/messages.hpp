#pragma once
// The typed messages of the conversations wire.hpp frames, encoded and decoded here only:
// nothing else builds or reads their JSON.
//
// Daemon ↔ helper (planificador-sandboxd, PID 1 of a task container), one connection at a
// time, one task at a time on it:
//   PrepareRequest  {"op":"prepare","files":[{"path":"main.py","data":"<base64>","mode":493}]}
//                   → Reply {"ok":true} | {"ok":false,"error":"file `../x`: path escapes …"}
//   ExecRequest     {"op":"exec","argv":[…],"env":["K=V",…],"rlimit_cpu_s":N,"files":[…]}
//                   + descriptors [stdin, stdout, stderr]
//                   → Started {"event":"started","pid":N}, then
//                     Exited  {"event":"exited","wait_status":S}
//                          or {"event":"exited","error":"…"} (may come without Started)
//                          or {"event":"exited","error":"file `../x`: …","rejected":true}
//   KillRequest     {"op":"kill"}: no reply of its own; the running program's Exited follows
//   ResetRequest    {"op":"reset","isolation":"strict"|"fast"} → Reply {"ok":true,"clean":true}
//                   | {"ok":false,"error":"…"}; a running program's Exited comes first
// A body that is not a JSON object, a message with an unknown or missing op, or one whose
// fields do not decode is answered Reply {"ok":false,"error":"…"} (an exec: Exited with
// the error, since the daemon waits for that) and the connection goes on. An exec while a
// program runs is answered {"ok":false,…} and the helper closes the connection.
//
// Helper ↔ zygote (PID 1 of the sandbox), and zygote → task init:
//   zygote → Ready {"event":"ready"} once, when it listens
//   helper → ProgramExec {"op":"exec","argv":[…],"env":[…],"rlimit_cpu_s":N} + [in, out, err]
//            ("env" the program's whole environment); the zygote hands the same message to
//            the task init that runs the program
//   zygote → Started, then Exited (after every other process of the sandbox is gone)
//   helper → CleanRequest {"op":"clean"} → Reply {"ok":true} | {"ok":false,"error":"…"}
// The zygote answers a message it cannot decode with Reply {"ok":false,…} (an exec: Exited)
// and goes on; the task init ends a program it cannot decode with status 125 and says why
// on the program's stderr.
//
// Decoding, for every message:
//   - a field that is present must have its type, or the message is refused, naming it;
//   - optional fields take the defaults given below when absent;
//   - fields a decoder does not know are ignored (a newer peer may add optional ones);
//   - an exec (either link) carries exactly 3 descriptors; other messages carry none, and
//     any attached are ignored (they close with the Message).
// No decoder throws; encode() never fails (invalid UTF-8 is replaced when sent).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "planificador/sandbox/wire.hpp"
#include "planificador/util/result.hpp"

namespace planificador::sandbox {

inline constexpr unsigned k_default_file_mode = 0644;
inline constexpr unsigned k_max_file_mode = 0777;
inline constexpr std::size_t k_exec_fds = 3;  // stdin, stdout, stderr

// A file to create in the work directory: {"path":P,"data":base64,"mode":M}.
struct File {
  std::string path;                     // relative to the work directory (checked on write)
  std::string content;                  // the bytes; "data" on the wire, base64
  unsigned mode = k_default_file_mode;  // permission bits only; optional on the wire
  friend bool operator==(const File&, const File&) = default;
};

enum class Isolation { strict, fast };

// Daemon → helper.
struct PrepareRequest {
  std::vector<File> files;  // required, possibly empty
  friend bool operator==(const PrepareRequest&, const PrepareRequest&) = default;
};
struct ExecRequest {
  std::vector<std::string> argv;              // required, argv[0] non-empty
  std::vector<std::string> env;               // optional; "KEY=VALUE"
  std::optional<std::uint64_t> rlimit_cpu_s;  // optional; positive
  std::vector<File> files;  // optional; written before the program starts (not sent if empty)
  friend bool operator==(const ExecRequest&, const ExecRequest&) = default;
};
struct KillRequest {
  friend bool operator==(const KillRequest&, const KillRequest&) = default;
};
struct ResetRequest {
  Isolation isolation = Isolation::strict;  // optional
  friend bool operator==(const ResetRequest&, const ResetRequest&) = default;
};
using Request = std::variant<PrepareRequest, ExecRequest, KillRequest, ResetRequest>;

// Helper → daemon, zygote → helper.
struct Reply {
  bool ok = true;      // required
  bool clean = false;  // optional; a reset's success says true
  std::string error;   // optional; why not ok (sent only then)
  friend bool operator==(const Reply&, const Reply&) = default;
};
struct Ready {
  friend bool operator==(const Ready&, const Ready&) = default;
};
struct Started {
  int pid = 0;  // required; the program as the sandbox sees it
  friend bool operator==(const Started&, const Started&) = default;
};
struct Exited {
  std::optional<int> wait_status;  // the program's raw wait status (waitpid()'s)
  std::string error;               // without a status: why (one of the two is required)
  bool rejected = false;           // optional; a file of the exec was refused, nothing ran
  friend bool operator==(const Exited&, const Exited&) = default;
};
using Answer = std::variant<Reply, Ready, Started, Exited>;

// Helper → zygote → task init.
struct ProgramExec {
  std::vector<std::string> argv;              // required, argv[0] non-empty
  std::vector<std::string> env;               // required: the whole environment
  std::optional<std::uint64_t> rlimit_cpu_s;  // optional; positive
  friend bool operator==(const ProgramExec&, const ProgramExec&) = default;
};
struct CleanRequest {
  friend bool operator==(const CleanRequest&, const CleanRequest&) = default;
};
using ZygoteRequest = std::variant<ProgramExec, CleanRequest>;

// Returns the JSON body of a message.
[[nodiscard]] nlohmann::json encode(const PrepareRequest& message);
[[nodiscard]] nlohmann::json encode(const ExecRequest& message);
[[nodiscard]] nlohmann::json encode(const KillRequest& message);
[[nodiscard]] nlohmann::json encode(const ResetRequest& message);
[[nodiscard]] nlohmann::json encode(const Reply& message);
[[nodiscard]] nlohmann::json encode(const Ready& message);
[[nodiscard]] nlohmann::json encode(const Started& message);
[[nodiscard]] nlohmann::json encode(const Exited& message);
[[nodiscard]] nlohmann::json encode(const ProgramExec& message);
[[nodiscard]] nlohmann::json encode(const CleanRequest& message);

// Returns the message of type T `message` holds (its op or event must be T's), or an Error
// naming the message and the field that is missing or of the wrong type. Defined for
// every message type above.
template <class T>
[[nodiscard]] Result<T> decode(const Message& message);
// The specialisations messages.cpp defines, declared for every caller.
template <>
[[nodiscard]] Result<PrepareRequest> decode<PrepareRequest>(const Message& message);
template <>
[[nodiscard]] Result<ExecRequest> decode<ExecRequest>(const Message& message);
template <>
[[nodiscard]] Result<KillRequest> decode<KillRequest>(const Message& message);
template <>
[[nodiscard]] Result<ResetRequest> decode<ResetRequest>(const Message& message);
template <>
[[nodiscard]] Result<Reply> decode<Reply>(const Message& message);
template <>
[[nodiscard]] Result<Ready> decode<Ready>(const Message& message);
template <>
[[nodiscard]] Result<Started> decode<Started>(const Message& message);
template <>
[[nodiscard]] Result<Exited> decode<Exited>(const Message& message);
template <>
[[nodiscard]] Result<ProgramExec> decode<ProgramExec>(const Message& message);
template <>
[[nodiscard]] Result<CleanRequest> decode<CleanRequest>(const Message& message);

// Returns the daemon's request `message` holds, or an Error ("message without an `op`",
// "unknown op `x`", or decode()'s).
[[nodiscard]] Result<Request> decode_request(const Message& message);
// Returns the answer `message` holds: an event ("event") or a Reply ("ok"), or an Error.
[[nodiscard]] Result<Answer> decode_answer(const Message& message);
// Returns the helper's request to the zygote `message` holds, or an Error.
[[nodiscard]] Result<ZygoteRequest> decode_zygote_request(const Message& message);

// Returns true when `message` names the op "exec", well-formed or not: its sender waits
// for an Exited whatever was wrong with it.
[[nodiscard]] bool is_exec(const Message& message);

// Returns `message`'s body as text for a log line or a diagnostic (never throws).
[[nodiscard]] std::string describe(const Message& message);

// Sends `message` with `fds` attached (an exec's three), as send_message() does.
template <class T>
[[nodiscard]] Result<void> send(int socket, const T& message, std::span<const int> fds = {}) {
  return send_message(socket, encode(message), fds);
}

}  // namespace planificador::sandbox
