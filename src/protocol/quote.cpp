#include "planificador/protocol/quote.hpp"

#include <algorithm>

namespace planificador::protocol {

std::string escape_text(std::string_view text, std::size_t max_bytes) {
  constexpr std::string_view k_digits = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 3);
  for (std::size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '`') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += k_digits[c >> 4U];
      out += k_digits[c & 0xfU];
    }
  }
  if (text.size() > max_bytes) {
    out += "...";
  }
  return out;
}

std::string quote_text(std::string_view text) { return "`" + escape_text(text) + "`"; }

}  // namespace planificador::protocol
