#include <fstream>
#include <iterator>
#include <sstream>

#include "commands.hpp"
#include <nlohmann/json.hpp>

#include "planificador/util/base64.hpp"

namespace planificador::planctl {
namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail("open `" + path + "`: cannot read it");
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) {
    return fail("read `" + path + "`: I/O error");
  }
  return bytes.str();
}

std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Result<nlohmann::json> limits_json(const std::vector<std::string>& limits) {
  static const char* const k_keys[] = {"wall_ms", "cpu_ms", "memory_bytes", "pids", "output_bytes"};
  auto object = nlohmann::json::object();
  for (const auto& item : limits) {
    const auto equals = item.find('=');
    const std::string key = item.substr(0, equals);
    bool known = false;
    for (const char* candidate : k_keys) {
      known = known || key == candidate;
    }
    std::uint64_t value = 0;
    std::size_t used = 0;
    try {
      if (equals != std::string::npos) {
        value = std::stoull(item.substr(equals + 1), &used);
      }
    } catch (const std::exception&) {
      used = 0;
    }
    if (!known || equals == std::string::npos || used == 0 || used != item.size() - equals - 1) {
      return fail("--limit `" + item +
                  "`: expected wall_ms|cpu_ms|memory_bytes|pids|output_bytes=NUMBER");
    }
    object[key] = value;
  }
  return object;
}

}  // namespace

Result<std::optional<std::string>> options_json(const RunRequest& request) {
  auto options = nlohmann::json::object();
  if (request.stdin_path) {
    auto data = read_file(*request.stdin_path);
    PLAN_TRY(data);
    options["stdin_base64"] = base64_encode(*data);
  }
  if (!request.args.empty()) {
    options["args"] = request.args;
  }
  if (!request.env.empty()) {
    auto env = nlohmann::json::object();
    for (const auto& item : request.env) {
      const auto equals = item.find('=');
      if (equals == std::string::npos || equals == 0) {
        return fail("--env `" + item + "`: expected KEY=VALUE");
      }
      env[item.substr(0, equals)] = item.substr(equals + 1);
    }
    options["env"] = env;
  }
  if (!request.files.empty()) {
    auto files = nlohmann::json::array();
    for (const auto& item : request.files) {
      const auto colon = item.find(':');
      const std::string local = item.substr(0, colon);
      const std::string remote =
          colon == std::string::npos ? base_name(local) : item.substr(colon + 1);
      auto content = read_file(local);
      PLAN_TRY(content);
      files.push_back({{"path", remote}, {"content", base64_encode(*content)}, {"base64", true}});
    }
    options["files"] = files;
  }
  if (!request.limits.empty()) {
    auto limits = limits_json(request.limits);
    PLAN_TRY(limits);
    options["limits"] = *limits;
  }
  if (options.empty() && !request.report) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(options.dump());
}

}  // namespace planificador::planctl
