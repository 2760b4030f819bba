#pragma once
// Dispatcher: where the broker's queued tasks wait and which daemon each goes to
// (docs/fleet.md §2). Tasks whose images the same set of executors serves share one queue
// (a "route"), so a homogeneous fleet has one queue however many images it sees, and
// choosing the next task costs one look at the head of each route, not a scan of the
// backlog. Within a route the executors are ranked by credit (most first), then by when
// they last got a task (least recent first). Pure: no I/O, no clock; time is passed in.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "planificador/protocol/messages.hpp"

namespace planificador::broker {

// Milliseconds on a monotonic clock whose origin does not matter.
using Time = std::chrono::milliseconds;
using ExecutorId = std::uint64_t;

// Hashes a task id's 32 bytes with a per-process key (ids are client-chosen).
struct TaskIdHash {
  [[nodiscard]] std::size_t operator()(const protocol::TaskId& id) const noexcept;
};

// Hashes strings and string views alike, so a lookup by view allocates nothing.
struct StringHash {
  using is_transparent = void;
  [[nodiscard]] std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

// Where offer() put a task.
enum class Placement {
  queued,    // an executor that takes tasks serves its image
  waiting,   // none does now, but one may come: no executor at all, or only draining or
             // blocked ones serve it, or the task had been accepted before
  unserved,  // executors are connected and none of them serves the image: not taken
};

class Dispatcher {
 public:
  // Adds the executor, or replaces its patterns; `eligible`: it takes tasks now.
  void upsert(ExecutorId id, std::vector<std::string> patterns, bool eligible);
  // Removes the executor (lost, or left).
  void remove(ExecutorId id);
  // Sets whether the executor takes tasks (not draining, not blocked).
  void set_eligible(ExecutorId id, bool eligible);
  // Sets the executor's credit: how many more tasks it may be sent.
  void set_credit(ExecutorId id, std::uint32_t credit);
  // Returns the executor's credit (0 for an unknown one).
  [[nodiscard]] std::uint32_t credit(ExecutorId id) const;

  // Offers a task. `accepted`: it was taken earlier (a task given back or whose executor was
  // lost), so it waits rather than being unserved. `seq` orders tasks (arrival order).
  [[nodiscard]] Placement offer(const protocol::TaskId& id, std::uint64_t seq,
                                std::string_view image, bool accepted, Time now);
  // Removes a queued or waiting task; returns whether it was one.
  bool withdraw(const protocol::TaskId& id);

  struct Assignment {
    protocol::TaskId task;
    ExecutorId executor;
  };
  // Takes the oldest queued task that an executor with credit can run and charges that
  // executor one credit; nullopt when there is none.
  [[nodiscard]] std::optional<Assignment> next(Time now);

  // Removes and returns the waiting tasks that entered the wait at or before `deadline`.
  [[nodiscard]] std::vector<protocol::TaskId> expire(Time deadline, Time now);
  // Removes and returns every queued and waiting task, in arrival order.
  [[nodiscard]] std::vector<protocol::TaskId> take_all();

  // Returns the number of tasks queued (waiting included) and waiting.
  [[nodiscard]] std::size_t size() const noexcept { return m_entries.size(); }
  [[nodiscard]] std::size_t waiting() const noexcept { return m_waiting_live; }

 private:
  using RouteId = std::size_t;
  static constexpr RouteId k_wait = static_cast<RouteId>(-1);

  struct Entry {
    std::uint64_t seq;
    std::string image;
    RouteId route;
    Time waiting_since;  // meaningful while route == k_wait
  };
  struct Slot {
    std::uint64_t seq;
    protocol::TaskId id;
  };
  // Ordered so that begin() is the executor to use: most credit, then least recently used.
  struct Rank {
    std::uint32_t credit;
    std::uint64_t last_used;
    ExecutorId id;
    friend bool operator<(const Rank& a, const Rank& b) {
      if (a.credit != b.credit) return a.credit > b.credit;
      if (a.last_used != b.last_used) return a.last_used < b.last_used;
      return a.id < b.id;
    }
  };
  struct Route {
    std::vector<ExecutorId> members;  // sorted
    std::deque<Slot> queue;           // ascending seq; withdrawn tasks are skipped lazily
    std::size_t live = 0;
    std::set<Rank> ranked;
  };
  struct Member {
    std::vector<std::string> patterns;
    std::uint32_t credit = 0;
    std::uint64_t last_used = 0;
    bool eligible = false;
    std::vector<RouteId> routes;
    [[nodiscard]] Rank rank(ExecutorId id) const { return {credit, last_used, id}; }
  };

  void refresh(Time now);
  void rebuild(Time now);
  [[nodiscard]] RouteId route_of(std::string_view image);
  [[nodiscard]] bool anyone_serves(std::string_view image) const;
  void place(const protocol::TaskId& id, Entry& entry, RouteId route);
  void push_sorted(std::deque<Slot>& queue, Slot slot);
  [[nodiscard]] const Slot* head(RouteId route);
  void rerank(ExecutorId id, Member& member, std::uint32_t credit, std::uint64_t last_used);
  [[nodiscard]] bool is_live(const Slot& slot, RouteId route) const;
  void compact(std::deque<Slot>& queue, RouteId route);

  std::map<ExecutorId, Member> m_members;
  std::vector<Route> m_routes;
  std::map<std::vector<ExecutorId>, RouteId> m_route_index;
  std::unordered_map<std::string, RouteId, StringHash, std::equal_to<>> m_image_cache;
  std::unordered_map<protocol::TaskId, Entry, TaskIdHash> m_entries;
  std::deque<Slot> m_waiting;
  std::size_t m_waiting_live = 0;
  std::uint64_t m_uses = 0;
  bool m_dirty = false;
};

}  // namespace planificador::broker
