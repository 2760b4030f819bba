#include "planificador/broker/admin_client.hpp"

#include <zmq.hpp>

namespace planificador::broker {

Result<std::string> query_admin(const std::string& endpoint, const transport::CurveClient& curve,
                                std::chrono::milliseconds timeout) {
  try {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::req);
    socket.set(zmq::sockopt::linger, 0);
    PLAN_TRY(transport::apply_curve(socket.handle(), curve));
    socket.connect(endpoint);
    // The request's content does not matter: every request is answered with the view.
    (void)socket.send(zmq::str_buffer("fleet"), zmq::send_flags::none);
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) {
      return fail("no answer from the broker's admin socket `" + endpoint + "` within " +
                  std::to_string(timeout.count()) + " ms");
    }
    zmq::message_t answer;
    (void)socket.recv(answer, zmq::recv_flags::none);
    return answer.to_string();
  } catch (const zmq::error_t& error) {
    return fail("admin socket `" + endpoint + "`: " + error.what(), error.num());
  }
}

}  // namespace planificador::broker
