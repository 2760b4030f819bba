#pragma once
// The steps of one task inside a ready container: write its files, compile
// when the runner says so, run, and turn what happened into a TaskResult.

#include <cstddef>
#include <cstdint>

#include "planificador/backend/backend.hpp"
#include "planificador/backend/docker/container.hpp"
#include "planificador/os/event.hpp"

namespace planificador::backend::docker {

// Runs `spec` in `container` (connected, cgroup resolved) to its end, streaming output to
// `sink` in chunks of at most `chunk_bytes`, each byte within `flush_ms` of its read.
// Never throws.
[[nodiscard]] TaskResult run_task(Container& container, const TaskSpec& spec, OutputSink& sink,
                                  const os::Event& cancel, std::size_t chunk_bytes,
                                  std::uint64_t flush_ms);

}  // namespace planificador::backend::docker
