// config.toml -> Config. The only file that includes toml++: it walks the parsed tree once,
// checks every key against its type and range, and keeps the first problem in the file.

#include "planificador/config/config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <vector>

#include "rules.hpp"
#include <toml++/toml.h>

namespace planificador::config {
namespace {

struct Range {
  std::int64_t min;
  std::int64_t max;
};

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

// What an array of strings must look like. `program`: the first element is an argv[0].
struct ArrayShape {
  bool non_empty;
  bool non_empty_items;
  bool program;
  const char* expected;
};

constexpr ArrayShape k_patterns{true, true, false,
                                "expected a non-empty array of non-empty strings"};
constexpr ArrayShape k_command{true, false, true, "expected a non-empty array of strings"};
constexpr ArrayShape k_optional_command{false, false, true, "expected an array of strings"};

template <class T>
std::size_t line_of(const T& located, std::size_t fallback) {
  const auto line = static_cast<std::size_t>(located.source().begin.line);
  return line != 0 ? line : fallback;
}

std::string format_number(double value) {
  std::array<char, 64> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

// Keeps the problem a reader meets first in the file (the lowest line; on a tie, the one
// found first), so the message points where an editor would start fixing.
class Problems {
 public:
  void add(std::size_t line, std::string key, std::string what) {
    if (m_found && line >= m_line) return;
    m_found = true;
    m_line = line;
    m_key = std::move(key);
    m_what = std::move(what);
  }
  [[nodiscard]] bool found() const { return m_found; }
  [[nodiscard]] std::string message(std::string_view source) const {
    return std::string(source) + ":" + std::to_string(m_line) + ": " + m_key + ": " + m_what;
  }

 private:
  bool m_found = false;
  std::size_t m_line = 0;
  std::string m_key;
  std::string m_what;
};

// One TOML table being read. Every read marks its key as known, so finish() can name the
// keys nobody asked for. A missing table (nullptr) reads as an empty one.
class Section {
 public:
  Section(Problems& problems, const toml::table* table, std::string path, std::size_t line)
      : m_problems(problems), m_table(table), m_path(std::move(path)), m_line(line) {}

  [[nodiscard]] std::size_t line() const { return m_line; }
  [[nodiscard]] bool present() const { return m_table != nullptr; }
  // Returns the line of `key` in this table, or the table's own line when it is absent.
  [[nodiscard]] std::size_t line_of_key(std::string_view key) const {
    const toml::node* node = m_table == nullptr ? nullptr : m_table->get(key);
    return node == nullptr ? m_line : line_of(*node, m_line);
  }
  [[nodiscard]] std::string key_path(std::string_view key) const {
    return m_path.empty() ? std::string(key) : m_path + "." + std::string(key);
  }

  void problem(std::size_t line, std::string_view key, std::string what) {
    m_problems.add(line, key_path(key), std::move(what));
  }
  void problem(const toml::node& at, std::string_view key, std::string what) {
    problem(line_of(at, m_line), key, std::move(what));
  }

  const toml::node* take(std::string_view key) {
    m_known.push_back(key);
    return m_table == nullptr ? nullptr : m_table->get(key);
  }

  void require(std::initializer_list<std::string_view> keys) {
    for (const std::string_view key : keys) {
      if (m_table == nullptr || !m_table->contains(key)) {
        problem(m_line, key, "missing required key");
      }
    }
  }

  void finish() {
    if (m_table == nullptr) return;
    for (auto&& [key, value] : *m_table) {
      if (std::find(m_known.begin(), m_known.end(), key.str()) == m_known.end()) {
        problem(line_of(key, m_line), key.str(), "unknown key");
      }
    }
  }

  // Returns the section under `key` (empty when absent or not a table).
  Section child(std::string_view key) {
    const toml::node* node = take(key);
    const toml::table* table = node == nullptr ? nullptr : node->as_table();
    if (node != nullptr && table == nullptr) problem(*node, key, "expected a table");
    const std::size_t line = table == nullptr ? m_line : line_of(*table, m_line);
    return Section(m_problems, table, key_path(key), line);
  }

  template <class T>
  void integer(std::string_view key, Range range, T& out, std::int64_t unit = 1) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    const auto* value = node->as_integer();
    if (value == nullptr) return problem(*node, key, "expected an integer");
    const std::int64_t number = value->get();
    if (number < range.min || number > range.max) {
      return problem(*node, key,
                     std::to_string(number) + " is out of range (" + std::to_string(range.min) +
                         ".." + std::to_string(range.max) + ")");
    }
    out = static_cast<T>(number * unit);
  }

  void number(std::string_view key, double min, double max, double& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    double number = 0;
    if (const auto* floating = node->as_floating_point()) {
      number = floating->get();
    } else if (const auto* integral = node->as_integer()) {
      number = static_cast<double>(integral->get());
    } else {
      return problem(*node, key, "expected a number");
    }
    if (!(number >= min && number <= max)) {  // also refuses nan
      return problem(*node, key,
                     format_number(number) + " is out of range (" + format_number(min) + ".." +
                         format_number(max) + ")");
    }
    out = number;
  }

  void boolean(std::string_view key, bool& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    const auto* value = node->as_boolean();
    if (value == nullptr) return problem(*node, key, "expected a boolean");
    out = value->get();
  }

  void string(std::string_view key, std::string& out, rules::Check check) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    const auto* value = node->as_string();
    if (value == nullptr) return problem(*node, key, "expected a string");
    if (auto what = check(value->get())) return problem(*node, key, std::move(*what));
    out = value->get();
  }

