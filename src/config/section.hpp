#pragma once
// Reading a parsed TOML document key by key, for config.cpp (config.toml) and
// broker_config.cpp (broker.toml): a Section reads one table, checks each value's type and
// range, remembers which keys it was asked for so that the rest are named unknown, and
// Problems keeps the problem a reader meets first in the file. Private to the config
// module, the only user of toml++.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules.hpp"
#include <toml++/toml.h>

#include "planificador/util/result.hpp"

namespace planificador::config {

struct Range {
  std::int64_t min;
  std::int64_t max;
};

// What an array of strings must look like. `program`: the first element is an argv[0].
struct ArrayShape {
  bool non_empty;
  bool non_empty_items;
  bool program;
  const char* expected;
};

// Returns the line `located` starts on, or `fallback` when toml++ does not know it.
template <class T>
std::size_t line_of(const T& located, std::size_t fallback) {
  const auto line = static_cast<std::size_t>(located.source().begin.line);
  return line != 0 ? line : fallback;
}

// Returns `value` in the shortest form that reads back the same ("0.5", "64").
[[nodiscard]] std::string format_number(double value);

// Returns "`source`:LINE: syntax error: WHAT (column N)" for a document toml++ refused.
[[nodiscard]] std::string syntax_error(std::string_view source, const toml::parse_error& error);

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

// Returns the text of the file at `path`, at most 16 MiB (far beyond any real
// configuration; a wrong path, a log or a device, is not read whole), or an Error naming it.
[[nodiscard]] Result<std::string> read_document(const std::string& path);

// Parses `text` (`source` in messages) and reads its root table with
// `read(root, problems)`: a syntax error, or the first problem `read` met, is the Error.
template <class Read>
[[nodiscard]] auto parse_document(std::string_view text, std::string_view source, Read read)
    -> Result<decltype(read(std::declval<const toml::table&>(), std::declval<Problems&>()))> {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    return fail(syntax_error(source, error));
  }
  Problems problems;
  auto config = read(root, problems);
  if (problems.found()) return fail(problems.message(source));
  return config;
}

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

}  // namespace planificador::config
