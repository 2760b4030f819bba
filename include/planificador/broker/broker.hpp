#pragma once
// Broker: the fleet broker's rules (docs/fleet.md) as a state machine. Inputs are frames
// from the client sockets (the client endpoint's with the sender's routing id), frames from
// the worker link (with the sender's routing id), and ticks; outputs are frames for the
// events socket, for client connections and for daemons, collected here for the socket
// loop (server.hpp) to send. No socket and no clock: time is passed in, so the
// rules are tested with a fake clock.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "planificador/broker/dispatcher.hpp"
#include "planificador/broker/fleet_view.hpp"
#include "planificador/broker/frame.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/link.hpp"
#include "planificador/protocol/report.hpp"
#include "planificador/transport/client_outbox.hpp"

namespace planificador::broker {

struct Settings {
  std::size_t backlog = 10000;    // tasks waiting in the broker at most
  protocol::DecodeLimits limits;  // for every SUBMIT (max_code_bytes from the config)
  std::uint32_t heartbeat_ms = 1000;
  std::uint32_t heartbeat_misses = 3;
  Time unserved{30000};  // how long a task waits while no daemon can take it
  std::uint32_t dispatch_attempts = 3;
  Time grace{5000};             // on shutdown, how long dispatched tasks may still finish
  std::uint64_t epoch = 1;      // non-zero, drawn at start (WELCOME)
  std::string name = "broker";  // `executor` in the REPORTs the broker writes itself
  // Frames and bytes the events queue holds before the broker stops reading the link.
  std::size_t events_capacity = 4096;
  std::size_t events_capacity_bytes = std::size_t{64} << 20;
  // Frames one connection of the client endpoint may leave unread before the broker cuts
  // it off (cancels its tasks): the broker cannot make one client's daemons wait.
  std::size_t client_cut_off = 1024;
};

// A frame for one daemon. `submit` is set for a SUBMIT/SUBMIT_EXT: one the socket does not
// take is given back through on_undeliverable() and dispatched again.
struct LinkMessage {
  std::string routing;
  Frame frame;
  std::optional<protocol::TaskId> submit;
};

// A task the broker knows: queued in it, or on a daemon.
struct TaskRecord {
  enum class State { queued, dispatched, started };
  std::uint64_t seq = 0;
  std::string image;
  Frame submit;  // the client's frame, kept until STARTED so it can be dispatched again
  bool extended = false;
  State state = State::queued;
  ExecutorId owner = 0;
  std::uint32_t attempts = 0;
  bool forwarded = false;  // an event reached the client: it is never run elsewhere
  Time arrived{0};
};

// A daemon that sent READY.
struct ExecutorRecord {
  ExecutorId id = 0;
  std::string routing;
  std::string name;
  std::string build;
  std::uint32_t slots = 0;
  std::vector<std::string> patterns;
  bool welcomed = false;  // its first READY was answered
  bool draining = false;
  bool blocked = false;  // a frame to it was refused; no dispatch until it is heard from
  Time last_seen{0};     // on the link clock (time spent not reading the link excluded)
  Time last_sent{0};
  std::unordered_set<protocol::TaskId, TaskIdHash> tasks;
  // Tasks it holds that the broker had answered already: cancelled, their events dropped,
  // their EXITED still returns the credit.
  std::unordered_set<protocol::TaskId, TaskIdHash> zombies;
};

class Broker {
 public:
  // Starts with no executor and no task at time `now`.
  Broker(Settings settings, Time now);

  // Handles one single-part frame read from intake (SUBMIT, SUBMIT_EXT, CANCEL).
  void on_intake(Frame frame, Time now);
  // Handles one single-part frame read from control (CANCEL only).
  void on_control(Frame frame, Time now);
  // Handles one frame a connection of the client endpoint sent (docs/protocol.md), `peer`
  // being its routing id: a SUBMIT whose events then go to that connection only, or a
  // CANCEL of one of its own tasks.
  void on_client(std::string_view peer, Frame frame, Time now);
  // Handles one frame a daemon sent over the link, `routing` being its routing id.
  void on_link(std::string_view routing, Frame frame, Time now);
  // Declares silent daemons lost, sends heartbeats, answers tasks that waited too long, and
  // ends the shutdown's grace period. Call at least every tick_interval().
  void on_tick(Time now);
  // Takes back a message the ROUTER refused (peer gone, or its queue full): a SUBMIT is
  // dispatched again, and the daemon gets no task until it is heard from again.
  void on_undeliverable(const LinkMessage& message, Time now);
  // Takes note that the broker did not run for `duration` up to `now` (its process was
  // stopped, or its host stalled). Like time spent not reading the link, it does not count
  // as the daemons' silence: their frames waited unread, and a broker that wakes up must
  // not declare lost every daemon it has not read yet.
  void on_stalled(Time duration, Time now);
  // Starts the shutdown: answers every task still in the broker 125 "shutting down", stops
  // taking SUBMITs, and lets dispatched tasks finish within Settings::grace.
  void shut_down(Time now);

