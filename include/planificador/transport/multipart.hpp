#pragma once
// SPEC §3: every protocol message is one ZeroMQ part; a multi-part one is dropped whole.

#include <string_view>

#include <zmq.hpp>

namespace planificador::transport {

// Reads the parts that follow `message` (received from `socket` with more() set) and drops
// them all, then logs one warning naming the socket, the number of parts and the first
// part's first bytes in hex.
void drop_multipart(zmq::socket_t& socket, zmq::message_t& message, std::string_view socket_name);

}  // namespace planificador::transport
