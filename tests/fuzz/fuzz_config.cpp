// libFuzzer entry point: arbitrary text as config.toml. parse() must never throw or crash;
// an error must read "fuzz.toml:<line>: ..."; a Config it accepts must hold every invariant
// the rest of the daemon relies on.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "planificador/config/config.hpp"

namespace {

using planificador::config::Config;
using planificador::config::Runner;

void require(bool condition) {
  if (!condition) std::abort();
}

bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

void check_error(const std::string& message) {
  constexpr std::string_view k_prefix = "fuzz.toml:";
  require(message.compare(0, k_prefix.size(), k_prefix) == 0);
  const std::size_t digits = message.find_first_not_of("0123456789", k_prefix.size());
  require(digits != std::string::npos && digits > k_prefix.size());
  require(message[k_prefix.size()] != '0');
  require(message.compare(digits, 2, ": ") == 0);
}

void check_runner(const Runner& runner) {
  require(!runner.match.empty());
  for (const std::string& pattern : runner.match) require(!pattern.empty());
  require(!runner.image.empty());
  require(!runner.file.empty() && runner.file != "." && runner.file != "..");
  require(runner.file.find('/') == std::string::npos && !has_nul(runner.file));
  require(!runner.run.empty() && !runner.run.front().empty());
  for (const std::string& arg : runner.run) require(!has_nul(arg));
  require(runner.compile.empty() || !runner.compile.front().empty());
  for (const auto& [name, value] : runner.env) {
    require(!name.empty() && name.find('=') == std::string::npos && !has_nul(name));
    require(!has_nul(value));
  }
  const auto& limits = runner.limits;
  require(limits.wall_ms >= 1 && limits.cpu_ms >= 1 && limits.pids >= 1);
  require(limits.memory_bytes >= (std::uint64_t{4} << 20) && limits.output_bytes >= 1024);
  require(runner.compile_wall_ms >= 1 && runner.max_tasks >= 1 && runner.line >= 1);
  // Every runner is reachable through its own first pattern unless an earlier one shadows it.
  require(planificador::config::glob_match(runner.match.front(), runner.match.front()) ||
          runner.match.front().find_first_of("[\\") != std::string::npos);
}

void check_config(const Config& config) {
  require(!config.runners.empty());
  require(config.server.workers >= 1 && config.server.workers <= 1024);
  require(!config.server.intake.empty() && !config.server.events.empty());
  require(!config.server.executor.empty());
  require(config.output.chunk_bytes >= 1 && config.output.chunk_bytes <= (std::size_t{16} << 20));
  require(config.docker.cpus >= 0.01 && config.docker.cpus <= 64);
  require(config.server.max_code_bytes >= 1);
  for (const Runner& runner : config.runners) check_runner(runner);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto config = planificador::config::parse(text, "fuzz.toml");
    if (config) {
      check_config(*config);
    } else {
      check_error(config.error().message);
    }
  } catch (...) {
    std::abort();
  }
  return 0;
}
