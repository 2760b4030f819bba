#include "e2e_common.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "planificador/protocol/codec.hpp"

namespace planificador::testing {

DaemonSettings e2e_settings(const std::string& bin_dir, const std::string& shipped_config,
                            const std::string& tag, std::size_t workers) {
  DaemonSettings settings;
  settings.bin_dir = bin_dir;
  settings.shipped_config = shipped_config;
  settings.workers = workers;
  settings.executor = "e2e-" + tag;
  return settings;
}

std::string submit_frame(const protocol::TaskId& id, const std::string& image,
                         const std::string& code, std::optional<std::string> options) {
  return protocol::encode(protocol::Submit{id, image, code, std::move(options)});
}

bool ends_with_diagnostic(const std::string& err) {
  if (err.empty() || err.back() != '\n') {
    return false;
  }
  const auto line_start = err.rfind('\n', err.size() - 2);
  const auto start = line_start == std::string::npos ? 0 : line_start + 1;
  return err.compare(start, 14, "planificador: ") == 0;
}

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) != nullptr) {
    m_path = pattern;
  }
}

TempDir::~TempDir() {
  if (!m_path.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(m_path, ignored);
  }
}

void print_figure(const std::string& name, const std::string& value) {
  std::printf("[figure] %s = %s\n", name.c_str(), value.c_str());
  std::fflush(stdout);
}

}  // namespace planificador::testing
