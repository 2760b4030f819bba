#include "planificador/protocol/report.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <optional>
#include <utility>

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

namespace planificador::protocol {
namespace {

std::string bytes_text(std::uint64_t bytes) {
  constexpr std::array<const char*, 4> k_units = {"B", "KiB", "MiB", "GiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < k_units.size()) {
    value /= 1024;
    ++unit;
  }
  std::array<char, 32> text{};
  const int length =
      unit == 0 ? std::snprintf(text.data(), text.size(), "%llu B",
                                static_cast<unsigned long long>(bytes))
                : std::snprintf(text.data(), text.size(), "%.1f %s", value, k_units.at(unit));
  return {text.data(), static_cast<std::size_t>(std::max(length, 0))};
}

}  // namespace

std::string summarize_report(std::string_view json) {
  const auto report = nlohmann::json::parse(json, nullptr, false);
  if (!report.is_object()) {
    return {};
  }
  std::string line;
  auto add = [&line](const std::string& part) { line += line.empty() ? part : " · " + part; };
  auto number = [&report](const char* key) -> std::optional<std::uint64_t> {
    const auto found = report.find(key);
    if (found == report.end() || !found->is_number_unsigned()) {
      return std::nullopt;
    }
    return found->get<std::uint64_t>();
  };
  const auto status = report.find("status");
  const auto code = report.find("exit_code");
  const auto signal = report.find("signal");
  std::string head =
      status != report.end() && status->is_string() ? status->get<std::string>() : "";
  if (signal != report.end() && signal->is_number_integer()) {
    head += " " + std::to_string(signal->get<int>());
  } else if (code != report.end() && code->is_number_integer()) {
    head += (head.empty() ? "exit " : " ") + std::to_string(code->get<std::int64_t>());
  }
  if (!head.empty()) {
    add(head);
  }
  for (const auto& [key, label] : {std::pair{"wall_ms", "wall"}, std::pair{"cpu_ms", "cpu"}}) {
    if (auto ms = number(key)) {
      add(std::string(label) + " " + std::to_string(*ms) + " ms");
    }
  }
  if (auto peak = number("memory_peak_bytes")) {
    add("memory " + bytes_text(*peak));
  }
  if (auto output = number("output_bytes")) {
    add("output " + bytes_text(*output));
  }
  if (auto queued = number("queued_ms")) {
    add("queued " + std::to_string(*queued) + " ms");
  }
  const auto executor = report.find("executor");
  if (executor != report.end() && executor->is_string() &&
      !executor->get_ref<const std::string&>().empty()) {
    add("on " + executor->get<std::string>());
  }
  return line;
}

}  // namespace planificador::protocol
