#pragma once
// Unix stream sockets by path: the helper listens on one in each container's run directory,
// and the daemon connects to it.

#include <string>

#include "planificador/os/fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::os {

// Returns a close-on-exec connection to the unix socket at `path`. The error keeps
// connect's errno, so a caller can tell "not there yet" (ENOENT, ECONNREFUSED) from a real
// failure. A path longer than a socket address holds (107 bytes: a long state_dir or
// executor name) is reached through its directory's descriptor, /proc/self/fd/N/NAME.
[[nodiscard]] Result<Fd> connect_unix(const std::string& path);

// Listens on a close-on-exec unix socket at `path` with `backlog`, readable and writable by
// every uid (reaching it is a matter of its directory's permissions). The socket is bound
// under `path`.new and renamed once listening, so whoever sees `path` can connect at once
// and never meets ECONNREFUSED between bind() and listen(). Creates `path`'s directory
// when it is missing.
[[nodiscard]] Result<Fd> listen_unix(const std::string& path, int backlog);

}  // namespace planificador::os
