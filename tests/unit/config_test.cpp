#include "planificador/config/config.hpp"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

namespace planificador::config {
namespace {

// The smallest valid [[runner]].
constexpr const char* k_runner = R"(
[[runner]]
match = ["x"]
image = "img"
file = "main.x"
run = ["x"]
)";

Config parse_ok(const std::string& text) {
  auto config = parse(text, "config.toml");
  EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().message);
  return config ? *config : Config{};
}

// Returns the message of the error `text` must produce.
std::string error_of(const std::string& text) {
  auto config = parse(text, "config.toml");
  EXPECT_FALSE(config.has_value()) << "parsed without error:\n" << text;
  return config ? std::string() : config.error().message;
}

TEST(ConfigShipped, LoadsAndServesEveryImageOfTheSpec) {
  auto config = load(PLANIFICADOR_SOURCE_DIR "/config.toml");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->server.intake, "tcp://127.0.0.1:5555");
  EXPECT_EQ(config->server.events, "tcp://127.0.0.1:5556");
  EXPECT_EQ(config->server.control, "");
  EXPECT_FALSE(config->server.connect);
  EXPECT_EQ(config->server.workers, 2U);
  EXPECT_EQ(config->server.backlog, 1000U);
  EXPECT_EQ(config->output.chunk_bytes, 65536U);
  EXPECT_EQ(config->output.flush_ms, 10U);
  EXPECT_EQ(config->docker.socket, "/var/run/docker.sock");
  EXPECT_EQ(config->limits.memory_bytes, std::uint64_t{256} << 20);

  for (const char* image : {"python", "c", "cpp", "bash", "node"}) {
    EXPECT_NE(match_runner(*config, image), nullptr) << image;
  }
  const Runner* python = match_runner(*config, "python3.11");
  ASSERT_NE(python, nullptr);
  EXPECT_EQ(python->image, "planificador/python");
  EXPECT_EQ(python->file, "main.py");
  EXPECT_EQ(python->run, (std::vector<std::string>{"python3", "main.py"}));
  EXPECT_TRUE(python->compile.empty());

  const Runner* c = match_runner(*config, "c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->image, "planificador/c");
  EXPECT_EQ(c->compile,
            (std::vector<std::string>{"gcc", "-O2", "-pipe", "-o", "main", "main.c", "-lm"}));
  EXPECT_EQ(c->run, (std::vector<std::string>{"./main"}));
  EXPECT_EQ(match_runner(*config, "cpp")->file, "main.cpp");
  EXPECT_EQ(match_runner(*config, "bash")->run, (std::vector<std::string>{"bash", "main.sh"}));
  EXPECT_EQ(match_runner(*config, "js")->image, "planificador/node");
  EXPECT_EQ(match_runner(*config, "cobol"), nullptr);
}

TEST(ConfigDefaults, EveryOmittedKeyTakesItsDefault) {
  const Config config = parse_ok(k_runner);
  const Config defaults;
  EXPECT_EQ(config.server.intake, "tcp://127.0.0.1:5555");
  EXPECT_EQ(config.server.events, "tcp://127.0.0.1:5556");
  EXPECT_EQ(config.server.control, "");
  EXPECT_EQ(config.server.workers, 4U);
  EXPECT_EQ(config.server.backlog, 1000U);
  EXPECT_EQ(config.server.pool, 4U);
  EXPECT_EQ(config.server.grace_ms, 5000U);
  EXPECT_EQ(config.server.max_code_bytes, std::size_t{1} << 20);
  EXPECT_EQ(config.server.state_dir, "/run/planificador");
  EXPECT_EQ(config.output.chunk_bytes, 65536U);
  EXPECT_EQ(config.output.flush_ms, 10U);
  EXPECT_EQ(config.docker.socket, "/var/run/docker.sock");
  EXPECT_EQ(config.docker.runtime, "");
  EXPECT_DOUBLE_EQ(config.docker.cpus, 1.0);
  EXPECT_EQ(config.docker.work_bytes, std::uint64_t{64} << 20);
  EXPECT_EQ(config.log.level, "info");
  EXPECT_EQ(config.limits, defaults.limits);
  EXPECT_EQ(config.compile_wall_ms, 30000U);

  ASSERT_EQ(config.runners.size(), 1U);
  const Runner& runner = config.runners[0];
  EXPECT_EQ(runner.limits, defaults.limits);
  EXPECT_EQ(runner.compile_wall_ms, 30000U);
  EXPECT_EQ(runner.pool, 4U);
  EXPECT_EQ(runner.isolation, Isolation::strict);
  EXPECT_EQ(runner.max_tasks, 1000U);
  EXPECT_EQ(runner.line, 2U);
  const std::vector<std::pair<std::string, std::string>> env{
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
      {"HOME", "/work"},
      {"LANG", "C.UTF-8"}};
  EXPECT_EQ(runner.env, env);
}

