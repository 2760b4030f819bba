#include "process_log.hpp"

#include <fstream>
#include <regex>
#include <sstream>

namespace planificador::testing {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string bound_endpoint(const std::string& log, const std::string& name) {
  std::smatch found;
  if (std::regex_search(log, found, std::regex(name + " bound to (\\S+)"))) {
    return found[1].str();
  }
  return "";
}

}  // namespace planificador::testing
