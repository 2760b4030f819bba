#include "planificador/broker/frame.hpp"

#include <cstring>
#include <new>
#include <zmq.h>

namespace planificador::broker {
namespace {

static_assert(sizeof(zmq_msg_t) == 64, "Frame's storage must match zmq_msg_t");
static_assert(alignof(zmq_msg_t) <= 8, "Frame's storage must be aligned as zmq_msg_t");

zmq_msg_t* msg(unsigned char* storage) { return reinterpret_cast<zmq_msg_t*>(storage); }
const zmq_msg_t* msg(const unsigned char* storage) {
  return reinterpret_cast<const zmq_msg_t*>(storage);
}

}  // namespace

// zmq_msg_init(3) and zmq_msg_init_size(3) fail only for lack of memory; so does every
// std::string, so it is reported the same way.
Frame::Frame() noexcept { zmq_msg_init(msg(m_storage)); }

Frame::Frame(std::string_view bytes) {
  if (zmq_msg_init_size(msg(m_storage), bytes.size()) != 0) {
    throw std::bad_alloc();
  }
  if (!bytes.empty()) {
    std::memcpy(zmq_msg_data(msg(m_storage)), bytes.data(), bytes.size());
  }
}

Frame::Frame(Frame&& other) noexcept {
  zmq_msg_init(msg(m_storage));
  zmq_msg_move(msg(m_storage), msg(other.m_storage));
}

Frame& Frame::operator=(Frame&& other) noexcept {
  if (this != &other) {
    zmq_msg_move(msg(m_storage), msg(other.m_storage));  // closes what this frame held
  }
  return *this;
}

Frame::~Frame() { zmq_msg_close(msg(m_storage)); }

std::string_view Frame::view() const noexcept {
  // zmq_msg_data and zmq_msg_size take a non-const message but do not change it.
  auto* self = const_cast<zmq_msg_t*>(msg(m_storage));
  return {static_cast<const char*>(zmq_msg_data(self)), zmq_msg_size(self)};
}

std::size_t Frame::size() const noexcept {
  return zmq_msg_size(const_cast<zmq_msg_t*>(msg(m_storage)));
}

Frame Frame::share() const {
  Frame copy;
  if (zmq_msg_copy(msg(copy.m_storage), const_cast<zmq_msg_t*>(msg(m_storage))) != 0) {
    throw std::bad_alloc();
  }
  return copy;
}

}  // namespace planificador::broker
