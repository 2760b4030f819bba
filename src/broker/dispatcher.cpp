#include "planificador/broker/dispatcher.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "planificador/config/config.hpp"

namespace planificador::broker {
namespace {

// Distinct image fields remembered at once; clients choose them, so the cache must not grow
// with them. Forgetting costs one glob match per executor pattern on the next use.
constexpr std::size_t k_image_cache_limit = 4096;
// A queue is compacted once withdrawn tasks outnumber the live ones by this much, so a
// client that submits and cancels without end cannot grow it.
constexpr std::size_t k_compact_slack = 64;

bool serves(const std::vector<std::string>& patterns, std::string_view image) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    return config::glob_match(pattern, image);
  });
}

}  // namespace

// Keyed with a value a client cannot know (the address space layout and the start time),
// so no one can choose ids that all land in one bucket and make every lookup a scan.
std::size_t TaskIdHash::operator()(const protocol::TaskId& id) const noexcept {
  static const std::uint64_t k_key =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&k_key));
  constexpr std::uint64_t k_odd = 0x9e3779b97f4a7c15ULL;
  std::uint64_t hash = k_key * k_odd;
  for (std::size_t at = 0; at < id.bytes.size(); at += sizeof(std::uint64_t)) {
    std::uint64_t word = 0;
    std::memcpy(&word, id.bytes.data() + at, sizeof word);
    hash = (hash ^ word) * k_odd;
    hash ^= hash >> 29U;
  }
  return static_cast<std::size_t>(hash);
}

void Dispatcher::upsert(ExecutorId id, std::vector<std::string> patterns, bool eligible) {
  Member& member = m_members[id];
  member.patterns = std::move(patterns);
  member.eligible = eligible;
  m_dirty = true;
}

void Dispatcher::remove(ExecutorId id) {
  if (m_members.erase(id) != 0) {
    m_dirty = true;
  }
}

void Dispatcher::set_eligible(ExecutorId id, bool eligible) {
  const auto found = m_members.find(id);
  if (found != m_members.end() && found->second.eligible != eligible) {
    found->second.eligible = eligible;
    m_dirty = true;
  }
}

void Dispatcher::set_credit(ExecutorId id, std::uint32_t credit) {
  const auto found = m_members.find(id);
  if (found != m_members.end()) {
    rerank(id, found->second, credit, found->second.last_used);
  }
}

std::uint32_t Dispatcher::credit(ExecutorId id) const {
  const auto found = m_members.find(id);
  return found == m_members.end() ? 0 : found->second.credit;
}

Placement Dispatcher::offer(const protocol::TaskId& id, std::uint64_t seq, std::string_view image,
                            bool accepted, Time now) {
  refresh(now);
  const RouteId route = route_of(image);
  if (route == k_wait && !accepted && !m_members.empty() && !anyone_serves(image)) {
    return Placement::unserved;
  }
  Entry& entry = m_entries[id];
  entry = Entry{seq, std::string(image), route, now};
  place(id, entry, route);
  return route == k_wait ? Placement::waiting : Placement::queued;
}

bool Dispatcher::withdraw(const protocol::TaskId& id) {
  const auto found = m_entries.find(id);
  if (found == m_entries.end()) {
    return false;
  }
  const RouteId route = found->second.route;
  m_entries.erase(found);
  if (route == k_wait) {
    --m_waiting_live;
    compact(m_waiting, route);
  } else {
    --m_routes[route].live;
    compact(m_routes[route].queue, route);
  }
  return true;
}

std::optional<Dispatcher::Assignment> Dispatcher::next(Time now) {
  refresh(now);
  RouteId best = k_wait;
  std::uint64_t best_seq = 0;
  for (RouteId r = 0; r < m_routes.size(); ++r) {
    const Route& route = m_routes[r];
    if (route.live == 0 || route.ranked.empty() || route.ranked.begin()->credit == 0) {
      continue;
    }
    const Slot* slot = head(r);
    if (slot != nullptr && (best == k_wait || slot->seq < best_seq)) {
      best = r;
      best_seq = slot->seq;
    }
  }
  if (best == k_wait) {
    return std::nullopt;
  }
  Route& route = m_routes[best];
  const protocol::TaskId task = route.queue.front().id;
  route.queue.pop_front();
  --route.live;
  m_entries.erase(task);
  const ExecutorId executor = route.ranked.begin()->id;
  Member& member = m_members.at(executor);
  rerank(executor, member, member.credit - 1, ++m_uses);
  return Assignment{task, executor};
}

std::vector<protocol::TaskId> Dispatcher::expire(Time deadline, Time now) {
  refresh(now);
  std::vector<protocol::TaskId> expired;
  if (m_waiting_live == 0) {
    return expired;
  }
  for (const Slot& slot : m_waiting) {
    if (is_live(slot, k_wait) && m_entries.at(slot.id).waiting_since <= deadline) {
      expired.push_back(slot.id);
    }
  }
  for (const auto& id : expired) {
    withdraw(id);
  }
  return expired;
}

