// Decoding of SPEC §2 frames. Every length read from the wire is widened to 64 bits and
// compared with the frame size before anything is copied, so a hostile length can neither
// wrap around nor make us allocate more than the frame itself holds.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/runners.hpp"

namespace planificador::protocol {
namespace {

constexpr std::size_t k_id_end = 1 + k_task_id_size;        // type byte + task id: 33
constexpr std::size_t k_submit_header = k_id_end + 8;       // + image_len + code_len: 41
constexpr std::size_t k_submit_ext_header = k_id_end + 12;  // + options_len: 45
constexpr std::size_t k_sized_header = k_id_end + 4;        // APPEND_*, REPORT: 37
constexpr std::size_t k_exited_size = k_id_end + 4;         // 37

using Unexpected = tl::unexpected<DecodeError>;

Unexpected error(DecodeErrorKind kind, std::string message,
                 std::optional<TaskId> id = std::nullopt) {
  return Unexpected(DecodeError{kind, std::move(message), id});
}

// Callers have checked that frame.size() >= offset + 4.
std::uint64_t read_u32(std::string_view frame, std::size_t offset) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = value << 8U | static_cast<unsigned char>(frame[offset + i]);
  }
  return value;
}

// Callers have checked that frame.size() >= k_id_end.
TaskId read_id(std::string_view frame) {
  return *TaskId::from_bytes(frame.substr(1, k_task_id_size));
}

std::string type_hex(std::string_view frame) { return hex_prefix(frame.substr(0, 1), 1); }

std::string bytes(std::uint64_t n) { return std::to_string(n) + " bytes"; }

// The full parse is parse_options()'s job; here only the shape is checked, without
// building a document: valid JSON (which includes valid UTF-8 in strings, see the
// nlohmann lexer) whose first token opens an object.
bool is_json_object(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\n\r");
  if (first == std::string_view::npos || text[first] != '{') {
    return false;
  }
  try {
    return nlohmann::json::accept(text.begin(), text.end());
  } catch (const std::exception&) {
    return false;
  }
}

// Returns the first limit that the declared lengths of a SUBMIT break, if any.
std::optional<std::pair<DecodeErrorKind, std::string>> check_limits(std::uint64_t image_len,
                                                                    std::uint64_t code_len,
                                                                    std::uint64_t options_len,
                                                                    const DecodeLimits& limits) {
  if (image_len == 0) {
    return std::pair{DecodeErrorKind::empty_image, std::string("the image field is empty")};
  }
  if (image_len > limits.max_image_bytes) {
    return std::pair{DecodeErrorKind::image_too_long, "image of " + bytes(image_len) +
                                                          " exceeds the maximum of " +
                                                          bytes(limits.max_image_bytes)};
  }
  if (code_len > limits.max_code_bytes) {
    return std::pair{
        DecodeErrorKind::code_too_long,
        "code of " + bytes(code_len) + " exceeds the maximum of " + bytes(limits.max_code_bytes)};
  }
  if (options_len > limits.max_options_bytes) {
    return std::pair{DecodeErrorKind::options_too_long, "options of " + bytes(options_len) +
                                                            " exceed the maximum of " +
                                                            bytes(limits.max_options_bytes)};
  }
  return std::nullopt;
}

tl::expected<Inbound, DecodeError> decode_submit(std::string_view frame, bool ext,
                                                 const DecodeLimits& limits) {
  const TaskId id = read_id(frame);
  const std::string name = ext ? "SUBMIT_EXT" : "SUBMIT";
  const std::size_t header = ext ? k_submit_ext_header : k_submit_header;
  if (frame.size() < header) {
    return error(DecodeErrorKind::too_short,
                 name + " of " + bytes(frame.size()) + " is shorter than its " +
                     std::to_string(header) + "-byte header",
                 id);
  }
  const std::uint64_t image_len = read_u32(frame, k_id_end);
  const std::uint64_t code_len = read_u32(frame, k_id_end + 4);
  const std::uint64_t options_len = ext ? read_u32(frame, k_id_end + 8) : 0;
  const std::uint64_t expected = header + image_len + code_len + options_len;
  if (expected != frame.size()) {
    return error(DecodeErrorKind::length_mismatch,
                 name + " declares image_len " + std::to_string(image_len) + ", code_len " +
                     std::to_string(code_len) +
                     (ext ? ", options_len " + std::to_string(options_len) : std::string()) + " (" +
                     bytes(expected) + " in all) but the frame is " + bytes(frame.size()),
                 id);
  }
  if (auto broken = check_limits(image_len, code_len, options_len, limits)) {
    return error(broken->first, name + ": " + broken->second, id);
  }
  // All lengths are now known to fit inside the frame.
  const auto image_size = static_cast<std::size_t>(image_len);
  const auto code_size = static_cast<std::size_t>(code_len);
  Submit submit{id, std::string(frame.substr(header, image_size)),
                std::string(frame.substr(header + image_size, code_size)), std::nullopt};
  if (ext) {
    const std::string_view options = frame.substr(header + image_size + code_size);
    if (!is_json_object(options)) {
      return error(DecodeErrorKind::options_invalid, name + ": options are not a UTF-8 JSON object",
                   id);
    }
    submit.options = std::string(options);
  }
  return submit;
}

