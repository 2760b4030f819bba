#include "daemon.hpp"

#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <future>
#include <limits>
#include <mutex>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <thread>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "planificador/backend/docker/docker_backend.hpp"
#include "planificador/daemon/bridge.hpp"
#include "planificador/http/metrics.hpp"
#include "planificador/http/run_request.hpp"
#include "planificador/http/server.hpp"
#include "planificador/http/task_hub.hpp"
#include "planificador/os/fd.hpp"
#include "planificador/os/signal_fd.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/runners.hpp"
#include "planificador/sched/admission.hpp"
#include "planificador/sched/scheduler.hpp"
#include "planificador/transport/event_queue.hpp"
#include "planificador/transport/transport.hpp"
#include "planificador/transport/worker_link.hpp"
#include "planificador/util/thread_entry.hpp"

namespace planificador::daemon {
namespace {

// Frames between the workers and the events socket; at 64 KiB a chunk, at most 16 MiB.
constexpr std::size_t k_event_queue_frames = 256;
// How long the events still queued at shutdown may take to reach a consumer.
constexpr std::chrono::milliseconds k_flush_timeout{10000};

// Blocks SIGTERM and SIGINT in every thread (call before any starts) and returns the
// signalfd that reads them; a vanished peer is an error return, never a process kill.
Result<os::SignalFd> block_signals() {
  PLAN_TRY(os::ignore_sigpipe());
  return os::SignalFd::block_and_open({SIGTERM, SIGINT});
}

transport::TransportOptions transport_options(const config::Config& config,
                                              const std::optional<transport::ServerCurve>& curve) {
  transport::TransportOptions options;
  options.endpoints = {config.server.intake, config.server.events, config.server.control,
                       config.server.connect, config.server.clients};
  options.curve = curve;
  options.max_inbound_bytes = sched::max_frame_bytes(sched::decode_limits(config));
  options.flush_timeout = k_flush_timeout;
  return options;
}

// Drains the scheduler; if that is stuck behind an absent events consumer longer than the
// grace period plus the flush timeout, gives up on the undelivered events.
void drain(sched::Scheduler& scheduler, transport::EventQueue& events,
           transport::ClientOutbox& outbox, const os::SignalFd& signals,
           std::chrono::milliseconds grace) {
  auto done = std::async(std::launch::async, [&] { scheduler.drain(grace); });
  const auto deadline = std::chrono::steady_clock::now() + grace + k_flush_timeout;
  while (done.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
    const int again = signals.wait(std::chrono::milliseconds(100));
    if (again != 0 || std::chrono::steady_clock::now() >= deadline) {
      spdlog::warn("{}: no longer waiting for the events consumer",
                   again != 0 ? "second signal" : "drain timed out");
      events.close();
      outbox.close();
      break;
    }
  }
  done.wait();
  if (events.discarded() != 0) {
    spdlog::error("{} events were discarded at shutdown", events.discarded());
  }
  if (outbox.discarded() != 0) {
    spdlog::warn("{} events for client connections that were gone were discarded",
                 outbox.discarded());
  }
}

std::uint32_t fnv1a(std::string_view text, std::uint32_t hash = 2166136261U) {
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619U;
  }
  return hash;
}

// The one caller of Backend::start(): once before the daemon serves, so that normally the
// first task finds the backend ready, then every k_start_retry on a thread of its own
// until an attempt succeeds or the daemon stops. The engine may come up after the daemon
// (or the helper appear), and only start() reaps what a previous run left and warms the
// pools. Meanwhile the backend answers each task 125 with the last attempt's reason and
// never starts itself on a task's behalf.
class BackendStarter {
 public:
  static constexpr std::chrono::milliseconds k_start_retry{1000};

  explicit BackendStarter(backend::Backend& backend) : m_backend(backend) {
    auto started = m_backend.start();
    if (started) {
      return;
    }
    spdlog::error("backend not ready: {}; retrying every {} ms", started.error().message,
                  k_start_retry.count());
    m_thread = std::thread([this, last = started.error().message]() mutable {
      util::guarded("backend starter", [&] { retry(std::move(last)); });
    });
  }
  ~BackendStarter() { stop(); }
  BackendStarter(const BackendStarter&) = delete;
  BackendStarter& operator=(const BackendStarter&) = delete;

  // Stops retrying and joins, after the attempt in flight (Backend::stop() waits for one
  // too, so either order is safe). Idempotent.
  void stop() {
    {
      const std::scoped_lock lock(m_mutex);
      m_stopping = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }

 private:
  void retry(std::string last) {
    const auto since = std::chrono::steady_clock::now();
    std::unique_lock lock(m_mutex);
    while (!m_wake.wait_for(lock, k_start_retry, [&] { return m_stopping; })) {
      lock.unlock();
      auto started = m_backend.start();
      lock.lock();
      if (started) {
        const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - since);
        spdlog::info("backend ready after {} ms", waited.count());
        return;
      }
      // Log a change of reason once; the same reason every second is noise.
      if (started.error().message != last) {
        last = started.error().message;
        spdlog::warn("backend not ready: {}", last);
      }
    }
  }

