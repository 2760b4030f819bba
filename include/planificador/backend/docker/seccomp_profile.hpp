#pragma once
// The seccomp profile of every task container (images/seccomp.json, compiled in).

#include <string_view>

namespace planificador::backend::docker {

// Returns the profile's JSON text, as the Engine API's SecurityOpt "seccomp=<json>" wants.
[[nodiscard]] std::string_view builtin_seccomp_profile();

}  // namespace planificador::backend::docker
