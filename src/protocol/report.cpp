#include "planificador/protocol/report.hpp"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

namespace planificador::protocol {

std::string_view to_string(Status status) {
  switch (status) {
    case Status::exited:
      return "exited";
    case Status::signaled:
      return "signaled";
    case Status::time_limit:
      return "time_limit";
    case Status::cpu_limit:
      return "cpu_limit";
    case Status::memory_limit:
      return "memory_limit";
    case Status::output_limit:
      return "output_limit";
    case Status::cancelled:
      return "cancelled";
    case Status::compile_error:
      return "compile_error";
    case Status::rejected:
      return "rejected";
    case Status::error:
      return "error";
  }
  return "error";
}

std::int32_t exit_code_for(Status status, int program_code, int signal) {
  switch (status) {
    case Status::exited:
    case Status::compile_error:
      return program_code;
    case Status::signaled: {
      // 64-bit sum and clamp: the signal number is data from elsewhere, not worth an
      // overflow in a hot path that must never fail.
      const std::int64_t code = std::int64_t{128} + signal;
      return static_cast<std::int32_t>(
          std::clamp<std::int64_t>(code, std::numeric_limits<std::int32_t>::min(),
                                   std::numeric_limits<std::int32_t>::max()));
    }
    case Status::time_limit:
      return 124;
    case Status::rejected:
    case Status::error:
      return 125;
    case Status::cancelled:
      return 130;
    case Status::memory_limit:
      return 137;
    case Status::cpu_limit:
      return 152;
    case Status::output_limit:
      return 153;
  }
  return 125;
}

std::string encode_report_json(const ReportFields& fields) {
  nlohmann::ordered_json json;
  json["status"] = to_string(fields.status);
  json["exit_code"] = fields.exit_code;
  json["signal"] = fields.signal ? nlohmann::ordered_json(*fields.signal) : nullptr;
  json["wall_ms"] = fields.wall_ms;
  json["cpu_ms"] = fields.cpu_ms;
  json["memory_peak_bytes"] = fields.memory_peak_bytes;
  json["output_bytes"] = fields.output_bytes;
  json["queued_ms"] = fields.queued_ms;
  json["executor"] = fields.executor;
  // The executor name comes from configuration or the host name; replacing invalid UTF-8
  // keeps the REPORT valid JSON instead of throwing.
  return json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace planificador::protocol
