#pragma once
// WorkerLink: the daemon's side of the fleet's worker link (docs/fleet.md), one DEALER
// connected to the broker and owned by the one thread that calls run(), as Transport owns
// the direct sockets. Task frames from the broker go to a LinkHandler; task events (and
// STARTED) come from the EventQueue in order; READY, HEARTBEAT, DRAINING, RETURNED and BYE
// are the link's own and go out ahead of the queue.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "planificador/protocol/messages.hpp"
#include "planificador/transport/event_queue.hpp"
#include "planificador/util/result.hpp"

namespace planificador::transport {

// The CURVE keys of the link (RFC 26), each Z85 text of 40 characters.
struct LinkCurve {
  std::string public_key;  // this daemon's
  std::string secret_key;  // this daemon's
  std::string server_key;  // the broker's public key
};

struct WorkerLinkOptions {
  std::string endpoint;               // the broker's worker endpoint
  std::optional<LinkCurve> curve;     // nullopt: plaintext
  std::uint32_t slots = 1;            // READY's slots: server.workers
  std::string name;                   // the executor name
  std::string build;                  // the daemon's version
  std::vector<std::string> patterns;  // every runner's match globs, in config order
  // The link's timing until a WELCOME brings the broker's.
  std::chrono::milliseconds heartbeat{1000};
  std::uint32_t heartbeat_misses = 3;
  // How long stop() keeps trying to send what is queued, and the socket's linger.
  std::chrono::milliseconds flush_timeout{10000};
};

// Receives the task frames the broker sends. Called on the link thread only.
class LinkHandler {
 public:
  virtual ~LinkHandler() = default;
  // Handles one SUBMIT, SUBMIT_EXT or CANCEL frame as the broker forwarded it (SPEC §2
  // bytes, not yet validated). Must not block on the events consumer.
  virtual void on_task_frame(std::string_view frame) = 0;
  // Removes every accepted task that has not started, without answering it, and returns
  // their ids (they are given back to the broker). Called once, when the drain begins.
  [[nodiscard]] virtual std::vector<protocol::TaskId> take_back() = 0;
};

class WorkerLink {
 public:
  // Creates the DEALER with the CURVE client keys (unless plaintext) and connects it.
  // Returns an error naming the endpoint or option ZeroMQ refused. `events` must outlive
  // the link.
  [[nodiscard]] static Result<std::unique_ptr<WorkerLink>> open(const WorkerLinkOptions& options,
                                                                EventQueue& events);
  ~WorkerLink();
  WorkerLink(const WorkerLink&) = delete;
  WorkerLink& operator=(const WorkerLink&) = delete;

  // Serves the link on the calling thread: READY first, then until stop() was called and
  // everything queued was sent (or flush_timeout passed), then BYE. Never throws.
  void run(LinkHandler& handler);
  // Begins the drain (docs/fleet.md §5 steps 1–2): returns once DRAINING and a RETURNED
  // for every task the handler gave back are queued; from then on every SUBMIT that
  // arrives is answered RETURNED and none reaches the handler. Returns at once when run()
  // has ended. Thread-safe; idempotent.
  void drain();
  // Asks run() to drain (if drain() was not called), send everything queued, then BYE,
  // and return. Thread-safe.
  void stop();

  struct Impl;

 private:
  explicit WorkerLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace planificador::transport
