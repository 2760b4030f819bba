#pragma once
// What the process harnesses (daemon, broker, fleet) read back from the files their
// processes write: logs, configs, /proc entries.

#include <string>

namespace planificador::testing {

// Returns the whole file at `path`, "" when it cannot be read.
[[nodiscard]] std::string read_text_file(const std::string& path);

// Returns the endpoint `log` says socket `name` was bound to (the daemon's and the
// broker's "<name> bound to <endpoint>" lines), "" when it says none.
[[nodiscard]] std::string bound_endpoint(const std::string& log, const std::string& name);

}  // namespace planificador::testing
