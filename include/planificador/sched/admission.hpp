#pragma once
// Admission: one executor-bound frame in, a decision out — a task ready to queue, a
// CANCEL, a rejection that must be answered (SPEC §3: APPEND_ERR + EXITED 125), or a
// frame to drop and log. Pure: no I/O, no clock.

#include <string>
#include <string_view>
#include <variant>

#include <tl/expected.hpp>

#include "planificador/backend/backend.hpp"
#include "planificador/config/config.hpp"
#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/messages.hpp"
#include "planificador/protocol/options.hpp"

namespace planificador::sched {

struct Admitted {
  backend::TaskSpec spec;
  std::string image;      // as the client named it
  bool extended = false;  // SUBMIT_EXT: answer with a REPORT too
};

struct Rejected {
  protocol::TaskId id;
  bool extended = false;
  std::string reason;  // without the "planificador: " prefix and the newline
};

struct Dropped {
  std::string reason;  // for the log, with a hex prefix of the frame
};

using Admission = std::variant<Admitted, protocol::Cancel, Rejected, Dropped>;

// Decides what to do with `frame`, read from intake (`from_control` false) or control
// (which carries only CANCEL). `shutting_down` rejects every SUBMIT.
[[nodiscard]] Admission admit(std::string_view frame, const config::Config& config,
                              const protocol::DecodeLimits& limits, bool from_control,
                              bool shutting_down);

// Returns `runner` lowered by what the task asked for, or a message naming the first
// requested limit above the runner's ("limits.wall_ms: 5000 exceeds the runner's maximum
// of 2000").
[[nodiscard]] Result<config::Limits> effective_limits(const config::Limits& runner,
                                                      const protocol::RequestedLimits& requested);

// Returns the decode limits `config` implies (max code bytes from server.max_code_bytes).
[[nodiscard]] protocol::DecodeLimits decode_limits(const config::Config& config);

// Returns the largest frame worth reading: 45 + image + code + options maxima (ZeroMQ
// refuses anything larger before allocating it).
[[nodiscard]] std::size_t max_frame_bytes(const protocol::DecodeLimits& limits);

}  // namespace planificador::sched
