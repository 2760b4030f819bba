#pragma once
// Client text made safe for a log line or a diagnostic ("planificador: …\n"), both of which
// must stay one line whatever a client sends.

#include <cstddef>
#include <string>
#include <string_view>

namespace planificador::protocol {

inline constexpr std::size_t k_max_quoted_bytes = 64;

// Returns `text` with every byte outside printable ASCII, and '\' and '`', written as
// \xHH, cut after `max_bytes` bytes (then "..." follows).
[[nodiscard]] std::string escape_text(std::string_view text,
                                      std::size_t max_bytes = k_max_quoted_bytes);

// Returns escape_text(text) between backticks.
[[nodiscard]] std::string quote_text(std::string_view text);

}  // namespace planificador::protocol
