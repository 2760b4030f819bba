#pragma once
// Byte codec of SPEC §2. Decoding checks every length against the frame size before it
// reads or allocates, and never throws on bad input: it returns a DecodeError.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "planificador/protocol/messages.hpp"

namespace planificador::protocol {

enum class DecodeErrorKind {
  too_short,          // shorter than type byte + task id, or than its fixed header
  unknown_type,       // type byte not valid on this socket direction
  length_mismatch,    // declared lengths do not add up to the frame size
  bad_cancel_length,  // CANCEL not exactly 33 bytes
  empty_image,
  image_too_long,    // image_len > 255
  code_too_long,     // code_len > DecodeLimits::max_code_bytes
  options_too_long,  // options_len > DecodeLimits::max_options_bytes
  options_invalid,   // options is not a UTF-8 JSON object
};

// Returns a stable snake_case name of the kind ("length_mismatch").
[[nodiscard]] std::string_view to_string(DecodeErrorKind kind);

struct DecodeError {
  DecodeErrorKind kind;
  std::string message;  // human-readable, names the field and the numbers
  // The task id when the frame is a SUBMIT/SUBMIT_EXT at least 33 bytes long: such a
  // task must still be answered (APPEND_ERR diagnostic + EXITED 125). nullopt otherwise.
  std::optional<TaskId> task_id;
};

struct DecodeLimits {
  std::size_t max_image_bytes = 255;
  std::size_t max_code_bytes = std::size_t{1} << 20;
  std::size_t max_options_bytes = std::size_t{4} << 20;
};

// Decodes one executor-bound frame (intake or control). Returns SUBMIT, SUBMIT_EXT or
// CANCEL, or a DecodeError naming what is wrong.
[[nodiscard]] tl::expected<Inbound, DecodeError> decode_inbound(std::string_view frame,
                                                                const DecodeLimits& limits = {});

// Decodes one client-bound frame (events). For clients and tests.
[[nodiscard]] tl::expected<Outbound, DecodeError> decode_outbound(std::string_view frame);

// Returns the wire bytes of a message: SUBMIT_EXT when Submit::options is set, SUBMIT
// otherwise. Precondition: every variable-length field is shorter than 4 GiB (u32 lengths).
[[nodiscard]] std::string encode(const Submit& message);
[[nodiscard]] std::string encode(const Cancel& message);
[[nodiscard]] std::string encode(const Append& message);
[[nodiscard]] std::string encode(const Exited& message);
[[nodiscard]] std::string encode(const Report& message);
[[nodiscard]] std::string encode(const Inbound& message);
[[nodiscard]] std::string encode(const Outbound& message);

// Returns up to `max_bytes` of `frame` as spaced hex ("00 30 31"), followed by " ..." when
// the frame is longer, for log lines.
[[nodiscard]] std::string hex_prefix(std::string_view frame, std::size_t max_bytes = 16);

}  // namespace planificador::protocol
