#include <algorithm>
#include <cstring>
#include <random>
#include <string_view>

#include "planificador/protocol/messages.hpp"

namespace planificador::protocol {

TaskId TaskId::random() {
  static constexpr std::string_view k_digits = "0123456789abcdef";
  thread_local std::mt19937_64 generator{std::random_device{}()};
  TaskId id;
  for (auto& byte : id.bytes) {
    byte = static_cast<unsigned char>(k_digits[generator() % k_digits.size()]);
  }
  return id;
}

std::string TaskId::hex() const {
  constexpr std::string_view k_digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char byte : bytes) {
    out += k_digits[byte >> 4U];
    out += k_digits[byte & 0xfU];
  }
  return out;
}

std::string TaskId::printable() const {
  // Space is excluded so that a printed id stays one token in a log line.
  const bool graphic =
      std::all_of(bytes.begin(), bytes.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
  if (!graphic) {
    return hex();
  }
  return {bytes.begin(), bytes.end()};
}

std::optional<TaskId> TaskId::from_bytes(std::string_view raw) {
  if (raw.size() != k_task_id_size) {
    return std::nullopt;
  }
  TaskId id;
  std::memcpy(id.bytes.data(), raw.data(), k_task_id_size);
  return id;
}

}  // namespace planificador::protocol