std::vector<protocol::TaskId> Dispatcher::take_all() {
  std::vector<std::pair<std::uint64_t, protocol::TaskId>> order;
  order.reserve(m_entries.size());
  for (const auto& [id, entry] : m_entries) {
    order.emplace_back(entry.seq, id);
  }
  std::sort(order.begin(), order.end());
  m_entries.clear();
  m_waiting.clear();
  m_waiting_live = 0;
  for (Route& route : m_routes) {
    route.queue.clear();
    route.live = 0;
  }
  std::vector<protocol::TaskId> ids;
  ids.reserve(order.size());
  for (const auto& [seq, id] : order) {
    ids.push_back(id);
  }
  return ids;
}

void Dispatcher::refresh(Time now) {
  if (m_dirty) {
    rebuild(now);
  }
}

// Executors come, go and drain rarely next to tasks; so when they do, the routes are drawn
// again from scratch and every queued task is placed again in arrival order.
void Dispatcher::rebuild(Time now) {
  m_dirty = false;
  std::vector<std::pair<std::uint64_t, protocol::TaskId>> order;
  order.reserve(m_entries.size());
  for (const auto& [id, entry] : m_entries) {
    order.emplace_back(entry.seq, id);
  }
  std::sort(order.begin(), order.end());
  m_routes.clear();
  m_route_index.clear();
  m_image_cache.clear();
  m_waiting.clear();
  m_waiting_live = 0;
  for (auto& [id, member] : m_members) {
    member.routes.clear();
  }
  for (const auto& [seq, id] : order) {
    Entry& entry = m_entries.at(id);
    const bool was_waiting = entry.route == k_wait;
    const RouteId route = route_of(entry.image);
    if (route == k_wait && !was_waiting) {
      entry.waiting_since = now;
    }
    place(id, entry, route);
  }
}

Dispatcher::RouteId Dispatcher::route_of(std::string_view image) {
  if (const auto cached = m_image_cache.find(image); cached != m_image_cache.end()) {
    return cached->second;
  }
  std::vector<ExecutorId> members;
  for (const auto& [id, member] : m_members) {
    if (member.eligible && serves(member.patterns, image)) {
      members.push_back(id);
    }
  }
  RouteId route = k_wait;
  if (!members.empty()) {
    const auto [found, inserted] = m_route_index.try_emplace(members, m_routes.size());
    route = found->second;
    if (inserted) {
      Route& created = m_routes.emplace_back();
      for (const ExecutorId id : members) {
        Member& member = m_members.at(id);
        member.routes.push_back(route);
        created.ranked.insert(member.rank(id));
      }
      created.members = std::move(members);
    }
  }
  if (m_image_cache.size() >= k_image_cache_limit) {
    m_image_cache.clear();
  }
  m_image_cache.emplace(std::string(image), route);
  return route;
}

bool Dispatcher::anyone_serves(std::string_view image) const {
  return std::any_of(m_members.begin(), m_members.end(),
                     [&](const auto& member) { return serves(member.second.patterns, image); });
}

void Dispatcher::place(const protocol::TaskId& id, Entry& entry, RouteId route) {
  entry.route = route;
  if (route == k_wait) {
    push_sorted(m_waiting, Slot{entry.seq, id});
    ++m_waiting_live;
    return;
  }
  push_sorted(m_routes[route].queue, Slot{entry.seq, id});
  ++m_routes[route].live;
}

// Arrivals come in order; only a task given back or requeued lands in the middle.
void Dispatcher::push_sorted(std::deque<Slot>& queue, Slot slot) {
  if (queue.empty() || queue.back().seq < slot.seq) {
    queue.push_back(slot);
    return;
  }
  const auto at = std::lower_bound(queue.begin(), queue.end(), slot.seq,
                                   [](const Slot& a, std::uint64_t seq) { return a.seq < seq; });
  queue.insert(at, slot);
}

const Dispatcher::Slot* Dispatcher::head(RouteId route) {
  auto& queue = m_routes[route].queue;
  while (!queue.empty() && !is_live(queue.front(), route)) {
    queue.pop_front();
  }
  return queue.empty() ? nullptr : &queue.front();
}

void Dispatcher::rerank(ExecutorId id, Member& member, std::uint32_t credit,
                        std::uint64_t last_used) {
  const Rank before = member.rank(id);
  member.credit = credit;
  member.last_used = last_used;
  for (const RouteId route : member.routes) {
    auto node = m_routes[route].ranked.extract(before);
    if (!node.empty()) {
      node.value() = member.rank(id);
      m_routes[route].ranked.insert(std::move(node));
    }
  }
}

bool Dispatcher::is_live(const Slot& slot, RouteId route) const {
  const auto found = m_entries.find(slot.id);
  return found != m_entries.end() && found->second.seq == slot.seq && found->second.route == route;
}

void Dispatcher::compact(std::deque<Slot>& queue, RouteId route) {
  const std::size_t live = route == k_wait ? m_waiting_live : m_routes[route].live;
  if (queue.size() > 2 * live + k_compact_slack) {
    std::erase_if(queue, [&](const Slot& slot) { return !is_live(slot, route); });
  }
}

}  // namespace planificador::broker
