#pragma once
// The helper's view of its processes, from /proc: which of its descendants are not part
// of a subtree it means to keep (the standby sandbox while the used one is retired).

#include <map>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace planificador::sandboxd {

// Returns the parent pid in the text of /proc/<pid>/stat, or -1 when it cannot be read.
// The command name in parentheses may itself hold ") " and digits.
[[nodiscard]] pid_t parent_in_stat(std::string_view stat);

// Returns every pid of `parents` (pid → parent pid) that descends from `root` but neither
// is `keep` nor descends from it. `root` itself is not listed.
[[nodiscard]] std::vector<pid_t> descendants_outside(const std::map<pid_t, pid_t>& parents,
                                                     pid_t root, pid_t keep);

// Reads pid → parent pid of every process /proc lists now.
[[nodiscard]] std::map<pid_t, pid_t> read_process_parents();

}  // namespace planificador::sandboxd
