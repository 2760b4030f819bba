// broker.toml -> BrokerConfig. Walks the parsed tree once, checks every key against its type
// and range, and keeps the problem on the earliest line, as config.cpp does for the daemon.

#include "planificador/config/broker_config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "rules.hpp"
#include <toml++/toml.h>

namespace planificador::config {
namespace {

struct Range {
  std::int64_t min;
  std::int64_t max;
};

constexpr Range k_backlog{1, 1'000'000};
constexpr Range k_max_code_bytes{1, std::int64_t{64} << 20};
constexpr Range k_heartbeat_ms{10, 60'000};
constexpr Range k_heartbeat_misses{1, 100};
constexpr Range k_unserved_ms{0, 3'600'000};
constexpr Range k_dispatch_attempts{1, 100};
constexpr Range k_grace_ms{0, 3'600'000};
// Far beyond any real broker.toml; keeps a wrong path (a log, a device) from being read whole.
constexpr std::uintmax_t k_max_file_bytes = std::uintmax_t{1} << 20;

template <class T>
std::size_t line_of(const T& located, std::size_t fallback) {
  const auto line = static_cast<std::size_t>(located.source().begin.line);
  return line != 0 ? line : fallback;
}

// The problem a reader meets first in the file (lowest line; on a tie, the first found).
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

// One table being read; every read marks its key known so finish() can name the others.
class Table {
 public:
  Table(Problems& problems, const toml::node* node, std::string name, std::size_t line)
      : m_problems(problems), m_name(std::move(name)), m_line(line) {
    if (node != nullptr) {
      m_table = node->as_table();
      m_line = line_of(*node, line);
      if (m_table == nullptr) m_problems.add(m_line, m_name, "expected a table");
    }
  }

  [[nodiscard]] std::size_t line() const { return m_line; }
  [[nodiscard]] std::string key(std::string_view name) const {
    return m_name + "." + std::string(name);
  }

  template <class T>
  void integer(std::string_view name, Range range, T& out) {
    const toml::node* node = take(name);
    if (node == nullptr) return;
    const auto* value = node->as_integer();
    if (value == nullptr || value->get() < range.min || value->get() > range.max) {
      return problem(*node, name,
                     "expected an integer from " + std::to_string(range.min) + " to " +
                         std::to_string(range.max));
    }
    out = static_cast<T>(value->get());
  }

  void boolean(std::string_view name, bool& out) {
    const toml::node* node = take(name);
    if (node == nullptr) return;
    const auto* value = node->as_boolean();
    if (value == nullptr) return problem(*node, name, "expected a boolean");
    out = value->get();
  }

  void string(std::string_view name, std::string& out, rules::Check check) {
    const toml::node* node = take(name);
    if (node == nullptr) return;
    const auto* value = node->as_string();
    if (value == nullptr) return problem(*node, name, "expected a string");
    if (auto what = check(value->get())) return problem(*node, name, std::move(*what));
    out = value->get();
  }

  [[nodiscard]] std::size_t line_of_key(std::string_view name) const {
    const toml::node* node = m_table == nullptr ? nullptr : m_table->get(name);
    return node == nullptr ? m_line : line_of(*node, m_line);
  }

  void finish() {
    if (m_table == nullptr) return;
    for (auto&& [name, value] : *m_table) {
      if (std::find(m_known.begin(), m_known.end(), name.str()) == m_known.end()) {
        m_problems.add(line_of(name, m_line), key(name.str()), "unknown key");
      }
    }
  }

 private:
  const toml::node* take(std::string_view name) {
    m_known.push_back(name);
    return m_table == nullptr ? nullptr : m_table->get(name);
  }
  void problem(const toml::node& at, std::string_view name, std::string what) {
    m_problems.add(line_of(at, m_line), key(name), std::move(what));
  }

  Problems& m_problems;
  const toml::table* m_table = nullptr;
  std::string m_name;
  std::size_t m_line;
  std::vector<std::string_view> m_known;  // the reader's own literals: they outlive it
};

std::optional<std::string> path(std::string_view value) {
  if (value.find('\0') != std::string_view::npos) return "expected a path without NUL bytes";
  return std::nullopt;
}

void read_broker(Table& t, BrokerSection& out) {
  t.string("intake", out.intake, rules::endpoint);
  t.string("events", out.events, rules::endpoint);
  t.string("control", out.control, rules::optional_endpoint);
  t.string("workers", out.workers, rules::endpoint);
  t.string("admin", out.admin, rules::optional_endpoint);
  t.integer("backlog", k_backlog, out.backlog);
  t.integer("max_code_bytes", k_max_code_bytes, out.max_code_bytes);
  t.integer("heartbeat_ms", k_heartbeat_ms, out.heartbeat_ms);
  t.integer("heartbeat_misses", k_heartbeat_misses, out.heartbeat_misses);
  t.integer("unserved_ms", k_unserved_ms, out.unserved_ms);
  t.integer("dispatch_attempts", k_dispatch_attempts, out.dispatch_attempts);
  t.integer("grace_ms", k_grace_ms, out.grace_ms);
}

void read_curve(Table& t, CurveSection& out) {
  t.string("key", out.key, path);
  t.string("workers_allow", out.workers_allow, path);
  t.string("clients_allow", out.clients_allow, path);
  t.boolean("plaintext", out.plaintext);
}

// The worker link is CURVE unless plaintext is asked for explicitly, so a missing key pair
// is a mistake in the file, not a reason to fall back to plain TCP. Checked once every key
// is known to be well-formed, so the message is about what is missing, not a typo.
void check_curve(const Table& t, const CurveSection& curve, Problems& problems) {
  const std::size_t line = t.line_of_key("plaintext");
  if (curve.key.empty() && !curve.plaintext) {
    problems.add(line, "curve.key",
                 "required unless curve.plaintext = true (write one with `planctl keygen "
                 "broker`)");
  } else if (curve.key.empty() && !curve.clients_allow.empty()) {
    problems.add(t.line_of_key("clients_allow"), "curve.key",
                 "required when curve.clients_allow is set");
  } else if (curve.workers_allow.empty() && !curve.plaintext) {
    problems.add(t.line_of_key("key"), "curve.workers_allow",
                 "required unless curve.plaintext = true (the daemons' public keys)");
  }
}

std::string syntax_error(std::string_view source, const toml::parse_error& error) {
  std::string_view what = error.description();
  constexpr std::string_view k_noise = "Error ";  // toml++ opens with "Error while parsing"
  if (what.substr(0, k_noise.size()) == k_noise) what.remove_prefix(k_noise.size());
  const auto& begin = error.source().begin;
  return std::string(source) + ":" + std::to_string(std::max<std::size_t>(begin.line, 1)) +
         ": syntax error: " + std::string(what) + " (column " + std::to_string(begin.column) + ")";
}

BrokerConfig read_config(const toml::table& root, Problems& problems) {
  BrokerConfig config;
  const std::array<std::string_view, 3> known{"broker", "curve", "log"};
  for (auto&& [name, value] : root) {
    if (std::find(known.begin(), known.end(), name.str()) == known.end()) {
      problems.add(line_of(name, 1), std::string(name.str()), "unknown key");
    }
  }
  Table broker(problems, root.get("broker"), "broker", 1);
  read_broker(broker, config.broker);
  broker.finish();
  Table curve(problems, root.get("curve"), "curve", 1);
  read_curve(curve, config.curve);
  curve.finish();
  Table log(problems, root.get("log"), "log", 1);
  log.string("level", config.log.level, rules::log_level);
  log.finish();
  if (!problems.found()) {
    check_curve(curve, config.curve, problems);
  }
  return config;
}

void resolve(std::string& file, const std::filesystem::path& base) {
  if (!file.empty() && std::filesystem::path(file).is_relative()) {
    file = (base / file).lexically_normal().string();
  }
}

}  // namespace

Result<BrokerConfig> parse_broker(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    return fail(syntax_error(source, error));
  }
  Problems problems;
  BrokerConfig config = read_config(root, problems);
  if (problems.found()) return fail(problems.message(source));
  return config;
}

Result<BrokerConfig> load_broker(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  if (error) return fail(path + ": " + error.message(), error.value());
  if (size > k_max_file_bytes) return fail(path + ": larger than 1 MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail_errno(path);
  std::ostringstream text;
  text << in.rdbuf();
  auto config = parse_broker(text.str(), path);
  if (!config) return config;
  const auto base = std::filesystem::path(path).parent_path();
  resolve(config->curve.key, base);
  resolve(config->curve.workers_allow, base);
  resolve(config->curve.clients_allow, base);
  return config;
}

}  // namespace planificador::config
