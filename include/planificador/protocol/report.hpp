#pragma once
// The outcome of a task (SPEC §3 exit codes, SPEC §4 REPORT status) and the REPORT JSON.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace planificador::protocol {

enum class Status {
  exited,
  signaled,
  time_limit,
  cpu_limit,
  memory_limit,
  output_limit,
  cancelled,
  compile_error,
  rejected,
  error,
};

// Returns the SPEC §4 name ("time_limit").
[[nodiscard]] std::string_view to_string(Status status);

// Returns the EXITED code SPEC §3 gives a status: 124, 125, 130, 137, 152, 153 for the
// daemon's own outcomes; `program_code` for exited/compile_error; 128+signal for signaled
// (clamped to the i32 range).
[[nodiscard]] std::int32_t exit_code_for(Status status, int program_code, int signal);

struct ReportFields {
  Status status = Status::exited;
  std::int32_t exit_code = 0;
  std::optional<int> signal;
  std::uint64_t wall_ms = 0;
  std::uint64_t cpu_ms = 0;
  std::uint64_t memory_peak_bytes = 0;
  std::uint64_t output_bytes = 0;
  std::uint64_t queued_ms = 0;
  std::string executor;
};

// Returns the REPORT JSON object of SPEC §4, compact, keys in the order the SPEC shows;
// invalid UTF-8 in `executor` is replaced by U+FFFD.
[[nodiscard]] std::string encode_report_json(const ReportFields& fields);

// Returns one line for a person reading a REPORT: "exited 0 · wall 16 ms · cpu 15 ms ·
// memory 5.1 MiB · output 2 B · queued 0 ms · on devbox" ("signaled 9", "time_limit 124",
// …); fields the JSON lacks are left out. Anything that is not a JSON object gives "".
[[nodiscard]] std::string summarize_report(std::string_view json);

}  // namespace planificador::protocol
