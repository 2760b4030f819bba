// SUBMIT_EXT options (SPEC §4). The text is untrusted: nothing here may throw, every value
// is type-checked before it is read, and every message quotes client text escaped and
// truncated, because it ends up in logs and in an APPEND_ERR diagnostic.

#include "planificador/protocol/options.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "planificador/protocol/quote.hpp"
#include "planificador/util/base64.hpp"

namespace planificador::protocol {
namespace {

// Ordered, so that env keeps the order the client gave.
using Json = nlohmann::ordered_json;
using Check = Result<void>;

tl::unexpected<Error> bad(const std::string& where, std::string_view what) {
  return fail(ErrorKind::malformed, where + ": " + std::string(what));
}

// JSON objects with a repeated key are rejected: parsers disagree on which value wins, and
// a client must not be able to say two things at once.
Result<Json> parse_document(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  const Json::parser_callback_t callback = [&](int /*depth*/, Json::parse_event_t event,
                                               Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == Json::parse_event_t::object_end && !open_objects.empty()) {
      open_objects.pop_back();
    } else if (event == Json::parse_event_t::key && !open_objects.empty() && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && !duplicate) {
        duplicate = key;
      }
    }
    return true;
  };
  try {
    Json document = Json::parse(text.begin(), text.end(), callback);
    if (duplicate) {
      return bad("options", "duplicate key " + quote_text(*duplicate));
    }
    return document;
  } catch (const Json::exception& e) {
    return bad("options", "invalid JSON: " + escape_text(e.what(), 200));
  }
}

Check only_keys(const Json& object, const std::string& where,
                std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return bad(where, "unknown key " + quote_text(key));
    }
  }
  return {};
}

Result<std::string> string_at(const Json& value, const std::string& where) {
  if (!value.is_string()) {
    return bad(where, "expected a string");
  }
  return value.get<std::string>();
}

Result<std::string> decode_base64_at(const Json& value, const std::string& where) {
  auto text = string_at(value, where);
  if (!text) {
    return text;
  }
  auto bytes = base64_decode(*text);
  if (!bytes) {
    return bad(where, "invalid base64: " + bytes.error().message);
  }
  return bytes;
}

Check parse_stdin(const Json& root, TaskOptions& out) {
  const auto text = root.find("stdin");
  const auto base64 = root.find("stdin_base64");
  if (text != root.end() && base64 != root.end()) {
    return bad("options", "`stdin` and `stdin_base64` are mutually exclusive");
  }
  auto data = text != root.end()     ? string_at(*text, "options.stdin")
              : base64 != root.end() ? decode_base64_at(*base64, "options.stdin_base64")
                                     : std::string();
  PLAN_TRY(data);
  out.stdin_data = std::move(*data);
  return {};
}

Check parse_args(const Json& args, TaskOptions& out) {
  if (!args.is_array()) {
    return bad("options.args", "expected an array of strings");
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string where = "options.args[" + std::to_string(i) + "]";
    auto arg = string_at(args[i], where);
    PLAN_TRY(arg);
    // execve() takes C strings: a NUL would silently cut the argument short.
    if (arg->find('\0') != std::string::npos) {
      return bad(where, "must not contain NUL");
    }
    out.args.push_back(std::move(*arg));
  }
  return {};
}

Check parse_env(const Json& env, TaskOptions& out) {
  if (!env.is_object()) {
    return bad("options.env", "expected an object of strings");
  }
  for (const auto& [name, value] : env.items()) {
    if (name.empty()) {
      return bad("options.env", "empty variable name");
    }
    if (name.find('=') != std::string::npos || name.find('\0') != std::string::npos) {
      return bad("options.env", "variable name " + quote_text(name) + " contains `=` or NUL");
    }
    const std::string where = "options.env." + escape_text(name);
    auto text = string_at(value, where);
    PLAN_TRY(text);
    if (text->find('\0') != std::string::npos) {
      return bad(where, "must not contain NUL");
    }
    out.env.emplace_back(name, std::move(*text));
  }
  return {};
}

