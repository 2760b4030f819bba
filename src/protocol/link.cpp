// The worker link's own messages (docs/fleet.md §1). A Reader walks a frame field by field;
// every read checks what is left first, so a hostile length can neither wrap around nor
// make the decoder allocate more than the frame holds.

#include "planificador/protocol/link.hpp"

#include <utility>

namespace planificador::protocol::link {
namespace {

constexpr std::uint8_t k_held_extended = 0x01;
constexpr std::uint8_t k_held_started = 0x02;

class Reader {
 public:
  explicit Reader(std::string_view frame) : m_rest(frame.substr(1)) {}

  bool u8(std::uint8_t& value) { return number(1, value); }
  bool u16(std::uint16_t& value) { return number(2, value); }
  bool u32(std::uint32_t& value) { return number(4, value); }
  bool u64(std::uint64_t& value) { return number(8, value); }

  // A u16 length, then that many bytes.
  bool text(std::string& value) {
    std::uint16_t length = 0;
    if (!u16(length) || m_rest.size() < length) {
      return false;
    }
    value.assign(m_rest.substr(0, length));
    m_rest.remove_prefix(length);
    return true;
  }

  bool id(TaskId& value) {
    if (m_rest.size() < k_task_id_size) {
      return false;
    }
    value = *TaskId::from_bytes(m_rest.substr(0, k_task_id_size));
    m_rest.remove_prefix(k_task_id_size);
    return true;
  }

  [[nodiscard]] std::size_t left() const { return m_rest.size(); }
  [[nodiscard]] bool done() const { return m_rest.empty(); }

 private:
  template <class T>
  bool number(std::size_t size, T& value) {
    if (m_rest.size() < size) {
      return false;
    }
    std::uint64_t result = 0;
    for (std::size_t i = 0; i < size; ++i) {
      result = result << 8U | static_cast<unsigned char>(m_rest[i]);
    }
    value = static_cast<T>(result);
    m_rest.remove_prefix(size);
    return true;
  }

  std::string_view m_rest;
};

class Writer {
 public:
  explicit Writer(Type type) { m_bytes.push_back(static_cast<char>(type)); }

  Writer& u8(std::uint8_t value) { return number(1, value); }
  Writer& u16(std::uint16_t value) { return number(2, value); }
  Writer& u32(std::uint32_t value) { return number(4, value); }
  Writer& u64(std::uint64_t value) { return number(8, value); }
  Writer& text(std::string_view value) {
    u16(static_cast<std::uint16_t>(value.size()));
    m_bytes.append(value);
    return *this;
  }
  Writer& id(const TaskId& value) {
    m_bytes.append(reinterpret_cast<const char*>(value.bytes.data()), value.bytes.size());
    return *this;
  }
  std::string take() { return std::move(m_bytes); }

 private:
  Writer& number(std::size_t size, std::uint64_t value) {
    for (std::size_t i = size; i-- > 0;) {
      m_bytes.push_back(static_cast<char>((value >> (8 * i)) & 0xffU));
    }
    return *this;
  }

