#include "section.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace planificador::config {

std::string format_number(double value) {
  std::array<char, 64> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

std::string syntax_error(std::string_view source, const toml::parse_error& error) {
  std::string_view what = error.description();
  constexpr std::string_view k_noise = "Error ";  // toml++ opens with "Error while parsing"
  if (what.substr(0, k_noise.size()) == k_noise) what.remove_prefix(k_noise.size());
  const auto& begin = error.source().begin;
  return std::string(source) + ":" + std::to_string(std::max<std::size_t>(begin.line, 1)) +
         ": syntax error: " + std::string(what) + " (column " + std::to_string(begin.column) + ")";
}

}  // namespace planificador::config