Result<TaskFile> parse_file(const Json& file, const std::string& where) {
  if (!file.is_object()) {
    return bad(where, "expected an object with `path` and `content`");
  }
  PLAN_TRY(only_keys(file, where, {"path", "content", "base64"}));
  const auto path = file.find("path");
  const auto content = file.find("content");
  if (path == file.end()) {
    return bad(where, "missing `path`");
  }
  if (content == file.end()) {
    return bad(where, "missing `content`");
  }
  auto path_text = string_at(*path, where + ".path");
  PLAN_TRY(path_text);
  if (!is_safe_relative_path(*path_text)) {
    return bad(where + ".path", "must be relative and stay in the work directory");
  }
  bool base64 = false;
  if (const auto flag = file.find("base64"); flag != file.end()) {
    if (!flag->is_boolean()) {
      return bad(where + ".base64", "expected true or false");
    }
    base64 = flag->get<bool>();
  }
  auto bytes = base64 ? decode_base64_at(*content, where + ".content")
                      : string_at(*content, where + ".content");
  PLAN_TRY(bytes);
  return TaskFile{std::move(*path_text), std::move(*bytes)};
}

// Paths are already canonical (no empty, `.` or `..` component), so comparing strings is
// enough to find two entries for one file, or a file that another entry needs as a directory.
Check check_file_paths(const std::vector<TaskFile>& files) {
  std::map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto [it, inserted] = seen.emplace(files[i].path, i);
    if (!inserted) {
      return bad("options.files[" + std::to_string(i) + "].path",
                 "duplicate of options.files[" + std::to_string(it->second) + "]");
    }
  }
  for (const auto& [path, index] : seen) {
    const std::string directory = std::string(path) + "/";
    const auto below = seen.lower_bound(directory);
    if (below != seen.end() && below->first.starts_with(directory)) {
      return bad("options.files[" + std::to_string(below->second) + "].path",
                 "needs " + quote_text(path) + " as a directory but options.files[" +
                     std::to_string(index) + "] is a file there");
    }
  }
  return {};
}

Check parse_files(const Json& files, TaskOptions& out) {
  if (!files.is_array()) {
    return bad("options.files", "expected an array of objects");
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto file = parse_file(files[i], "options.files[" + std::to_string(i) + "]");
    PLAN_TRY(file);
    out.files.push_back(std::move(*file));
  }
  return check_file_paths(out.files);
}

Check parse_limits(const Json& limits, TaskOptions& out) {
  if (!limits.is_object()) {
    return bad("options.limits", "expected an object");
  }
  if (auto keys = only_keys(limits, "options.limits",
                            {"wall_ms", "cpu_ms", "memory_bytes", "pids", "output_bytes"});
      !keys) {
    return keys;
  }
  const std::pair<std::string_view, std::optional<std::uint64_t>*> fields[] = {
      {"wall_ms", &out.limits.wall_ms},           {"cpu_ms", &out.limits.cpu_ms},
      {"memory_bytes", &out.limits.memory_bytes}, {"pids", &out.limits.pids},
      {"output_bytes", &out.limits.output_bytes},
  };
  for (const auto& [name, field] : fields) {
    const auto value = limits.find(name);
    if (value == limits.end()) {
      continue;
    }
    // nlohmann stores non-negative integers as unsigned; negatives, fractions, exponents
    // and integers beyond u64 (which it turns into floats) all land elsewhere.
    if (!value->is_number_unsigned() || value->get<std::uint64_t>() == 0) {
      return bad("options.limits." + std::string(name), "expected a positive integer");
    }
    *field = value->get<std::uint64_t>();
  }
  return {};
}

}  // namespace

Result<TaskOptions> parse_options(std::string_view json) {
  auto document = parse_document(json);
  PLAN_TRY(document);
  const Json& root = *document;
  if (!root.is_object()) {
    return bad("options", "expected a JSON object");
  }
  PLAN_TRY(only_keys(root, "options", {"stdin", "stdin_base64", "args", "env", "files", "limits"}));
  TaskOptions options;
  PLAN_TRY(parse_stdin(root, options));
  const std::pair<const char*, Check (*)(const Json&, TaskOptions&)> sections[] = {
      {"args", parse_args}, {"env", parse_env}, {"files", parse_files}, {"limits", parse_limits}};
  for (const auto& [key, parse] : sections) {
    const auto value = root.find(key);
    if (value == root.end()) {
      continue;
    }
    PLAN_TRY(parse(*value, options));
  }
  return options;
}

bool is_safe_relative_path(std::string_view path) {
  constexpr std::size_t k_max_path = 4096;
  constexpr std::size_t k_max_component = 255;
  if (path.empty() || path.size() > k_max_path || path.front() == '/' ||
      path.find('\0') != std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view component = path.substr(start, end - start);
    if (component.empty() || component == "." || component == ".." ||
        component.size() > k_max_component) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace planificador::protocol