  void strings(std::string_view key, std::vector<std::string>& out, const ArrayShape& shape) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    const auto* array = node->as_array();
    if (array == nullptr || (shape.non_empty && array->empty())) {
      return problem(*node, key, shape.expected);
    }
    std::vector<std::string> items;
    for (const toml::node& item : *array) {
      const auto* text = item.as_string();
      if (text == nullptr || (shape.non_empty_items && text->get().empty())) {
        return problem(*node, key, shape.expected);
      }
      if (text->get().find('\0') != std::string::npos) {
        return problem(item, key, "expected strings without NUL characters");
      }
      items.push_back(text->get());
    }
    if (shape.program && !items.empty() && items.front().empty()) {
      return problem(*node, key, "expected a program name as the first element");
    }
    out = std::move(items);
  }

 private:
  Problems& m_problems;
  const toml::table* m_table;
  std::string m_path;
  std::size_t m_line;
  std::vector<std::string_view> m_known;  // the reader's own literals: they outlive it
};

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
  read_section(top, "output", [&](Section& s) { read_output(s, config.output); });
  read_section(top, "docker", [&](Section& s) { read_docker(s, config.docker); });
  read_section(top, "limits",
               [&](Section& s) { read_limits(s, config.limits, config.compile_wall_ms); });
  read_section(top, "log", [&](Section& s) { read_log(s, config.log); });
  read_runners(top, problems, config);
  top.finish();
  return config;
}

std::string syntax_error(std::string_view source, const toml::parse_error& error) {
  std::string_view what = error.description();
  constexpr std::string_view k_noise = "Error ";  // toml++ opens with "Error while parsing"
  if (what.substr(0, k_noise.size()) == k_noise) what.remove_prefix(k_noise.size());
  const auto& begin = error.source().begin;
  return std::string(source) + ":" + std::to_string(std::max<std::size_t>(begin.line, 1)) +
         ": syntax error: " + std::string(what) + " (column " + std::to_string(begin.column) + ")";
}

}  // namespace

Result<Config> parse(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    return fail(syntax_error(source, error));
  }
  Problems problems;
  Config config = read_config(root, problems);
  if (problems.found()) return fail(problems.message(source));
  return config;
}

}  // namespace planificador::config
