// The daemon's requests (see planificador/sandbox/wire.hpp), one function each.
#include <array>
#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "server.hpp"

#include "planificador/sandbox/bwrap_plan.hpp"
#include "planificador/util/base64.hpp"

namespace planificador::sandboxd {
namespace {

constexpr unsigned k_default_mode = 0644;
constexpr unsigned k_max_mode = 0777;

struct ExecRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::optional<std::uint64_t> rlimit_cpu_s;
};

Result<std::vector<std::string>> strings_of(const nlohmann::json& body, const char* key,
                                            bool required) {
  std::vector<std::string> values;
  const auto found = body.find(key);
  if (found == body.end()) {
    if (required) {
      return fail(std::string("exec: `") + key + "` is missing");
    }
    return values;
  }
  if (!found->is_array()) {
    return fail(std::string("exec: `") + key + "` is not an array of strings");
  }
  for (const auto& value : *found) {
    if (!value.is_string()) {
      return fail(std::string("exec: `") + key + "` is not an array of strings");
    }
    values.push_back(value.get<std::string>());
  }
  return values;
}

Result<ExecRequest> parse_exec(const sandbox::Message& message) {
  ExecRequest request;
  auto argv = strings_of(message.body, "argv", true);
  if (!argv) {
    return tl::unexpected(argv.error());
  }
  auto env = strings_of(message.body, "env", false);
  if (!env) {
    return tl::unexpected(env.error());
  }
  request.argv = std::move(*argv);
  request.env = std::move(*env);
  if (const auto cpu = message.body.find("rlimit_cpu_s"); cpu != message.body.end()) {
    if (!cpu->is_number_unsigned() || cpu->get<std::uint64_t>() == 0) {
      return fail("exec: `rlimit_cpu_s` is not a positive integer");
    }
    request.rlimit_cpu_s = cpu->get<std::uint64_t>();
  }
  if (message.fds.size() != 3) {
    return fail("exec: expected 3 descriptors (stdin, stdout, stderr), got " +
                std::to_string(message.fds.size()));
  }
  return request;
}

// Returns the file's permission bits, or an Error for a mode that is not one.
Result<unsigned> mode_of(const nlohmann::json& file, const std::string& label) {
  const auto mode = file.find("mode");
  if (mode == file.end()) {
    return k_default_mode;
  }
  if (!mode->is_number_unsigned() || mode->get<std::uint64_t>() > k_max_mode) {
    return fail(label + "`mode` is not permission bits (0 to 0777)");
  }
  return static_cast<unsigned>(mode->get<std::uint64_t>());
}

}  // namespace

void Server::handle_message(sandbox::Message message) {
  const auto op = message.body.find("op");
  if (op == message.body.end() || !op->is_string()) {
    reject("message without an `op`");
    return;
  }
  const auto& name = op->get_ref<const std::string&>();
  if (name == "prepare") {
    handle_prepare(message.body);
  } else if (name == "exec") {
    handle_exec(std::move(message));
  } else if (name == "kill") {
    handle_kill();
  } else if (name == "reset") {
    handle_reset(message.body);
  } else {
    reject("unknown op `" + name + "`");
  }
}

void Server::handle_prepare(const nlohmann::json& body) {
  const auto files = body.find("files");
  if (files == body.end()) {
    send({{"ok", false}, {"error", "prepare: `files` is not an array"}});
    return;
  }
  if (auto refused = write_files(*files)) {
    send({{"ok", false}, {"error", *refused}});
    return;
  }
  send({{"ok", true}});
}

std::optional<std::string> Server::write_files(const nlohmann::json& files) {
  if (!files.is_array()) {
    return "prepare: `files` is not an array";
  }
  for (const auto& file : files) {
    const auto path = file.is_object() ? file.find("path") : file.end();
    const auto data = file.is_object() ? file.find("data") : file.end();
    if (!file.is_object() || path == file.end() || !path->is_string() || data == file.end() ||
        !data->is_string()) {
      return "prepare: a file needs string `path` and `data`";
    }
    const std::string label = "file `" + path->get<std::string>() + "`: ";
    auto mode = mode_of(file, label);
    auto bytes = base64_decode(data->get_ref<const std::string&>());
    if (!mode || !bytes) {
      return !mode ? mode.error().message : label + "`data` is not base64: " + bytes.error();
    }
    if (auto written = m_workspace.write_file(path->get<std::string>(), *bytes, *mode); !written) {
      return written.error().message;
    }
  }
  return std::nullopt;
}

void Server::handle_exec(sandbox::Message message) {
  if (m_running) {
    reject("exec while a program is running");
    return;
  }
  auto request = parse_exec(message);
  if (!request) {
    send({{"event", "exited"}, {"error", request.error().message}});
    return;
  }
  if (request->argv.empty() || request->argv.front().empty()) {
    send({{"event", "exited"}, {"error", "exec: argv is empty"}});
    return;
  }
  auto env = sandbox::program_environment(request->env);
  if (!env) {
    send({{"event", "exited"}, {"error", env.error().message}});
    return;
  }
  if (const auto files = message.body.find("files"); files != message.body.end()) {
    if (auto refused = write_files(*files)) {
      send({{"event", "exited"}, {"error", *refused}, {"rejected", true}});
      return;
    }
  }
  // A sandbox is normally waiting already; after a failed start or a kill, try once more.
  if (!m_sandbox) {
    if (auto started = start_sandbox(); !started) {
      log("exec: " + started.error().message);
      send({{"event", "exited"}, {"error", started.error().message}});
      return;
    }
  }
  nlohmann::json exec = {{"op", "exec"}, {"argv", request->argv}, {"env", *env}};
  if (request->rlimit_cpu_s) {
    exec["rlimit_cpu_s"] = *request->rlimit_cpu_s;
  }
  const std::array<int, 3> fds{message.fds[0].get(), message.fds[1].get(), message.fds[2].get()};
  auto sent = sandbox::send_message(m_sandbox->control(), exec, fds);
  // The helper's copies go now: only the program may keep the pipes open.
  message.fds.clear();
  m_running = true;
  if (!sent) {
    log("exec: " + sent.error().message);
    on_sandbox_failure();
  }
}

// Kills the running program's whole tree: the sandbox goes with it (a fresh one is started
// by the next reset).
void Server::handle_kill() {
  if (!m_running) {
    return;
  }
  if (auto reaped = kill_and_reap(); !reaped) {
    log(reaped.error().message);
  }
  m_sandbox.reset();
  end_program(SIGKILL);
}

void Server::handle_reset(const nlohmann::json& body) {
  handle_kill();
  Result<void> done = fail("strict");
  if (body.value("isolation", "strict") == "fast" && m_sandbox) {
    done = clean_sandbox();
    if (!done) {
      log("reset: " + done.error().message + "; replacing the sandbox");
    }
  }
  if (!done) {
    done = renew_sandbox();
  }
  if (!done) {
    log("reset: " + done.error().message);
    send({{"ok", false}, {"error", "reset: " + done.error().message}});
    return;
  }
  send({{"ok", true}, {"clean", true}});
  // After the answer: the next strict reset takes this one instead of starting bwrap.
  if (body.value("isolation", "strict") != "fast") {
    prepare_standby();
  }
}

}  // namespace planificador::sandboxd
