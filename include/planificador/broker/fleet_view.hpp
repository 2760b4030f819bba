#pragma once
// FleetView: the broker's state as `planctl fleet` shows it, and its JSON form, the answer
// of the broker's admin socket.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "planificador/util/result.hpp"

namespace planificador::broker {

struct ExecutorView {
  std::string name;
  std::string build;
  std::uint32_t slots = 0;
  std::uint32_t free = 0;   // credit: tasks it may still be sent
  std::size_t running = 0;  // its tasks that STARTED
  std::size_t held = 0;     // every task it holds for the broker, started or not
  bool draining = false;
  bool blocked = false;  // a frame to it was refused; no task until it is heard from
  std::vector<std::string> patterns;
  std::uint64_t last_seen_ms = 0;  // since it was last heard from
};

struct FleetView {
  std::uint64_t epoch = 0;
  std::size_t queued = 0;      // tasks in the broker, waiting ones included
  std::size_t waiting = 0;     // of those, the ones no executor can take now
  std::size_t dispatched = 0;  // on a daemon, not yet STARTED
  std::size_t running = 0;     // STARTED
  std::uint64_t lost_total = 0;
  std::size_t backlog = 0;
  std::size_t events_pending = 0;
  bool link_paused = false;  // the events queue is full: the link is not read
  bool shutting_down = false;
  std::vector<ExecutorView> executors;  // by name
};

// Returns the view as one JSON object (the admin socket's answer).
[[nodiscard]] std::string to_json(const FleetView& view);

// Returns the view in a JSON object as to_json() writes it, or an Error naming what is
// missing.
[[nodiscard]] Result<FleetView> from_json(const std::string& text);

}  // namespace planificador::broker