TEST(ConfigDefaults, ExecutorFallsBackToTheHostName) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(parse_ok(k_runner).server.executor, host);
  EXPECT_EQ(parse_ok(std::string("[server]\nexecutor = \"\"\n") + k_runner).server.executor, host);
  EXPECT_EQ(parse_ok(std::string("[server]\nexecutor = \"host-a\"\n") + k_runner).server.executor,
            "host-a");
}

TEST(ConfigDefaults, RunnerPoolFollowsServerPoolWhichFollowsWorkers) {
  EXPECT_EQ(parse_ok(std::string("[server]\nworkers = 3\n") + k_runner).runners[0].pool, 3U);
  const Config zero = parse_ok(std::string("[server]\nworkers = 3\npool = 0\n") + k_runner);
  EXPECT_EQ(zero.server.pool, 0U);
  EXPECT_EQ(zero.runners[0].pool, 0U);
  const Config own = parse_ok(std::string("[server]\npool = 0\n") + k_runner + "pool = 7\n");
  EXPECT_EQ(own.runners[0].pool, 7U);
}

TEST(ConfigValues, UnitsAreConvertedToBytes) {
  const Config config = parse_ok(std::string(R"(
[docker]
work_mb = 128
cpus = 2
[limits]
memory_mb = 512
output_kb = 64
)") + k_runner);
  EXPECT_EQ(config.docker.work_bytes, std::uint64_t{128} << 20);
  EXPECT_DOUBLE_EQ(config.docker.cpus, 2.0);
  EXPECT_EQ(config.limits.memory_bytes, std::uint64_t{512} << 20);
  EXPECT_EQ(config.limits.output_bytes, std::uint64_t{64} << 10);
}

TEST(ConfigValues, RunnerLimitsOverrideOnlyWhatTheyName) {
  const Config config = parse_ok(std::string(R"(
[limits]
wall_ms = 5000
pids = 32
compile_ms = 20000
)") + k_runner + R"(
[runner.limits]
memory_mb = 1024
compile_ms = 60000
)" + k_runner + "limits = { wall_ms = 100 }\n");
  ASSERT_EQ(config.runners.size(), 2U);
  const Limits& first = config.runners[0].limits;
  EXPECT_EQ(first.wall_ms, 5000U);
  EXPECT_EQ(first.pids, 32U);
  EXPECT_EQ(first.memory_bytes, std::uint64_t{1024} << 20);
  EXPECT_EQ(first.cpu_ms, 10000U);
  EXPECT_EQ(config.runners[0].compile_wall_ms, 60000U);
  const Limits& second = config.runners[1].limits;
  EXPECT_EQ(second.wall_ms, 100U);
  EXPECT_EQ(second.pids, 32U);
  EXPECT_EQ(second.memory_bytes, std::uint64_t{256} << 20);
  EXPECT_EQ(config.runners[1].compile_wall_ms, 20000U);
  EXPECT_EQ(config.limits.wall_ms, 5000U);
  EXPECT_EQ(config.limits.memory_bytes, std::uint64_t{256} << 20);
}

TEST(ConfigValues, RunnerOptionalKeys) {
  const Config config = parse_ok(std::string(k_runner) + R"(
compile = ["cc", "-o", "x", "main.x"]
isolation = "fast"
max_tasks = 50
env = { LANG = "C", EMPTY = "" }
)");
  const Runner& runner = config.runners[0];
  EXPECT_EQ(runner.compile, (std::vector<std::string>{"cc", "-o", "x", "main.x"}));
  EXPECT_EQ(runner.isolation, Isolation::fast);
  EXPECT_EQ(runner.max_tasks, 50U);
  // A runner's own env replaces the default one entirely.
  EXPECT_EQ(runner.env,
            (std::vector<std::pair<std::string, std::string>>{{"EMPTY", ""}, {"LANG", "C"}}));
}

TEST(ConfigValues, EndpointsAndLevels) {
  const Config config = parse_ok(std::string(R"(
[server]
intake = "ipc:///run/p/intake"
events = "inproc://events"
control = "tcp://10.0.0.1:5557"
connect = true
[log]
level = "off"
)") + k_runner);
  EXPECT_EQ(config.server.intake, "ipc:///run/p/intake");
  EXPECT_EQ(config.server.events, "inproc://events");
  EXPECT_EQ(config.server.control, "tcp://10.0.0.1:5557");
  EXPECT_TRUE(config.server.connect);
  EXPECT_EQ(config.log.level, "off");
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    EXPECT_EQ(parse_ok(std::string("[log]\nlevel = \"") + level + "\"\n" + k_runner).log.level,
              level);
  }
}

TEST(ConfigErrors, ExactMessagesNameFileLineAndKey) {
  // The shape given in the issue: the third runner (index 2), its run on line 12.
  EXPECT_EQ(error_of(R"([[runner]]
match = ["a"]
image = "a"
file = "a"
run = ["a"]
[[runner]]
match = ["b"]
image = "b"
file = "b"
run = ["b"]
[[runner]]
run = []
match = ["c"]
image = "c"
file = "c"
)"),
            "config.toml:12: runner[2].run: expected a non-empty array of strings");
  EXPECT_EQ(error_of(std::string("# comment\n\n[server]\nintake = \"tcp://127.0.0.1:1\"\n"
                                 "events = \"tcp://127.0.0.1:2\"\n\nwokers = 4\n") +
                     k_runner),
            "config.toml:7: server.wokers: unknown key");
  EXPECT_EQ(error_of(std::string("[server]\nworkers = 0\n") + k_runner),
            "config.toml:2: server.workers: 0 is out of range (1..1024)");
  EXPECT_EQ(error_of("[server]\nworkers = 2\n"),
            "config.toml:1: runner: at least one [[runner]] is required");
}

TEST(ConfigErrors, WrongTypes) {
  const std::string r = k_runner;
  EXPECT_EQ(error_of("[server]\nworkers = \"2\"\n" + r),
            "config.toml:2: server.workers: expected an integer");
  EXPECT_EQ(error_of("[server]\nconnect = 1\n" + r),
            "config.toml:2: server.connect: expected a boolean");
  EXPECT_EQ(error_of("[server]\nintake = 5555\n" + r),
            "config.toml:2: server.intake: expected a string");
  EXPECT_EQ(error_of("[docker]\ncpus = \"1\"\n" + r),
            "config.toml:2: docker.cpus: expected a number");
  EXPECT_EQ(error_of("[limits]\nwall_ms = 1.5\n" + r),
            "config.toml:2: limits.wall_ms: expected an integer");
  EXPECT_EQ(error_of("server = 1\n" + r), "config.toml:1: server: expected a table");
  EXPECT_EQ(error_of(r + "env = [\"A=1\"]\n"),
            "config.toml:7: runner[0].env: expected a table of strings");
  EXPECT_EQ(error_of(r + "env = { A = 1 }\n"),
            "config.toml:7: runner[0].env.A: expected a string without NUL characters");
  EXPECT_EQ(error_of(r + "limits = 3\n"), "config.toml:7: runner[0].limits: expected a table");
  EXPECT_EQ(error_of("[runner]\nmatch = [\"x\"]\n"),
            "config.toml:1: runner: expected an array of tables ([[runner]])");
  EXPECT_EQ(error_of("runner = []\n"),
            "config.toml:1: runner: at least one [[runner]] is required");
}

TEST(ConfigErrors, OutOfRange) {
  const std::string r = k_runner;
  EXPECT_EQ(error_of("[server]\nworkers = 1025\n" + r),
            "config.toml:2: server.workers: 1025 is out of range (1..1024)");
  EXPECT_EQ(error_of("[server]\nbacklog = -1\n" + r),
            "config.toml:2: server.backlog: -1 is out of range (0..1000000)");
  EXPECT_EQ(error_of("[server]\nmax_code_bytes = 67108865\n" + r),
            "config.toml:2: server.max_code_bytes: 67108865 is out of range (1..67108864)");
  EXPECT_EQ(error_of("[output]\nchunk_bytes = 0\n" + r),
            "config.toml:2: output.chunk_bytes: 0 is out of range (1..16777216)");
  EXPECT_EQ(error_of("[output]\nflush_ms = 10001\n" + r),
            "config.toml:2: output.flush_ms: 10001 is out of range (0..10000)");
  EXPECT_EQ(error_of("[docker]\ncpus = 0.001\n" + r),
            "config.toml:2: docker.cpus: 0.001 is out of range (0.01..64)");
  EXPECT_EQ(error_of("[docker]\ncpus = nan\n" + r),
            "config.toml:2: docker.cpus: nan is out of range (0.01..64)");
  EXPECT_EQ(error_of("[limits]\nmemory_mb = 3\n" + r),
            "config.toml:2: limits.memory_mb: 3 is out of range (4..1048576)");
  EXPECT_EQ(error_of("[limits]\nwall_ms = 86400001\n" + r),
            "config.toml:2: limits.wall_ms: 86400001 is out of range (1..86400000)");
  EXPECT_EQ(error_of("[limits]\npids = 0\n" + r),
            "config.toml:2: limits.pids: 0 is out of range (1..1000000)");
  EXPECT_EQ(error_of("[limits]\noutput_kb = 0\n" + r),
            "config.toml:2: limits.output_kb: 0 is out of range (1..1048576)");
  EXPECT_EQ(error_of(r + "max_tasks = 0\n"),
            "config.toml:7: runner[0].max_tasks: 0 is out of range (1..1000000)");
  EXPECT_EQ(error_of(r + "[runner.limits]\ncpu_ms = 0\n"),
            "config.toml:8: runner[0].limits.cpu_ms: 0 is out of range (1..86400000)");
}

TEST(ConfigErrors, UnknownKeysAtEveryLevel) {
  const std::string r = k_runner;
  EXPECT_EQ(error_of("verbose = true\n" + r), "config.toml:1: verbose: unknown key");
  EXPECT_EQ(error_of("[sever]\n" + r), "config.toml:1: sever: unknown key");
  EXPECT_EQ(error_of("[output]\nchunk = 1\n" + r), "config.toml:2: output.chunk: unknown key");
  EXPECT_EQ(error_of("[docker]\nsock = \"\"\n" + r), "config.toml:2: docker.sock: unknown key");
  EXPECT_EQ(error_of("[limits]\nwall = 1\n" + r), "config.toml:2: limits.wall: unknown key");
  EXPECT_EQ(error_of("[log]\nlevels = \"info\"\n" + r), "config.toml:2: log.levels: unknown key");
  EXPECT_EQ(error_of(r + "image2 = \"x\"\n"), "config.toml:7: runner[0].image2: unknown key");
  EXPECT_EQ(error_of(r + "[runner.limits]\nmemory = 1\n"),
            "config.toml:8: runner[0].limits.memory: unknown key");
}

TEST(ConfigErrors, MissingRequiredRunnerKeysPointAtTheRunner) {
  EXPECT_EQ(error_of("[server]\n\n[[runner]]\nmatch = [\"x\"]\nfile = \"f\"\nrun = [\"x\"]\n"),
            "config.toml:3: runner[0].image: missing required key");
  EXPECT_EQ(error_of(std::string(k_runner) + "\n[[runner]]\nimage = \"i\"\nfile = \"f\"\n"
                                             "run = [\"x\"]\n"),
            "config.toml:8: runner[1].match: missing required key");
}

TEST(ConfigErrors, RunnerValues) {
  const std::string head = "[[runner]]\nimage = \"i\"\nfile = \"f\"\nrun = [\"x\"]\n";
  EXPECT_EQ(error_of(head + "match = []\n"),
            "config.toml:5: runner[0].match: expected a non-empty array of non-empty strings");
  EXPECT_EQ(error_of(head + "match = [\"a\", \"\"]\n"),
            "config.toml:5: runner[0].match: expected a non-empty array of non-empty strings");
  EXPECT_EQ(error_of(head + "match = \"a\"\n"),
            "config.toml:5: runner[0].match: expected a non-empty array of non-empty strings");
  const std::string r = k_runner;
  EXPECT_EQ(error_of(r + "isolation = \"loose\"\n"),
            "config.toml:7: runner[0].isolation: expected \"strict\" or \"fast\"");
  EXPECT_EQ(error_of(r + "compile = [1]\n"),
            "config.toml:7: runner[0].compile: expected an array of strings");
  EXPECT_EQ(error_of(r + "compile = [\"\", \"x\"]\n"),
            "config.toml:7: runner[0].compile: expected a program name as the first element");
  EXPECT_EQ(error_of(r + "env = { \"A=B\" = \"1\" }\n"),
            "config.toml:7: runner[0].env.A=B: expected a variable name without '=' or NUL");
  const std::string no_file = "[[runner]]\nmatch = [\"x\"]\nimage = \"i\"\nrun = [\"x\"]\n";
  for (const char* file : {"", ".", "..", "../main.py", "dir/main.py", "/main.py"}) {
    EXPECT_EQ(error_of(no_file + "file = \"" + file + "\"\n"),
              "config.toml:5: runner[0].file: expected a plain file name (no '/', not '.' or "
              "'..')")
        << file;
  }
  const std::string no_run = "[[runner]]\nmatch = [\"x\"]\nimage = \"i\"\nfile = \"f\"\n";
  EXPECT_EQ(error_of(no_run + "run = [\"a\\u0000b\"]\n"),
            "config.toml:5: runner[0].run: expected strings without NUL characters");
  EXPECT_EQ(error_of(no_run + "run = [\"\"]\n"),
            "config.toml:5: runner[0].run: expected a program name as the first element");
  const std::string no_image = "[[runner]]\nmatch = [\"x\"]\nfile = \"f\"\nrun = [\"x\"]\n";
  EXPECT_EQ(error_of(no_image + "image = \"\"\n"),
            "config.toml:5: runner[0].image: expected a Docker image name");
}

TEST(ConfigErrors, ServerAndDockerValues) {
  const std::string r = k_runner;
  EXPECT_EQ(error_of("[server]\nintake = \"127.0.0.1:5555\"\n" + r),
            "config.toml:2: server.intake: expected a ZeroMQ endpoint (tcp://, ipc:// or "
            "inproc://)");
  EXPECT_EQ(error_of("[server]\nevents = \"\"\n" + r),
            "config.toml:2: server.events: expected a ZeroMQ endpoint (tcp://, ipc:// or "
            "inproc://)");
  EXPECT_EQ(error_of("[server]\ncontrol = \"tcp://\"\n" + r),
            "config.toml:2: server.control: expected a ZeroMQ endpoint (tcp://, ipc:// or "
            "inproc://) or an empty string");
  EXPECT_EQ(error_of("[server]\nstate_dir = \"run\"\n" + r),
            "config.toml:2: server.state_dir: expected an absolute path");
  EXPECT_EQ(error_of("[docker]\nseccomp = \"profile.json\"\n" + r),
            "config.toml:2: docker.seccomp: expected an absolute path or an empty string");
  EXPECT_EQ(error_of("[log]\nlevel = \"verbose\"\n" + r),
            "config.toml:2: log.level: expected one of trace, debug, info, warn, error, off");
}

TEST(ConfigErrors, SyntaxErrorsCarryTheLine) {
  const std::string message =
      error_of("[server]\nworkers = 2\nintake = \"tcp://x\n" + std::string(k_runner));
  EXPECT_EQ(message.rfind("config.toml:3: syntax error: ", 0), 0U) << message;
  const std::string twice = error_of("[server]\nworkers = 2\nworkers = 3\n");
  EXPECT_EQ(twice.rfind("config.toml:3: syntax error: ", 0), 0U) << twice;
  EXPECT_NE(twice.find("(column "), std::string::npos) << twice;
}

TEST(ConfigErrors, TheFirstProblemInTheFileIsReported) {
  // [limits] is checked before the runners, yet the runner's problem comes first in the file.
  EXPECT_EQ(error_of(std::string(k_runner) + "pool = -1\n[limits]\npids = 0\n"),
            "config.toml:7: runner[0].pool: -1 is out of range (0..1024)");
}

TEST(ConfigLoad, MissingFileNamesThePath) {
  auto config = load("/nonexistent/planificador.toml");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().message, "/nonexistent/planificador.toml: No such file or directory");
  EXPECT_EQ(config.error().code, ENOENT);
}

TEST(ConfigLoad, MessagesUseThePathAsGiven) {
  char path[] = "/tmp/planificador-config-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "[server]\nworkers = 0\n" << k_runner;
  }
  auto config = load(path);
  EXPECT_EQ(std::remove(path), 0);
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().message,
            std::string(path) + ":2: server.workers: 0 is out of range (1..1024)");
}