tl::expected<Outbound, DecodeError> decode_sized(std::string_view frame, std::string_view name,
                                                 MessageType type) {
  if (frame.size() < k_sized_header) {
    return error(DecodeErrorKind::too_short, std::string(name) + " of " + bytes(frame.size()) +
                                                 " is shorter than its 37-byte header");
  }
  const std::uint64_t length = read_u32(frame, k_id_end);
  if (k_sized_header + length != frame.size()) {
    return error(DecodeErrorKind::length_mismatch, std::string(name) + " declares " +
                                                       bytes(length) + " of payload but carries " +
                                                       bytes(frame.size() - k_sized_header));
  }
  const TaskId id = read_id(frame);
  std::string payload(frame.substr(k_sized_header));
  if (type == MessageType::submit_ext_or_report) {
    return Report{id, std::move(payload)};
  }
  const Stream stream = type == MessageType::append_out ? Stream::out : Stream::err;
  return Append{id, stream, std::move(payload)};
}

}  // namespace

std::string_view to_string(DecodeErrorKind kind) {
  switch (kind) {
    case DecodeErrorKind::too_short:
      return "too_short";
    case DecodeErrorKind::unknown_type:
      return "unknown_type";
    case DecodeErrorKind::length_mismatch:
      return "length_mismatch";
    case DecodeErrorKind::bad_cancel_length:
      return "bad_cancel_length";
    case DecodeErrorKind::empty_image:
      return "empty_image";
    case DecodeErrorKind::image_too_long:
      return "image_too_long";
    case DecodeErrorKind::code_too_long:
      return "code_too_long";
    case DecodeErrorKind::options_too_long:
      return "options_too_long";
    case DecodeErrorKind::options_invalid:
      return "options_invalid";
  }
  return "unknown";
}

std::optional<TaskId> decode_runners_request(std::string_view frame) {
  if (frame.size() != k_id_end || static_cast<unsigned char>(frame[0]) != k_runners_type) {
    return std::nullopt;
  }
  return read_id(frame);
}

std::optional<std::pair<TaskId, std::string>> decode_runners_answer(std::string_view frame) {
  if (frame.size() < k_id_end + 4 || static_cast<unsigned char>(frame[0]) != k_runners_type ||
      read_u32(frame, k_id_end) != frame.size() - k_id_end - 4) {
    return std::nullopt;
  }
  return std::pair{read_id(frame), std::string(frame.substr(k_id_end + 4))};
}

tl::expected<Inbound, DecodeError> decode_inbound(std::string_view frame,
                                                  const DecodeLimits& limits) {
  if (frame.size() < k_id_end) {
    return error(DecodeErrorKind::too_short,
                 "frame of " + bytes(frame.size()) + " is shorter than type byte + task id");
  }
  switch (static_cast<MessageType>(static_cast<unsigned char>(frame[0]))) {
    case MessageType::submit:
      return decode_submit(frame, false, limits);
    case MessageType::submit_ext_or_report:
      return decode_submit(frame, true, limits);
    case MessageType::cancel_or_append_err:
      if (frame.size() != k_id_end) {
        return error(DecodeErrorKind::bad_cancel_length,
                     "CANCEL of " + bytes(frame.size()) + ", expected exactly 33");
      }
      return Cancel{read_id(frame)};
    case MessageType::append_out:
    case MessageType::exited:
      break;
  }
  return error(DecodeErrorKind::unknown_type,
               "unknown executor-bound message type 0x" + type_hex(frame));
}

tl::expected<Outbound, DecodeError> decode_outbound(std::string_view frame) {
  if (frame.size() < k_id_end) {
    return error(DecodeErrorKind::too_short,
                 "frame of " + bytes(frame.size()) + " is shorter than type byte + task id");
  }
  const auto type = static_cast<MessageType>(static_cast<unsigned char>(frame[0]));
  switch (type) {
    case MessageType::append_out:
      return decode_sized(frame, "APPEND_OUT", type);
    case MessageType::cancel_or_append_err:
      return decode_sized(frame, "APPEND_ERR", type);
    case MessageType::submit_ext_or_report:
      return decode_sized(frame, "REPORT", type);
    case MessageType::exited: {
      if (frame.size() != k_exited_size) {
        return error(frame.size() < k_exited_size ? DecodeErrorKind::too_short
                                                  : DecodeErrorKind::length_mismatch,
                     "EXITED of " + bytes(frame.size()) + ", expected exactly 37");
      }
      const auto code = static_cast<std::uint32_t>(read_u32(frame, k_id_end));
      // Two's complement on the wire (SPEC §1); C++20 defines this conversion modulo 2^32.
      return Exited{read_id(frame), static_cast<std::int32_t>(code)};
    }
    case MessageType::submit:
      break;
  }
  return error(DecodeErrorKind::unknown_type,
               "unknown client-bound message type 0x" + type_hex(frame));
}

}  // namespace planificador::protocol
