// planctl runners: the RUNNERS request and answer (docs/protocol.md), printed as a table.
#include "planificador/protocol/runners.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>

#include "commands.hpp"
#include <nlohmann/json.hpp>

namespace planificador::planctl {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds milliseconds(double seconds) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(seconds));
}

std::string joined(const nlohmann::json& patterns) {
  std::string text;
  for (const auto& pattern : patterns) {
    text += (text.empty() ? "" : ", ") + pattern.get<std::string>();
  }
  return text;
}

std::string mib(std::uint64_t bytes) {
  std::array<char, 32> text{};
  const int length = std::snprintf(text.data(), text.size(), "%g MiB",
                                   static_cast<double>(bytes) / (1024.0 * 1024.0));
  return {text.data(), static_cast<std::size_t>(length > 0 ? length : 0)};
}

// One runner a line: its patterns, then image, isolation, pool and limits.
void print_table(const nlohmann::json& answer) {
  for (const auto& runner : answer.at("runners")) {
    const auto& limits = runner.at("limits");
    std::cout << joined(runner.at("match")) << "\n    " << runner.at("image").get<std::string>()
              << ", " << runner.at("isolation").get<std::string>() << ", pool "
              << runner.at("pool").get<std::uint64_t>()
              << (runner.at("compiles").get<bool>() ? ", compiles" : "") << "\n    wall "
              << limits.at("wall_ms").get<std::uint64_t>() << " ms, cpu "
              << limits.at("cpu_ms").get<std::uint64_t>() << " ms, memory "
              << mib(limits.at("memory_bytes").get<std::uint64_t>()) << ", pids "
              << limits.at("pids").get<std::uint64_t>() << ", output "
              << limits.at("output_bytes").get<std::uint64_t>() << " bytes\n";
  }
}

// Reads events until the answer to request `id` or `deadline`; nullopt when none came.
Result<std::optional<std::string>> await_answer(transport::Client& client,
                                                const protocol::TaskId& id,
                                                Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto frame = client.receive(left);
    PLAN_TRY(frame);
    if (!*frame) {
      break;
    }
    auto answer = protocol::decode_runners_answer(**frame);
    // Another client's event is skipped: SPEC's events socket deals frames to every reader.
    if (answer && answer->first == id) {
      return std::move(answer->second);
    }
  }
  return std::nullopt;
}

int print_answer(const std::string& answer, bool as_json) {
  if (as_json) {
    std::cout << answer << '\n';
    return 0;
  }
  const auto parsed = nlohmann::json::parse(answer, nullptr, false);
  try {
    if (!parsed.is_object() || !parsed.contains("runners")) {
      throw std::runtime_error("no `runners` list");
    }
    print_table(parsed);
  } catch (const std::exception& error) {
    std::cerr << "planctl: the RUNNERS answer is not the documented JSON: " << error.what() << '\n';
    return k_exit_transport;
  }
  return 0;
}

}  // namespace

int runners(const RunnersRequest& request) {
  auto curve = load_curve(request.curve);
  if (!curve) {
    std::cerr << "planctl: " << curve.error().message << '\n';
    return k_exit_usage;
  }
  auto client = connect(request.endpoints, "", *curve);
  if (!client) {
    std::cerr << "planctl: " << client.error().message << '\n';
    return k_exit_transport;
  }
  if (auto reachable = (*client)->wait_reachable(milliseconds(request.connect_seconds));
      !reachable) {
    std::cerr << "planctl: " << reachable.error().message << '\n';
    return k_exit_transport;
  }
  const std::optional<protocol::TaskId> id = protocol::TaskId::random();
  const auto deadline = Clock::now() + milliseconds(request.timeout_seconds);
  if (auto sent = (*client)->send(protocol::encode_runners_request(*id),
                                  milliseconds(request.timeout_seconds));
      !sent) {
    std::cerr << "planctl: " << sent.error().message << '\n';
    return k_exit_transport;
  }
  auto answer = await_answer(**client, *id, deadline);
  if (!answer) {
    std::cerr << "planctl: " << answer.error().message << '\n';
    return k_exit_transport;
  }
  if (*answer) {
    return print_answer(**answer, request.json);
  }
  const auto& endpoints = request.endpoints;
  std::cerr << "planctl: no RUNNERS answer from "
            << (endpoints.spec_sockets ? endpoints.intake : endpoints.endpoint) << " within "
            << request.timeout_seconds
            << " s (a daemon older than RUNNERS, or a fleet broker, drops the request)\n";
  return k_exit_transport;
}

}  // namespace planificador::planctl
