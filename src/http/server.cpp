#include "planificador/http/server.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <httplib.h>
#include <variant>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "planificador/http/run_request.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/quote.hpp"
#include "planificador/sched/admission.hpp"
#include "planificador/util/thread_entry.hpp"

namespace planificador::http {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* k_json = "application/json";
// Output a streaming task may hold for its reader before its worker waits (as a slow
// events consumer makes it wait, SPEC §3).
constexpr std::size_t k_stream_bound = std::size_t{1} << 20;
// How often a request waiting for its task's events checks that its client is still there.
constexpr std::chrono::milliseconds k_client_check{200};
constexpr std::size_t k_min_threads = 8;
constexpr std::size_t k_max_threads = 128;
constexpr std::size_t k_keep_alive_requests = 10000;
constexpr time_t k_write_timeout_s = 30;

thread_local Clock::time_point t_request_start;

void answer_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, k_json);
}

void answer_error(httplib::Response& res, int status, std::string_view message) {
  answer_json(res, status, error_body(message));
}

bool same_token(std::string_view given, std::string_view expected) {
  // Constant time in the token's content: every byte is compared whatever differs first.
  unsigned char differ = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    differ |= static_cast<unsigned char>(given[i] ^
                                         expected[i % std::max<std::size_t>(1, expected.size())]);
  }
  return differ == 0 && !expected.empty();
}

Result<std::string> read_token(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return fail("http.token_file `" + path + "`: cannot be read");
  }
  std::string line;
  std::getline(file, line);
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  if (first == std::string::npos) {
    return fail("http.token_file `" + path + "`: its first line is empty");
  }
  return line.substr(first, last - first + 1);
}

// Returns why the daemon is not ready to serve, or "" when it is.
std::string not_ready_reason(const backend::BackendState& state) {
  if (state.not_ready) {
    return "backend: " + *state.not_ready;
  }
  if (state.engine_down) {
    return "engine: " + *state.engine_down;
  }
  for (const auto& pool : state.pools) {
    if (pool.runner != nullptr && pool.created < pool.runner->pool) {
      return "runner " + runner_label(pool.runner) + ": " + std::to_string(pool.created) + " of " +
             std::to_string(pool.runner->pool) + " warm containers";
    }
  }
  return {};
}

// One HTTP task from admission to its EXITED: reads its channel, writes the answer.
class TaskRequest {
 public:
  TaskRequest(const ServerContext& context, protocol::TaskId id,
              std::shared_ptr<TaskChannel> channel, bool stream)
      : m_context(context), m_id(id), m_channel(std::move(channel)), m_stream(stream) {}

  // The chunked content provider: writes until EXITED, or gives the task up when the
  // client is gone. Called once per request by cpp-httplib.
  bool provide(httplib::DataSink& sink) {
    if (m_stream && !write(sink, sse_event("task", json{{"id", id_text(m_id)}}.dump()))) {
      return false;
    }
    for (;;) {
      auto event = m_channel->pop(k_client_check);
      if (!event) {
        if (!sink.is_writable()) {
          abandon("the client disconnected");
          return false;
        }
        continue;
      }
      if (auto* exited = std::get_if<protocol::Exited>(&*event)) {
        m_finished = true;
        m_context.hub.close(m_id);
        const std::string last =
            m_stream ? sse_event("exit", json{{"exit_code", exited->exit_code}}.dump())
                     : run_answer(m_id, exited->exit_code, m_out, m_err, m_report);
        if (!sink.write(last.data(), last.size())) {
          return false;
        }
        sink.done();
        return true;
      }
      if (!deliver(sink, *event)) {
        return false;
      }
    }
  }

  // cpp-httplib's releaser: a request that ends before EXITED (its client went away
  // before the provider ran or while it wrote) gives its task up.
  void release() {
    if (!m_finished) {
      abandon("the request ended before the task");
    }
  }

 private:
  bool deliver(httplib::DataSink& sink, const protocol::Outbound& event) {
    if (const auto* append = std::get_if<protocol::Append>(&event)) {
      if (!m_stream) {
        (append->stream == protocol::Stream::out ? m_out : m_err) += append->text;
        return true;
      }
      const char* name = append->stream == protocol::Stream::out ? "out" : "err";
      return write(sink, sse_event(name, chunk_data(append->text)));
    }
    if (const auto* report = std::get_if<protocol::Report>(&event)) {
      if (!m_stream) {
        m_report = report->json;
        return true;
      }
      return write(sink, sse_event("report", report->json));
    }
    return true;
  }

  bool write(httplib::DataSink& sink, const std::string& text) {
    if (sink.write(text.data(), text.size())) {
      return true;
    }
    abandon("writing to the client failed");
    return false;
  }

