#pragma once
// Byte codec of the worker link between a daemon and the fleet's broker (docs/fleet.md §1).
// Task messages cross the link in SPEC §2's bytes (codec.hpp); this codec covers the link's
// own messages, type bytes 0x40–0x4f. Decoding checks every length against the frame size
// before it reads or allocates, and never throws.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <tl/expected.hpp>

#include "planificador/protocol/messages.hpp"
#include "planificador/util/result.hpp"

namespace planificador::protocol::link {

inline constexpr std::uint8_t k_version = 1;

enum class Type : std::uint8_t {
  ready = 0x40,
  heartbeat = 0x41,
  started = 0x42,
  returned = 0x43,
  draining = 0x44,
  bye = 0x45,
  welcome = 0x48,
  unknown = 0x49,
};

// Returns true when `type` is one of the link's own type bytes (0x40–0x4f).
[[nodiscard]] constexpr bool is_link_type(unsigned char type) { return (type & 0xf0U) == 0x40U; }

// A task a daemon still holds, as READY lists it.
struct HeldTask {
  TaskId id;
  bool extended = false;  // SUBMIT_EXT: it is answered with REPORT
  bool started = false;
  friend bool operator==(const HeldTask&, const HeldTask&) = default;
};

struct Ready {
  std::uint8_t version = k_version;
  std::uint32_t slots = 0;
  std::uint32_t free = 0;
  std::uint64_t epoch = 0;  // of the broker that last welcomed the daemon; 0: none
  std::string name;         // at most 65535 bytes, as every string below
  std::string build;
  std::vector<std::string> patterns;
  std::vector<HeldTask> held;
  friend bool operator==(const Ready&, const Ready&) = default;
};

struct Heartbeat {
  friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};
struct Started {
  TaskId id;
  friend bool operator==(const Started&, const Started&) = default;
};
struct Returned {
  TaskId id;
  friend bool operator==(const Returned&, const Returned&) = default;
};
struct Draining {
  friend bool operator==(const Draining&, const Draining&) = default;
};
struct Bye {
  friend bool operator==(const Bye&, const Bye&) = default;
};
struct Welcome {
  std::uint8_t version = k_version;
  std::uint64_t epoch = 0;
  std::uint32_t heartbeat_ms = 1000;
  std::uint32_t heartbeat_misses = 3;
  friend bool operator==(const Welcome&, const Welcome&) = default;
};
struct Unknown {
  std::uint64_t epoch = 0;
  friend bool operator==(const Unknown&, const Unknown&) = default;
};

// The link messages a daemon sends, and those a broker sends.
using FromDaemon = std::variant<Ready, Heartbeat, Started, Returned, Draining, Bye>;
using FromBroker = std::variant<Heartbeat, Welcome, Unknown>;

// Decodes one link frame a daemon sent (its type byte is a link type). Returns the message,
// or an Error of kind malformed naming the field that does not fit.
[[nodiscard]] Result<FromDaemon> decode_from_daemon(std::string_view frame);
// Decodes one link frame a broker sent.
[[nodiscard]] Result<FromBroker> decode_from_broker(std::string_view frame);

// Returns the wire bytes of a link message. Precondition for Ready: every string shorter
// than 64 KiB, fewer than 65536 patterns.
[[nodiscard]] std::string encode(const Ready& message);
[[nodiscard]] std::string encode(const Heartbeat& message);
[[nodiscard]] std::string encode(const Started& message);
[[nodiscard]] std::string encode(const Returned& message);
[[nodiscard]] std::string encode(const Draining& message);
[[nodiscard]] std::string encode(const Bye& message);
[[nodiscard]] std::string encode(const Welcome& message);
[[nodiscard]] std::string encode(const Unknown& message);
[[nodiscard]] std::string encode(const FromDaemon& message);
[[nodiscard]] std::string encode(const FromBroker& message);

}  // namespace planificador::protocol::link
