// The orphan sweeper against a fake engine: what it removes, what it leaves, and that it
// notices a failed removal and an engine's return by itself, with no task to prompt it.

#include "planificador/backend/docker/orphan_sweeper.hpp"

#include <chrono>
#include <string>
#include <thread>

#include "fake_engine.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>

namespace planificador::backend::docker {
namespace {

using namespace std::chrono_literals;
using test::FakeEngine;
using testing::wait_until;

constexpr const char* k_listing = R"([
  {"Id":"owned","Names":["/a"],"State":"running"},
  {"Id":"orphan-exited","Names":["/b"],"State":"exited"},
  {"Id":"orphan-running","Names":["/c"],"State":"running"},
  {"Id":"being-made","Names":["/d"],"State":"created"}])";

// The ids the fake was asked to remove, oldest first.
std::vector<std::string> removed(const FakeEngine& engine) {
  std::vector<std::string> ids;
  for (const auto& request : engine.requests()) {
    if (request.method == "DELETE") {
      const auto start = request.target.find("/containers/") + 12;
      ids.push_back(request.target.substr(start, request.target.find('?') - start));
    }
  }
  return ids;
}

bool listed_with_label(const FakeEngine& engine, const std::string& instance) {
  for (const auto& request : engine.requests()) {
    if (request.method == "GET" && request.target.starts_with("/v1.41/containers/json") &&
        request.target.find(instance) != std::string::npos) {
      return true;
    }
  }
  return false;
}

class OrphanSweeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_fake.on("GET", "/v1.41/_ping", {200, "OK", "text/plain"});
    m_fake.on("GET", "/v1.41/containers/json", {200, k_listing});
    m_fake.on("DELETE", "/v1.41/containers/", {204, ""});
    m_registry.add("owned");
  }

  // Waits up to `timeout` for the fake to have been asked to remove something.
  bool wait_for_removal(std::chrono::milliseconds timeout) {
    return wait_until([&] { return !removed(m_fake).empty(); }, timeout, 20ms);
  }
  [[nodiscard]] std::size_t pings() const {
    std::size_t count = 0;
    for (const auto& request : m_fake.requests()) {
      count += request.target == "/v1.41/_ping" ? 1 : 0;
    }
    return count;
  }

  FakeEngine m_fake;
  EngineClient m_engine{m_fake.socket_path(), 5s};
  ContainerRegistry m_registry;
};

TEST_F(OrphanSweeperTest, RemovesWhatNobodyOwnsAndNothingElse) {
  const OrphanSweeper sweeper(m_engine, m_registry, "inst-1");
  EXPECT_EQ(sweeper.sweep(), 2U);
  EXPECT_EQ(removed(m_fake), (std::vector<std::string>{"orphan-exited", "orphan-running"}));
  EXPECT_TRUE(listed_with_label(m_fake, "inst-1"));
}

TEST_F(OrphanSweeperTest, ListingFailureRemovesNothing) {
  m_fake.on("GET", "/v1.41/containers/json", {500, R"({"message":"boom"})"});
  const OrphanSweeper sweeper(m_engine, m_registry, "inst-1");
  EXPECT_EQ(sweeper.sweep(), 0U);
  EXPECT_TRUE(removed(m_fake).empty());
}

TEST_F(OrphanSweeperTest, AFailedRemovalIsSweptWithinAPing) {
  OrphanSweeper sweeper(m_engine, m_registry, "inst-1");
  sweeper.start();
  std::this_thread::sleep_for(OrphanSweeper::k_ping_interval + 300ms);
  EXPECT_TRUE(removed(m_fake).empty()) << "nothing failed: no sweep before its interval";
  m_registry.note_removal_failed();
  EXPECT_TRUE(wait_for_removal(OrphanSweeper::k_ping_interval * 3));
  sweeper.stop();
}

TEST_F(OrphanSweeperTest, ALostEngineIsPingedUntilItAnswersThenSwept) {
  m_fake.on("GET", "/v1.41/_ping", {500, "down", "text/plain"});
  OrphanSweeper sweeper(m_engine, m_registry, "inst-1");
  sweeper.start();
  sweeper.engine_lost();
  // Two pings the engine failed: a sweeper that swept regardless would have by the second.
  EXPECT_TRUE(wait_until([&] { return pings() >= 2; }, OrphanSweeper::k_ping_interval * 10));
  EXPECT_TRUE(removed(m_fake).empty()) << "swept while the engine did not answer";
  EXPECT_GE(pings(), 2U);
  m_fake.on("GET", "/v1.41/_ping", {200, "OK", "text/plain"});
  EXPECT_TRUE(wait_for_removal(OrphanSweeper::k_ping_interval * 3));
  sweeper.stop();
}

TEST_F(OrphanSweeperTest, StopReturnsPromptly) {
  OrphanSweeper sweeper(m_engine, m_registry, "inst-1");
  sweeper.start();
  const auto start = std::chrono::steady_clock::now();
  sweeper.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, OrphanSweeper::k_ping_interval);
}

}  // namespace
}  // namespace planificador::backend::docker
