#pragma once
// The helper's root directory: work/, tmp/, shm/ and vartmp/, emptied for every task and
// wiped without ever following a symlink the task may have planted.

#include <string>
#include <string_view>

#include "planificador/os/fd.hpp"
#include "planificador/util/result.hpp"

namespace planificador::sandboxd {

class Workspace {
 public:
  // Opens `root` (an existing directory). Returns the workspace or an Error naming it.
  [[nodiscard]] static Result<Workspace> open(const std::string& root);

  // Empties work/, tmp/, shm/ and vartmp/ in place (creating any that is missing) and
  // removes everything else under the root.
  [[nodiscard]] Result<void> renew();

  // Creates `path` (relative to work/, checked) holding `data` with permission bits `mode`,
  // creating intermediate directories. Returns an Error "file `path`: …" when the path is
  // unsafe, already exists, crosses a symlink or a non-directory, or the write fails.
  [[nodiscard]] Result<void> write_file(std::string_view path, std::string_view data,
                                        unsigned mode);

  [[nodiscard]] const std::string& root() const noexcept { return m_root; }

 private:
  Workspace(std::string root, os::Fd fd) : m_root(std::move(root)), m_fd(std::move(fd)) {}

  std::string m_root;
  os::Fd m_fd;
};

}  // namespace planificador::sandboxd
