#include <string>

#include "section.hpp"

#include "planificador/config/config.hpp"

namespace planificador::config {

Result<Config> load(const std::string& path) {
  auto text = read_document(path);
  if (!text) return tl::unexpected<Error>(std::move(text.error()));
  return parse(*text, path);
}

}  // namespace planificador::config
