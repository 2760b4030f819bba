#pragma once
// SUBMIT_EXT options (SPEC §4): JSON text in, a validated TaskOptions out.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "planificador/util/result.hpp"

namespace planificador::protocol {

struct TaskFile {
  std::string path;     // relative, as given; checked again where it is written
  std::string content;  // decoded bytes (base64 already undone)
  friend bool operator==(const TaskFile&, const TaskFile&) = default;
};

struct RequestedLimits {
  std::optional<std::uint64_t> wall_ms;
  std::optional<std::uint64_t> cpu_ms;
  std::optional<std::uint64_t> memory_bytes;
  std::optional<std::uint64_t> pids;
  std::optional<std::uint64_t> output_bytes;
  friend bool operator==(const RequestedLimits&, const RequestedLimits&) = default;
};

struct TaskOptions {
  std::string stdin_data;  // "stdin" or decoded "stdin_base64"; empty = EOF at once
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // in the order given
  std::vector<TaskFile> files;
  RequestedLimits limits;
  friend bool operator==(const TaskOptions&, const TaskOptions&) = default;
};

// Parses and validates options JSON. Returns the options, or a message naming the key
// that is wrong ("options.limits.wall_ms: expected a positive integer", "options: unknown
// key `stdn`", "options.files[1].path: must be relative and stay in the work directory").
// Rejects invalid JSON, repeated keys in one object, unknown keys at any level, stdin
// together with stdin_base64, env names that are empty or hold `=`/NUL, NUL in env values
// or args, unsafe, repeated or file-under-file paths, and limits that are not positive
// integers. Never throws on any input.
[[nodiscard]] Result<TaskOptions> parse_options(std::string_view json);

// Returns true when `path` is a safe relative path: non-empty, not absolute, no empty,
// `.` or `..` component, no NUL byte, at most 255 bytes a component and 4096 in all.
[[nodiscard]] bool is_safe_relative_path(std::string_view path);

}  // namespace planificador::protocol
