// config.toml -> Config. The only file that includes toml++: it walks the parsed tree once,
// checks every key against its type and range, and keeps the first problem in the file.

#include "planificador/config/config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <vector>

#include "rules.hpp"
#include "section.hpp"
#include <toml++/toml.h>

namespace planificador::config {
namespace {

constexpr std::int64_t k_kib = 1024;
constexpr std::int64_t k_mib = k_kib * 1024;

constexpr Range k_workers{1, 1024};
constexpr Range k_backlog{0, 1'000'000};
constexpr Range k_grace_ms{0, 3'600'000};
constexpr Range k_max_code_bytes{1, 64 * k_mib};
constexpr Range k_pool{0, 1024};
constexpr Range k_chunk_bytes{1, 16 * k_mib};
constexpr Range k_flush_ms{0, 10'000};
constexpr Range k_work_mb{1, 65'536};
constexpr double k_cpus_min = 0.01;
constexpr double k_cpus_max = 64;
constexpr Range k_time_ms{1, 86'400'000};
constexpr Range k_memory_mb{4, 1'048'576};
constexpr Range k_pids{1, 1'000'000};
constexpr Range k_output_kb{1, 1'048'576};
constexpr Range k_max_tasks{1, 1'000'000};
constexpr Range k_max_body_bytes{1024, 256 * k_mib};

constexpr ArrayShape k_patterns{true, true, false,
                                "expected a non-empty array of non-empty strings"};
constexpr ArrayShape k_command{true, false, true, "expected a non-empty array of strings"};
constexpr ArrayShape k_optional_command{false, false, true, "expected an array of strings"};

void read_server(Section& s, Server& out) {
  s.string("intake", out.intake, rules::endpoint);
  s.string("events", out.events, rules::endpoint);
  s.string("control", out.control, rules::optional_endpoint);
  s.boolean("connect", out.connect);
  s.integer("workers", k_workers, out.workers);
  s.integer("backlog", k_backlog, out.backlog);
  s.string("executor", out.executor, rules::short_text);
  s.integer("grace_ms", k_grace_ms, out.grace_ms);
  s.integer("max_code_bytes", k_max_code_bytes, out.max_code_bytes);
  s.string("state_dir", out.state_dir, rules::absolute_path);
  out.pool = out.workers;
  s.integer("pool", k_pool, out.pool);
  s.string("broker", out.broker, rules::optional_endpoint);
  s.string("clients", out.clients, rules::optional_endpoint);
  if (out.executor.empty()) out.executor = rules::host_name();
}

void read_link(Section& s, Link& out) {
  s.string("key", out.key, rules::optional_absolute_path);
  s.string("broker_key", out.broker_key, rules::optional_absolute_path);
  s.boolean("plaintext", out.plaintext);
  out.key_line = s.line_of_key("key");
  out.broker_key_line = s.line_of_key("broker_key");
}

// CURVE needs both key files; a missing one is reported at the [link] table (or its empty
// value), or at server.broker when there is no [link] table at all.
void check_link_keys(Section& link, const Config& config, std::size_t broker_line) {
  if (config.server.broker.empty() || config.link.plaintext) return;
  constexpr const char* k_what = "required when server.broker is set and link.plaintext is false";
  for (const auto& [key, value] :
       {std::pair{"key", &config.link.key}, std::pair{"broker_key", &config.link.broker_key}}) {
    if (!value->empty()) continue;
    link.problem(link.present() ? link.line_of_key(key) : broker_line, key, k_what);
  }
}

void read_curve(Section& s, SocketCurve& out, const Server& server) {
  s.string("key", out.key, rules::optional_absolute_path);
  s.string("clients_allow", out.clients_allow, rules::optional_absolute_path);
  out.key_line = s.line_of_key("key");
  out.clients_allow_line = s.line_of_key("clients_allow");
  if (out.key.empty() && out.clients_allow.empty()) return;
  if (out.clients_allow.empty()) {
    s.problem(out.key_line, "clients_allow",
              "required when curve.key is set (the public keys of the clients allowed)");
  } else if (out.key.empty()) {
    s.problem(out.clients_allow_line, "key",
              "required when curve.clients_allow is set (write one with `planctl keygen NAME`)");
  } else if (server.connect || !server.broker.empty()) {
    s.problem(out.clients_allow_line, "clients_allow",
              server.connect ? "a daemon with server.connect = true binds no socket to guard"
                             : "a fleet member binds no socket to guard: set it on the broker");
  }
}

// Splits "host:port" (IPv6 in brackets) into `out`; false when it is not that shape.
bool split_listen(std::string_view listen, Http& out) {
  const auto colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == listen.size()) return false;
  std::string_view host = listen.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return false;
  }
  unsigned port = 0;
  const auto digits = listen.substr(colon + 1);
  const auto parsed = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (parsed.ec != std::errc{} || parsed.ptr != digits.data() + digits.size() || port > 65535) {
    return false;
  }
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(port);
  out.loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
  return true;
}

void read_http(Section& s, Http& out, const Server& server) {
  s.string("listen", out.listen, rules::short_text);
  if (!out.listen.empty() && !split_listen(out.listen, out)) {
    s.problem(s.line_of_key("listen"), "listen",
              "expected host:port (an IPv6 host in brackets), e.g. \"127.0.0.1:8080\"");
  }
  s.string("token_file", out.token_file, rules::optional_absolute_path);
  if (!out.listen.empty() && !out.loopback && out.token_file.empty()) {
    s.problem(s.line_of_key("listen"), "listen",
              "listening beyond loopback needs http.token_file (a bearer token)");
  }
  out.max_body_bytes = 2 * server.max_code_bytes + 2 * static_cast<std::size_t>(k_mib);
  s.integer("max_body_bytes", k_max_body_bytes, out.max_body_bytes);
}

void read_output(Section& s, Output& out) {
  s.integer("chunk_bytes", k_chunk_bytes, out.chunk_bytes);
  s.integer("flush_ms", k_flush_ms, out.flush_ms);
}

void read_docker(Section& s, Docker& out) {
  s.string("socket", out.socket, rules::absolute_path);
  s.string("runtime", out.runtime, rules::short_text);
  s.number("cpus", k_cpus_min, k_cpus_max, out.cpus);
  s.integer("work_mb", k_work_mb, out.work_bytes, k_mib);
  s.string("helper", out.helper, rules::optional_absolute_path);
  s.string("seccomp", out.seccomp, rules::optional_absolute_path);
}

// [limits] and [runner.limits] share their keys; `out` starts from the inherited values.
void read_limits(Section& s, Limits& out, std::uint64_t& compile_wall_ms) {
  s.integer("wall_ms", k_time_ms, out.wall_ms);
  s.integer("cpu_ms", k_time_ms, out.cpu_ms);
  s.integer("memory_mb", k_memory_mb, out.memory_bytes, k_mib);
  s.integer("pids", k_pids, out.pids);
  s.integer("output_kb", k_output_kb, out.output_bytes, k_kib);
  s.integer("compile_ms", k_time_ms, compile_wall_ms);
}

void read_log(Section& s, Log& out) { s.string("level", out.level, rules::log_level); }

// A runner that names no environment gets rules::default_env(); one that names any gets
// exactly what it names.
void read_env(Section& s, std::vector<std::pair<std::string, std::string>>& out) {
  const toml::node* node = s.take("env");
  if (node == nullptr) return;
  const toml::table* table = node->as_table();
  if (table == nullptr) return s.problem(*node, "env", "expected a table of strings");
  out.clear();
  for (auto&& [name, value] : *table) {
    const std::string key = "env." + std::string(name.str());
    if (auto what = rules::env_name(name.str())) {
      s.problem(line_of(name, line_of(*table, s.line())), key, std::move(*what));
      continue;
    }
    const auto* text = value.as_string();
    if (text == nullptr || text->get().find('\0') != std::string::npos) {
      s.problem(value, key, "expected a string without NUL characters");
      continue;
    }
    out.emplace_back(name.str(), text->get());
  }
}

Runner read_runner(Section& s, const Config& config) {
  Runner runner;
  runner.line = s.line();
  runner.limits = config.limits;
  runner.compile_wall_ms = config.compile_wall_ms;
  runner.pool = config.server.pool;
  runner.env = rules::default_env();
  s.require({"match", "image", "file", "run"});
  s.strings("match", runner.match, k_patterns);
  s.string("image", runner.image, rules::image);
  s.string("file", runner.file, rules::file_name);
  s.strings("run", runner.run, k_command);
  s.strings("compile", runner.compile, k_optional_command);
  read_env(s, runner.env);
  s.integer("pool", k_pool, runner.pool);
  s.integer("max_tasks", k_max_tasks, runner.max_tasks);
  std::string isolation;
  s.string("isolation", isolation, rules::isolation_name);
  runner.isolation = rules::isolation(isolation).value_or(runner.isolation);
  Section limits = s.child("limits");
  read_limits(limits, runner.limits, runner.compile_wall_ms);
  limits.finish();
  return runner;
}

void read_runners(Section& top, Problems& problems, Config& config) {
  const toml::node* node = top.take("runner");
  if (node == nullptr) {
    return top.problem(top.line(), "runner", "at least one [[runner]] is required");
  }
  const toml::array* array = node->as_array();
  if (array != nullptr && array->empty()) {
    return top.problem(*node, "runner", "at least one [[runner]] is required");
  }
  if (array == nullptr || !array->is_array_of_tables()) {
    return top.problem(*node, "runner", "expected an array of tables ([[runner]])");
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::table& table = *array->get(i)->as_table();
    Section s(problems, &table, "runner[" + std::to_string(i) + "]", line_of(table, top.line()));
    config.runners.push_back(read_runner(s, config));
    s.finish();
  }
}

template <class Read>
void read_section(Section& top, std::string_view key, Read read) {
  Section section = top.child(key);
  read(section);
  section.finish();
}

Config read_config(const toml::table& root, Problems& problems) {
  Config config;
  Section top(problems, &root, "", line_of(root, 1));
  std::size_t broker_line = 0;
  read_section(top, "server", [&](Section& s) {
    read_server(s, config.server);
    broker_line = s.line_of_key("broker");
  });
  read_section(top, "link", [&](Section& s) {
    read_link(s, config.link);
    check_link_keys(s, config, broker_line);
  });
  read_section(top, "curve", [&](Section& s) { read_curve(s, config.curve, config.server); });
  read_section(top, "http", [&](Section& s) { read_http(s, config.http, config.server); });
  read_section(top, "output", [&](Section& s) { read_output(s, config.output); });
  read_section(top, "docker", [&](Section& s) { read_docker(s, config.docker); });
  read_section(top, "limits",
               [&](Section& s) { read_limits(s, config.limits, config.compile_wall_ms); });
  read_section(top, "log", [&](Section& s) { read_log(s, config.log); });
  read_runners(top, problems, config);
  top.finish();
  return config;
}

}  // namespace

Result<Config> parse(std::string_view text, std::string_view source) {
  return parse_document(text, source, read_config);
}

}  // namespace planificador::config
