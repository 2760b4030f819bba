// The engine goes away under the real daemon: restarted (gracefully and by a crash)
// while tasks run, and absent when the daemon starts. The restarts use a private engine
// of the test's own; the machine's main engine is never stopped.

#include <filesystem>
#include <set>
#include <signal.h>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "daemon_process.hpp"
#include "e2e_common.hpp"
#include "event_collector.hpp"
#include "fake_backend.hpp"
#include "private_engine.hpp"
#include "resource_watch.hpp"
#include "wait.hpp"
#include <gtest/gtest.h>

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto k_task_wait = 120s;

struct Answers {
  std::size_t failed = 0;   // 125 with a diagnostic
  std::size_t running = 0;  // of those, tasks that were running when the engine went
};

// Every task got one EXITED, last, and it is either its full, right output with 0, or 125
// with a diagnostic (a task whose container the engine stopped included).
Answers check_answers(const EventCollector& events,
                      const std::map<protocol::TaskId, std::string>& expected,
                      const std::set<protocol::TaskId>& running) {
  Answers answers;
  for (const auto& [id, out] : expected) {
    const auto task = events.task(id);
    EXPECT_EQ(task.exits, 1U) << id.printable();
    EXPECT_EQ(task.after_exit, 0U) << id.printable();
    if (running.contains(id)) {
      // Its container was stopped under it: an executor failure, never the program's fate.
      ++answers.running;
      EXPECT_EQ(task.exit_code, 125) << id.printable() << ": " << task.err;
    }
    if (task.exit_code == 0) {
      EXPECT_EQ(task.out, out) << id.printable();
    } else {
      ++answers.failed;
      EXPECT_EQ(task.exit_code, 125) << id.printable() << ": " << task.err;
      EXPECT_TRUE(ends_with_diagnostic(task.err)) << id.printable() << ": " << task.err;
    }
  }
  return answers;
}

// Containers of `instance` in `host` that are not running (what a restart leaves).
std::string stopped_containers(const std::string& host, const std::string& instance) {
  return run_command(docker_argv(host, {"ps", "-a", "--filter",
                                        "label=org.planificador.instance=" + instance, "--filter",
                                        "status=exited", "--filter", "status=dead", "--format",
                                        "{{.ID}} {{.Status}}"}),
                     "", 30s)
      .out;
}

// One restart of the engine under load, as a list of steps: tasks running and queued
// when it stops, tasks sent while it is down, tasks after it is back; then the answers.
class RestartCycle {
 public:
  RestartCycle(PrivateEngine& engine, DaemonProcess& daemon, EventCollector& events,
               IntakeSender& intake, int signal, std::string tag)
      : m_engine(engine),
        m_daemon(daemon),
        m_events(events),
        m_intake(intake),
        m_signal(signal),
        m_tag(std::move(tag)) {}

  // Two sleepers run when the engine goes; after a graceful stop four more wait in the
  // queue and meet the stopped engine. (After a crash queued ones would only delay the
  // first task after recovery: the old containers serve them meanwhile.)
  void start_sleepers() {
    for (std::size_t i = 0; i < (m_signal == SIGTERM ? 6U : 2U); ++i) {
      const auto n = std::to_string(i);
      m_sleepers.push_back(submit("sleep", i,
                                  "echo start-" + n + "; sleep 10; echo end-" + n + "\n",
                                  "start-" + n + "\nend-" + n + "\n"));
    }
    auto started = [&](const protocol::TaskId& id) {
      const auto task = m_events.task(id);
      return task.out_bytes != 0 || task.exits != 0;
    };
    (void)wait_until([&] { return started(m_sleepers[0]) && started(m_sleepers[1]); }, k_task_wait,
                     20ms);
    ASSERT_GT(m_events.task(m_sleepers[1]).out_bytes, 0U) << m_daemon.log();
    for (const auto& id : m_sleepers) {
      const auto task = m_events.task(id);
      if (task.out_bytes != 0 && task.exits == 0) {
        m_running.insert(id);
      }
    }
  }

  // After a graceful stop the tasks sent meanwhile are answered at once (125); after a
  // crash the containers live on and serve them. Either way the engine comes back while
  // the sleepers that were running still run (after a crash it then kills them).
  void stop_engine_and_submit() {
    const auto down_at = Clock::now();
    ASSERT_TRUE(m_engine.stop(m_signal)) << m_engine.log_tail();
    print_figure(m_tag + " engine stop ms", std::to_string(ms_since(down_at)));
    std::vector<protocol::TaskId> during;
    for (std::size_t i = 0; i < 3; ++i) {
      const auto n = std::to_string(i);
      during.push_back(submit("during", i, "echo during-" + n + "\n", "during-" + n + "\n"));
    }
    if (m_signal == SIGTERM) {
      EXPECT_TRUE(m_events.wait_exited(during, 60s)) << m_daemon.log();
    } else {
      std::this_thread::sleep_for(1s);
    }
  }

