#include "planificador/sandbox/messages.hpp"

#include <utility>

#include "json_fields.hpp"

#include "planificador/util/base64.hpp"

namespace planificador::sandbox {
namespace {

using nlohmann::json;

Result<File> file_of(const json& entry, const std::string& what) {
  const JsonFields fields(entry, what);
  const json* path = fields.find("path");
  const json* data = fields.find("data");
  if (path == nullptr || !path->is_string() || data == nullptr || !data->is_string()) {
    return fail(what + ": a file needs string `path` and `data`");
  }
  File file;
  file.path = path->get<std::string>();
  const std::string label = "file `" + file.path + "`: ";
  if (const json* mode = fields.find("mode"); mode != nullptr) {
    const auto bits = JsonFields::unsigned_of(*mode);
    if (!bits || *bits > k_max_file_mode) {
      return fail(label + "`mode` is not permission bits (0 to 0777)");
    }
    file.mode = static_cast<unsigned>(*bits);
  }
  auto content = base64_decode(data->get_ref<const std::string&>());
  if (!content) {
    return fail(label + "`data` is not base64: " + content.error().message);
  }
  file.content = std::move(*content);
  return file;
}

Result<std::vector<File>> files_of(const JsonFields& fields, bool required) {
  std::vector<File> files;
  const json* list = fields.find("files");
  if (list == nullptr) {
    if (required) {
      return fields.missing("files");
    }
    return files;
  }
  if (!list->is_array()) {
    return fields.wrong("files", "an array");
  }
  for (const auto& entry : *list) {
    auto file = file_of(entry, fields.what());
    PLAN_TRY(file);
    files.push_back(std::move(*file));
  }
  return files;
}

json files_json(const std::vector<File>& files) {
  json list = json::array();
  for (const auto& file : files) {
    json entry = {{"path", file.path}, {"data", base64_encode(file.content)}};
    if (file.mode != k_default_file_mode) {
      entry["mode"] = file.mode;
    }
    list.push_back(std::move(entry));
  }
  return list;
}

// The argv, env and rlimit_cpu_s of an exec (both links) and its three descriptors.
struct ProgramJsonFields {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::optional<std::uint64_t> rlimit_cpu_s;
};

Result<ProgramJsonFields> program_of(const Message& message, const JsonFields& fields,
                                     bool env_required) {
  PLAN_TRY(fields.tagged("op", "exec"));
  ProgramJsonFields program;
  auto argv = fields.strings("argv", true);
  PLAN_TRY(argv);
  if (argv->empty() || argv->front().empty()) {
    return fail(fields.what() + ": argv is empty");
  }
  auto env = fields.strings("env", env_required);
  PLAN_TRY(env);
  auto cpu = fields.positive("rlimit_cpu_s");
  PLAN_TRY(cpu);
  if (message.fds.size() != k_exec_fds) {
    return fail(fields.what() + ": expected 3 descriptors (stdin, stdout, stderr), got " +
                std::to_string(message.fds.size()));
  }
  program.argv = std::move(*argv);
  program.env = std::move(*env);
  program.rlimit_cpu_s = *cpu;
  return program;
}

json program_json(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  const std::optional<std::uint64_t>& rlimit_cpu_s) {
  json body = {{"op", "exec"}, {"argv", argv}, {"env", env}};
  if (rlimit_cpu_s) {
    body["rlimit_cpu_s"] = *rlimit_cpu_s;
  }
  return body;
}

// Returns `decoded` as the variant `V`, or its Error.
template <class V, class T>
Result<V> as(Result<T> decoded) {
  PLAN_TRY(decoded);
  return V{std::move(*decoded)};
}

}  // namespace

json encode(const PrepareRequest& message) {
  return {{"op", "prepare"}, {"files", files_json(message.files)}};
}

json encode(const ExecRequest& message) {
  json body = program_json(message.argv, message.env, message.rlimit_cpu_s);
  if (!message.files.empty()) {
    body["files"] = files_json(message.files);
  }
  return body;
}

json encode(const KillRequest& /*message*/) { return {{"op", "kill"}}; }

json encode(const ResetRequest& message) {
  return {{"op", "reset"}, {"isolation", message.isolation == Isolation::fast ? "fast" : "strict"}};
}

json encode(const Reply& message) {
  if (!message.ok) {
    return {{"ok", false}, {"error", message.error}};
  }
  json body = {{"ok", true}};
  if (message.clean) {
    body["clean"] = true;
  }
  return body;
}

json encode(const Ready& /*message*/) { return {{"event", "ready"}}; }

json encode(const Started& message) { return {{"event", "started"}, {"pid", message.pid}}; }

json encode(const Exited& message) {
  json body = {{"event", "exited"}};
  if (message.wait_status) {
    body["wait_status"] = *message.wait_status;
  } else {
    body["error"] = message.error;
  }
  if (message.rejected) {
    body["rejected"] = true;
  }
  return body;
}

json encode(const ProgramExec& message) {
  return program_json(message.argv, message.env, message.rlimit_cpu_s);
}

json encode(const CleanRequest& /*message*/) { return {{"op", "clean"}}; }

template <>
Result<PrepareRequest> decode<PrepareRequest>(const Message& message) {
  const JsonFields fields(message.body, "prepare");
  PLAN_TRY(fields.tagged("op", "prepare"));
  return files_of(fields, true).map([](std::vector<File> files) {
    return PrepareRequest{std::move(files)};
  });
}

template <>
Result<ExecRequest> decode<ExecRequest>(const Message& message) {
  const JsonFields fields(message.body, "exec");
  auto program = program_of(message, fields, false);
  PLAN_TRY(program);
  auto files = files_of(fields, false);
  PLAN_TRY(files);
  return ExecRequest{std::move(program->argv), std::move(program->env), program->rlimit_cpu_s,
                     std::move(*files)};
}

template <>
Result<KillRequest> decode<KillRequest>(const Message& message) {
  return JsonFields(message.body, "kill").tagged("op", "kill").map([] { return KillRequest{}; });
}

template <>
Result<ResetRequest> decode<ResetRequest>(const Message& message) {
  const JsonFields fields(message.body, "reset");
  PLAN_TRY(fields.tagged("op", "reset"));
  auto isolation = fields.string("isolation");
  PLAN_TRY(isolation);
  const std::string name = isolation->value_or("strict");
  if (name != "strict" && name != "fast") {
    return fields.wrong("isolation", "\"strict\" or \"fast\"");
  }
  return ResetRequest{name == "fast" ? Isolation::fast : Isolation::strict};
}

template <>
Result<Reply> decode<Reply>(const Message& message) {
  const JsonFields fields(message.body, "reply");
  auto ok = fields.boolean("ok", std::nullopt);
  auto clean = fields.boolean("clean", false);
  auto error = fields.string("error");
  if (!ok || !clean || !error) {
    return tl::unexpected(!ok ? ok.error() : !clean ? clean.error() : error.error());
  }
  return Reply{*ok, *clean, error->value_or("")};
}

template <>
Result<Ready> decode<Ready>(const Message& message) {
  return JsonFields(message.body, "ready").tagged("event", "ready").map([] { return Ready{}; });
}

template <>
Result<Started> decode<Started>(const Message& message) {
  const JsonFields fields(message.body, "started");
  PLAN_TRY(fields.tagged("event", "started"));
  auto pid = fields.integer("pid");
  PLAN_TRY(pid);
  if (!*pid) {
    return fields.missing("pid");
  }
  return Started{**pid};
}

template <>
Result<Exited> decode<Exited>(const Message& message) {
  const JsonFields fields(message.body, "exited");
  PLAN_TRY(fields.tagged("event", "exited"));
  auto status = fields.integer("wait_status");
  auto error = fields.string("error");
  auto rejected = fields.boolean("rejected", false);
  if (!status || !error || !rejected) {
    return tl::unexpected(!status ? status.error() : !error ? error.error() : rejected.error());
  }
  if (!*status && !*error) {
    return fail("exited: neither `wait_status` nor `error`");
  }
  return Exited{*status, error->value_or(""), *rejected};
}

template <>
Result<ProgramExec> decode<ProgramExec>(const Message& message) {
  const JsonFields fields(message.body, "exec");
  auto program = program_of(message, fields, true);
  PLAN_TRY(program);
  return ProgramExec{std::move(program->argv), std::move(program->env), program->rlimit_cpu_s};
}

template <>
Result<CleanRequest> decode<CleanRequest>(const Message& message) {
  return JsonFields(message.body, "clean").tagged("op", "clean").map([] { return CleanRequest{}; });
}

Result<Request> decode_request(const Message& message) {
  const json* op = JsonFields(message.body, "request").find("op");
  if (op == nullptr || !op->is_string()) {
    return fail("message without an `op`");
  }
  const auto& name = op->get_ref<const std::string&>();
  if (name == "prepare") {
    return as<Request>(decode<PrepareRequest>(message));
  }
  if (name == "exec") {
    return as<Request>(decode<ExecRequest>(message));
  }
  if (name == "kill") {
    return as<Request>(decode<KillRequest>(message));
  }
  if (name == "reset") {
    return as<Request>(decode<ResetRequest>(message));
  }
  return fail("unknown op `" + name + "`");
}

Result<Answer> decode_answer(const Message& message) {
  const JsonFields fields(message.body, "answer");
  const json* event = fields.find("event");
  if (event == nullptr) {
    if (fields.find("ok") == nullptr) {
      return fail("answer without an `event` or `ok`");
    }
    return as<Answer>(decode<Reply>(message));
  }
  if (!event->is_string()) {
    return fields.wrong("event", "a string");
  }
  const auto& name = event->get_ref<const std::string&>();
  if (name == "started") {
    return as<Answer>(decode<Started>(message));
  }
  if (name == "exited") {
    return as<Answer>(decode<Exited>(message));
  }
  if (name == "ready") {
    return as<Answer>(decode<Ready>(message));
  }
  return fail("unknown event `" + name + "`");
}

Result<ZygoteRequest> decode_zygote_request(const Message& message) {
  const json* op = JsonFields(message.body, "request").find("op");
  if (op == nullptr || !op->is_string()) {
    return fail("message without an `op`");
  }
  const auto& name = op->get_ref<const std::string&>();
  if (name == "exec") {
    return as<ZygoteRequest>(decode<ProgramExec>(message));
  }
  if (name == "clean") {
    return as<ZygoteRequest>(decode<CleanRequest>(message));
  }
  return fail("unknown op `" + name + "`");
}

bool is_exec(const Message& message) {
  const json* op = JsonFields(message.body, "request").find("op");
  return op != nullptr && op->is_string() && op->get_ref<const std::string&>() == "exec";
}

std::string describe(const Message& message) {
  return message.body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace planificador::sandbox
