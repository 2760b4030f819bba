// planctl runners: the RUNNERS request and answer (docs/protocol.md), printed as a table.
#include "planificador/protocol/runners.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <iostream>
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

}  // namespace

int runners(const RunnersRequest& request) {
  auto curve = load_curve(request.curve);
  if (!curve) {
    std::cerr << "planctl: " << curve.error().message << '\n';
    return k_exit_usage;
  }
  auto client = transport::Client::connect(request.intake, request.events, "", *curve);
  if (!client) {
    std::cerr << "planctl: " << client.error().message << '\n';
    return k_exit_transport;
  }
  if (auto reachable = (*client)->wait_reachable(milliseconds(request.connect_seconds));
      !reachable) {
    std::cerr << "planctl: " << reachable.error().message << '\n';
    return k_exit_transport;
  }
  const auto id = protocol::TaskId::from_bytes(random_task_id());
  const auto deadline = Clock::now() + milliseconds(request.timeout_seconds);
  if (auto sent = (*client)->send(protocol::encode_runners_request(*id),
                                  milliseconds(request.timeout_seconds));
      !sent) {
    std::cerr << "planctl: " << sent.error().message << '\n';
    return k_exit_transport;
  }
  while (Clock::now() < deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto frame = (*client)->receive(left);
    if (!frame) {
      std::cerr << "planctl: " << frame.error().message << '\n';
      return k_exit_transport;
    }
    if (!*frame) {
      break;
    }
    const auto answer = protocol::decode_runners_answer(**frame);
    if (!answer || answer->first != *id) {
      continue;  // another client's event (SPEC's events socket deals frames to every reader)
    }
    if (request.json) {
      std::cout << answer->second << '\n';
      return 0;
    }
    const auto parsed = nlohmann::json::parse(answer->second, nullptr, false);
    if (!parsed.is_object() || !parsed.contains("runners")) {
      std::cerr << "planctl: the RUNNERS answer is not the documented JSON\n";
      return k_exit_transport;
    }
    try {
      print_table(parsed);
    } catch (const nlohmann::json::exception& error) {
      std::cerr << "planctl: the RUNNERS answer is not the documented JSON: " << error.what()
                << '\n';
      return k_exit_transport;
    }
    return 0;
  }
  std::cerr << "planctl: no RUNNERS answer from " << request.intake << " within "
            << request.timeout_seconds
            << " s (a daemon older than RUNNERS, or a fleet broker, drops the request)\n";
  return k_exit_transport;
}

}  // namespace planificador::planctl