  void abandon(std::string_view why) {
    if (m_finished) {
      return;
    }
    m_finished = true;
    spdlog::info("http task {}: {}; cancelling it", id_text(m_id), why);
    if (m_channel->abandon()) {
      m_context.hub.close(m_id);
    }
    (void)m_context.scheduler.cancel(m_id);
  }

  const ServerContext& m_context;
  protocol::TaskId m_id;
  std::shared_ptr<TaskChannel> m_channel;
  bool m_stream;
  bool m_finished = false;
  std::string m_out;
  std::string m_err;
  std::string m_report;
};

// Reads a POST /v1/run body and admits it as sched::admit() admits a SUBMIT_EXT.
tl::expected<sched::Admitted, Refusal> admit_request(const ServerContext& context,
                                                     const std::string& body) {
  auto parsed = parse_run_request(body, context.config.server.max_code_bytes);
  if (!parsed) {
    return tl::unexpected(parsed.error());
  }
  const protocol::TaskId id = parsed->id.value_or(protocol::TaskId::random());
  const std::string frame = protocol::encode(
      protocol::Submit{id, parsed->image, std::move(parsed->code), parsed->options_json});
  auto admission =
      sched::admit(frame, context.config, sched::decode_limits(context.config), false, false);
  if (auto* admitted = std::get_if<sched::Admitted>(&admission)) {
    return std::move(*admitted);
  }
  if (const auto* rejected = std::get_if<sched::Rejected>(&admission)) {
    return tl::unexpected(Refusal{400, rejected->reason});
  }
  if (const auto* dropped = std::get_if<sched::Dropped>(&admission)) {
    return tl::unexpected(Refusal{400, dropped->reason});
  }
  return tl::unexpected(Refusal{400, "not a task"});
}

// POST /v1/run: admits the task, queues it, and answers as it runs.
void handle_run(const ServerContext& context, const httplib::Request& req, httplib::Response& res) {
  if (!context.fleet_broker.empty()) {
    return answer_error(
        res, 404,
        "this daemon serves the fleet of " + context.fleet_broker + ": send tasks to its broker");
  }
  auto admitted = admit_request(context, req.body);
  if (!admitted) {
    return answer_error(res, admitted.error().status, admitted.error().message);
  }
  const protocol::TaskId id = admitted->spec.id;
  const bool stream = req.get_header_value("Accept").find("text/event-stream") != std::string::npos;
  auto channel = context.hub.open(id, stream ? k_stream_bound : 0);
  if (channel == nullptr) {
    return answer_error(res, 409, "a task with id " + id_text(id) + " is queued or running");
  }
  // A task of the same id sent over ZeroMQ (a client's mistake) could have its events read
  // here between open() and submit() refusing the duplicate; ids are the clients' to keep apart.
  switch (context.scheduler.submit(std::move(*admitted))) {
    case sched::SubmitOutcome::queued:
      break;
    case sched::SubmitOutcome::duplicate_id:
      context.hub.close(id);
      return answer_error(res, 409, "a task with id " + id_text(id) + " is queued or running");
    case sched::SubmitOutcome::backlog_full:
    case sched::SubmitOutcome::shutting_down: {
      context.hub.close(id);
      res.set_header("Retry-After", "1");
      return answer_error(res, 503, "backlog full or shutting down; retry later");
    }
  }
  res.set_header("X-Task-Id", id_text(id));
  if (stream) {
    res.set_header("Cache-Control", "no-cache");
  }
  auto task = std::make_shared<TaskRequest>(context, id, std::move(channel), stream);
  res.set_chunked_content_provider(
      stream ? "text/event-stream" : k_json,
      [task](std::size_t, httplib::DataSink& sink) { return task->provide(sink); },
      [task](bool) { task->release(); });
}

std::string render_metrics(const ServerContext& context) {
  Gauges gauges;
  gauges.running = context.scheduler.running();
  gauges.queued = context.scheduler.queued();
  gauges.events_queue_frames = context.events_queue_frames ? context.events_queue_frames() : 0;
  gauges.backend = context.backend.state();
  return context.metrics.render(gauges);
}

// DELETE /v1/tasks/{id}: cancels a queued or running task, whichever intake sent it.
void handle_delete(const ServerContext& context, const httplib::Request& req,
                   httplib::Response& res) {
  if (!context.fleet_broker.empty()) {
    return answer_error(
        res, 404,
        "this daemon serves the fleet of " + context.fleet_broker + ": cancel through its broker");
  }
  const auto id = parse_task_id(req.matches[1].str());
  if (!id) {
    return answer_error(res, 400, "task id: expected 32 printable characters or 64 hex digits");
  }
  if (!context.scheduler.cancel(*id)) {
    return answer_error(res, 404, "no task " + id_text(*id) + " is queued or running");
  }
  answer_json(res, 202, json{{"id", id_text(*id)}}.dump());
}

}  // namespace

