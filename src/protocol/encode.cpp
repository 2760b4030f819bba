#include <cstdint>
#include <string>
#include <variant>

#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/runners.hpp"

namespace planificador::protocol {
namespace {

void put_u32(std::string& out, std::uint32_t value) {
  out += static_cast<char>((value >> 24U) & 0xffU);
  out += static_cast<char>((value >> 16U) & 0xffU);
  out += static_cast<char>((value >> 8U) & 0xffU);
  out += static_cast<char>(value & 0xffU);
}

// Field sizes beyond u32 cannot be expressed on the wire; the contract in codec.hpp makes
// that the caller's precondition.
void put_length(std::string& out, std::string_view field) {
  put_u32(out, static_cast<std::uint32_t>(field.size()));
}

std::string start(MessageType type, const TaskId& id, std::size_t rest) {
  std::string out;
  out.reserve(1 + k_task_id_size + rest);
  out += static_cast<char>(type);
  out.append(id.bytes.begin(), id.bytes.end());
  return out;
}

std::string encode_sized(MessageType type, const TaskId& id, std::string_view payload) {
  std::string out = start(type, id, 4 + payload.size());
  put_length(out, payload);
  out += payload;
  return out;
}

}  // namespace

std::string encode_runners_request(const TaskId& id) {
  return start(static_cast<MessageType>(k_runners_type), id, 0);
}

std::string encode_runners_answer(const TaskId& id, std::string_view json) {
  return encode_sized(static_cast<MessageType>(k_runners_type), id, json);
}

std::string encode(const Submit& message) {
  const bool ext = message.options.has_value();
  const std::string_view options = ext ? std::string_view(*message.options) : std::string_view();
  std::string out = start(ext ? MessageType::submit_ext_or_report : MessageType::submit, message.id,
                          12 + message.image.size() + message.code.size() + options.size());
  put_length(out, message.image);
  put_length(out, message.code);
  if (ext) {
    put_length(out, options);
  }
  out += message.image;
  out += message.code;
  out += options;
  return out;
}

std::string encode(const Cancel& message) {
  return start(MessageType::cancel_or_append_err, message.id, 0);
}

std::string encode(const Append& message) {
  const MessageType type =
      message.stream == Stream::out ? MessageType::append_out : MessageType::cancel_or_append_err;
  return encode_sized(type, message.id, message.text);
}

std::string encode(const Exited& message) {
  std::string out = start(MessageType::exited, message.id, 4);
  // Two's complement on the wire (SPEC §1); C++20 defines this conversion modulo 2^32.
  put_u32(out, static_cast<std::uint32_t>(message.exit_code));
  return out;
}

std::string encode(const Report& message) {
  return encode_sized(MessageType::submit_ext_or_report, message.id, message.json);
}

std::string encode(const Inbound& message) {
  return std::visit([](const auto& alternative) { return encode(alternative); }, message);
}

std::string encode(const Outbound& message) {
  return std::visit([](const auto& alternative) { return encode(alternative); }, message);
}

std::string hex_prefix(std::string_view frame, std::size_t max_bytes) {
  constexpr std::string_view k_digits = "0123456789abcdef";
  const std::string_view shown = frame.substr(0, max_bytes);
  std::string out;
  out.reserve(shown.size() * 3 + 4);
  for (const char c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (!out.empty()) {
      out += ' ';
    }
    out += k_digits[byte >> 4U];
    out += k_digits[byte & 0xfU];
  }
  if (frame.size() > shown.size()) {
    out += out.empty() ? "..." : " ...";
  }
  return out;
}

}  // namespace planificador::protocol