  std::string m_bytes;
};

tl::unexpected<Error> error(std::string message) {
  return fail(ErrorKind::malformed, std::move(message));
}

// The minimum bytes one held task takes (id and flags), to bound held_count by the frame.
constexpr std::size_t k_held_bytes = k_task_id_size + 1;
// A pattern takes at least its u16 length.
constexpr std::size_t k_pattern_min_bytes = 2;

Result<Ready> decode_ready(std::string_view frame) {
  Reader reader(frame);
  Ready ready;
  if (!reader.u8(ready.version) || !reader.u32(ready.slots) || !reader.u32(ready.free) ||
      !reader.u64(ready.epoch) || !reader.text(ready.name) || !reader.text(ready.build)) {
    return error("READY: header shorter than its fields");
  }
  if (ready.version != k_version) {
    return error("READY: link version " + std::to_string(ready.version) + ", expected " +
                 std::to_string(k_version));
  }
  std::uint16_t patterns = 0;
  if (!reader.u16(patterns) || reader.left() < std::size_t{patterns} * k_pattern_min_bytes) {
    return error("READY: pattern count beyond the frame");
  }
  ready.patterns.resize(patterns);
  for (auto& pattern : ready.patterns) {
    if (!reader.text(pattern)) {
      return error("READY: a pattern runs past the frame");
    }
  }
  std::uint32_t held = 0;
  if (!reader.u32(held) || reader.left() != std::size_t{held} * k_held_bytes) {
    return error("READY: held task count does not match the frame size");
  }
  ready.held.resize(held);
  for (auto& task : ready.held) {
    std::uint8_t flags = 0;
    (void)reader.id(task.id);
    (void)reader.u8(flags);
    if ((flags & ~(k_held_extended | k_held_started)) != 0) {
      return error("READY: unknown held task flags " + std::to_string(flags));
    }
    task.extended = (flags & k_held_extended) != 0;
    task.started = (flags & k_held_started) != 0;
  }
  return ready;
}

// A message that is its type byte and a task id, nothing more.
Result<TaskId> decode_id_only(std::string_view frame, const char* name) {
  Reader reader(frame);
  TaskId id;
  if (!reader.id(id) || !reader.done()) {
    return error(std::string(name) + ": expected " + std::to_string(1 + k_task_id_size) +
                 " bytes, got " + std::to_string(frame.size()));
  }
  return id;
}

// A message that is its type byte alone.
template <class Variant, class Message>
Result<Variant> bare(std::string_view frame, const char* name) {
  if (frame.size() != 1) {
    return error(std::string(name) + ": expected 1 byte, got " + std::to_string(frame.size()));
  }
  return Variant(Message{});
}

}  // namespace

Result<FromDaemon> decode_from_daemon(std::string_view frame) {
  if (frame.empty()) {
    return error("empty frame");
  }
  switch (static_cast<Type>(static_cast<unsigned char>(frame[0]))) {
    case Type::ready:
      return decode_ready(frame);
    case Type::heartbeat:
      return bare<FromDaemon, Heartbeat>(frame, "HEARTBEAT");
    case Type::started:
      return decode_id_only(frame, "STARTED").map([](TaskId id) {
        return FromDaemon(Started{id});
      });
    case Type::returned:
      return decode_id_only(frame, "RETURNED").map([](TaskId id) {
        return FromDaemon(Returned{id});
      });
    case Type::draining:
      return bare<FromDaemon, Draining>(frame, "DRAINING");
    case Type::bye:
      return bare<FromDaemon, Bye>(frame, "BYE");
    case Type::welcome:
    case Type::unknown:
      break;
  }
  return error("type " + std::to_string(static_cast<unsigned char>(frame[0])) +
               " is not a daemon's link message");
}

Result<FromBroker> decode_from_broker(std::string_view frame) {
  if (frame.empty()) {
    return error("empty frame");
  }
  Reader reader(frame);
  switch (static_cast<Type>(static_cast<unsigned char>(frame[0]))) {
    case Type::heartbeat:
      return bare<FromBroker, Heartbeat>(frame, "HEARTBEAT");
    case Type::welcome: {
      Welcome welcome;
      if (!reader.u8(welcome.version) || !reader.u64(welcome.epoch) ||
          !reader.u32(welcome.heartbeat_ms) || !reader.u32(welcome.heartbeat_misses) ||
          !reader.done()) {
        return error("WELCOME: expected 18 bytes, got " + std::to_string(frame.size()));
      }
      return welcome;
    }
    case Type::unknown: {
      Unknown unknown;
      if (!reader.u64(unknown.epoch) || !reader.done()) {
        return error("UNKNOWN: expected 9 bytes, got " + std::to_string(frame.size()));
      }
      return unknown;
    }
    case Type::ready:
    case Type::started:
    case Type::returned:
    case Type::draining:
    case Type::bye:
      break;
  }
  return error("type " + std::to_string(static_cast<unsigned char>(frame[0])) +
               " is not a broker's link message");
}

std::string encode(const Ready& message) {
  Writer writer(Type::ready);
  writer.u8(message.version).u32(message.slots).u32(message.free).u64(message.epoch);
  writer.text(message.name).text(message.build);
  writer.u16(static_cast<std::uint16_t>(message.patterns.size()));
  for (const auto& pattern : message.patterns) {
    writer.text(pattern);
  }
  writer.u32(static_cast<std::uint32_t>(message.held.size()));
  for (const auto& task : message.held) {
    writer.id(task.id).u8(static_cast<std::uint8_t>((task.extended ? k_held_extended : 0U) |
                                                    (task.started ? k_held_started : 0U)));
  }
  return writer.take();
}

std::string encode(const Heartbeat& /*message*/) { return Writer(Type::heartbeat).take(); }
std::string encode(const Started& message) { return Writer(Type::started).id(message.id).take(); }
std::string encode(const Returned& message) { return Writer(Type::returned).id(message.id).take(); }
std::string encode(const Draining& /*message*/) { return Writer(Type::draining).take(); }
std::string encode(const Bye& /*message*/) { return Writer(Type::bye).take(); }

std::string encode(const Welcome& message) {
  return Writer(Type::welcome)
      .u8(message.version)
      .u64(message.epoch)
      .u32(message.heartbeat_ms)
      .u32(message.heartbeat_misses)
      .take();
}

std::string encode(const Unknown& message) {
  return Writer(Type::unknown).u64(message.epoch).take();
}

std::string encode(const FromDaemon& message) {
  return std::visit([](const auto& value) { return encode(value); }, message);
}

std::string encode(const FromBroker& message) {
  return std::visit([](const auto& value) { return encode(value); }, message);
}

}  // namespace planificador::protocol::link
