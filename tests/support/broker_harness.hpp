#pragma once
// BrokerHarness: the broker's state machine with a fake clock, fake daemons (routing ids
// and link frames) and a fake client, for the unit tests of the fleet's rules.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "planificador/broker/broker.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/link.hpp"

namespace planificador::testing {

// Returns a 32-byte ASCII task id ending in `n`.
[[nodiscard]] protocol::TaskId task_id(int n);

// One frame the broker sent to a daemon.
struct SentLink {
  std::string routing;
  std::string frame;
  std::optional<protocol::TaskId> submit;
};

// One events frame, decoded.
struct Event {
  std::string frame;  // as sent
  protocol::Outbound message;
  [[nodiscard]] protocol::TaskId id() const;
  [[nodiscard]] unsigned char type() const { return static_cast<unsigned char>(frame.front()); }
};

class BrokerHarness {
 public:
  // Settings for tests: epoch 42, heartbeat 100 ms x 3, unserved 1000 ms, 3 attempts,
  // grace 1000 ms, backlog 100.
  [[nodiscard]] static broker::Settings test_settings();
  explicit BrokerHarness(broker::Settings settings = test_settings());

  [[nodiscard]] broker::Broker& broker() { return m_broker; }
  [[nodiscard]] broker::Time now() const { return m_now; }
  // Moves the clock on by `ms` and ticks.
  void advance(std::int64_t ms);
  void tick() { m_broker.on_tick(m_now); }

  // Client side.
  void submit(const protocol::TaskId& id, const std::string& image,
              std::optional<std::string> options = std::nullopt, const std::string& code = "x");
  void intake(const std::string& frame) { m_broker.on_intake(broker::Frame(frame), m_now); }
  void control(const std::string& frame) { m_broker.on_control(broker::Frame(frame), m_now); }
  void cancel(const protocol::TaskId& id) { intake(protocol::encode(protocol::Cancel{id})); }
  // A frame from connection `peer` of the client endpoint.
  void client(const std::string& peer, const std::string& frame) {
    m_broker.on_client(peer, broker::Frame(frame), m_now);
  }

  // Daemon side.
  void link(const std::string& routing, const std::string& frame);
  void ready(const std::string& routing, const std::string& name, std::uint32_t slots,
             std::uint32_t free, const std::vector<std::string>& patterns,
             const std::vector<protocol::link::HeldTask>& held = {}, std::uint64_t epoch = 0);
  void started(const std::string& routing, const protocol::TaskId& id);
  void out(const std::string& routing, const protocol::TaskId& id, const std::string& text);
  void exited(const std::string& routing, const protocol::TaskId& id, std::int32_t code = 0);
  void returned(const std::string& routing, const protocol::TaskId& id);
  void heartbeat(const std::string& routing);

  // Outputs, taken: every events frame and every link frame since the last call.
  [[nodiscard]] std::vector<Event> events();
  [[nodiscard]] std::vector<SentLink> sent();
  // The frames for client connections, each with its connection, as a ROUTER sends them:
  // to connections in `gone` a send fails (EHOSTUNREACH), to those in `busy` it would block.
  [[nodiscard]] std::vector<std::pair<std::string, Event>> client_events(
      const std::set<std::string>& gone = {}, const std::set<std::string>& busy = {});
  // The ids of the SUBMITs in `sent` that went to `routing`.
  [[nodiscard]] static std::vector<protocol::TaskId> submits(const std::vector<SentLink>& sent,
                                                             const std::string& routing);
  // The frames of `sent` of link type `type` that went to `routing`.
  [[nodiscard]] static std::vector<std::string> of_type(const std::vector<SentLink>& sent,
                                                        const std::string& routing,
                                                        unsigned char type);

 private:
  broker::Time m_now{1'000'000};
  broker::Broker m_broker;
};

// The events of `events` that are about `id`.
[[nodiscard]] std::vector<Event> about(const std::vector<Event>& events,
                                       const protocol::TaskId& id);

// The text of the APPEND_ERR events in `events`.
[[nodiscard]] std::string err_text(const std::vector<Event>& events);

}  // namespace planificador::testing
