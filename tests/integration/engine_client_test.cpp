// The Engine API client against a fake engine on a unix socket: the success paths, and
// the failures a real engine will not produce on demand.

#include "planificador/backend/docker/engine_client.hpp"

#include <chrono>
#include <string>

#include "fake_engine.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace planificador::backend::docker {
namespace {

using namespace std::chrono_literals;
using test::CannedResponse;
using test::FakeEngine;

std::string frame(unsigned char stream, const std::string& payload) {
  std::string header(8, '\0');
  header[0] = static_cast<char>(stream);
  const auto size = payload.size();
  header[4] = static_cast<char>((size >> 24U) & 0xFFU);
  header[5] = static_cast<char>((size >> 16U) & 0xFFU);
  header[6] = static_cast<char>((size >> 8U) & 0xFFU);
  header[7] = static_cast<char>(size & 0xFFU);
  return header + payload;
}

class EngineClientTest : public ::testing::Test {
 protected:
  FakeEngine m_engine;
  EngineClient m_client{m_engine.socket_path(), 5s};
};

TEST_F(EngineClientTest, PingSucceedsOnOk) {
  m_engine.on("GET", "/v1.41/_ping", {200, "OK", "text/plain"});
  ASSERT_TRUE(m_client.ping()) << m_client.ping().error().message;
  ASSERT_EQ(m_engine.requests().size(), 1U);
  EXPECT_EQ(m_engine.requests()[0].method, "GET");
  EXPECT_EQ(m_engine.requests()[0].target, "/v1.41/_ping");
}

TEST_F(EngineClientTest, RuntimesAndCgroupLayoutAreReadFromInfo) {
  m_engine.on("GET", "/v1.41/info",
              {200, R"({"DefaultRuntime":"runc","Runtimes":{"runc":{"path":"runc"},)"
                    R"("runsc":{"path":"/usr/bin/runsc","runtimeArgs":["--network=none"]}},)"
                    R"("CgroupDriver":"systemd","CgroupVersion":"2"})"});
  auto info = m_client.info();
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->runtimes.default_name, "runc");
  EXPECT_EQ(info->runtimes.paths,
            (std::map<std::string, std::string>{{"runc", "runc"}, {"runsc", "/usr/bin/runsc"}}));
  EXPECT_EQ(info->cgroups.driver, "systemd");
  EXPECT_EQ(info->cgroups.version, os::CgroupVersion::v2);
}

TEST_F(EngineClientTest, InfoWithoutCgroupFieldsMeansCgroupfsOnV1) {
  m_engine.on("GET", "/v1.41/info", {200, R"({"DefaultRuntime":"runc"})"});
  auto info = m_client.info();
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->cgroups.driver, "cgroupfs");
  EXPECT_EQ(info->cgroups.version, os::CgroupVersion::v1);
}

TEST_F(EngineClientTest, InfoSurfacesTheEngineMessage) {
  m_engine.on("GET", "/v1.41/info", {500, R"({"message":"info failed"})"});
  auto info = m_client.info();
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("info failed"), std::string::npos) << info.error().message;
}

TEST_F(EngineClientTest, CreateSendsJsonAndNameAndReturnsId) {
  m_engine.on("POST", "/v1.41/containers/create", {201, R"({"Id":"abc123","Warnings":[]})"});
  const nlohmann::json body = {{"Image", "planificador/python"}, {"Cmd", {"true"}}};
  auto id = m_client.create(body, "task-1");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, "abc123");
  const auto request = m_engine.requests().at(0);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/v1.41/containers/create?name=task-1");
  EXPECT_EQ(request.headers.at("content-type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(request.body), body);
}

TEST_F(EngineClientTest, CreateSurfacesTheEngineMessage) {
  m_engine.on("POST", "/v1.41/containers/create", {404, R"({"message":"No such image: foo"})"});
  auto id = m_client.create({{"Image", "foo"}});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().message, "POST /containers/create: 404: No such image: foo");
}

TEST_F(EngineClientTest, ConflictAndServerErrorsCarryTheirMessages) {
  m_engine.on("POST", "/v1.41/containers/c1/start", {409, R"({"message":"container is paused"})"});
  m_engine.on("GET", "/v1.41/containers/c1/json", {500, R"({"message":"database locked"})"});
  auto started = m_client.start("c1");
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message, "POST /containers/c1/start: 409: container is paused");
  auto info = m_client.inspect("c1");
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().message, "GET /containers/c1/json: 500: database locked");
}

