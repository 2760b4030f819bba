#include "planificador/broker/fleet_view.hpp"

#include <nlohmann/json.hpp>

namespace planificador::broker {
namespace {

using nlohmann::json;

json executor_json(const ExecutorView& executor) {
  return json{{"name", executor.name},         {"build", executor.build},
              {"slots", executor.slots},       {"free", executor.free},
              {"running", executor.running},   {"held", executor.held},
              {"draining", executor.draining}, {"blocked", executor.blocked},
              {"patterns", executor.patterns}, {"last_seen_ms", executor.last_seen_ms}};
}

ExecutorView executor_view(const json& value) {
  ExecutorView executor;
  executor.name = value.at("name").get<std::string>();
  executor.build = value.value("build", "");
  executor.slots = value.at("slots").get<std::uint32_t>();
  executor.free = value.at("free").get<std::uint32_t>();
  executor.running = value.at("running").get<std::size_t>();
  executor.held = value.value("held", executor.running);
  executor.draining = value.at("draining").get<bool>();
  executor.blocked = value.value("blocked", false);
  executor.patterns = value.at("patterns").get<std::vector<std::string>>();
  executor.last_seen_ms = value.at("last_seen_ms").get<std::uint64_t>();
  return executor;
}

}  // namespace

std::string to_json(const FleetView& view) {
  json executors = json::array();
  for (const auto& executor : view.executors) {
    executors.push_back(executor_json(executor));
  }
  const json object{{"epoch", view.epoch},
                    {"queued", view.queued},
                    {"waiting", view.waiting},
                    {"dispatched", view.dispatched},
                    {"running", view.running},
                    {"lost_total", view.lost_total},
                    {"backlog", view.backlog},
                    {"events_pending", view.events_pending},
                    {"link_paused", view.link_paused},
                    {"shutting_down", view.shutting_down},
                    {"executors", std::move(executors)}};
  // Names and patterns come from daemons: never let a bad byte make the answer invalid.
  return object.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<FleetView> from_json(const std::string& text) {
  try {
    const json object = json::parse(text);
    FleetView view;
    view.epoch = object.at("epoch").get<std::uint64_t>();
    view.queued = object.at("queued").get<std::size_t>();
    view.waiting = object.value("waiting", std::size_t{0});
    view.dispatched = object.at("dispatched").get<std::size_t>();
    view.running = object.at("running").get<std::size_t>();
    view.lost_total = object.at("lost_total").get<std::uint64_t>();
    view.backlog = object.value("backlog", std::size_t{0});
    view.events_pending = object.value("events_pending", std::size_t{0});
    view.link_paused = object.value("link_paused", false);
    view.shutting_down = object.value("shutting_down", false);
    for (const auto& executor : object.at("executors")) {
      view.executors.push_back(executor_view(executor));
    }
    return view;
  } catch (const json::exception& error) {
    return fail(std::string("the broker's answer is not a fleet view: ") + error.what());
  }
}

}  // namespace planificador::broker
