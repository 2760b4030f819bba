#include "fleet_traffic.hpp"

#include <cstdio>
#include <set>
#include <thread>

#include "wait.hpp"
#include <nlohmann/json.hpp>

#include "planificador/protocol/codec.hpp"

namespace planificador::testing {

using namespace std::chrono_literals;

protocol::TaskId fleet_id(const std::string& tag, std::size_t n) {
  char raw[33];
  const int width = 31 - static_cast<int>(std::min<std::size_t>(tag.size(), 20));
  std::snprintf(raw, sizeof raw, "%.20s-%0*zu", tag.c_str(), width, n);
  return *protocol::TaskId::from_bytes(std::string_view(raw, 32));
}

std::string report_field(const std::optional<std::string>& report, const std::string& key) {
  if (!report) {
    return "";
  }
  const auto json = nlohmann::json::parse(*report, nullptr, false);
  if (!json.is_object() || !json.contains(key) || !json.at(key).is_string()) {
    return "";
  }
  return json.at(key).get<std::string>();
}

std::string once_violations(const EventCollector& events,
                            const std::vector<protocol::TaskId>& ids) {
  std::string problems;
  std::size_t count = 0;
  for (const auto& id : ids) {
    const auto task = events.task(id);
    if (task.exits == 1 && task.after_exit == 0) {
      continue;
    }
    if (++count <= 5) {
      problems += id.printable() + ": " + std::to_string(task.exits) + " EXITED, " +
                  std::to_string(task.after_exit) + " events after it; ";
    }
  }
  if (count > 5) {
    problems += std::to_string(count) + " tasks in all";
  }
  return problems;
}

FleetTraffic::FleetTraffic(const FleetCluster& cluster, bool keep_output)
    : m_events(cluster.events(), keep_output), m_intake(cluster.intake()) {
  m_control.set(zmq::sockopt::linger, 1000);
  m_control.connect(cluster.control());
  // XPUB hears the broker's SUB subscribe (zmq_socket(3), ZMQ_XPUB): from then on a
  // published CANCEL reaches it.
  zmq::pollitem_t item{m_control.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, 5s) > 0) {
    zmq::message_t subscription;
    (void)m_control.recv(subscription, zmq::recv_flags::dontwait);
  }
}

bool FleetTraffic::submit(const protocol::TaskId& id, const std::string& image,
                          const std::string& code, std::optional<std::string> options) {
  {
    const std::scoped_lock lock(m_mutex);
    m_sent.push_back(id);
    m_sent_at[id] = Clock::now();
  }
  return m_intake.send(protocol::encode(protocol::Submit{id, image, code, std::move(options)}));
}

bool FleetTraffic::cancel(const protocol::TaskId& id) {
  return m_intake.send(protocol::encode(protocol::Cancel{id}));
}

void FleetTraffic::cancel_on_control(const protocol::TaskId& id) {
  (void)m_control.send(zmq::buffer(protocol::encode(protocol::Cancel{id})), zmq::send_flags::none);
}

std::vector<protocol::TaskId> FleetTraffic::sent() const {
  const std::scoped_lock lock(m_mutex);
  return m_sent;
}

Clock::time_point FleetTraffic::sent_at(const protocol::TaskId& id) const {
  const std::scoped_lock lock(m_mutex);
  const auto found = m_sent_at.find(id);
  return found == m_sent_at.end() ? Clock::time_point{} : found->second;
}

bool FleetTraffic::printed(const protocol::TaskId& id, const std::string& out,
                           std::chrono::milliseconds timeout) const {
  return wait_until([&] { return m_events.task(id).out == out; }, timeout, 10ms);
}

std::string FleetTraffic::violations(std::chrono::milliseconds quiet) const {
  // Nothing orders a late event behind anything the test could wait for: the daemons send
  // on links of their own, and the broker forwards them as they come. A bounded window.
  settle(quiet);
  const auto ids = sent();
  std::string problems = once_violations(m_events, ids);
  const std::set<protocol::TaskId> known(ids.begin(), ids.end());
  for (const auto& [id, record] : m_events.tasks()) {
    if (!known.contains(id)) {
      problems += "events for " + id.printable() + ", never submitted; ";
    }
  }
  return problems;
}

}  // namespace planificador::testing
