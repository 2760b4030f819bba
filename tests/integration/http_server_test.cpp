// The HTTP API over real sockets and a real HTTP client (cpp-httplib's), in front of the
// scheduler as the daemon wires it, with a FakeBackend: answers, streams, cancels by
// disconnect and by DELETE, tokens, bounds, a full backlog, metrics and readiness, and
// that ZeroMQ's tasks and HTTP's never see each other's events.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <httplib.h>
#include <memory>
#include <string>
#include <vector>

#include "fake_backend.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "planificador/http/server.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/sched/scheduler.hpp"

namespace planificador::http {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::EventRecorder;
using testing::FakeBackend;
using testing::make_id;
using testing::wait_until;

// A backend whose state a test sets, to see /readyz follow it.
class StatefulBackend final : public backend::Backend {
 public:
  backend::TaskResult run(const backend::TaskSpec& spec, backend::OutputSink& sink,
                          const os::Event& cancel) override {
    return m_fake.run(spec, sink, cancel);
  }
  Result<void> start() override { return {}; }
  void stop() override { m_fake.stop(); }
  [[nodiscard]] backend::BackendState state() const override {
    const std::scoped_lock lock(m_mutex);
    return m_state;
  }
  void set(backend::BackendState state) {
    const std::scoped_lock lock(m_mutex);
    m_state = std::move(state);
  }
  FakeBackend& fake() { return m_fake; }

