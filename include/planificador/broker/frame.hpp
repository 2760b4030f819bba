#pragma once
// Frame: the bytes of one message, owned and moved, never copied on the way through the
// broker. Its storage is a ZeroMQ message (zmq_msg_t), so a frame read from one socket is
// sent on another without a copy, and share() hands the same bytes to a second owner by
// reference count. The state machine sees only bytes; no socket or context is involved.

#include <cstddef>
#include <string_view>

namespace planificador::broker {

class Frame {
 public:
  // An empty frame.
  Frame() noexcept;
  // A frame holding a copy of `bytes`.
  explicit Frame(std::string_view bytes);
  Frame(Frame&& other) noexcept;
  Frame& operator=(Frame&& other) noexcept;
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;
  ~Frame();

  // Returns the bytes; valid while the frame lives and is not moved from.
  [[nodiscard]] std::string_view view() const noexcept;
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  // Returns a frame with the same bytes: large ones are shared (reference-counted), small
  // ones copied.
  [[nodiscard]] Frame share() const;

  // Returns the zmq_msg_t inside, for the socket layer only (zmq_msg_move in or out).
  [[nodiscard]] void* native() noexcept { return m_storage; }

 private:
  // sizeof(zmq_msg_t) and its alignment; frame.cpp checks both.
  alignas(8) unsigned char m_storage[64];
};

}  // namespace planificador::broker
