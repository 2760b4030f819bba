// Hostile programs against the file-system isolation: host secrets, the executor's
// environment, read-only places, task-file paths that try to leave the work directory,
// and whatever one task leaves behind for the next (in a warm container, the next task
// runs in the same container: the pool holds one per runner here).

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "hostile_fixture.hpp"
#include <nlohmann/json.hpp>

#include "planificador/protocol/options.hpp"

namespace planificador::testing {
namespace {

using protocol::Status;

constexpr const char* k_secret_variable = "PLANIFICADOR_HOSTILE_SECRET";

// The executor's secret, in the test process's (the executor's) environment.
const std::string& executor_secret() {
  static const std::string secret = "hostile-secret-" + unique_marker() + unique_marker();
  return secret;
}

class HostileFilesystem : public HostileTest {
 public:
  // Before any backend exists, as a daemon would have it from its own start.
  static void SetUpTestSuite() { ::setenv(k_secret_variable, executor_secret().c_str(), 1); }
};

TEST_P(HostileFilesystem, HostFilesAreNotVisible) {
  const std::string secret_file = "/tmp/planificador-secret-" + unique_marker();
  std::ofstream(secret_file) << "host secret\n";
  protocol::TaskOptions options;
  options.args = {secret_file};
  const auto outcome = attack("python", "read_host_file.py", options);
  std::error_code ignored;
  std::filesystem::remove(secret_file, ignored);
  EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_EQ(outcome.result.exit_code, 0) << outcome.out << outcome.err;
  EXPECT_EQ(outcome.out.find("host secret"), std::string::npos);
  EXPECT_EQ(outcome.out.find("READ"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("/etc/shadow: refused"), std::string::npos) << outcome.out;
}

// The container's id is not the task's to know: /etc/hostname and /etc/hosts, which the
// engine writes into every container, and the UTS name say "sandbox".
TEST_P(HostileFilesystem, HostnameIsNotTheContainerId) {
  const auto outcome = run_code("bash", "cat /etc/hostname; hostname; cat /etc/hosts\n");
  EXPECT_TRUE(outcome.out.starts_with("sandbox\nsandbox\n")) << describe(outcome);
  for (const auto& container : harness().containers()) {
    EXPECT_EQ(outcome.out.find(container.id.substr(0, 12)), std::string::npos);
  }
}

// Nothing of the executor's environment reaches a task: not its own environment, not any
// /proc/<pid>/environ it can read (PID 1's included), not the mount tables.
TEST_P(HostileFilesystem, ExecutorEnvironmentDoesNotLeak) {
  ASSERT_STREQ(std::getenv(k_secret_variable), executor_secret().c_str());
  const auto outcome = attack("python", "environment_leak.py");
  EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_EQ(outcome.result.exit_code, 0) << outcome.err;
  for (const auto* text : {&outcome.out, &outcome.err, &outcome.result.diagnostic}) {
    EXPECT_EQ(text->find(executor_secret()), std::string::npos) << "the secret leaked:\n" << *text;
    EXPECT_EQ(text->find(k_secret_variable), std::string::npos) << *text;
  }
  // It really looked.
  for (const char* part : {"== /proc/1/environ", "== /proc/self/mountinfo", "== os.environ"}) {
    EXPECT_NE(outcome.out.find(part), std::string::npos) << part;
  }
  // The mount table names no host path: not the daemon's state directory (the helper is
  // run from a descriptor), not the engine's data root, its layer directories or the
  // container's id (/usr is an overlay the helper made of the container's own /usr, /etc
  // a copy on a tmpfs; sandboxd/system_view.hpp).
  for (const std::string& path :
       {harness().config().server.state_dir + "/", std::string("/var/lib/docker"),
        std::string("overlay2"), std::string("/containers/")}) {
    EXPECT_EQ(outcome.out.find(path), std::string::npos) << path << " in\n" << outcome.out;
  }
  for (const auto& container : harness().containers()) {
    EXPECT_EQ(outcome.out.find(container.id.substr(0, 12)), std::string::npos) << outcome.out;
  }
  EXPECT_NE(outcome.out.find(" /usr "), std::string::npos) << "no /usr mount in\n" << outcome.out;
}

TEST_P(HostileFilesystem, RootFileSystemIsReadOnly) {
  const auto outcome = attack("bash", "write_root.sh");
  EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_EQ(outcome.result.exit_code, 0) << outcome.out << outcome.err;
  EXPECT_EQ(outcome.out.find("wrote"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("refused /etc/passwd"), std::string::npos) << outcome.out;
}

TEST_P(HostileFilesystem, ProcSysAndSysAreReadOnly) {
  const auto outcome = attack("bash", "write_proc_sys.sh");
  EXPECT_EQ(outcome.result.status, Status::exited) << describe(outcome);
  EXPECT_EQ(outcome.result.exit_code, 0) << outcome.out << outcome.err;
  EXPECT_EQ(outcome.out.find("wrote"), std::string::npos) << outcome.out;
  EXPECT_NE(outcome.out.find("refused /proc/sys/kernel/core_pattern"), std::string::npos);
}

// SUBMIT_EXT "files" paths that leave the work directory: admission rejects them (SPEC
// §4), and the backend, which must not rely on that, rejects them too (125) without
// writing anything.
TEST_P(HostileFilesystem, TaskFilePathsCannotEscape) {
  for (const std::string path : {"../x", "/etc/x", "a/../../x", "..", "a/./../x", "./x"}) {
    const nlohmann::json json = {{"files", {{{"path", path}, {"content", "planted"}}}}};
    const auto parsed = protocol::parse_options(json.dump());
    ASSERT_FALSE(parsed.has_value()) << path << " passed admission";
    EXPECT_NE(parsed.error().message.find("options.files[0].path"), std::string::npos)
        << parsed.error().message;

    protocol::TaskOptions options;
    options.files = {{path, "planted"}};
    const auto outcome = run_code("bash", "echo ran\n", options);
    EXPECT_EQ(outcome.result.status, Status::rejected) << path << ": " << describe(outcome);
    EXPECT_EQ(outcome.result.exit_code, 125) << path;
    EXPECT_NE(outcome.result.diagnostic.find("escapes the work directory"), std::string::npos)
        << path << ": " << outcome.result.diagnostic;
    EXPECT_EQ(outcome.out.find("ran"), std::string::npos) << path;
  }
}

// One task plants symlinks where the next task's files go; the next task's files must be
// its own regular files (the writer never follows a link, and the reset removed them).
TEST_P(HostileFilesystem, SymlinksPlantedByOneTaskAreNotFollowed) {
  const auto planting = attack("bash", "plant_symlinks.sh");
  ASSERT_EQ(planting.out, "planted\n") << describe(planting);
  protocol::TaskOptions options;
  options.files = {{"input.txt", "mine"}, {"data/x.txt", "mine too"}, {"notes.txt", "notes"}};
  const auto next = attack("bash", "check_files.sh", options);
  EXPECT_EQ(next.result.status, Status::exited) << describe(next);
  EXPECT_EQ(next.out,
            "input.txt: regular file\n"
            "data: directory\n"
            "data/x.txt: regular file\n"
            "notes.txt: regular file\n"
            "main.sh: regular file\n"
            "content: mine|mine too|notes\n")
      << next.err;
}

TEST_P(HostileFilesystem, FilesLeftBehindAreGoneForTheNextTask) {
  const std::string marker = unique_marker();
  protocol::TaskOptions options;
  options.args = {marker};
  const auto planting = attack("bash", "plant_leftovers.sh", options);
  ASSERT_EQ(planting.result.status, Status::exited) << describe(planting);
  ASSERT_EQ(planting.out, "planted\n") << planting.err;
  ASSERT_EQ(planting.err, "");
  const auto next = attack("bash", "check_leftovers.sh");
  EXPECT_EQ(next.result.status, Status::exited) << describe(next);
  EXPECT_EQ(next.out, "space ok\ndone\n") << next.err;
}

// SysV and POSIX IPC objects are not files: they live in the IPC namespace.
TEST_P(HostileFilesystem, IpcObjectsLeftBehindAreGoneForTheNextTask) {
  protocol::TaskOptions plant;
  plant.args = {"plant"};
  const auto planting = attack("c", "ipc_leftovers.c", plant);
  ASSERT_EQ(planting.result.status, Status::exited) << describe(planting);
  ASSERT_EQ(planting.out.find("-1"), std::string::npos) << "could not plant: " << planting.out;
  protocol::TaskOptions check;
  check.args = {"check"};
  const auto next = attack("c", "ipc_leftovers.c", check);
  EXPECT_EQ(next.result.status, Status::exited) << describe(next);
  EXPECT_EQ(next.out, "shm: absent\nsem: absent\nmsg: absent\nmq: absent\n");
}

PLANIFICADOR_HOSTILE_MODES(HostileFilesystem);

}  // namespace
}  // namespace planificador::testing
