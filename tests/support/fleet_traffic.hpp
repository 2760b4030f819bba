#pragma once
// FleetTraffic: a plaintext client of a fleet's client sockets for the end-to-end tests — an
// EventCollector on events, a PUSH to intake, an XPUB to control — and the ledger of what it
// submitted, so a test can check that each of its tasks got exactly one EXITED and no event
// after it. Also the small helpers those checks use.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "event_collector.hpp"
#include "fleet_cluster.hpp"
#include <zmq.hpp>

#include "planificador/protocol/messages.hpp"

namespace planificador::testing {

// Returns a 32-byte task id: `tag`, dashes, `n` (tag at most 20 bytes).
[[nodiscard]] protocol::TaskId fleet_id(const std::string& tag, std::size_t n);

// Returns the string field `key` of a REPORT's JSON, "" when absent or not a string.
[[nodiscard]] std::string report_field(const std::optional<std::string>& report,
                                       const std::string& key);

// Returns "" when every id in `ids` has exactly one EXITED and no event after it in
// `events`, else a description of the first few that do not.
[[nodiscard]] std::string once_violations(const EventCollector& events,
                                          const std::vector<protocol::TaskId>& ids);

// FleetTraffic: a plaintext client of a cluster's client sockets — an EventCollector on
// events, a PUSH to intake, an XPUB to control — and the ledger of what it submitted, so a
// test can check that each of its tasks got exactly one EXITED and no event after it.
// submit() may be called from one thread while others read.
class FleetTraffic {
 public:
  // Connects to `cluster`'s endpoints and waits (up to 5 s) until the broker's control
  // socket subscribed, so a CANCEL published next is not lost to the slow join.
  explicit FleetTraffic(const FleetCluster& cluster, bool keep_output = true);
  FleetTraffic(const FleetTraffic&) = delete;
  FleetTraffic& operator=(const FleetTraffic&) = delete;

  // Sends SUBMIT (no `options`) or SUBMIT_EXT; returns whether intake took it.
  bool submit(const protocol::TaskId& id, const std::string& image, const std::string& code,
              std::optional<std::string> options = std::nullopt);
  // Sends CANCEL to intake / publishes it on control.
  bool cancel(const protocol::TaskId& id);
  void cancel_on_control(const protocol::TaskId& id);

  [[nodiscard]] EventCollector& events() noexcept { return m_events; }
  [[nodiscard]] const EventCollector& events() const noexcept { return m_events; }
  // Returns the ids submitted so far, in order, and when `id` was sent.
  [[nodiscard]] std::vector<protocol::TaskId> sent() const;
  [[nodiscard]] Clock::time_point sent_at(const protocol::TaskId& id) const;
  // Waits until task `id` printed `out` so far (its stdout); returns whether it did within
  // `timeout`.
  [[nodiscard]] bool printed(const protocol::TaskId& id, const std::string& out,
                             std::chrono::milliseconds timeout) const;
  // Waits `quiet` (anything a daemon or the broker sends late shows up meanwhile), then
  // returns once_violations() over every id submitted, plus any event for an id never
  // submitted; "" when there is none.
  [[nodiscard]] std::string violations(
      std::chrono::milliseconds quiet = std::chrono::milliseconds(300)) const;

 private:
  EventCollector m_events;
  IntakeSender m_intake;
  zmq::context_t m_context{1};
  zmq::socket_t m_control{m_context, zmq::socket_type::xpub};
  mutable std::mutex m_mutex;
  std::vector<protocol::TaskId> m_sent;
  std::map<protocol::TaskId, Clock::time_point> m_sent_at;
};

}  // namespace planificador::testing
