// The HTTP API's pure parts: the request body, ids, UTF-8, the answer's JSON and events,
// the channels that carry a task's events to its request, and the metrics' text.
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "fake_backend.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "planificador/config/config.hpp"
#include "planificador/http/metrics.hpp"
#include "planificador/http/run_request.hpp"
#include "planificador/http/task_hub.hpp"

namespace planificador::http {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::EventRecorder;
using testing::make_id;

constexpr std::size_t k_max_code = 1000;

TEST(RunRequest, PassesEveryOptionOnAsSubmitExtWouldGetIt) {
  auto parsed = parse_run_request(
      R"({"image":"python","code":"pass","stdin":"x","args":["a"],"limits":{"wall_ms":5}})",
      k_max_code);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->image, "python");
  EXPECT_EQ(parsed->code, "pass");
  EXPECT_FALSE(parsed->id);
  EXPECT_EQ(json::parse(parsed->options_json),
            json::parse(R"({"stdin":"x","args":["a"],"limits":{"wall_ms":5}})"));
}

TEST(RunRequest, DecodesCodeBase64AndTakesTheClientsId) {
  auto parsed = parse_run_request(
      R"({"image":"c","code_base64":"/wA=","id":"abcdefghijklmnopqrstuvwxyz012345"})", k_max_code);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->code, std::string("\xff\0", 2));
  ASSERT_TRUE(parsed->id);
  EXPECT_EQ(parsed->id->printable(), "abcdefghijklmnopqrstuvwxyz012345");
  EXPECT_EQ(parsed->options_json, "{}");
}

TEST(RunRequest, RefusesWhatIsNotARequestWith400) {
  for (const char* body :
       {"not json", "[1]", R"({"code":"x"})", R"({"image":1,"code":"x"})", R"({"image":"c"})",
        R"({"image":"c","code":"x","code_base64":"eA=="})", R"({"image":"c","code":1})",
        R"({"image":"c","code_base64":"%%%"})", R"({"image":"c","code":"x","id":"short"})",
        R"({"image":"c","code":"x","id":"abcdefghijklmnop rstuvwxyz012345"})"}) {
    auto parsed = parse_run_request(body, k_max_code);
    ASSERT_FALSE(parsed) << body;
    EXPECT_EQ(parsed.error().status, 400) << body;
    EXPECT_FALSE(parsed.error().message.empty()) << body;
  }
}

TEST(RunRequest, RefusesCodeOverTheBoundWith413) {
  const std::string body = R"({"image":"c","code":")" + std::string(k_max_code + 1, 'a') + "\"}";
  auto parsed = parse_run_request(body, k_max_code);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().status, 413);
  EXPECT_NE(parsed.error().message.find("max_code_bytes"), std::string::npos);
  EXPECT_TRUE(parse_run_request(R"({"image":"c","code":")" + std::string(k_max_code, 'a') + "\"}",
                                k_max_code));
}

TEST(TaskIdText, ReadsPrintableIdsAndHex) {
  const std::string printable = "abcdefghijklmnopqrstuvwxyz012345";
  ASSERT_TRUE(parse_task_id(printable));
  EXPECT_EQ(parse_task_id(printable)->printable(), printable);
  const auto binary = make_id("bin", 7);
  ASSERT_TRUE(parse_task_id(binary.hex()));
  EXPECT_EQ(*parse_task_id(binary.hex()), binary);
  EXPECT_FALSE(parse_task_id("abc"));
  EXPECT_FALSE(parse_task_id(std::string(64, 'g')));
  EXPECT_FALSE(parse_task_id(std::string(31, 'a') + "\x01"));
}

