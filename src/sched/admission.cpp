#include "planificador/sched/admission.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "planificador/protocol/quote.hpp"

namespace planificador::sched {
namespace {

constexpr auto k_submit_ext =
    static_cast<unsigned char>(protocol::MessageType::submit_ext_or_report);

std::string dropped(std::string_view why, std::string_view frame) {
  return std::string(why) + " (" + std::to_string(frame.size()) +
         " bytes: " + protocol::hex_prefix(frame) + ")";
}

Admission admit_submit(protocol::Submit submit, const config::Config& config, bool shutting_down) {
  const bool extended = submit.options.has_value();
  auto reject = [&](std::string reason) -> Admission {
    return Rejected{submit.id, extended, std::move(reason)};
  };
  if (shutting_down) {
    return reject("shutting down");
  }
  const config::Runner* runner = config::match_runner(config, submit.image);
  if (runner == nullptr) {
    return reject("no runner for image " + protocol::quote_text(submit.image));
  }
  protocol::TaskOptions options;
  if (extended) {
    auto parsed = protocol::parse_options(*submit.options);
    if (!parsed) {
      return reject(parsed.error().message);
    }
    options = std::move(*parsed);
  }
  auto limits = effective_limits(runner->limits, options.limits);
  if (!limits) {
    return reject(limits.error().message);
  }
  Admitted admitted;
  admitted.spec.id = submit.id;
  admitted.spec.runner = runner;
  admitted.spec.code = std::move(submit.code);
  admitted.spec.options = std::move(options);
  admitted.spec.limits = *limits;
  admitted.image = std::move(submit.image);
  admitted.extended = extended;
  return admitted;
}

}  // namespace

Admission admit(std::string_view frame, const config::Config& config,
                const protocol::DecodeLimits& limits, bool from_control, bool shutting_down) {
  auto decoded = protocol::decode_inbound(frame, limits);
  if (!decoded) {
    const auto& error = decoded.error();
    if (error.task_id && !from_control) {
      const bool extended = static_cast<unsigned char>(frame.front()) == k_submit_ext;
      return Rejected{*error.task_id, extended, error.message};
    }
    return Dropped{dropped(error.message, frame)};
  }
  if (auto* cancel = std::get_if<protocol::Cancel>(&*decoded)) {
    return *cancel;
  }
  if (from_control) {
    return Dropped{dropped("control carries only CANCEL", frame)};
  }
  return admit_submit(std::get<protocol::Submit>(std::move(*decoded)), config, shutting_down);
}

Result<config::Limits> effective_limits(const config::Limits& runner,
                                        const protocol::RequestedLimits& requested) {
  struct Field {
    const char* name;
    const std::optional<std::uint64_t>& asked;
    std::uint64_t maximum;
  };
  const std::array<Field, 5> fields{{
      {"wall_ms", requested.wall_ms, runner.wall_ms},
      {"cpu_ms", requested.cpu_ms, runner.cpu_ms},
      {"memory_bytes", requested.memory_bytes, runner.memory_bytes},
      {"pids", requested.pids, runner.pids},
      {"output_bytes", requested.output_bytes, runner.output_bytes},
  }};
  for (const auto& field : fields) {
    if (field.asked && *field.asked > field.maximum) {
      return fail(ErrorKind::malformed, "options.limits." + std::string(field.name) + ": " +
                                            std::to_string(*field.asked) +
                                            " exceeds the runner's maximum of " +
                                            std::to_string(field.maximum));
    }
  }
  config::Limits effective = runner;
  effective.wall_ms = requested.wall_ms.value_or(runner.wall_ms);
  effective.cpu_ms = requested.cpu_ms.value_or(runner.cpu_ms);
  effective.memory_bytes = requested.memory_bytes.value_or(runner.memory_bytes);
  effective.pids = requested.pids.value_or(runner.pids);
  effective.output_bytes = requested.output_bytes.value_or(runner.output_bytes);
  return effective;
}

protocol::DecodeLimits decode_limits(const config::Config& config) {
  protocol::DecodeLimits limits;
  limits.max_code_bytes = config.server.max_code_bytes;
  return limits;
}

std::size_t max_frame_bytes(const protocol::DecodeLimits& limits) {
  return 45 + limits.max_image_bytes + limits.max_code_bytes + limits.max_options_bytes;
}

}  // namespace planificador::sched