  // Served again without a restart of the daemon: the first task that succeeds after the
  // engine answers measures recovery; then a few more must all succeed.
  void restart_engine_and_probe() {
    const auto restart_at = Clock::now();
    ASSERT_EQ(m_engine.start_again(), "");
    print_figure(m_tag + " engine restart ms", std::to_string(ms_since(restart_at)));
    const auto up_at = Clock::now();
    bool recovered = false;
    for (std::size_t i = 0; i < 60 && !recovered; ++i) {
      const auto probe = submit("probe", i, "echo probe\n", "probe\n");
      ASSERT_TRUE(m_events.wait_exited({probe}, k_task_wait));
      recovered = m_events.task(probe).exit_code == 0;
      if (!recovered) {
        std::this_thread::sleep_for(500ms);
      }
    }
    ASSERT_TRUE(recovered) << m_daemon.log();
    print_figure(m_tag + " first success after engine up ms", std::to_string(ms_since(up_at)));
    std::vector<protocol::TaskId> after;
    for (std::size_t i = 0; i < 6; ++i) {
      const auto n = std::to_string(i);
      after.push_back(submit("after", i, "echo after-" + n + "\n", "after-" + n + "\n"));
    }
    ASSERT_TRUE(m_events.wait_exited(after, k_task_wait)) << m_daemon.log();
    for (const auto& id : after) {
      EXPECT_EQ(m_events.task(id).exit_code, 0) << m_events.task(id).err;
    }
  }

  // Every task answered once and rightly; the restart hit some; what died with the engine
  // is swept once it is back.
  void check() {
    std::vector<protocol::TaskId> all;
    for (const auto& entry : m_expected) {
      all.push_back(entry.first);
    }
    ASSERT_TRUE(m_events.wait_exited(all, k_task_wait)) << m_daemon.log();
    const auto answers = check_answers(m_events, m_expected, m_running);
    print_figure(m_tag + " tasks answered 125 / of them running / total",
                 std::to_string(answers.failed) + " / " + std::to_string(answers.running) + " / " +
                     std::to_string(m_expected.size()));
    // The queued sleepers meet the stopped engine (graceful), the running ones the
    // engine's kill at its restart (crash): neither kind can have finished normally.
    EXPECT_GE(answers.failed, 1U) << "the restart hit no task";
    std::string stopped;
    (void)wait_until(
        [&] {
          stopped = stopped_containers(m_engine.host(), m_daemon.instance());
          return stopped.empty();
        },
        30s, 200ms);
    EXPECT_EQ(stopped, "") << "stopped containers left after the engine came back";
  }

 private:
  protocol::TaskId submit(const std::string& name, std::size_t i, const std::string& code,
                          const std::string& out) {
    const auto id = make_id(m_tag + name, i);
    m_expected[id] = out;
    EXPECT_TRUE(m_intake.send(submit_frame(id, "bash", code)));
    return id;
  }

  PrivateEngine& m_engine;
  DaemonProcess& m_daemon;
  EventCollector& m_events;
  IntakeSender& m_intake;
  int m_signal;
  std::string m_tag;
  std::map<protocol::TaskId, std::string> m_expected;
  std::vector<protocol::TaskId> m_sleepers;
  std::set<protocol::TaskId> m_running;
};

void restart_cycle(PrivateEngine& engine, DaemonProcess& daemon, EventCollector& events,
                   IntakeSender& intake, int signal, const std::string& tag) {
  RestartCycle cycle(engine, daemon, events, intake, signal, tag);
  cycle.start_sleepers();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  cycle.stop_engine_and_submit();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  cycle.restart_engine_and_probe();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  cycle.check();
}

TEST(EngineFaults, DockerdRestartedWhileTasksRun) {
  PLANIFICADOR_REQUIRE_E2E();
  std::string error;
  const auto set_up_at = Clock::now();
  auto engine = PrivateEngine::start(error);
  ASSERT_NE(engine, nullptr) << error;
  ASSERT_EQ(engine->load_image("planificador/bash"), "");
  print_figure("private engine ready ms", std::to_string(ms_since(set_up_at)));

  auto settings = e2e_settings("rst");
  settings.docker_socket = engine->socket();
  settings.runner_images = {"planificador/bash"};
  auto daemon = DaemonProcess::start(settings, error);
  ASSERT_NE(daemon, nullptr) << error;
  const pid_t pid = daemon->pid();
  EventCollector events(daemon->events());
  IntakeSender intake(daemon->intake());

  restart_cycle(*engine, *daemon, events, intake, SIGTERM, "graceful");
  ASSERT_FALSE(HasFatalFailure());
  restart_cycle(*engine, *daemon, events, intake, SIGKILL, "crash");
  ASSERT_FALSE(HasFatalFailure());

  EXPECT_TRUE(daemon->running());
  EXPECT_EQ(daemon->pid(), pid);
  EXPECT_EQ(events.undecodable(), 0U);
  EXPECT_EQ(daemon->terminate(60s), 0) << daemon->log();
  EXPECT_TRUE(containers_of(daemon->instance(), engine->host()).empty());
}