  backend::Backend& m_backend;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false;
  std::thread m_thread;
};

// What both modes share: made before their sockets, released after them.
struct Setup {
  const config::Config& config;
  const os::SignalFd& signals;
  const std::string& executor;
  const std::string& instance;
  backend::Backend& backend;
  BackendStarter& starter;
  transport::EventQueue& events;
  transport::ClientOutbox& outbox;  // the client endpoint's, in direct mode
};

// The scheduler's sink and the HTTP API's state, which both modes share: the events of
// HTTP tasks go to their requests, those of a client connection's tasks to it, every
// other event to the events queue.
struct Intakes {
  explicit Intakes(Setup& setup)
      : queue(setup.events),
        clients(queue, setup.outbox),
        sink(clients, hub),
        metrics(setup.config) {}

  // Adds the metrics' counter to `options`.
  void count(sched::SchedulerOptions& options) {
    options.on_finish = [this](const sched::FinishedTask& task) { metrics.task_finished(task); };
  }

  // Opens and starts the HTTP API when [http] listen is set; false when it cannot.
  bool open_http(Setup& setup, sched::Scheduler& scheduler, std::string fleet_broker) {
    if (setup.config.http.listen.empty()) {
      return true;
    }
    auto& events = setup.events;
    auto opened =
        http::Server::open({setup.config, scheduler, setup.backend, hub, metrics,
                            [&events] { return events.size(); }, std::move(fleet_broker)});
    if (!opened) {
      spdlog::critical("{}", opened.error().message);
      return false;
    }
    server = std::move(*opened);
    server->start();
    return true;
  }

  // Stops the HTTP API after the scheduler drained (every request then has its EXITED).
  void stop_http() {
    if (server) {
      server->stop();
    }
  }

