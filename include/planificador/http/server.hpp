#pragma once
// The HTTP/JSON API (docs/http.md): one more intake into the scheduler, with its own
// threads (cpp-httplib's pool), never the task path's. A task sent here is admitted by
// sched::admit() as a SUBMIT_EXT is, queued with Scheduler::submit(), and its events come
// back through the TaskHub the daemon's RoutingSink feeds.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "planificador/backend/backend.hpp"
#include "planificador/config/config.hpp"
#include "planificador/http/metrics.hpp"
#include "planificador/http/task_hub.hpp"
#include "planificador/sched/scheduler.hpp"
#include "planificador/util/result.hpp"

namespace httplib {
class Server;
}

namespace planificador::http {

// What the server serves from. Everything must outlive the server.
struct ServerContext {
  const config::Config& config;
  sched::Scheduler& scheduler;
  backend::Backend& backend;
  TaskHub& hub;
  Metrics& metrics;
  std::function<std::size_t()> events_queue_frames;  // the events queue's depth now
  // A daemon in a fleet takes tasks from its broker only: /v1/run and DELETE answer 404.
  std::string fleet_broker;
};

class Server {
 public:
  // Reads the token file (if any) and binds config.http.listen. Returns an Error naming
  // the file or the address when either fails.
  [[nodiscard]] static Result<std::unique_ptr<Server>> open(ServerContext context);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port bound (the kernel's pick when listen's port is 0).
  [[nodiscard]] int port() const noexcept { return m_port; }
  // Serves on a thread of its own until stop().
  void start();
  // Stops listening and waits for the requests in flight (a task's request ends with its
  // EXITED, so drain the scheduler first). Idempotent.
  void stop();

 private:
  explicit Server(ServerContext context);
  void routes();
  void guard();

  ServerContext m_context;
  std::string m_token;
  std::unique_ptr<httplib::Server> m_server;
  int m_port = 0;
  std::thread m_thread;
};

}  // namespace planificador::http
