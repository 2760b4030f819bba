#include "planificador/transport/zap.hpp"

#include <array>
#include <chrono>
#include <map>

#include <spdlog/spdlog.h>

#include "planificador/protocol/quote.hpp"

namespace planificador::transport::curve {
namespace {

// RFC 27: the handler's endpoint, in the context of the sockets it authenticates.
constexpr const char* k_zap_endpoint = "inproc://zeromq.zap.01";
constexpr std::size_t k_zap_request_frames = 6;  // version … mechanism, then credentials
constexpr std::size_t k_key_bytes = 32;
// A refused peer reconnects every 100 ms (ZMQ_RECONNECT_IVL); its key is logged once a
// minute, not every time.
constexpr auto k_refusal_log_interval = std::chrono::minutes(1);
constexpr std::size_t k_refusals_remembered = 256;

std::string binary_key(const std::string& z85) {
  std::array<std::uint8_t, k_key_bytes> raw{};
  zmq_z85_decode(raw.data(), z85.c_str());
  return std::string(reinterpret_cast<const char*>(raw.data()), raw.size());
}

std::string z85_key(std::string_view binary) {
  if (binary.size() != k_key_bytes) {
    // Appended piece by piece: GCC 12 at -O3 sees a false overlap in "(" + std::string.
    std::string text = "(";
    text += std::to_string(binary.size());
    text += " bytes, not a CURVE key)";
    return text;
  }
  std::array<char, k_key_chars + 1> text{};
  zmq_z85_encode(text.data(), reinterpret_cast<const std::uint8_t*>(binary.data()), binary.size());
  return text.data();
}

bool should_log_refusal(const std::string& key) {
  static std::map<std::string, std::chrono::steady_clock::time_point> logged;
  const auto now = std::chrono::steady_clock::now();
  const auto found = logged.find(key);
  if (found != logged.end() && now - found->second < k_refusal_log_interval) {
    return false;
  }
  if (logged.size() >= k_refusals_remembered) {
    logged.clear();
  }
  logged[key] = now;
  return true;
}

}  // namespace

Result<std::set<std::string>> load_allow_list(const std::string& path) {
  auto keys = load_public_keys(path);
  PLAN_TRY(keys);
  std::set<std::string> allowed;
  for (const auto& key : *keys) {
    allowed.insert(binary_key(key));
  }
  return allowed;
}

void make_server(zmq::socket_t& socket, const KeyPair& keys, std::string_view domain) {
  socket.set(zmq::sockopt::curve_server, true);
  socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
  // zmq_setsockopt(3), ZMQ_ZAP_DOMAIN: the handler sees it in every request.
  socket.set(zmq::sockopt::array_option<ZMQ_ZAP_DOMAIN>{}, domain);
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::open(zmq::context_t& context,
                                                     std::vector<ZapDomain> domains) {
  std::unique_ptr<ZapHandler> handler(new ZapHandler(context, std::move(domains)));
  try {
    handler->m_socket.set(zmq::sockopt::linger, 0);
    handler->m_socket.bind(k_zap_endpoint);
  } catch (const zmq::error_t& error) {
    return fail(std::string("bind ZAP handler `") + k_zap_endpoint + "`: " + error.what(),
                error.num());
  }
  return handler;
}

ZapHandler::ZapHandler(zmq::context_t& context, std::vector<ZapDomain> domains)
    : m_socket(context, zmq::socket_type::rep), m_domains(std::move(domains)) {}

void ZapHandler::serve() {
  while (true) {
    std::vector<zmq::message_t> request;
    do {
      zmq::message_t part;
      if (!m_socket.recv(part, zmq::recv_flags::dontwait)) {
        return;
      }
      request.push_back(std::move(part));
    } while (request.back().more());
    answer(request);
  }
}

void ZapHandler::answer(const std::vector<zmq::message_t>& request) {
  if (request.size() < k_zap_request_frames) {
    spdlog::warn("ZAP: a request of {} frames ignored", request.size());
    return;
  }
  const std::string_view domain = request[2].to_string_view();
  const std::string_view address = request[3].to_string_view();
  const std::string_view mechanism = request[5].to_string_view();
  const ZapDomain* known = nullptr;
  for (const auto& candidate : m_domains) {
    if (candidate.name == domain) {
      known = &candidate;
    }
  }
  const std::string key = request.size() > k_zap_request_frames
                              ? request[k_zap_request_frames].to_string()
                              : std::string();
  const bool ok = known != nullptr && mechanism == "CURVE" && known->allowed.contains(key);
  if (!ok && should_log_refusal(key)) {
    if (known == nullptr) {
      spdlog::warn("refused a peer from {} in unknown ZAP domain {}",
                   protocol::escape_text(address), protocol::escape_text(domain));
    } else if (mechanism != "CURVE") {
      spdlog::warn("refused {} from {}: it did not offer CURVE", known->peer,
                   protocol::escape_text(address));
    } else {
      spdlog::warn("refused {} with CURVE key {} from {}: not in {}", known->peer, z85_key(key),
                   protocol::escape_text(address), known->setting);
    }
  }
  const std::array<std::string_view, 6> reply{
      "1.0", request[1].to_string_view(), ok ? "200" : "400", ok ? "OK" : "key not allowed", "",
      ""};
  for (std::size_t i = 0; i < reply.size(); ++i) {
    (void)m_socket.send(zmq::buffer(reply[i]),
                        i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

}  // namespace planificador::transport::curve