TEST(TaskIdText, RandomIdsAreHexAndDiffer) {
  const auto first = protocol::TaskId::random();
  const auto second = protocol::TaskId::random();
  EXPECT_NE(first, second);
  EXPECT_EQ(first.printable().find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(first.printable().size(), 32U);
}

TEST(Utf8, TellsWellFormedFromNot) {
  EXPECT_TRUE(is_utf8(""));
  EXPECT_TRUE(is_utf8("hello\n"));
  EXPECT_TRUE(is_utf8("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_utf8("\xff"));
  EXPECT_FALSE(is_utf8("\xc0\x80"));          // overlong NUL
  EXPECT_FALSE(is_utf8("\xe0\x80\xaf"));      // overlong '/'
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_utf8("\xe2\x82"));          // cut short
  EXPECT_FALSE(is_utf8("\xe2(\xac"));         // not a continuation byte
}

TEST(RunAnswer, CarriesBytesThatAreNotUtf8AsBase64AndTheReportAsAnObject) {
  const auto id = make_id("answer");
  const json answer = json::parse(run_answer(id, 3, "ok\n", std::string("\xff\xfe", 2),
                                             R"({"status":"exited","exit_code":3})"));
  EXPECT_EQ(answer["id"], id.printable());
  EXPECT_EQ(answer["exit_code"], 3);
  EXPECT_EQ(answer["stdout"], "ok\n");
  EXPECT_FALSE(answer.contains("stderr"));
  EXPECT_EQ(answer["stderr_base64"], "//4=");
  EXPECT_EQ(answer["report"]["status"], "exited");
  EXPECT_TRUE(json::parse(run_answer(id, 0, "", "", ""))["report"].is_null());
}

TEST(Events, AreOneLineOfJsonEach) {
  EXPECT_EQ(sse_event("out", R"({"text":"a\nb"})"), "event: out\ndata: {\"text\":\"a\\nb\"}\n\n");
  EXPECT_EQ(chunk_data("a\n"), R"({"text":"a\n"})");
  EXPECT_EQ(chunk_data("\xe2\x82"), R"({"base64":"4oI="})");
  EXPECT_EQ(error_body("bad \"x\""), R"({"error":"bad \"x\""})");
}

TEST(TaskChannel, APushOverTheBoundWaitsForTheReader) {
  TaskChannel channel(4);
  const auto id = make_id("bound");
  EXPECT_FALSE(channel.push(protocol::Append{id, protocol::Stream::out, "12345"}, true));
  auto second = std::async(std::launch::async, [&] {
    return channel.push(protocol::Append{id, protocol::Stream::out, "6"}, true);
  });
  // The second push cannot return before the first chunk is read: nothing else frees room.
  EXPECT_EQ(second.wait_for(50ms), std::future_status::timeout);
  auto first = channel.pop(1000ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(std::get<protocol::Append>(*first).text, "12345");
  EXPECT_FALSE(second.get());
  auto next = channel.pop(1000ms);
  ASSERT_TRUE(next);
  EXPECT_EQ(std::get<protocol::Append>(*next).text, "6");
  EXPECT_FALSE(channel.pop(10ms));
}

TEST(TaskChannel, AbandonReleasesAWaitingWorkerAndDropsWhatFollows) {
  TaskChannel channel(1);
  const auto id = make_id("abandon");
  (void)channel.push(protocol::Append{id, protocol::Stream::out, "xx"}, true);
  auto waiting = std::async(std::launch::async, [&] {
    return channel.push(protocol::Append{id, protocol::Stream::out, "y"}, true);
  });
  EXPECT_FALSE(channel.abandon());  // no EXITED yet: the worker's push will close it
  EXPECT_FALSE(waiting.get());
  EXPECT_TRUE(channel.push(protocol::Exited{id, 130}, true));  // the sink closes it now
  EXPECT_FALSE(channel.pop(10ms));
}

TEST(TaskChannel, AbandonAfterExitedTellsTheCallerToClose) {
  TaskChannel channel(0);
  const auto id = make_id("late");
  EXPECT_FALSE(channel.push(protocol::Exited{id, 0}, true));
  EXPECT_TRUE(channel.abandon());
}

TEST(RoutingSink, SendsHttpTasksToTheirChannelsAndTheRestOn) {
  EventRecorder inner;
  TaskHub hub;
  RoutingSink sink(inner, hub);
  const auto http_task = make_id("http");
  const auto zmq_task = make_id("zmq");
  auto channel = hub.open(http_task, 0);
  ASSERT_TRUE(channel);
  EXPECT_EQ(hub.open(http_task, 0), nullptr);  // one channel per id
  sink.send(protocol::Append{http_task, protocol::Stream::out, "mine"});
  sink.send_now(protocol::Exited{http_task, 0});
  sink.send(protocol::Append{zmq_task, protocol::Stream::out, "theirs"});
  sink.send_now(protocol::Exited{zmq_task, 0});
  EXPECT_TRUE(inner.of(http_task).empty());
  EXPECT_EQ(inner.of(zmq_task).size(), 2U);
  auto first = channel->pop(100ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(std::get<protocol::Append>(*first).text, "mine");
  ASSERT_TRUE(channel->pop(100ms));
  // An abandoned task's EXITED closes its channel: what comes after its id goes on.
  auto gone = hub.open(make_id("gone"), 0);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->abandon());
  sink.send(protocol::Exited{make_id("gone"), 130});
  EXPECT_EQ(hub.find(make_id("gone")), nullptr);
  EXPECT_TRUE(inner.of(make_id("gone")).empty());
}

config::Config two_runners() {
  auto parsed = config::parse(R"(
[[runner]]
match = ["py"]
image = "planificador/python"
file = "main.py"
run = ["python3", "main.py"]
pool = 2

[[runner]]
match = ["c\"q"]
image = "planificador/c"
file = "main.c"
run = ["./main"]
)",
                              "test.toml");
  EXPECT_TRUE(parsed) << parsed.error().message;
  return *parsed;
}

TEST(Metrics, CountsTasksByRunnerAndStatusFromZero) {
  const auto config = two_runners();
  Metrics metrics(config);
  const std::string before = metrics.render({});
  EXPECT_NE(before.find("planificador_tasks_total{runner=\"py\",status=\"exited\"} 0\n"),
            std::string::npos)
      << before;
  // Label values are escaped as the text format wants.
  EXPECT_NE(before.find("runner=\"c\\\"q\""), std::string::npos) << before;
  metrics.task_finished({&config.runners[0], protocol::Status::exited, true, 3, 1, 10});
  metrics.task_finished({&config.runners[0], protocol::Status::exited, true, 700, 2, 5});
  metrics.task_finished({nullptr, protocol::Status::rejected});
  metrics.http_answered(200);
  Gauges gauges;
  gauges.running = 2;
  gauges.queued = 5;
  gauges.backend.engine_down = "no engine";
  gauges.backend.pools.push_back({&config.runners[0], 1, 1, 3, 1});
  const std::string text = metrics.render(gauges);
  for (const char* line : {
           "planificador_tasks_total{runner=\"py\",status=\"exited\"} 2\n",
           "planificador_tasks_total{runner=\"\",status=\"rejected\"} 1\n",
           "planificador_task_wall_seconds_bucket{runner=\"py\",le=\"0.005\"} 1\n",
           "planificador_task_wall_seconds_bucket{runner=\"py\",le=\"1\"} 2\n",
           "planificador_task_wall_seconds_bucket{runner=\"py\",le=\"+Inf\"} 2\n",
           "planificador_task_wall_seconds_count{runner=\"py\"} 2\n",
           "planificador_task_wall_seconds_sum{runner=\"py\"} 0.703\n",
           "planificador_output_bytes_total{runner=\"py\"} 15\n",
           "planificador_tasks_running 2\n",
           "planificador_tasks_queued 5\n",
           "planificador_pool_containers{runner=\"py\",state=\"idle\"} 1\n",
           "planificador_containers_created_total{runner=\"py\"} 3\n",
           "planificador_engine_up 0\n",
           "planificador_backend_ready 1\n",
           "planificador_http_requests_total{code=\"200\"} 1\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "in\n" << text;
  }
}

TEST(HttpConfig, ReadsListenAndDefaultsTheBodyBound) {
  auto parsed = config::parse(R"(
[server]
max_code_bytes = 1000
[http]
listen = "[::1]:0"
[[runner]]
match = ["b"]
image = "i"
file = "f"
run = ["x"]
)",
                              "t.toml");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->http.host, "::1");
  EXPECT_EQ(parsed->http.port, 0);
  EXPECT_TRUE(parsed->http.loopback);
  EXPECT_EQ(parsed->http.max_body_bytes, 2000U + (2U << 20));
}

TEST(HttpConfig, RefusesABadAddressAndAnOpenOneWithoutAToken) {
  const auto with = [](const std::string& http) {
    return config::parse(
        "[http]\n" + http +
            "\n[[runner]]\nmatch = [\"b\"]\nimage = \"i\"\nfile = \"f\"\nrun = [\"x\"]\n",
        "t.toml");
  };
  for (const char* bad : {R"(listen = "8080")", R"(listen = "host:")", R"(listen = "::1:80")",
                          R"(listen = "h:70000")", R"(max_body_bytes = 10)"}) {
    auto parsed = with(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_NE(parsed.error().message.find("http."), std::string::npos) << parsed.error().message;
  }
  auto open = with(R"(listen = "0.0.0.0:8080")");
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().message.find("token_file"), std::string::npos) << open.error().message;
  EXPECT_TRUE(with("listen = \"0.0.0.0:8080\"\ntoken_file = \"/etc/planificador/token\""));
  EXPECT_TRUE(with(R"(listen = "")"));
}

}  // namespace
}  // namespace planificador::http
