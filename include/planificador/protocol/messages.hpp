#pragma once
// The messages of SPEC §2 as typed values. Pure data: no I/O, no allocation limits here
// (the codec in codec.hpp checks lengths before it builds any of these).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace planificador::protocol {

inline constexpr std::size_t k_task_id_size = 32;

// Opaque 32-byte task id (any bytes are valid).
struct TaskId {
  std::array<unsigned char, k_task_id_size> bytes{};

  // Returns the id as 64 lowercase hex characters (for logs and container labels).
  [[nodiscard]] std::string hex() const;
  // Returns the id as printable text: the bytes themselves when all are printable ASCII
  // other than space, hex() otherwise.
  [[nodiscard]] std::string printable() const;
  // Returns a new id of 32 random lowercase hex digits (printable() shows them as they are).
  [[nodiscard]] static TaskId random();
  // Returns an id from exactly 32 bytes, or nullopt when `raw` has another length.
  [[nodiscard]] static std::optional<TaskId> from_bytes(std::string_view raw);

  friend bool operator==(const TaskId&, const TaskId&) = default;
  // The NOLINT: clang-tidy 14 takes the literal 0 that a defaulted <=> compares orderings
  // with (a pointer in libstdc++) for a null pointer, llvm/llvm-project#53961.
  friend auto operator<=>(const TaskId&, const TaskId&) = default;  // NOLINT(modernize-use-nullptr)
};

enum class MessageType : std::uint8_t {
  submit = 0x00,
  append_out = 0x01,
  cancel_or_append_err = 0x02,  // CANCEL executor-bound, APPEND_ERR client-bound
  exited = 0x03,
  submit_ext_or_report = 0x10,  // SUBMIT_EXT executor-bound, REPORT client-bound
};

// SUBMIT (options empty) or SUBMIT_EXT (options holds the raw JSON text).
struct Submit {
  TaskId id;
  std::string image;
  std::string code;
  std::optional<std::string> options;  // present iff the message was SUBMIT_EXT

  friend bool operator==(const Submit&, const Submit&) = default;
};

struct Cancel {
  TaskId id;
  friend bool operator==(const Cancel&, const Cancel&) = default;
};

// A message on the intake or control socket.
using Inbound = std::variant<Submit, Cancel>;

enum class Stream : std::uint8_t { out = 1, err = 2 };

// APPEND_OUT / APPEND_ERR.
struct Append {
  TaskId id;
  Stream stream = Stream::out;
  std::string text;
  friend bool operator==(const Append&, const Append&) = default;
};

struct Exited {
  TaskId id;
  std::int32_t exit_code = 0;
  friend bool operator==(const Exited&, const Exited&) = default;
};

struct Report {
  TaskId id;
  std::string json;
  friend bool operator==(const Report&, const Report&) = default;
};

// A message on the events socket.
using Outbound = std::variant<Append, Exited, Report>;

}  // namespace planificador::protocol