  QueueSink queue;
  ClientSink clients;
  http::TaskHub hub;
  http::RoutingSink sink;
  http::Metrics metrics;
  std::unique_ptr<http::Server> server;
};

// Returns the answer to a RUNNERS request (docs/protocol.md), nullopt for any other frame.
std::optional<std::string> answer_runners(const config::Config& config, std::string_view frame) {
  const auto id = protocol::decode_runners_request(frame);
  if (!id) {
    return std::nullopt;
  }
  spdlog::debug("answered RUNNERS request {}", id->printable());
  return protocol::encode_runners_answer(*id, http::runners_json(config));
}

// Ends a daemon whose surface failed to open before it served.
int give_up(Setup& setup, sched::Scheduler& scheduler) {
  setup.starter.stop();
  scheduler.drain(std::chrono::milliseconds(0));
  setup.backend.stop();
  return 1;
}

int wait_for_signal(const os::SignalFd& signals) {
  int signal_number = 0;
  while (signal_number == 0) {
    signal_number = signals.wait(std::chrono::milliseconds(-1));
  }
  return signal_number;
}

// Serves intake, events and control itself (SPEC §1).
int serve_direct(Setup& setup, const std::optional<transport::ServerCurve>& curve) {
  const auto& config = setup.config;
  auto opened =
      transport::Transport::open(transport_options(config, curve), setup.events, &setup.outbox);
  if (!opened) {
    spdlog::critical("{}", opened.error().message);
    setup.starter.stop();
    setup.backend.stop();
    return 1;
  }
  auto& transport = **opened;
  Intakes intakes(setup);
  auto options = sched::scheduler_options(config);
  options.on_room = [&transport] { transport.wake(); };
  intakes.count(options);
  sched::Scheduler scheduler(config, setup.backend, intakes.sink, std::move(options));
  if (!intakes.open_http(setup, scheduler, "")) {
    return give_up(setup, scheduler);
  }
  FrameBridge handler(
      scheduler, &setup.events,
      [&config](std::string_view frame) { return answer_runners(config, frame); }, &setup.outbox);
  std::thread transport_thread(
      [&] { util::guarded("transport", [&] { transport.run(handler); }); });
  spdlog::info("planificador {} serving as `{}` (instance {}), {} workers", PLANIFICADOR_VERSION,
               setup.executor, setup.instance, config.server.workers);

  const int signal_number = wait_for_signal(setup.signals);
  spdlog::info("{}: draining (grace {} ms)", strsignal(signal_number), config.server.grace_ms);
  handler.close_intake();
  transport.wake();
  setup.starter.stop();
  drain(scheduler, setup.events, setup.outbox, setup.signals,
        std::chrono::milliseconds(config.server.grace_ms));
  intakes.stop_http();
  transport.stop();
  transport_thread.join();
  setup.backend.stop();
  spdlog::info("stopped");
  return 0;
}

transport::WorkerLinkOptions link_options(const Setup& setup,
                                          const std::optional<transport::LinkCurve>& curve) {
  const auto& config = setup.config;
  transport::WorkerLinkOptions options;
  options.endpoint = config.server.broker;
  options.curve = curve;
  options.slots = static_cast<std::uint32_t>(config.server.workers);
  options.name = setup.executor;
  options.build = PLANIFICADOR_VERSION;
  for (const auto& runner : config.runners) {
    options.patterns.insert(options.patterns.end(), runner.match.begin(), runner.match.end());
  }
  options.flush_timeout = k_flush_timeout;
  return options;
}

// Serves as a member of server.broker's fleet over the worker link (docs/fleet.md).
int serve_fleet(Setup& setup, const std::optional<transport::LinkCurve>& curve) {
  const auto& config = setup.config;
  auto opened = transport::WorkerLink::open(link_options(setup, curve), setup.events);
  if (!opened) {
    spdlog::critical("{}", opened.error().message);
    setup.starter.stop();
    setup.backend.stop();
    return 1;
  }
  auto& link = **opened;
  Intakes intakes(setup);
  auto options = sched::scheduler_options(config);
  intakes.count(options);
  // The broker sends a SUBMIT only against credit (docs/fleet.md §2), so what is queued is
  // bounded by server.workers; a fleet daemon never answers "backlog full".
  options.backlog = std::numeric_limits<std::size_t>::max();
  options.on_start = announce_start(setup.events);
  sched::Scheduler scheduler(config, setup.backend, intakes.sink, std::move(options));
  if (!intakes.open_http(setup, scheduler, config.server.broker)) {
    return give_up(setup, scheduler);
  }
  LinkBridge handler(scheduler);
  std::thread link_thread([&] { util::guarded("worker link", [&] { link.run(handler); }); });
  spdlog::info("planificador {} serving as `{}` (instance {}), {} workers, in the fleet of {}",
               PLANIFICADOR_VERSION, setup.executor, setup.instance, config.server.workers,
               config.server.broker);

  const int signal_number = wait_for_signal(setup.signals);
  spdlog::info("{}: draining (grace {} ms)", strsignal(signal_number), config.server.grace_ms);
  link.drain();
  setup.starter.stop();
  drain(scheduler, setup.events, setup.outbox, setup.signals,
        std::chrono::milliseconds(config.server.grace_ms));
  intakes.stop_http();
  link.stop();
  link_thread.join();
  setup.backend.stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

std::string instance_name(const config::Config& config) {
  std::string clean;
  for (const char c : config.server.executor) {
    const bool keep =
        std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    clean += keep ? c : '_';
  }
  std::array<char, 9> hash{};
  const std::uint32_t hash_value =
      fnv1a(config.server.state_dir, fnv1a(std::string_view("\0", 1), fnv1a(config.server.intake)));
  // Eight hex digits and the NUL always fit: nothing to check.
  static_cast<void>(std::snprintf(hash.data(), hash.size(), "%08x", hash_value));
  return clean + "-" + hash.data();
}

namespace {

// Returns the lock that makes this process the one daemon of `instance`: an exclusive
// flock on <state_dir>/<instance>.lock, held until the process ends (a SIGKILL too). A
// second daemon with the same config would otherwise sweep the first one's containers as
// leftovers and replace its staged helper before its own sockets failed to bind.
Result<os::Fd> lock_instance(const std::string& state_dir, const std::string& instance) {
  std::error_code error;
  std::filesystem::create_directories(state_dir, error);
  if (error) {
    return fail("state_dir `" + state_dir + "`: " + error.message(), error.value());
  }
  const std::string path = state_dir + "/" + instance + ".lock";
  os::Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) {
    return fail_errno("open `" + path + "`");
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return fail("another planificador serves instance `" + instance + "` (it holds `" + path +
                  "`): stop it, or give this one a state_dir, intake or executor of its own");
    }
    return fail_errno("flock `" + path + "`");
  }
  return fd;
}

}  // namespace

int run(const config::Config& config, const Keys& keys) {
  auto signals = block_signals();
  if (!signals) {
    spdlog::critical("{}", signals.error().message);
    return 1;
  }
  // A thread that fails stops the daemon as SIGTERM does (the tasks drain, the containers
  // go), and the daemon then exits with util::k_thread_failure_status.
  static std::atomic<bool> thread_failure{false};
  util::set_thread_failure_handler([](std::string_view thread, std::string_view what) {
    spdlog::critical("thread `{}` failed: {}; draining and stopping", thread, what);
    thread_failure.store(true);
    (void)::kill(::getpid(), SIGTERM);
  });
  // config::parse() put the host name there if the file named no executor.
  const std::string& executor = config.server.executor;
  const std::string instance = instance_name(config);
  const auto instance_lock = lock_instance(config.server.state_dir, instance);
  if (!instance_lock) {
    spdlog::critical("{}", instance_lock.error().message);
    return 1;
  }
  auto backend = backend::docker::make_docker_backend(config, instance);
  BackendStarter starter(*backend);
  transport::EventQueue events(k_event_queue_frames);
  transport::ClientOutbox outbox(k_event_queue_frames);
  Setup setup{config, *signals, executor, instance, *backend, starter, events, outbox};
  const int status = config.server.broker.empty() ? serve_direct(setup, keys.sockets)
                                                  : serve_fleet(setup, keys.link);
  return thread_failure.load() ? util::k_thread_failure_status : status;
}

}  // namespace planificador::daemon
