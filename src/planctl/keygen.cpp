// planctl keygen: a CURVE key pair for a broker, a daemon or a client of a fleet.

#include <iostream>

#include "commands.hpp"

#include "planificador/transport/curve_keys.hpp"

namespace planificador::planctl {

int keygen(const std::string& prefix, const std::string& comment) {
  namespace curve = transport::curve;
  auto keys = curve::generate_key_pair();
  if (!keys) {
    std::cerr << "planctl: " << keys.error().message << "\n";
    return k_exit_transport;
  }
  if (auto written = curve::write_key_files(prefix, *keys, comment.empty() ? prefix : comment);
      !written) {
    std::cerr << "planctl: " << written.error().message << "\n";
    return k_exit_usage;
  }
  std::cout << prefix << ".key  key pair (keep it on this machine)\n"
            << prefix << ".pub  public key: " << keys->public_key << "\n";
  return 0;
}

}  // namespace planificador::planctl
