#include "broker_harness.hpp"

#include <cstdio>

namespace planificador::testing {

protocol::TaskId task_id(int n) {
  char text[33];
  (void)std::snprintf(text, sizeof text, "task%028d", n);
  return *protocol::TaskId::from_bytes(std::string_view(text, 32));
}

protocol::TaskId Event::id() const {
  return std::visit([](const auto& decoded) { return decoded.id; }, message);
}

broker::Settings BrokerHarness::test_settings() {
  broker::Settings settings;
  settings.backlog = 100;
  settings.heartbeat_ms = 100;
  settings.heartbeat_misses = 3;
  settings.unserved = broker::Time{1000};
  settings.dispatch_attempts = 3;
  settings.grace = broker::Time{1000};
  settings.epoch = 42;
  settings.name = "test-broker";
  return settings;
}

BrokerHarness::BrokerHarness(broker::Settings settings) : m_broker(std::move(settings), m_now) {}

void BrokerHarness::advance(std::int64_t ms) {
  m_now += broker::Time{ms};
  tick();
}

void BrokerHarness::submit(const protocol::TaskId& id, const std::string& image,
                           std::optional<std::string> options, const std::string& code) {
  intake(protocol::encode(protocol::Submit{id, image, code, std::move(options)}));
}

void BrokerHarness::link(const std::string& routing, const std::string& frame) {
  m_broker.on_link(routing, broker::Frame(frame), m_now);
}

void BrokerHarness::ready(const std::string& routing, const std::string& name, std::uint32_t slots,
                          std::uint32_t free, const std::vector<std::string>& patterns,
                          const std::vector<protocol::link::HeldTask>& held, std::uint64_t epoch) {
  protocol::link::Ready message;
  message.slots = slots;
  message.free = free;
  message.epoch = epoch;
  message.name = name;
  message.build = "test";
  message.patterns = patterns;
  message.held = held;
  link(routing, protocol::link::encode(message));
}

void BrokerHarness::started(const std::string& routing, const protocol::TaskId& id) {
  link(routing, protocol::link::encode(protocol::link::Started{id}));
}

void BrokerHarness::out(const std::string& routing, const protocol::TaskId& id,
                        const std::string& text) {
  link(routing, protocol::encode(protocol::Append{id, protocol::Stream::out, text}));
}

void BrokerHarness::exited(const std::string& routing, const protocol::TaskId& id,
                           std::int32_t code) {
  link(routing, protocol::encode(protocol::Exited{id, code}));
}

void BrokerHarness::returned(const std::string& routing, const protocol::TaskId& id) {
  link(routing, protocol::link::encode(protocol::link::Returned{id}));
}

void BrokerHarness::heartbeat(const std::string& routing) {
  link(routing, protocol::link::encode(protocol::link::Heartbeat{}));
}

std::vector<Event> BrokerHarness::events() {
  std::vector<Event> taken;
  m_broker.flush_events(
      [&](broker::Frame& frame) {
        std::string bytes(frame.view());
        auto decoded = protocol::decode_outbound(bytes);
        if (decoded) {
          taken.push_back(Event{bytes, *decoded});
        } else {
          taken.push_back(Event{bytes, protocol::Exited{}});
        }
        return true;
      },
      m_now);
  return taken;
}

std::vector<std::pair<std::string, Event>> BrokerHarness::client_events(
    const std::set<std::string>& gone, const std::set<std::string>& busy) {
  std::vector<std::pair<std::string, Event>> taken;
  m_broker.flush_clients(
      [&](const std::string& peer, const std::string& frame) {
        if (gone.contains(peer)) {
          return transport::PeerSend::gone;
        }
        if (busy.contains(peer)) {
          return transport::PeerSend::busy;
        }
        auto decoded = protocol::decode_outbound(frame);
        taken.emplace_back(peer, Event{frame, decoded ? *decoded : protocol::Exited{}});
        return transport::PeerSend::sent;
      },
      m_now);
  return taken;
}

std::vector<SentLink> BrokerHarness::sent() {
  std::vector<broker::LinkMessage> messages;
  m_broker.take_link(messages);
  std::vector<SentLink> taken;
  taken.reserve(messages.size());
  for (auto& message : messages) {
    taken.push_back(SentLink{message.routing, std::string(message.frame.view()), message.submit});
  }
  return taken;
}

std::vector<protocol::TaskId> BrokerHarness::submits(const std::vector<SentLink>& sent,
                                                     const std::string& routing) {
  std::vector<protocol::TaskId> ids;
  for (const auto& message : sent) {
    const auto type = static_cast<unsigned char>(message.frame.front());
    if (message.routing == routing && (type == 0x00 || type == 0x10)) {
      ids.push_back(*protocol::TaskId::from_bytes(message.frame.substr(1, 32)));
    }
  }
  return ids;
}

std::vector<std::string> BrokerHarness::of_type(const std::vector<SentLink>& sent,
                                                const std::string& routing, unsigned char type) {
  std::vector<std::string> frames;
  for (const auto& message : sent) {
    if (message.routing == routing && static_cast<unsigned char>(message.frame.front()) == type) {
      frames.push_back(message.frame);
    }
  }
  return frames;
}

std::vector<Event> about(const std::vector<Event>& events, const protocol::TaskId& id) {
  std::vector<Event> found;
  for (const auto& event : events) {
    if (event.frame.size() >= 33 && event.id() == id) {
      found.push_back(event);
    }
  }
  return found;
}

std::string err_text(const std::vector<Event>& events) {
  std::string text;
  for (const auto& event : events) {
    if (const auto* append = std::get_if<protocol::Append>(&event.message);
        append != nullptr && append->stream == protocol::Stream::err) {
      text += append->text;
    }
  }
  return text;
}

}  // namespace planificador::testing
