#include "planificador/transport/client_outbox.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace planificador::transport {
namespace {

// Frames sent to one connection per send_pending() call, so one busy client cannot hold
// the transport thread from the others.
constexpr std::size_t k_frames_per_peer = 64;

}  // namespace

ClientOutbox::ClientOutbox(std::size_t capacity, std::optional<std::size_t> cut_off)
    : m_capacity(std::max<std::size_t>(capacity, 1)), m_cut_off(cut_off) {}

bool ClientOutbox::claim(const protocol::TaskId& id, std::string_view peer) {
  const std::lock_guard lock(m_mutex);
  if (m_owners.contains(id)) {
    return false;
  }
  std::string name(peer);
  m_peers[name].tasks.insert(id);
  m_owners.emplace(id, std::move(name));
  return true;
}

void ClientOutbox::release(const protocol::TaskId& id) {
  const std::lock_guard lock(m_mutex);
  const auto found = m_owners.find(id);
  if (found == m_owners.end()) {
    return;
  }
  const std::string peer = found->second;
  m_owners.erase(found);
  m_peers[peer].tasks.erase(id);
  forget_if_idle_locked(peer);
}

std::optional<std::string> ClientOutbox::owner(const protocol::TaskId& id) const {
  const std::lock_guard lock(m_mutex);
  const auto found = m_owners.find(id);
  if (found == m_owners.end()) {
    return std::nullopt;
  }
  return found->second;
}

bool ClientOutbox::push(const protocol::TaskId& id, std::string frame, bool may_wait, bool last) {
  std::unique_lock lock(m_mutex);
  const auto found = m_owners.find(id);
  if (found == m_owners.end()) {
    return false;
  }
  const std::string peer_name = found->second;
  // The entry stays while it owns `id`, and map entries do not move.
  Peer& peer = m_peers[peer_name];
  if (may_wait) {
    m_room.wait(lock, [&] { return m_closed || peer.gone || peer.frames.size() < m_capacity; });
  }
  if (m_closed || peer.gone) {
    ++m_discarded;
  } else {
    append_locked(peer, std::move(frame));
    if (!may_wait && m_cut_off && peer.frames.size() > *m_cut_off) {
      cut_off_locked(peer);
    }
  }
  if (last) {
    m_owners.erase(id);
    peer.tasks.erase(id);
    forget_if_idle_locked(peer_name);
  }
  return true;
}

void ClientOutbox::push_to(std::string_view peer_name, std::string frame) {
  const std::lock_guard lock(m_mutex);
  Peer& peer = m_peers[std::string(peer_name)];
  if (m_closed || peer.gone) {
    ++m_discarded;
    forget_if_idle_locked(std::string(peer_name));
    return;
  }
  append_locked(peer, std::move(frame));
}

void ClientOutbox::cut_off_locked(Peer& peer) {
  peer.gone = true;
  m_discarded += peer.frames.size();
  peer.frames.clear();
  m_cut_tasks.insert(m_cut_tasks.end(), peer.tasks.begin(), peer.tasks.end());
  m_wakeup.raise();  // so send_pending() runs and hands the tasks back
}

void ClientOutbox::append_locked(Peer& peer, std::string frame) {
  const bool was_empty = peer.frames.empty();
  peer.frames.push_back(std::move(frame));
  if (was_empty) {
    m_wakeup.raise();
  }
}

// A connection with neither a task nor a frame waiting is forgotten, whether it is gone or
// not: the next frame from it makes a new entry.
void ClientOutbox::forget_if_idle_locked(const std::string& peer) {
  const auto found = m_peers.find(peer);
  if (found != m_peers.end() && found->second.tasks.empty() && found->second.frames.empty()) {
    m_peers.erase(found);
  }
}

std::vector<protocol::TaskId> ClientOutbox::send_pending(
    const std::function<PeerSend(const std::string& peer, const std::string& frame)>& send) {
  std::vector<protocol::TaskId> orphans;
  bool room = false;
  {
    const std::lock_guard lock(m_mutex);
    orphans.swap(m_cut_tasks);
    for (auto it = m_peers.begin(); it != m_peers.end();) {
      auto& [name, peer] = *it;
      for (std::size_t i = 0; i < k_frames_per_peer && !peer.frames.empty() && !peer.gone; ++i) {
        const PeerSend result = send(name, peer.frames.front());
        if (result == PeerSend::busy) {
          break;
        }
        if (result == PeerSend::gone) {
          peer.gone = true;
          m_discarded += peer.frames.size();
          peer.frames.clear();
          orphans.insert(orphans.end(), peer.tasks.begin(), peer.tasks.end());
          break;
        }
        peer.frames.pop_front();
        room = true;
      }
      // A connection with neither a task nor a frame left is done with (forget_if_idle).
      it = peer.tasks.empty() && peer.frames.empty() ? m_peers.erase(it) : std::next(it);
    }
  }
  if (room || !orphans.empty()) {
    m_room.notify_all();
  }
  return orphans;
}

bool ClientOutbox::has_pending() const {
  const std::lock_guard lock(m_mutex);
  return std::any_of(m_peers.begin(), m_peers.end(),
                     [](const auto& entry) { return !entry.second.frames.empty(); });
}

std::size_t ClientOutbox::size() const {
  const std::lock_guard lock(m_mutex);
  std::size_t frames = 0;
  for (const auto& [name, peer] : m_peers) {
    frames += peer.frames.size();
  }
  return frames;
}

std::size_t ClientOutbox::connections() const {
  const std::lock_guard lock(m_mutex);
  return m_peers.size();
}

void ClientOutbox::close() {
  {
    const std::lock_guard lock(m_mutex);
    m_closed = true;
  }
  m_room.notify_all();
}

std::size_t ClientOutbox::discarded() const {
  const std::lock_guard lock(m_mutex);
  return m_discarded;
}

}  // namespace planificador::transport
