#pragma once
// EventSink: where the scheduler sends client-bound messages. The daemon encodes them into
// the transport's bounded queue; tests collect them.

#include "planificador/protocol/messages.hpp"

namespace planificador::sched {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Sends `message` from a worker; may block while the events consumer is slow.
  virtual void send(protocol::Outbound message) = 0;
  // Sends `message` from the thread that reads intake/control; must not block (that
  // thread is the one that drains the events). The caller keeps the volume bounded.
  virtual void send_now(protocol::Outbound message) = 0;
};

}  // namespace planificador::sched
