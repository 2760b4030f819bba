// Properties of parse_options() (SPEC §4) on arbitrary text:
//  - it never throws, never reads out of bounds and never hits UB;
//  - accepted options satisfy every documented rule (safe, distinct file paths; env names
//    non-empty without `=` or NUL; limits positive; no NUL in args);
//  - accepted options, written back as JSON, parse to the same options (nothing is lost
//    or invented on the way in);
//  - is_safe_relative_path() agrees with a component-by-component reading of the path.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "planificador/protocol/options.hpp"
#include "planificador/util/base64.hpp"

namespace {

using namespace planificador::protocol;

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

void check_rules(const TaskOptions& options) {
  std::set<std::string> paths;
  for (const TaskFile& file : options.files) {
    require(is_safe_relative_path(file.path));
    require(paths.insert(file.path).second);
  }
  for (const auto& [name, value] : options.env) {
    require(!name.empty() && name.find_first_of(std::string_view("=\0", 2)) == std::string::npos);
    require(value.find('\0') == std::string::npos);
  }
  for (const std::string& arg : options.args) {
    require(arg.find('\0') == std::string::npos);
  }
  for (const auto& limit :
       {options.limits.wall_ms, options.limits.cpu_ms, options.limits.memory_bytes,
        options.limits.pids, options.limits.output_bytes}) {
    require(!limit || *limit > 0);
  }
}

// Writes options back as JSON; binary stdin and file contents go through base64 so that
// any bytes survive.
std::string to_json(const TaskOptions& options) {
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  json["stdin_base64"] = planificador::base64_encode(options.stdin_data);
  json["args"] = options.args;
  json["env"] = nlohmann::ordered_json::object();
  for (const auto& [name, value] : options.env) {
    json["env"][name] = value;
  }
  json["files"] = nlohmann::ordered_json::array();
  for (const TaskFile& file : options.files) {
    json["files"].push_back({{"path", file.path},
                             {"content", planificador::base64_encode(file.content)},
                             {"base64", true}});
  }
  auto& limits = json["limits"] = nlohmann::ordered_json::object();
  const std::pair<const char*, std::optional<std::uint64_t>> fields[] = {
      {"wall_ms", options.limits.wall_ms},
      {"cpu_ms", options.limits.cpu_ms},
      {"memory_bytes", options.limits.memory_bytes},
      {"pids", options.limits.pids},
      {"output_bytes", options.limits.output_bytes}};
  for (const auto& [name, value] : fields) {
    if (value) {
      limits[name] = *value;
    }
  }
  return json.dump();
}

bool reference_safe_path(std::string_view path) {
  if (path.empty() || path.size() > 4096 || path.find('\0') != std::string_view::npos) {
    return false;
  }
  std::string component;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') {
      component += path[i];
      continue;
    }
    if (component.empty() || component == "." || component == ".." || component.size() > 255) {
      return false;
    }
    component.clear();
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  require(is_safe_relative_path(text) == reference_safe_path(text));

  const auto options = parse_options(text);
  if (!options) {
    require(options.error().message.rfind("options", 0) == 0 &&
            options.error().kind == planificador::ErrorKind::malformed);
    return 0;
  }
  check_rules(*options);
  // Every string that got in came from valid UTF-8 JSON, so writing it back cannot throw.
  const auto again = parse_options(to_json(*options));
  require(again.has_value() && *again == *options);
  return 0;
}
