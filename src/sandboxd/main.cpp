// planificador-sandboxd: PID 1 of every task container (see planificador/sandbox/wire.hpp),
// and, re-executed inside Bubblewrap with --zygote, PID 1 of the sandbox (zygote.hpp).
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unistd.h>

#include "server.hpp"
#include "zygote.hpp"

#include "planificador/sandbox/wire.hpp"

namespace {

using planificador::sandboxd::log;

constexpr const char* k_usage =
    "usage: planificador-sandboxd [--socket PATH] [--root DIR] [--bwrap PATH]\n"
    "       planificador-sandboxd --zygote FD\n";

constexpr std::array<const char*, 3> k_bwrap_candidates = {"/usr/bin/bwrap", "/usr/local/bin/bwrap",
                                                           "/bin/bwrap"};

bool parse_fd(const char* text, int& fd) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 0 || value > 1024) {
    return false;
  }
  fd = static_cast<int>(value);
  return true;
}

int zygote_main(int argc, char** argv) {
  int control = -1;
  if (argc != 3 || !parse_fd(argv[2], control)) {
    (void)std::fputs(k_usage, stderr);
    return 125;
  }
  return planificador::sandboxd::run_zygote(control);
}

std::string own_path() {
  std::string path(4096, '\0');
  const ssize_t length = ::readlink("/proc/self/exe", path.data(), path.size());
  path.resize(length > 0 ? static_cast<std::size_t>(length) : 0);
  return path;
}

int server_main(int argc, char** argv) {
  planificador::sandboxd::ServerOptions options;
  options.socket_path =
      std::string(planificador::sandbox::k_socket_dir) + "/" + planificador::sandbox::k_socket_name;
  options.root = planificador::sandbox::k_sandbox_root;
  for (const char* candidate : k_bwrap_candidates) {
    if (options.bwrap.empty() && ::access(candidate, X_OK) == 0) {
      options.bwrap = candidate;
    }
  }
  for (int i = 1; i < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc || (flag != "--socket" && flag != "--root" && flag != "--bwrap")) {
      (void)std::fputs(k_usage, stderr);
      return 2;
    }
    (flag == "--socket" ? options.socket_path
     : flag == "--root" ? options.root
                        : options.bwrap) = argv[i + 1];
  }
  options.self = own_path();
  if (options.bwrap.empty() || options.self.empty()) {
    log(options.bwrap.empty() ? "bwrap not found" : "cannot read /proc/self/exe");
    return 1;
  }
  auto server = planificador::sandboxd::Server::create(std::move(options));
  if (!server) {
    log(server.error().message);
    return 1;
  }
  if (auto ran = server->run(); !ran) {
    log(ran.error().message);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--zygote") == 0) {
    return zygote_main(argc, argv);
  }
  return server_main(argc, argv);
}
