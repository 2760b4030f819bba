#pragma once
// What the host looks like from the test process, for tests that must prove an attack
// left nothing behind on it or must aim at one of its addresses.

#include <string>

namespace planificador::testing {

// Returns how many host processes have `word` as one of their argv words, or -1 when
// /proc cannot be read.
[[nodiscard]] int host_processes_with_argument(const std::string& word);

// Returns the IPv4 address of network interface `name` (e.g. "docker0") in dotted form,
// or "" when it has none.
[[nodiscard]] std::string interface_ipv4(const std::string& name);

// Returns the first nameserver of the host's /etc/resolv.conf, or "" when it has none.
[[nodiscard]] std::string host_resolver();

// Returns a decimal number unlikely to occur anywhere else on the host (a random 7-digit
// value), for marking the processes and files of one attack.
[[nodiscard]] std::string unique_marker();

}  // namespace planificador::testing