 private:
  FakeBackend m_fake;
  mutable std::mutex m_mutex;
  backend::BackendState m_state;
};

struct Fixture {
  explicit Fixture(std::size_t workers = 2, std::size_t backlog = 100, std::string token = "")
      : config(testing::fake_config(workers, backlog)), sink(recorder, hub), metrics(config) {
    config.http.listen = "127.0.0.1:0";
    config.http.host = "127.0.0.1";
    config.http.max_body_bytes = 64 * 1024;
    config.server.max_code_bytes = 16 * 1024;
    if (!token.empty()) {
      token_file = std::filesystem::temp_directory_path() /
                   ("planificador-http-token-" + std::to_string(::getpid()));
      std::ofstream(token_file) << "  " << token << "  \nsecond line\n";
      config.http.token_file = token_file.string();
    }
    auto options = sched::scheduler_options(config);
    options.on_finish = [this](const sched::FinishedTask& task) { metrics.task_finished(task); };
    scheduler = std::make_unique<sched::Scheduler>(config, backend, sink, std::move(options));
    auto opened = Server::open({config, *scheduler, backend, hub, metrics, [] { return 7; }, ""});
    EXPECT_TRUE(opened) << (opened ? "" : opened.error().message);
    if (opened) {
      server = std::move(*opened);
      server->start();
    }
  }
  ~Fixture() {
    scheduler->drain(0ms);
    if (server) {
      server->stop();
    }
    if (!token_file.empty()) {
      std::filesystem::remove(token_file);
    }
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  [[nodiscard]] httplib::Client client() const {
    httplib::Client client("127.0.0.1", server ? server->port() : 0);
    client.set_read_timeout(20, 0);
    return client;
  }
  httplib::Result run(const json& body, const httplib::Headers& headers = {}) const {
    return client().Post("/v1/run", headers, body.dump(), "application/json");
  }
  // Returns the value of the sample `line` starts with ("name{labels}"), or -1.
  [[nodiscard]] double metric(const std::string& sample) const {
    auto res = client().Get("/metrics");
    if (!res || res->status != 200) {
      return -1;
    }
    const auto at = res->body.find("\n" + sample + " ");
    return at == std::string::npos ? -1 : std::stod(res->body.substr(at + sample.size() + 2));
  }

  config::Config config;
  std::filesystem::path token_file;
  EventRecorder recorder;
  TaskHub hub;
  RoutingSink sink;
  Metrics metrics;
  StatefulBackend backend;
  std::unique_ptr<sched::Scheduler> scheduler;
  std::unique_ptr<Server> server;
};

// The events of one server-sent stream, as (name, data) pairs, with the time each arrived.
struct StreamRead {
  std::vector<std::pair<std::string, json>> events;
  std::vector<std::chrono::steady_clock::time_point> arrived;
  int status = 0;
};

// POSTs `body` for a stream; `stop_after` > 0 closes the connection once that many events
// arrived (a client that goes away).
StreamRead stream(const Fixture& f, const json& body, std::size_t stop_after = 0) {
  StreamRead read;
  std::string buffer;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/run";
  req.headers = {{"Accept", "text/event-stream"}};
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, std::size_t length, std::uint64_t, std::uint64_t) {
    buffer.append(data, length);
    for (auto end = buffer.find("\n\n"); end != std::string::npos; end = buffer.find("\n\n")) {
      const std::string event = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      const auto newline = event.find('\n');
      read.events.emplace_back(event.substr(7, newline - 7),
                               json::parse(event.substr(newline + 7)));
      read.arrived.push_back(std::chrono::steady_clock::now());
    }
    return stop_after == 0 || read.events.size() < stop_after;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  auto client = f.client();
  client.send(req, res, error);
  read.status = res.status;
  return read;
}

TEST(HttpServer, RunAnswersWithTheOutputAndTheReport) {
  Fixture f;
  auto res = f.run({{"image", "fake"}, {"code", "print(hi)\nerr oops\nexit 3"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json answer = json::parse(res->body);
  EXPECT_EQ(answer["exit_code"], 3);
  EXPECT_EQ(answer["stdout"], "hi\n");
  EXPECT_EQ(answer["stderr"], "oops\n");
  EXPECT_EQ(answer["report"]["status"], "exited");
  EXPECT_EQ(answer["report"]["executor"], "test-host");
  EXPECT_EQ(res->get_header_value("X-Task-Id"), answer["id"]);
  // Nothing of it went to SPEC's events socket.
  EXPECT_EQ(f.recorder.exited_count(), 0U);
}

TEST(HttpServer, ZeroMqTasksKeepTheirEventsBesideHttpOnes) {
  Fixture f;
  const auto id = make_id("zmq");
  f.scheduler->handle_frame(protocol::encode(protocol::Submit{id, "fake", "print(z)", "{}"}),
                            false);
  auto res = f.run({{"image", "fake"}, {"code", "print(h)"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["stdout"], "h\n");
  ASSERT_TRUE(f.recorder.wait_exited(id, 10000ms));
  const auto events = f.recorder.of(id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(std::get<protocol::Append>(events.front()).text, "z\n");
  EXPECT_EQ(f.recorder.exited_count(), 1U);
}

TEST(HttpServer, StreamSendsEachEventWhenItHappens) {
  Fixture f;
  const auto read = stream(f, {{"image", "fake"}, {"code", "print(a)\nsleep 400\nerr b\nexit 2"}});
  EXPECT_EQ(read.status, 200);
  std::vector<std::string> names;
  for (const auto& [name, data] : read.events) {
    names.push_back(name);
  }
  ASSERT_EQ(names, (std::vector<std::string>{"task", "out", "err", "report", "exit"}));
  EXPECT_EQ(read.events[1].second["text"], "a\n");
  EXPECT_EQ(read.events[2].second["text"], "b\n");
  EXPECT_EQ(read.events[3].second["exit_code"], 2);
  EXPECT_EQ(read.events[4].second["exit_code"], 2);
  // The first line arrived while the program still slept, not with its end.
  EXPECT_GE(read.arrived[2] - read.arrived[1], 300ms);
}

TEST(HttpServer, AClientThatDisconnectsCancelsItsTask) {
  Fixture f;
  const auto read = stream(f, {{"image", "fake"}, {"code", "print(started)\nblock"}}, 2);
  ASSERT_EQ(read.events.size(), 2U);
  EXPECT_EQ(read.events[1].second["text"], "started\n");
  const std::string cancelled = R"(planificador_tasks_total{runner="fake*",status="cancelled"})";
  EXPECT_TRUE(wait_until([&] { return f.metric(cancelled) == 1; }, 10000ms)) << f.metric(cancelled);
  EXPECT_TRUE(wait_until([&] { return f.scheduler->running() == 0; }, 10000ms));
  EXPECT_EQ(f.recorder.exited_count(), 0U);  // its EXITED went nowhere else either
}

TEST(HttpServer, DeleteCancelsAQueuedOrRunningTask) {
  Fixture f;
  const std::string id = "abcdefghijklmnopqrstuvwxyz012345";
  auto answer = std::async(std::launch::async, [&] {
    return f.run({{"image", "fake"}, {"code", "block"}, {"id", id}});
  });
  ASSERT_TRUE(wait_until([&] { return f.backend.fake().started().size() == 1; }, 10000ms));
  auto deleted = f.client().Delete("/v1/tasks/" + id);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 202) << deleted->body;
  auto res = answer.get();
  ASSERT_TRUE(res);
  const json body = json::parse(res->body);
  EXPECT_EQ(body["exit_code"], 130);
  EXPECT_EQ(body["report"]["status"], "cancelled");
  auto again = f.client().Delete("/v1/tasks/" + id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404);
  auto bad = f.client().Delete("/v1/tasks/nope");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

TEST(HttpServer, RefusesBadRequestsWithTheirCodes) {
  Fixture f;
  auto expect = [&](const std::string& body, int status, const std::string& says) {
    auto res = f.client().Post("/v1/run", body, "application/json");
    ASSERT_TRUE(res) << body;
    EXPECT_EQ(res->status, status) << body << " -> " << res->body;
    EXPECT_NE(json::parse(res->body)["error"].get<std::string>().find(says), std::string::npos)
        << res->body;
  };
  expect("{", 400, "not JSON");
  expect(R"({"image":"fake","code":"x","stdn":"y"})", 400, "stdn");
  expect(R"({"image":"nothing","code":"x"})", 400, "no runner");
  expect(R"({"image":"fake","code":"x","limits":{"wall_ms":999999}})", 400, "wall_ms");
  expect(R"({"image":"fake","code":")" + std::string(17 * 1024, 'a') + "\"}", 413,
         "max_code_bytes");
  expect(R"({"image":"fake","code":")" + std::string(70 * 1024, 'a') + "\"}", 413,
         "max_body_bytes");
  auto missing = f.client().Get("/v2/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto wrong_method = f.client().Get("/v1/run");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  EXPECT_EQ(f.backend.fake().started().size(), 0U);
}

TEST(HttpServer, AFullBacklogAnswers503WithRetryAfter) {
  Fixture f(1, 1);
  auto running = std::async(std::launch::async, [&] {
    return f.run({{"image", "fake"}, {"code", "block"}, {"id", std::string(32, 'r')}});
  });
  ASSERT_TRUE(wait_until([&] { return f.scheduler->running() == 1; }, 10000ms));
  auto queued = std::async(std::launch::async, [&] {
    return f.run({{"image", "fake"}, {"code", "block"}, {"id", std::string(32, 'q')}});
  });
  ASSERT_TRUE(wait_until([&] { return f.scheduler->queued() == 1; }, 10000ms));
  auto full = f.run({{"image", "fake"}, {"code", "print(x)"}});
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 503) << full->body;
  EXPECT_EQ(full->get_header_value("Retry-After"), "1");
  EXPECT_EQ(f.client().Delete("/v1/tasks/" + std::string(32, 'q'))->status, 202);
  EXPECT_EQ(f.client().Delete("/v1/tasks/" + std::string(32, 'r'))->status, 202);
  EXPECT_EQ(json::parse(queued.get()->body)["exit_code"], 130);
  EXPECT_EQ(json::parse(running.get()->body)["exit_code"], 130);
}

TEST(HttpServer, ATokenGuardsAllButTheHealthChecks) {
  Fixture f(2, 100, "s3cret");
  auto none = f.run({{"image", "fake"}, {"code", "print(x)"}});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  auto wrong =
      f.run({{"image", "fake"}, {"code", "print(x)"}}, {{"Authorization", "Bearer s3cre"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto right =
      f.run({{"image", "fake"}, {"code", "print(x)"}}, {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200) << right->body;
  EXPECT_EQ(f.client().Get("/metrics")->status, 401);
  EXPECT_EQ(f.client().Get("/healthz")->status, 200);
  EXPECT_EQ(f.client().Get("/readyz")->status, 200);
  EXPECT_EQ(f.backend.fake().started().size(), 1U);
}

TEST(HttpServer, ReadyzFollowsTheBackend) {
  Fixture f;
  EXPECT_EQ(f.client().Get("/readyz")->status, 200);
  backend::BackendState down;
  down.engine_down = "connect `/var/run/docker.sock`: No such file or directory";
  f.backend.set(down);
  auto res = f.client().Get("/readyz");
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find("engine: connect"), std::string::npos) << res->body;
  EXPECT_EQ(f.metric("planificador_engine_up"), 0);
  backend::BackendState cold;
  cold.pools.push_back({&f.config.runners[0], 0, 0, 0, 0});
  f.config.runners[0].pool = 2;
  f.backend.set(cold);
  res = f.client().Get("/readyz");
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find("0 of 2 warm containers"), std::string::npos) << res->body;
  cold.pools[0].created = 2;
  f.backend.set(cold);
  EXPECT_EQ(f.client().Get("/readyz")->status, 200);
  EXPECT_EQ(f.client().Get("/healthz")->body, "ok\n");
}

TEST(HttpServer, MetricsMoveAsTasksRun) {
  Fixture f;
  const std::string exited = R"(planificador_tasks_total{runner="fake*",status="exited"})";
  EXPECT_EQ(f.metric(exited), 0);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(f.run({{"image", "fake"}, {"code", "print(x)"}})->status, 200);
  }
  EXPECT_EQ(f.metric(exited), 2);
  EXPECT_EQ(f.metric(R"(planificador_task_wall_seconds_count{runner="fake*"})"), 2);
  EXPECT_EQ(f.metric(R"(planificador_output_bytes_total{runner="fake*"})"), 4);
  EXPECT_EQ(f.metric("planificador_events_queue_frames"), 7);
  EXPECT_EQ(f.metric("planificador_workers"), 2);
  EXPECT_GE(f.metric(R"(planificador_http_requests_total{code="200"})"), 2);
  auto runners = f.client().Get("/v1/runners");
  ASSERT_EQ(runners->status, 200);
  const json listed = json::parse(runners->body)["runners"];
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0]["match"], json::array({"fake*", "python"}));
  EXPECT_EQ(listed[0]["limits"]["wall_ms"], 2000);
  EXPECT_EQ(listed[0]["compiles"], false);
}

}  // namespace
}  // namespace planificador::http
