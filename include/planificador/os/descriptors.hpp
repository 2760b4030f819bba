#pragma once
// The descriptor table of a child between fork/clone and exec.

#include <cstddef>

namespace planificador::os {

// The most descriptors arrange_descriptors() places at once.
inline constexpr std::size_t k_max_arranged = 8;

// Puts `sources[i]` on descriptor `first + i` for i < `count` (close-on-exec when `cloexec`),
// then closes every descriptor from `close_from` up. Each source is first copied above the
// range, so no placement overwrites a source still to be placed, whatever the sources are.
// Async-signal-safe and allocation-free, for a child that has not exec'd yet. Returns
// nullptr, or the name of the call that failed (errno says why); count must not exceed
// k_max_arranged.
[[nodiscard]] const char* arrange_descriptors(const int* sources, std::size_t count, int first,
                                              int close_from, bool cloexec) noexcept;

}  // namespace planificador::os