  // Returns true while intake may be read: not shutting down, the backlog has room and
  // the events queue is not full.
  [[nodiscard]] bool accepting_intake() const;
  // Returns true while the link may be read: the events queue is not full.
  [[nodiscard]] bool reading_link() const;
  // Returns true once shutting down, no task is left and every event was taken.
  [[nodiscard]] bool finished() const;
  // Returns true once shut_down() was called.
  [[nodiscard]] bool shutting_down() const noexcept { return m_shutting_down; }
  // Returns the shutdown's grace period.
  [[nodiscard]] Time grace() const noexcept { return m_settings.grace; }
  // Returns how often on_tick() should run.
  [[nodiscard]] Time tick_interval() const;

  // Offers the frames for the events socket to `send`, oldest first, until it returns
  // false (the socket takes no more; the frame must be left as it was) or none is left.
  // `send` may move the frame out when it returns true. Returns how many were taken.
  std::size_t flush_events(const std::function<bool(Frame&)>& send, Time now);
  // Returns the number of frames waiting for the events socket.
  [[nodiscard]] std::size_t events_pending() const noexcept { return m_events.size(); }
  // Moves the frames for daemons into `out` (cleared first), oldest first.
  void take_link(std::vector<LinkMessage>& out);
  // Offers the frames for client connections to `send` (ClientOutbox::send_pending), and
  // cancels the tasks of connections found gone or cut off.
  void flush_clients(const std::function<transport::PeerSend(const std::string& peer,
                                                             const std::string& frame)>& send,
                     Time now);
  // Returns the client connections' frames waiting, and an fd readable when one was queued.
  [[nodiscard]] const transport::ClientOutbox& clients() const noexcept { return m_clients; }

  // Returns what `planctl fleet` shows.
  [[nodiscard]] FleetView view(Time now) const;

 private:
  using Task = TaskRecord;
  using Executor = ExecutorRecord;

  // broker.cpp: the client side.
  void submit(protocol::Submit submit, Frame frame);
  void cancel(const protocol::TaskId& id, Frame frame);
  void drop(std::string_view why, std::string_view frame) const;
  void enqueue(const protocol::TaskId& id, Task& task, bool accepted);
  void pump();
  void answer(const protocol::TaskId& id, bool extended, std::int32_t code, protocol::Status status,
              std::string_view diagnostic, std::string_view executor, Time queued);
  void reject(const protocol::TaskId& id, bool extended, std::string_view reason, Time queued);
  void push_event(Frame frame);
  void note_events();
  [[nodiscard]] Time link_clock(Time now) const;
  [[nodiscard]] bool events_full() const;
  void finish_grace();
  void expire_waiting();

  // executors.cpp and ready.cpp: the link side.
  void on_link_message(std::string_view routing, const protocol::link::FromDaemon& message);
  void on_task_event(Executor& executor, Frame frame);
  void on_ready(std::string_view routing, protocol::link::Ready ready);
  Executor& admit_executor(std::string_view routing, const std::string& name);
  void reconcile(Executor& executor, const protocol::link::Ready& ready);
  void adopt(Executor& executor, const protocol::link::HeldTask& held);
  void on_started(Executor& executor, const protocol::TaskId& id);
  void on_returned(Executor& executor, const protocol::TaskId& id);
  void on_draining(Executor& executor);
  void on_bye(Executor& executor);
  void give_back(Executor& executor, const protocol::TaskId& id);
  void release(const protocol::TaskId& id, const std::string& executor_name,
               std::string_view what = "lost");
  void declare_lost(ExecutorId id);
  void remove_executor(ExecutorId id);
  void heard_from(Executor& executor);
  void add_credit(Executor& executor);
  void send(Executor& executor, Frame frame, std::optional<protocol::TaskId> submit = {});
  void send_unknown(std::string_view routing);
  [[nodiscard]] Frame encoded_welcome() const;
  void check_executors();
  [[nodiscard]] Executor* by_routing(std::string_view routing);
  [[nodiscard]] Time lost_after() const;

  Settings m_settings;
  Time m_now;
  Dispatcher m_dispatcher;
  std::unordered_map<protocol::TaskId, Task, TaskIdHash> m_tasks;
  std::unordered_map<ExecutorId, Executor> m_executors;
  std::unordered_map<std::string, ExecutorId, StringHash, std::equal_to<>> m_routing;
  std::unordered_map<std::string, ExecutorId, StringHash, std::equal_to<>> m_names;
  // Peers told UNKNOWN lately, so a daemon's backlog of frames draws one answer, not one each.
  std::unordered_map<std::string, Time, StringHash, std::equal_to<>> m_unknown_told;
  std::deque<Frame> m_events;
  transport::ClientOutbox m_clients;  // frames for client connections, and who owns each task
  std::size_t m_event_bytes = 0;
  std::vector<LinkMessage> m_link;
  std::optional<Time> m_paused_since;  // the events queue is full since then
  Time m_paused_total{0};
  std::uint64_t m_seq = 0;
  ExecutorId m_next_executor = 1;
  std::uint64_t m_lost_total = 0;
  bool m_shutting_down = false;
  bool m_grace_over = false;
  Time m_shutdown_deadline{0};
};

}  // namespace planificador::broker
