// READY (docs/fleet.md §1, §4): a daemon joins, comes back on a new connection, or says
// READY again on a known link; its held tasks are kept, cancelled or adopted.

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "planificador/broker/broker.hpp"
#include "planificador/protocol/quote.hpp"

namespace planificador::broker {

namespace {
namespace link = protocol::link;
}  // namespace

void Broker::on_ready(std::string_view routing, link::Ready ready) {
  Executor& executor = admit_executor(routing, ready.name);
  const bool joined = !executor.welcomed;
  executor.welcomed = true;
  executor.build = ready.build;
  executor.slots = ready.slots;
  executor.patterns = ready.patterns;
  executor.draining = false;
  executor.blocked = false;
  executor.last_seen = link_clock(m_now);
  reconcile(executor, ready);
  m_dispatcher.upsert(executor.id, executor.patterns, true);
  m_dispatcher.set_credit(executor.id, std::min(ready.free, ready.slots));
  if (joined) {
    spdlog::info("executor {} joined: {} slots, {} free, build {}, {} held tasks",
                 protocol::escape_text(executor.name), ready.slots, ready.free,
                 protocol::escape_text(executor.build), ready.held.size());
  }
  send(executor, encoded_welcome());
  pump();
}

Frame Broker::encoded_welcome() const {
  return Frame(link::encode(link::Welcome{link::k_version, m_settings.epoch,
                                          m_settings.heartbeat_ms, m_settings.heartbeat_misses}));
}

// A daemon is known by its name: one that comes back on a new connection (a new routing
// id) takes its record along, so the tasks it still holds stay its own.
Broker::Executor& Broker::admit_executor(std::string_view routing, const std::string& name) {
  if (Executor* known = by_routing(routing)) {
    if (known->name != name) {
      if (const auto named = m_names.find(known->name);
          named != m_names.end() && named->second == known->id) {
        m_names.erase(named);
      }
      known->name = name;
      m_names[name] = known->id;
    }
    return *known;
  }
  if (const auto named = m_names.find(name); named != m_names.end()) {
    Executor& moved = m_executors.at(named->second);
    spdlog::info("executor {} is back on a new connection", protocol::escape_text(name));
    m_routing.erase(moved.routing);
    moved.routing = std::string(routing);
    m_routing.emplace(moved.routing, moved.id);
    return moved;
  }
  const ExecutorId id = m_next_executor++;
  Executor& created = m_executors[id];
  created.id = id;
  created.routing = std::string(routing);
  created.name = name;
  m_routing.emplace(created.routing, id);
  m_names[name] = id;
  return created;
}

// fleet.md §4, the held tasks of a READY against the broker's records.
void Broker::reconcile(Executor& executor, const link::Ready& ready) {
  std::unordered_set<protocol::TaskId, TaskIdHash> listed;
  std::unordered_set<protocol::TaskId, TaskIdHash> zombies;
  std::vector<link::HeldTask> adopted;
  for (const auto& held : ready.held) {
    listed.insert(held.id);
    const auto found = m_tasks.find(held.id);
    if (found != m_tasks.end() && found->second.owner == executor.id) {
      if (held.started && found->second.state == Task::State::dispatched) {
        on_started(executor, held.id);
      }
      continue;
    }
    if (found != m_tasks.end() && found->second.state == Task::State::queued) {
      // Given up on (its daemon was thought lost) but not dispatched again: back to the
      // daemon that has it, rather than running it twice.
      m_dispatcher.withdraw(held.id);
      adopted.push_back(held);
      continue;
    }
    if (found != m_tasks.end() || ready.epoch == m_settings.epoch) {
      zombies.insert(held.id);
      send(executor, Frame(protocol::encode(protocol::Cancel{held.id})));
      continue;
    }
    adopted.push_back(held);
  }
  std::vector<protocol::TaskId> missing;
  for (const auto& id : executor.tasks) {
    if (!listed.contains(id)) {
      missing.push_back(id);
    }
  }
  for (const auto& id : missing) {
    executor.tasks.erase(id);
    release(id, executor.name);
  }
  executor.zombies = std::move(zombies);
  for (const auto& held : adopted) {
    adopt(executor, held);
  }
}

void Broker::adopt(Executor& executor, const link::HeldTask& held) {
  auto [found, created] = m_tasks.try_emplace(held.id);
  Task& task = found->second;
  if (created) {
    // Adopted after a broker restart: its SUBMIT is gone, so it can never run elsewhere.
    task.seq = ++m_seq;
    task.extended = held.extended;
    task.attempts = m_settings.dispatch_attempts;
    task.arrived = m_now;
    spdlog::info("task {} adopted from executor {}", held.id.printable(),
                 protocol::escape_text(executor.name));
  }
  task.state = held.started ? Task::State::started : Task::State::dispatched;
  task.owner = executor.id;
  if (held.started) {
    task.submit = Frame();
  }
  executor.tasks.insert(held.id);
}

}  // namespace planificador::broker
