#pragma once
// The client side of the broker's admin socket (REP): what `planctl fleet` asks.

#include <chrono>
#include <string>

#include "planificador/transport/client.hpp"
#include "planificador/util/result.hpp"

namespace planificador::broker {

// Asks the broker's admin socket at `endpoint` for its fleet view and returns the JSON
// answer (fleet_view.hpp), or an Error when none came within `timeout`.
[[nodiscard]] Result<std::string> query_admin(const std::string& endpoint,
                                              const transport::CurveClient& curve,
                                              std::chrono::milliseconds timeout);

}  // namespace planificador::broker
