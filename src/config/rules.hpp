#pragma once
// The value rules of config.toml that do not depend on TOML: what makes an endpoint, a
// path, a file name or an image name acceptable. Internal to the config module.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "planificador/config/config.hpp"

namespace planificador::config::rules {

// A check returns std::nullopt when the value is acceptable, otherwise what is wrong.
using Check = std::optional<std::string> (*)(std::string_view value);

// A ZeroMQ endpoint with a tcp://, ipc:// or inproc:// transport and something after it.
[[nodiscard]] std::optional<std::string> endpoint(std::string_view value);

// Empty, or an endpoint as above.
[[nodiscard]] std::optional<std::string> optional_endpoint(std::string_view value);

// An absolute path without NUL bytes.
[[nodiscard]] std::optional<std::string> absolute_path(std::string_view value);

// Empty, or an absolute path as above.
[[nodiscard]] std::optional<std::string> optional_absolute_path(std::string_view value);

// A plain file name: non-empty, at most 255 bytes, no '/' or NUL, not "." or "..".
[[nodiscard]] std::optional<std::string> file_name(std::string_view value);

// A Docker image reference: non-empty, at most 255 bytes, no whitespace or control bytes.
[[nodiscard]] std::optional<std::string> image(std::string_view value);

// At most 255 bytes without control bytes, possibly empty.
[[nodiscard]] std::optional<std::string> short_text(std::string_view value);

// One of trace, debug, info, warn, error, off.
[[nodiscard]] std::optional<std::string> log_level(std::string_view value);

// An environment variable name: non-empty, no '=' or NUL.
[[nodiscard]] std::optional<std::string> env_name(std::string_view value);

// "strict" or "fast".
[[nodiscard]] std::optional<std::string> isolation_name(std::string_view value);

// Returns the isolation named `value` ("strict" or "fast"), or std::nullopt.
[[nodiscard]] std::optional<Isolation> isolation(std::string_view value);

// Returns the environment a runner gets when it names none.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> default_env();

// Returns this machine's host name, or "localhost" if it cannot be read.
[[nodiscard]] std::string host_name();

}  // namespace planificador::config::rules