TEST(Glob, Literals) {
  EXPECT_TRUE(glob_match("python", "python"));
  EXPECT_FALSE(glob_match("python", "python3"));
  EXPECT_FALSE(glob_match("python3", "python"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "x"));
  EXPECT_TRUE(glob_match("c++", "c++"));
  EXPECT_TRUE(glob_match("a/b", "a/b"));
}

TEST(Glob, StarAndQuestionMark) {
  EXPECT_TRUE(glob_match("python3*", "python3"));
  EXPECT_TRUE(glob_match("python3*", "python3.11"));
  EXPECT_FALSE(glob_match("python3*", "python2"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "any/thing"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(glob_match("*.*", "a.b.c"));
  EXPECT_TRUE(glob_match("py?", "py3"));
  EXPECT_FALSE(glob_match("py?", "py"));
  EXPECT_FALSE(glob_match("py?", "py33"));
  EXPECT_TRUE(glob_match("**a", "a"));
  // Pathological for naive backtracking; must answer at once.
  EXPECT_FALSE(glob_match("a*a*a*a*a*a*a*a*a*a*b", std::string(200, 'a')));
}

TEST(Glob, Brackets) {
  EXPECT_TRUE(glob_match("node[0-9]", "node7"));
  EXPECT_FALSE(glob_match("node[0-9]", "nodex"));
  EXPECT_TRUE(glob_match("[abc]", "b"));
  EXPECT_FALSE(glob_match("[abc]", "d"));
  EXPECT_TRUE(glob_match("[!x]", "y"));
  EXPECT_FALSE(glob_match("[!x]", "x"));
  EXPECT_TRUE(glob_match("[a-cx-z]", "y"));
  EXPECT_FALSE(glob_match("[a-cx-z]", "m"));
  EXPECT_TRUE(glob_match("[]]", "]"));
  EXPECT_TRUE(glob_match("[!]]", "a"));
  EXPECT_TRUE(glob_match("[a-]", "-"));
  // An unterminated bracket is a literal '['.
  EXPECT_TRUE(glob_match("[abc", "[abc"));
  EXPECT_FALSE(glob_match("[abc", "a"));
  EXPECT_TRUE(glob_match("\\*", "*"));
  EXPECT_FALSE(glob_match("\\*", "x"));
}

TEST(MatchRunner, FirstMatchWinsAndNoMatchIsNull) {
  const Config config = parse_ok(R"(
[[runner]]
match = ["python", "python3*"]
image = "first"
file = "main.py"
run = ["python3", "main.py"]
[[runner]]
match = ["python3.11", "*"]
image = "second"
file = "main"
run = ["x"]
)");
  ASSERT_EQ(config.runners.size(), 2U);
  EXPECT_EQ(match_runner(config, "python")->image, "first");
  EXPECT_EQ(match_runner(config, "python3.11")->image, "first");
  EXPECT_EQ(match_runner(config, "ruby")->image, "second");
  EXPECT_EQ(match_runner(config, "ruby"), &config.runners[1]);

  const Config narrow = parse_ok(k_runner);
  EXPECT_EQ(match_runner(narrow, "x"), &narrow.runners[0]);
  EXPECT_EQ(match_runner(narrow, "y"), nullptr);
  EXPECT_EQ(match_runner(narrow, ""), nullptr);
}

}  // namespace
}  // namespace planificador::config
