#include "planificador/util/base64.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace planificador {
namespace {

constexpr std::string_view k_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::uint8_t k_invalid = 0xff;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> table{};
  table.fill(k_invalid);
  for (std::size_t i = 0; i < k_alphabet.size(); ++i) {
    table[static_cast<unsigned char>(k_alphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return table;
}

constexpr std::array<std::uint8_t, 256> k_decode_table = make_decode_table();

std::string describe_char(std::size_t position, char c) {
  constexpr std::string_view k_hex = "0123456789abcdef";
  const auto byte = static_cast<unsigned char>(c);
  std::string text = "invalid character 0x";
  text += k_hex[byte >> 4U];
  text += k_hex[byte & 0xfU];
  text += " at offset ";
  text += std::to_string(position);
  return text;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group =
        static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16U |
        static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8U |
        static_cast<unsigned char>(bytes[i + 2]);
    out += k_alphabet[group >> 18U];
    out += k_alphabet[(group >> 12U) & 0x3fU];
    out += k_alphabet[(group >> 6U) & 0x3fU];
    out += k_alphabet[group & 0x3fU];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 0) {
    return out;
  }
  std::uint32_t group = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16U;
  if (rest == 2) {
    group |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8U;
  }
  out += k_alphabet[group >> 18U];
  out += k_alphabet[(group >> 12U) & 0x3fU];
  out += rest == 2 ? k_alphabet[(group >> 6U) & 0x3fU] : '=';
  out += '=';
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return fail(ErrorKind::malformed,
                "length " + std::to_string(text.size()) + " is not a multiple of 4");
  }
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') {
    padding = text[text.size() - 2] == '=' ? 2 : 1;
  }
  const std::size_t data_chars = text.size() - padding;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t group = 0;
  for (std::size_t i = 0; i < data_chars; ++i) {
    const std::uint8_t value = k_decode_table[static_cast<unsigned char>(text[i])];
    if (value == k_invalid) {
      return fail(ErrorKind::malformed, text[i] == '='
                                            ? "misplaced padding at offset " + std::to_string(i)
                                            : describe_char(i, text[i]));
    }
    group = group << 6U | value;
    if (i % 4 == 3) {
      out += static_cast<char>((group >> 16U) & 0xffU);
      out += static_cast<char>((group >> 8U) & 0xffU);
      out += static_cast<char>(group & 0xffU);
      group = 0;
    }
  }
  // Canonical form only (RFC 4648 §3.5): the bits the padding stands for must be zero, so
  // that every byte string has exactly one accepted encoding.
  if (padding == 1) {
    if ((group & 0x3U) != 0) {
      return fail(ErrorKind::malformed, "non-zero bits before the padding");
    }
    out += static_cast<char>((group >> 10U) & 0xffU);
    out += static_cast<char>((group >> 2U) & 0xffU);
  } else if (padding == 2) {
    if ((group & 0xfU) != 0) {
      return fail(ErrorKind::malformed, "non-zero bits before the padding");
    }
    out += static_cast<char>((group >> 4U) & 0xffU);
  }
  return out;
}

}  // namespace planificador
