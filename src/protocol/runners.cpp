#include "planificador/protocol/runners.hpp"

namespace planificador::protocol {
namespace {

constexpr std::size_t k_request_size = 1 + k_task_id_size;
constexpr std::size_t k_answer_header = k_request_size + 4;

bool is_runners(std::string_view frame) {
  return !frame.empty() && static_cast<unsigned char>(frame[0]) == k_runners_type;
}

}  // namespace

std::string encode_runners_request(const TaskId& id) {
  std::string frame(1, static_cast<char>(k_runners_type));
  frame.append(id.bytes.begin(), id.bytes.end());
  return frame;
}

std::optional<TaskId> decode_runners_request(std::string_view frame) {
  if (!is_runners(frame) || frame.size() != k_request_size) {
    return std::nullopt;
  }
  return TaskId::from_bytes(frame.substr(1));
}

std::string encode_runners_answer(const TaskId& id, std::string_view json) {
  std::string frame = encode_runners_request(id);
  const auto length = static_cast<std::uint32_t>(json.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    frame += static_cast<char>((length >> static_cast<unsigned>(shift)) & 0xFFU);
  }
  frame.append(json);
  return frame;
}

std::optional<std::pair<TaskId, std::string>> decode_runners_answer(std::string_view frame) {
  if (!is_runners(frame) || frame.size() < k_answer_header) {
    return std::nullopt;
  }
  std::uint32_t length = 0;
  for (std::size_t i = k_request_size; i < k_answer_header; ++i) {
    length = (length << 8U) | static_cast<unsigned char>(frame[i]);
  }
  if (frame.size() - k_answer_header != length) {
    return std::nullopt;
  }
  auto id = TaskId::from_bytes(frame.substr(1, k_task_id_size));
  if (!id) {
    return std::nullopt;
  }
  return std::pair{*id, std::string(frame.substr(k_answer_header))};
}

}  // namespace planificador::protocol
