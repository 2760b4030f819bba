#include "planificador/transport/multipart.hpp"

#include <cstddef>
#include <string>

#include <spdlog/spdlog.h>

#include "planificador/protocol/codec.hpp"

namespace planificador::transport {

void drop_multipart(zmq::socket_t& socket, zmq::message_t& message, std::string_view socket_name) {
  const std::string head = protocol::hex_prefix(message.to_string_view());
  std::size_t parts = 1;
  while (message.more()) {
    message.rebuild();
    if (!socket.recv(message, zmq::recv_flags::none)) {
      break;
    }
    ++parts;
  }
  spdlog::warn("dropped a {}-part message on {} (first part: {})", parts, socket_name, head);
}

}  // namespace planificador::transport
