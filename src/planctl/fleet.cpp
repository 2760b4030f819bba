// planctl fleet: the broker's view of its fleet, from its admin socket; and the CURVE key
// files every subcommand that talks to a broker may be given.

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"

#include "planificador/broker/admin_client.hpp"
#include "planificador/broker/fleet_view.hpp"
#include "planificador/transport/curve_keys.hpp"

namespace planificador::planctl {
namespace {

std::string state_of(const broker::ExecutorView& executor) {
  if (executor.draining) return "draining";
  if (executor.blocked) return "blocked";
  return "ready";
}

std::string joined(const std::vector<std::string>& patterns) {
  std::string text;
  for (const auto& pattern : patterns) {
    text += (text.empty() ? "" : ", ") + pattern;
  }
  return text;
}

std::string hex_epoch(std::uint64_t epoch) {
  std::ostringstream text;
  text << std::hex << std::setw(16) << std::setfill('0') << epoch;
  return text.str();
}

// Columns wide enough for their longest cell; numbers right-aligned, text left-aligned.
void print_executors(const std::vector<broker::ExecutorView>& executors) {
  const std::vector<std::string> headers{"NAME", "SLOTS", "FREE",      "RUNNING",
                                         "HELD", "STATE", "LAST SEEN", "PATTERNS"};
  std::vector<std::vector<std::string>> rows{headers};
  for (const auto& e : executors) {
    rows.push_back({e.name, std::to_string(e.slots), std::to_string(e.free),
                    std::to_string(e.running), std::to_string(e.held), state_of(e),
                    std::to_string(e.last_seen_ms) + " ms", joined(e.patterns)});
  }
  std::vector<std::size_t> widths(headers.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      const bool number = i >= 1 && i <= 4;
      std::cout << (number ? std::right : std::left)
                << std::setw(static_cast<int>(i + 1 < row.size() ? widths[i] : 0)) << row[i]
                << (i + 1 < row.size() ? "  " : "\n");
    }
  }
}

void print_view(const broker::FleetView& view) {
  std::cout << "epoch " << hex_epoch(view.epoch) << "  queued " << view.queued << " (waiting "
            << view.waiting << ", backlog " << view.backlog << ")  dispatched " << view.dispatched
            << "  running " << view.running << "  lost " << view.lost_total
            << (view.link_paused ? "  link paused (events consumer slow)" : "")
            << (view.shutting_down ? "  shutting down" : "") << '\n';
  if (view.executors.empty()) {
    std::cout << "no executor connected\n";
    return;
  }
  print_executors(view.executors);
}

}  // namespace

Result<transport::CurveClient> load_curve(const CurveFiles& files) {
  if (files.server_key.empty() && files.key.empty()) {
    return transport::CurveClient{};
  }
  if (files.server_key.empty() || files.key.empty()) {
    return fail("--curve-server-key and --curve-key go together");
  }
  auto server = transport::curve::load_public_key(files.server_key);
  PLAN_TRY(server);
  auto pair = transport::curve::load_key_pair(files.key);
  PLAN_TRY(pair);
  return transport::CurveClient{*server, pair->public_key, pair->secret_key};
}

int fleet(const FleetRequest& request) {
  auto curve = load_curve(request.curve);
  if (!curve) {
    std::cerr << "planctl: " << curve.error().message << '\n';
    return k_exit_usage;
  }
  const auto timeout = std::chrono::milliseconds(static_cast<long>(request.timeout_seconds * 1000));
  auto answer = broker::query_admin(request.admin, *curve, timeout);
  if (!answer) {
    std::cerr << "planctl: " << answer.error().message << '\n';
    return k_exit_transport;
  }
  if (request.json) {
    std::cout << *answer << '\n';
    return 0;
  }
  auto view = broker::from_json(*answer);
  if (!view) {
    std::cerr << "planctl: " << view.error().message << '\n';
    return k_exit_transport;
  }
  print_view(*view);
  return 0;
}

}  // namespace planificador::planctl