TEST_F(EngineClientTest, NonJsonErrorBodyIsPassedOnTrimmed) {
  m_engine.on("GET", "/v1.41/containers/c1/json", {502, "Bad Gateway\n", "text/plain"});
  m_engine.on("GET", "/v1.41/containers/c2/json", {500, "", "text/plain"});
  auto info = m_client.inspect("c1");
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().message, "GET /containers/c1/json: 502: Bad Gateway");
  auto empty = m_client.inspect("c2");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message, "GET /containers/c2/json: 500: (empty answer)");
}

TEST_F(EngineClientTest, NonJsonSuccessBodyIsAnError) {
  m_engine.on("GET", "/v1.41/containers/c1/json", {200, "<html>", "text/html"});
  auto info = m_client.inspect("c1");
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("answer is not JSON"), std::string::npos)
      << info.error().message;
}

TEST_F(EngineClientTest, RemoveForcesAndTreatsMissingAsSuccess) {
  m_engine.on("DELETE", "/v1.41/containers/gone",
              {404, R"({"message":"No such container: gone"})"});
  m_engine.on("DELETE", "/v1.41/containers/busy", {409, R"({"message":"removal in progress"})"});
  EXPECT_TRUE(m_client.remove("gone"));
  EXPECT_EQ(m_engine.requests().at(0).target, "/v1.41/containers/gone?force=1&v=1");
  auto busy = m_client.remove("busy");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().message, "DELETE /containers/busy: 409: removal in progress");
}

TEST_F(EngineClientTest, KillOfStoppedOrMissingContainerSucceeds) {
  m_engine.on("POST", "/v1.41/containers/stopped/kill", {409, R"({"message":"is not running"})"});
  m_engine.on("POST", "/v1.41/containers/gone/kill", {404, R"({"message":"No such container"})"});
  m_engine.on("POST", "/v1.41/containers/broken/kill", {500, R"({"message":"cannot kill"})"});
  EXPECT_TRUE(m_client.kill("stopped"));
  EXPECT_TRUE(m_client.kill("gone", "SIGTERM"));
  EXPECT_EQ(m_engine.requests().at(0).target, "/v1.41/containers/stopped/kill?signal=SIGKILL");
  EXPECT_EQ(m_engine.requests().at(1).target, "/v1.41/containers/gone/kill?signal=SIGTERM");
  EXPECT_FALSE(m_client.kill("broken"));
}

TEST_F(EngineClientTest, ImageExistsDistinguishesMissingFromFailure) {
  m_engine.on("GET", "/v1.41/images/planificador/python:latest/json", {200, "{}"});
  m_engine.on("GET", "/v1.41/images/nope/json", {404, R"({"message":"No such image: nope"})"});
  m_engine.on("GET", "/v1.41/images/bad/json", {500, R"({"message":"disk on fire"})"});
  auto present = m_client.image_exists("planificador/python:latest");
  ASSERT_TRUE(present) << present.error().message;
  EXPECT_TRUE(*present);
  auto missing = m_client.image_exists("nope");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
  auto broken = m_client.image_exists("bad");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().message, "GET /images/bad/json: 500: disk on fire");
}

TEST_F(EngineClientTest, WaitReturnsStatusCodeOrEngineError) {
  m_engine.on("POST", "/v1.41/containers/c1/wait", {200, R"({"StatusCode":137,"Error":null})"});
  m_engine.on("POST", "/v1.41/containers/c2/wait",
              {200, R"({"StatusCode":-1,"Error":{"Message":"wait interrupted"}})"});
  auto code = m_client.wait("c1");
  ASSERT_TRUE(code) << code.error().message;
  EXPECT_EQ(*code, 137);
  auto failed = m_client.wait("c2");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "POST /containers/c2/wait: wait interrupted");
}

TEST_F(EngineClientTest, ListByLabelEncodesTheFilterAndParsesSummaries) {
  m_engine.on("GET", "/v1.41/containers/json", {200, R"([
    {"Id":"a1","Names":["/task-1"],"State":"running","Labels":{"org.planificador.instance":"x y"}},
    {"Id":"b2","Names":["/task-2"],"State":"exited","Labels":null}])"});
  auto list = m_client.list_by_label("org.planificador.instance=x y");
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 2U);
  EXPECT_EQ((*list)[0].id, "a1");
  EXPECT_EQ((*list)[0].names, std::vector<std::string>{"/task-1"});
  EXPECT_EQ((*list)[0].state, "running");
  EXPECT_EQ((*list)[0].labels.at("org.planificador.instance"), "x y");
  EXPECT_EQ((*list)[1].state, "exited");
  EXPECT_TRUE((*list)[1].labels.empty());
  EXPECT_EQ(m_engine.requests().at(0).target,
            "/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22"
            "org.planificador.instance%3Dx%20y%22%5D%7D");
}

