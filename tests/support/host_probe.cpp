#include "host_probe.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fstream>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <random>

namespace planificador::testing {

int host_processes_with_argument(const std::string& word) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) {
    return -1;
  }
  int count = 0;
  while (const dirent* entry = ::readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') {
      continue;
    }
    std::ifstream file(std::string("/proc/") + entry->d_name + "/cmdline", std::ios::binary);
    std::string argument;
    while (std::getline(file, argument, '\0')) {
      if (argument == word) {
        ++count;
        break;
      }
    }
  }
  ::closedir(proc);
  return count;
}

std::string interface_ipv4(const std::string& name) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    return "";
  }
  std::string found;
  for (const ifaddrs* entry = list; entry != nullptr && found.empty(); entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET ||
        name != entry->ifa_name) {
      continue;
    }
    char text[INET_ADDRSTRLEN] = {};
    const auto* address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
    if (::inet_ntop(AF_INET, &address->sin_addr, text, sizeof text) != nullptr) {
      found = text;
    }
  }
  ::freeifaddrs(list);
  return found;
}

std::string host_resolver() {
  std::ifstream file("/etc/resolv.conf");
  std::string line;
  while (std::getline(file, line)) {
    if (line.starts_with("nameserver ")) {
      return line.substr(11, line.find_first_of(" \t", 11) - 11);
    }
  }
  return "";
}

std::string unique_marker() {
  static std::mt19937 random{std::random_device{}()};
  return std::to_string(1000000 + random() % 9000000);
}

}  // namespace planificador::testing