Server::Server(ServerContext context)
    : m_context(std::move(context)), m_server(std::make_unique<httplib::Server>()) {}

Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::open(ServerContext context) {
  const auto& http = context.config.http;
  std::unique_ptr<Server> server(new Server(std::move(context)));
  if (!http.token_file.empty()) {
    auto token = read_token(http.token_file);
    PLAN_TRY(token);
    server->m_token = std::move(*token);
  }
  const auto& config = server->m_context.config;
  const std::size_t threads =
      std::clamp(config.server.workers + config.server.backlog + 4, k_min_threads, k_max_threads);
  server->m_server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server->m_server->set_payload_max_length(http.max_body_bytes);
  server->m_server->set_keep_alive_max_count(k_keep_alive_requests);
  server->m_server->set_write_timeout(k_write_timeout_s, 0);
  server->m_server->set_tcp_nodelay(true);
  server->routes();
  if (http.port == 0) {
    server->m_port = server->m_server->bind_to_any_port(http.host);
  } else if (server->m_server->bind_to_port(http.host, http.port)) {
    server->m_port = http.port;
  } else {
    server->m_port = -1;
  }
  if (server->m_port < 0) {
    return fail("http.listen `" + http.listen +
                "`: cannot listen there (in use, or not an address of this host)");
  }
  spdlog::info("http bound to {}:{}{}", http.host, server->m_port,
               server->m_token.empty() ? "" : " (bearer token required)");
  return server;
}

void Server::start() {
  m_thread =
      std::thread([this] { util::guarded("http", [this] { m_server->listen_after_bind(); }); });
}

void Server::stop() {
  m_server->stop();
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

void Server::routes() {
  guard();
  auto& server = *m_server;
  const auto& context = m_context;
  auto method_not_allowed = [](const httplib::Request& req, httplib::Response& res) {
    answer_error(res, 405, "method " + req.method + " not allowed on " + req.path);
  };
  auto only = [&](const std::string& path, const char* method) {
    const std::string_view allowed = method;
    if (allowed != "GET") server.Get(path, method_not_allowed);
    if (allowed != "POST") server.Post(path, method_not_allowed);
    if (allowed != "PUT") server.Put(path, method_not_allowed);
    if (allowed != "DELETE") server.Delete(path, method_not_allowed);
  };

  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  only("/healthz", "GET");
  server.Get("/readyz", [&context](const httplib::Request&, httplib::Response& res) {
    const std::string reason = not_ready_reason(context.backend.state());
    res.status = reason.empty() ? 200 : 503;
    res.set_content(reason.empty() ? "ready\n" : reason + "\n", "text/plain");
  });
  only("/readyz", "GET");
  server.Get("/metrics", [&context](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_metrics(context), "text/plain; version=0.0.4; charset=utf-8");
  });
  only("/metrics", "GET");
  server.Get("/v1/runners", [&context](const httplib::Request&, httplib::Response& res) {
    answer_json(res, 200, runners_json(context.config));
  });
  only("/v1/runners", "GET");

  server.Post("/v1/run", [&context](const httplib::Request& req, httplib::Response& res) {
    handle_run(context, req, res);
  });
  only("/v1/run", "POST");
  server.Delete(R"(/v1/tasks/([^/]+))",
                [&context](const httplib::Request& req, httplib::Response& res) {
                  handle_delete(context, req, res);
                });
}

// The token check before every route, JSON bodies for the errors cpp-httplib answers
// itself, and the log line and counter of every answer.
void Server::guard() {
  auto& server = *m_server;
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_request_start = Clock::now();
    if (m_token.empty() || req.path == "/healthz" || req.path == "/readyz") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    const std::string given = req.get_header_value("Authorization");
    constexpr std::string_view k_bearer = "Bearer ";
    if (given.starts_with(k_bearer) &&
        same_token(std::string_view(given).substr(k_bearer.size()), m_token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("WWW-Authenticate", "Bearer");
    answer_error(res, 401, given.empty() ? "a bearer token is required" : "wrong bearer token");
    return httplib::Server::HandlerResponse::Handled;
  });
  server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) {
      return;
    }
    switch (res.status) {
      case 404:
        return answer_error(res, 404, "no such path: " + req.method + " " + req.path);
      case 413:
        // cpp-httplib also refuses a form-urlencoded body over 8 KiB (curl -d's default).
        return answer_error(res, 413,
                            "body over http.max_body_bytes (" +
                                std::to_string(m_context.config.http.max_body_bytes) +
                                "), or a form-urlencoded one over 8 KiB: send it as "
                                "Content-Type: application/json");
      default:
        return answer_error(res, res.status, "HTTP " + std::to_string(res.status));
    }
  });
  server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_request_start);
    m_context.metrics.http_answered(res.status);
    spdlog::info("http {} {} {} {} ms from {}", req.method, protocol::escape_text(req.path, 200),
                 res.status, ms.count(), req.remote_addr);
  });
}

}  // namespace planificador::http
