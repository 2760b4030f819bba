#include "link_session.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "planificador/protocol/codec.hpp"

namespace planificador::transport {
namespace {

namespace link = protocol::link;
using protocol::MessageType;

// A broker's heartbeat outside these bounds would make the daemon spin or never notice a
// lost broker; WELCOME's value is clamped into them.
constexpr std::chrono::milliseconds k_min_heartbeat{10};
constexpr std::chrono::milliseconds k_max_heartbeat{3'600'000};

unsigned char type_of(std::string_view frame) { return static_cast<unsigned char>(frame[0]); }

bool is(std::string_view frame, MessageType type) {
  return !frame.empty() && type_of(frame) == static_cast<unsigned char>(type);
}

bool is(std::string_view frame, link::Type type) {
  return !frame.empty() && type_of(frame) == static_cast<unsigned char>(type);
}

// The task id after the type byte, when the frame is long enough to carry one.
std::optional<protocol::TaskId> id_of(std::string_view frame) {
  if (frame.size() <= protocol::k_task_id_size) {
    return std::nullopt;
  }
  return protocol::TaskId::from_bytes(frame.substr(1, protocol::k_task_id_size));
}

void drop(std::string_view frame, std::string_view why) {
  spdlog::warn("dropped a frame from the broker: {} ({})", why, protocol::hex_prefix(frame));
}

}  // namespace

LinkSession::LinkSession(const WorkerLinkOptions& options, Clock::time_point now)
    : m_endpoint(options.endpoint),
      m_slots(options.slots),
      m_name(options.name),
      m_build(options.build),
      m_patterns(options.patterns),
      m_curve(options.curve.has_value()),
      m_heartbeat(std::clamp(options.heartbeat, k_min_heartbeat, k_max_heartbeat)),
      m_misses(std::max<std::uint32_t>(options.heartbeat_misses, 1)),
      m_last_sent(now),
      m_last_received(now),
      m_last_ready(now) {
  queue_ready(now);
}

std::chrono::milliseconds LinkSession::silence_timeout() const {
  return m_heartbeat * static_cast<std::int64_t>(m_misses);
}

bool LinkSession::on_received(std::string_view frame, Clock::time_point now) {
  m_last_received = now;
  if (frame.empty()) {
    drop(frame, "empty frame");
    return false;
  }
  if (link::is_link_type(type_of(frame))) {
    on_link_message(frame, now);
    return false;
  }
  if (is(frame, MessageType::submit) || is(frame, MessageType::submit_ext_or_report)) {
    return on_submit(frame);
  }
  if (is(frame, MessageType::cancel_or_append_err)) {
    return true;
  }
  drop(frame, fmt::format("type {:#04x} is not a broker's message", type_of(frame)));
  return false;
}

bool LinkSession::on_submit(std::string_view frame) {
  const auto id = id_of(frame);
  if (!id) {
    // Too short to name its task: nothing to hold or give back; admission drops and logs it.
    if (m_draining) {
      drop(frame, "SUBMIT too short to carry a task id");
    }
    return !m_draining;
  }
  if (!m_draining) {
    m_held.try_emplace(*id,
                       link::HeldTask{*id, is(frame, MessageType::submit_ext_or_report), false});
    return true;
  }
  if (m_held.contains(*id)) {
    // The id of a task this daemon holds: a RETURNED would take that task from the broker.
    drop(frame, "SUBMIT for task " + id->printable() + ", which this daemon holds");
    return false;
  }
  spdlog::info("task {}: given back to the broker unrun (draining)", id->printable());
  queue(link::encode(link::Returned{*id}));
  return false;
}

void LinkSession::on_link_message(std::string_view frame, Clock::time_point now) {
  auto message = link::decode_from_broker(frame);
  if (!message) {
    drop(frame, message.error().message);
    return;
  }
  if (const auto* welcome = std::get_if<link::Welcome>(&*message)) {
    on_welcome(*welcome);
  } else if (const auto* unknown = std::get_if<link::Unknown>(&*message)) {
    on_unknown(*unknown, now);
  }
}

void LinkSession::on_welcome(const link::Welcome& welcome) {
  if (welcome.version != link::k_version) {
    spdlog::error("the broker at {} speaks link version {}, this daemon {}: not joining",
                  m_endpoint, welcome.version, link::k_version);
    return;
  }
  const auto heartbeat = std::chrono::milliseconds(welcome.heartbeat_ms);
  m_heartbeat = std::clamp(heartbeat, k_min_heartbeat, k_max_heartbeat);
  m_misses = std::max<std::uint32_t>(welcome.heartbeat_misses, 1);
  if (!m_welcomed || welcome.epoch != m_epoch) {
    spdlog::info("{} the fleet at {}: broker epoch {:016x}, heartbeat {} ms, {} misses",
                 m_joined_once ? "rejoined" : "joined", m_endpoint, welcome.epoch,
                 m_heartbeat.count(), m_misses);
  }
  m_epoch = welcome.epoch;
  m_welcomed = true;
  m_joined_once = true;
  m_silence_logged = false;
}

void LinkSession::on_unknown(const link::Unknown& unknown, Clock::time_point now) {
  if (m_welcomed) {
    spdlog::warn("the broker at {} (epoch {:016x}) does not know this daemon: sending READY",
                 m_endpoint, unknown.epoch);
    m_welcomed = false;
    queue_ready(now);
    return;
  }
  // Unwelcomed, every frame in flight may be answered UNKNOWN; one READY per heartbeat
  // answers them all.
  if (now - m_last_ready >= m_heartbeat) {
    queue_ready(now);
  }
}

void LinkSession::tick(Clock::time_point now) {
  if (m_bye_queued) {
    return;
  }
  if (now - m_last_received >= silence_timeout()) {
    if (!m_silence_logged) {
      // A CURVE handshake that fails is silent on the client's side: say where to look.
      const bool never = !m_joined_once && m_curve;
      spdlog::warn(
          "{} from the broker at {} for {} ms: sending READY every {} ms until it "
          "answers{}",
          m_welcomed ? "nothing" : "no WELCOME", m_endpoint, silence_timeout().count(),
          m_heartbeat.count(),
          never ? " (is link.broker_key the broker's key, and this daemon's key on its "
                  "allow-list?)"
                : "");
      m_silence_logged = true;
    }
    m_welcomed = false;
    if (now - m_last_ready >= m_heartbeat) {
      queue_ready(now);
    }
    return;
  }
  // Any frame counts as a beat, a silent broker's READY too.
  if (m_outbox.empty() && now - m_last_sent >= m_heartbeat) {
    queue(link::encode(link::Heartbeat{}));
  }
}

LinkSession::Clock::time_point LinkSession::next_deadline(Clock::time_point now) const {
  if (m_bye_queued) {
    return now + k_max_heartbeat;  // tick() has nothing left to do
  }
  const auto silent_at = m_last_received + silence_timeout();
  if (now >= silent_at) {
    return m_last_ready + m_heartbeat;
  }
  // While link frames wait for the socket, another HEARTBEAT would not help.
  if (m_outbox.empty()) {
    return std::min(silent_at, m_last_sent + m_heartbeat);
  }
  return silent_at;
}

void LinkSession::queue_ready(Clock::time_point now) {
  m_last_ready = now;
  if (m_ready_pending) {
    return;
  }
  m_outbox.push_back(Outgoing{true, {}});
  m_ready_pending = true;
  // A READY offers the daemon to the broker; a draining one must say at once it is not.
  if (m_draining) {
    queue(link::encode(link::Draining{}));
  }
}

link::Ready LinkSession::ready() const {
  link::Ready ready;
  ready.slots = m_slots;
  ready.epoch = m_epoch;
  ready.name = m_name;
  ready.build = m_build;
  ready.patterns = m_patterns;
  for (const auto& [id, task] : m_held) {
    ready.held.push_back(task);
  }
  const auto held = static_cast<std::uint32_t>(std::min<std::size_t>(m_held.size(), m_slots));
  ready.free = m_draining ? 0 : m_slots - held;
  return ready;
}

std::optional<std::string> LinkSession::front() const {
  if (m_outbox.empty()) {
    return std::nullopt;
  }
  const Outgoing& next = m_outbox.front();
  return next.ready ? link::encode(ready()) : next.bytes;
}

void LinkSession::pop_front(Clock::time_point now) {
  const Outgoing sent = std::move(m_outbox.front());
  m_outbox.pop_front();
  if (sent.ready) {
    m_ready_pending = false;
    m_last_sent = now;
    return;
  }
  on_sent(sent.bytes, now);
}

void LinkSession::on_sent(std::string_view frame, Clock::time_point now) {
  m_last_sent = now;
  const auto id = id_of(frame);
  if (is(frame, link::Type::started) && id) {
    if (const auto found = m_held.find(*id); found != m_held.end()) {
      found->second.started = true;
    }
  } else if ((is(frame, MessageType::exited) || is(frame, link::Type::returned)) && id) {
    m_held.erase(*id);
  } else if (is(frame, link::Type::bye)) {
    m_bye_sent = true;
  }
}

void LinkSession::begin_drain(const std::vector<protocol::TaskId>& returned) {
  m_draining = true;
  queue(link::encode(link::Draining{}));
  for (const auto& id : returned) {
    queue(link::encode(link::Returned{id}));
  }
  spdlog::info("leaving the fleet at {}: DRAINING, {} queued tasks given back", m_endpoint,
               returned.size());
}

void LinkSession::queue_bye() {
  if (!m_bye_queued) {
    queue(link::encode(link::Bye{}));
    m_bye_queued = true;
  }
}

}  // namespace planificador::transport