TEST_F(EngineClientTest, ListRejectsANonListAnswer) {
  m_engine.on("GET", "/v1.41/containers/json", {200, R"({"Id":"a1"})"});
  auto list = m_client.list_by_label("k");
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message.find("not a list"), std::string::npos) << list.error().message;
}

TEST_F(EngineClientTest, LogsAreDemultiplexed) {
  m_engine.on("GET", "/v1.41/containers/c1/logs",
              {200, frame(1, "out 1\n") + frame(2, "err\n") + frame(1, "out 2\n"),
               "application/vnd.docker.raw-stream"});
  auto logs = m_client.logs("c1");
  ASSERT_TRUE(logs) << logs.error().message;
  EXPECT_EQ(logs->out, "out 1\nout 2\n");
  EXPECT_EQ(logs->err, "err\n");
  EXPECT_EQ(m_engine.requests().at(0).target, "/v1.41/containers/c1/logs?stdout=1&stderr=1");
}

TEST_F(EngineClientTest, StalledEngineHitsTheTimeout) {
  m_engine.on("GET", "/v1.41/_ping", {200, "OK", "text/plain", 30s});
  const EngineClient impatient(m_engine.socket_path(), 300ms);
  const auto start = std::chrono::steady_clock::now();
  auto ping = impatient.ping();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(ping);
  EXPECT_EQ(ping.error().message,
            "GET /_ping: no answer from `" + m_engine.socket_path() + "` within 300 ms");
  EXPECT_LT(elapsed, 10s);
}

TEST_F(EngineClientTest, WaitTakesItsOwnTimeout) {
  m_engine.on("POST", "/v1.41/containers/c1/wait",
              {200, R"({"StatusCode":0})", "application/json", 30s});
  auto code = m_client.wait("c1", 200ms);
  ASSERT_FALSE(code);
  EXPECT_NE(code.error().message.find("within 200 ms"), std::string::npos) << code.error().message;
}

TEST(EngineClient, MissingSocketNamesThePath) {
  const EngineClient client("/nonexistent/planificador/engine.sock", 2s);
  auto ping = client.ping();
  ASSERT_FALSE(ping);
  EXPECT_EQ(ping.error().message,
            "connect `/nonexistent/planificador/engine.sock`: No such file or directory");
}

TEST(Demultiplex, SplitsStreamsInOrder) {
  auto logs = demultiplex(frame(1, "a") + frame(2, "b") + frame(0, "c") + frame(1, "") +
                          frame(2, std::string(70000, 'x')));
  ASSERT_TRUE(logs) << logs.error().message;
  EXPECT_EQ(logs->out, "ac");
  EXPECT_EQ(logs->err, "b" + std::string(70000, 'x'));
}

TEST(Demultiplex, EmptyInputIsEmptyLogs) {
  auto logs = demultiplex("");
  ASSERT_TRUE(logs);
  EXPECT_TRUE(logs->out.empty());
  EXPECT_TRUE(logs->err.empty());
}

TEST(Demultiplex, TruncatedHeaderNamesTheOffset) {
  auto logs = demultiplex(frame(1, "hello") + std::string("\x01\0\0", 3));
  ASSERT_FALSE(logs);
  EXPECT_EQ(logs.error().message, "demultiplex: truncated frame header at offset 13");
}

TEST(Demultiplex, TruncatedPayloadNamesTheOffset) {
  const std::string whole = frame(1, "ok") + frame(2, "0123456789");
  auto logs = demultiplex(whole.substr(0, whole.size() - 4));
  ASSERT_FALSE(logs);
  EXPECT_EQ(logs.error().message, "demultiplex: frame at offset 10 announces 10 bytes, 6 remain");
}

TEST(Demultiplex, UnknownStreamOrRawTtyOutputIsRejected) {
  auto unknown = demultiplex(frame(1, "ok") + frame(3, "?"));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown stream type 3 at offset 10"), std::string::npos)
      << unknown.error().message;
  auto raw = demultiplex("plain text from a TTY\n");
  ASSERT_FALSE(raw);
  EXPECT_NE(raw.error().message.find("at offset 0"), std::string::npos) << raw.error().message;
}

}  // namespace
}  // namespace planificador::backend::docker
