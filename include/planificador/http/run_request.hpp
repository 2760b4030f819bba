#pragma once
// The JSON of the HTTP API's task path (docs/http.md), as pure functions: POST /v1/run's
// body in, the JSON answer and the server-sent events out. No I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "planificador/config/config.hpp"
#include "planificador/protocol/messages.hpp"

namespace planificador::http {

// Why a request is refused before it reaches the scheduler: its HTTP status and the
// message of its {"error": …} body.
struct Refusal {
  int status = 400;
  std::string message;
};

// POST /v1/run's body, checked for shape: the SUBMIT_EXT it becomes.
struct RunRequest {
  std::optional<protocol::TaskId> id;  // the client's own id, if it named one
  std::string image;
  std::string code;
  std::string options_json;  // every other key, as SUBMIT_EXT's options object
};

// Parses a POST /v1/run body. Refuses (400) what is not a JSON object, a missing or
// non-string image, neither or both of code and code_base64, bad base64, an id that is
// not 32 printable characters; (413) code over `max_code_bytes`. The options are passed
// on as they are: admission checks them as it checks a SUBMIT_EXT's.
[[nodiscard]] tl::expected<RunRequest, Refusal> parse_run_request(std::string_view body,
                                                                  std::size_t max_code_bytes);

// Returns the id `text` names: 32 printable ASCII characters but space, or 64 hex digits.
[[nodiscard]] std::optional<protocol::TaskId> parse_task_id(std::string_view text);

// Returns true when `bytes` is well-formed UTF-8 (no overlong forms, no surrogates).
[[nodiscard]] bool is_utf8(std::string_view bytes);

// The JSON answer of a task that ended: id, exit_code, stdout/stderr (or *_base64 where
// the bytes are not UTF-8) and the REPORT's object (null when `report_json` is empty).
[[nodiscard]] std::string run_answer(const protocol::TaskId& id, std::int32_t exit_code,
                                     std::string_view out, std::string_view err,
                                     std::string_view report_json);

// Returns one server-sent event: "event: NAME\ndata: DATA\n\n" (DATA is one line of JSON).
[[nodiscard]] std::string sse_event(std::string_view name, std::string_view data);

// The data of an out/err event: {"text": …} when `chunk` is UTF-8, else {"base64": …}.
[[nodiscard]] std::string chunk_data(std::string_view chunk);

// {"error": message}.
[[nodiscard]] std::string error_body(std::string_view message);

// The runners of `config` as GET /v1/runners and RUNNERS answer them (docs/http.md).
[[nodiscard]] std::string runners_json(const config::Config& config);

// The id as a client names it: printable() (32 characters or 64 hex digits).
[[nodiscard]] std::string id_text(const protocol::TaskId& id);

}  // namespace planificador::http