TEST(EngineFaults, EngineAbsentAtStartThenAppears) {
  PLANIFICADOR_REQUIRE_E2E();
  const TempDir dir("planificador-absent-");
  ASSERT_FALSE(dir.path().empty());
  const std::string socket = dir.path() + "/docker.sock";
  auto settings = e2e_settings("abs");
  settings.docker_socket = socket;
  settings.runner_images = {"planificador/bash"};
  std::string error;
  auto daemon = DaemonProcess::start(settings, error, 30s);
  ASSERT_NE(daemon, nullptr) << error;
  EXPECT_NE(daemon->log().find("backend not ready: engine unavailable"), std::string::npos)
      << daemon->log();

  // What a crashed earlier run of this instance would have left, for the recovery to reap.
  const auto leftover =
      run_command({"docker", "create", "--network", "none", "--label",
                   "org.planificador.instance=" + daemon->instance(), "planificador/bash", "true"});
  ASSERT_EQ(leftover.exit_code, 0) << leftover.err;
  const std::string leftover_id = leftover.out.substr(0, 64);
  struct Remover {
    std::string id;
    ~Remover() { (void)run_command({"docker", "rm", "-f", id}); }
  } remover{leftover_id};

  EventCollector events(daemon->events());
  IntakeSender intake(daemon->intake());
  std::vector<protocol::TaskId> refused;
  for (std::size_t i = 0; i < 4; ++i) {
    refused.push_back(make_id("absent", i));
    ASSERT_TRUE(intake.send(submit_frame(refused.back(), "bash", "echo never\n")));
  }
  ASSERT_TRUE(events.wait_exited(refused, 30s)) << daemon->log();
  for (const auto& id : refused) {
    const auto task = events.task(id);
    EXPECT_EQ(task.exit_code, 125);
    EXPECT_EQ(task.out, "");
    EXPECT_TRUE(task.err.starts_with("planificador: engine unavailable: ")) << task.err;
    EXPECT_NE(task.err.find(socket), std::string::npos) << task.err;
    EXPECT_TRUE(ends_with_diagnostic(task.err)) << task.err;
  }

  // The engine appears: the backend gets ready by itself, with no task to prompt it.
  fs::create_symlink("/var/run/docker.sock", socket);
  const auto appeared_at = Clock::now();
  auto pooled = [&] {
    return run_command({"docker", "ps", "-q", "--filter",
                        "label=org.planificador.instance=" + daemon->instance(), "--filter",
                        "label=org.planificador.task=pool", "--filter", "status=running"})
        .out;
  };
  const bool ready = wait_until(
      [&] {
        const bool reaped = run_command({"docker", "inspect", leftover_id}).exit_code != 0;
        std::istringstream lines(pooled());
        std::size_t running = 0;
        for (std::string line; std::getline(lines, line);) {
          running += line.empty() ? 0 : 1;
        }
        return reaped && running == settings.workers;
      },
      60s, 100ms);
  print_figure("engine appeared -> reaped and pool warm ms", std::to_string(ms_since(appeared_at)));
  EXPECT_TRUE(ready) << daemon->log();
  EXPECT_NE(daemon->log().find("backend ready after"), std::string::npos);
  EXPECT_NE(daemon->log().find("removing leftover container " + leftover_id.substr(0, 12)),
            std::string::npos);

  std::vector<protocol::TaskId> served;
  for (std::size_t i = 0; i < 4; ++i) {
    served.push_back(make_id("served", i));
    ASSERT_TRUE(
        intake.send(submit_frame(served.back(), "bash", "echo ok-" + std::to_string(i) + "\n")));
  }
  ASSERT_TRUE(events.wait_exited(served, k_task_wait)) << daemon->log();
  for (std::size_t i = 0; i < served.size(); ++i) {
    const auto task = events.task(served[i]);
    EXPECT_EQ(task.exit_code, 0) << task.err;
    EXPECT_EQ(task.out, "ok-" + std::to_string(i) + "\n");
    EXPECT_EQ(task.exits, 1U);
  }
  EXPECT_EQ(daemon->terminate(60s), 0) << daemon->log();
  EXPECT_TRUE(containers_of(daemon->instance()).empty());
}

}  // namespace
}  // namespace planificador::testing
