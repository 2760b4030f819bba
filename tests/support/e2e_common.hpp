#pragma once
// Small helpers shared by the fault, load and fuzz end-to-end tests.

#include <chrono>
#include <optional>
#include <string>

#include "daemon_process.hpp"

#include "planificador/protocol/messages.hpp"

namespace planificador::testing {

// Returns settings for a daemon of `bin_dir` with `shipped_config` and `workers`, whose
// executor is "e2e-" + `tag`. The instance label is unique per daemon: it hashes the
// daemon's private state directory.
[[nodiscard]] DaemonSettings e2e_settings(const std::string& bin_dir,
                                          const std::string& shipped_config, const std::string& tag,
                                          std::size_t workers);

#ifdef PLANIFICADOR_BINARY_DIR
// The same for the build and source trees of the test executable.
inline DaemonSettings e2e_settings(const std::string& tag, std::size_t workers = 2) {
  return e2e_settings(test_binary_dir(), test_source_dir() + "/config.toml", tag, workers);
}
#endif

// Returns an encoded SUBMIT (no options) or SUBMIT_EXT (options given).
[[nodiscard]] std::string submit_frame(const protocol::TaskId& id, const std::string& image,
                                       const std::string& code,
                                       std::optional<std::string> options = std::nullopt);

// Returns true when `err` ends with one `planificador: …\n` diagnostic line.
[[nodiscard]] bool ends_with_diagnostic(const std::string& err);

// A directory made by mkdtemp(3) from `prefix` in the temporary directory, removed with
// everything in it when destroyed (declare it before the daemons that use it).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Returns the directory's path, "" when mkdtemp failed.
  [[nodiscard]] const std::string& path() const noexcept { return m_path; }

 private:
  std::string m_path;
};

// Prints one measured figure as "[figure] name = value" so runs can be compared.
void print_figure(const std::string& name, const std::string& value);

// Returns the milliseconds elapsed since `since`.
inline long long ms_since(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

}  // namespace planificador::testing
