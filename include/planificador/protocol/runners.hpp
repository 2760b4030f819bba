#pragma once
// RUNNERS (docs/protocol.md): a client asks a daemon what it runs, over SPEC's sockets. The
// request goes to intake, the answer comes back on events, both of type 0x20, a type SPEC
// leaves unused in either direction:
//   executor-bound  20 · request id (32 bytes)                       exactly 33 bytes
//   client-bound    20 · request id (32 bytes) · u32 length · JSON   the GET /v1/runners body

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "planificador/protocol/messages.hpp"

namespace planificador::protocol {

inline constexpr unsigned char k_runners_type = 0x20;

[[nodiscard]] std::string encode_runners_request(const TaskId& id);
// Returns the request's id when `frame` is a RUNNERS request, else nullopt.
[[nodiscard]] std::optional<TaskId> decode_runners_request(std::string_view frame);

[[nodiscard]] std::string encode_runners_answer(const TaskId& id, std::string_view json);
// Returns the id and JSON of a RUNNERS answer, or nullopt when `frame` is not one (another
// type, or a length that does not match the frame).
[[nodiscard]] std::optional<std::pair<TaskId, std::string>> decode_runners_answer(
    std::string_view frame);

}  // namespace planificador::protocol
