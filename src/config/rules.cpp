#include "rules.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <unistd.h>

namespace planificador::config::rules {
namespace {

constexpr std::size_t k_max_name = 255;

bool has_control(std::string_view value) {
  return std::any_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

bool has_nul(std::string_view value) { return value.find('\0') != std::string_view::npos; }

}  // namespace

std::optional<std::string> endpoint(std::string_view value) {
  constexpr std::array<std::string_view, 3> k_transports{"tcp://", "ipc://", "inproc://"};
  for (const std::string_view transport : k_transports) {
    if (value.size() > transport.size() && value.substr(0, transport.size()) == transport &&
        !has_control(value)) {
      return std::nullopt;
    }
  }
  return "expected a ZeroMQ endpoint (tcp://, ipc:// or inproc://)";
}

std::optional<std::string> optional_endpoint(std::string_view value) {
  if (value.empty()) return std::nullopt;
  auto problem = endpoint(value);
  if (problem) *problem += " or an empty string";
  return problem;
}

std::optional<std::string> absolute_path(std::string_view value) {
  if (value.empty() || value.front() != '/' || has_nul(value)) return "expected an absolute path";
  return std::nullopt;
}

std::optional<std::string> optional_absolute_path(std::string_view value) {
  if (value.empty()) return std::nullopt;
  if (absolute_path(value)) return "expected an absolute path or an empty string";
  return std::nullopt;
}

std::optional<std::string> file_name(std::string_view value) {
  // The file is created inside the task's work directory; a name that could climb out of
  // it, or is not one directory entry, is refused here rather than at run time.
  if (value.empty() || value == "." || value == ".." || value.size() > k_max_name ||
      value.find('/') != std::string_view::npos || has_nul(value)) {
    return "expected a plain file name (no '/', not '.' or '..')";
  }
  return std::nullopt;
}

std::optional<std::string> image(std::string_view value) {
  const bool space = value.find(' ') != std::string_view::npos;
  if (value.empty() || value.size() > k_max_name || space || has_control(value)) {
    return "expected a Docker image name";
  }
  return std::nullopt;
}

std::optional<std::string> short_text(std::string_view value) {
  if (value.size() > k_max_name || has_control(value)) {
    return "expected at most 255 bytes without control characters";
  }
  return std::nullopt;
}

std::optional<std::string> log_level(std::string_view value) {
  constexpr std::array<std::string_view, 6> k_levels{"trace", "debug", "info",
                                                     "warn",  "error", "off"};
  if (std::find(k_levels.begin(), k_levels.end(), value) != k_levels.end()) return std::nullopt;
  return "expected one of trace, debug, info, warn, error, off";
}

std::optional<std::string> env_name(std::string_view value) {
  if (value.empty() || value.find('=') != std::string_view::npos || has_nul(value)) {
    return "expected a variable name without '=' or NUL";
  }
  return std::nullopt;
}

std::optional<std::string> isolation_name(std::string_view value) {
  if (isolation(value)) return std::nullopt;
  return R"(expected "strict" or "fast")";
}

std::optional<Isolation> isolation(std::string_view value) {
  if (value == "strict") return Isolation::strict;
  if (value == "fast") return Isolation::fast;
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> default_env() {
  return {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
          {"HOME", "/work"},
          {"LANG", "C.UTF-8"}};
}

std::string host_name() {
  std::array<char, HOST_NAME_MAX + 1> buffer{};
  // gethostname(2): a truncated name need not be NUL-terminated, hence the spare byte.
  if (::gethostname(buffer.data(), buffer.size() - 1) != 0 || buffer[0] == '\0') {
    return "localhost";
  }
  return std::string(buffer.data());
}

}  // namespace planificador::config::rules
