#pragma once
// Base64 of RFC 4648 §4 (standard alphabet, `=` padding), used by SUBMIT_EXT options.

#include <string>
#include <string_view>

#include "planificador/util/result.hpp"

namespace planificador {

// Returns `bytes` encoded with the standard alphabet, padded to a multiple of 4.
[[nodiscard]] std::string base64_encode(std::string_view bytes);

// Returns the decoded bytes, or a message saying why `text` is not canonical base64:
// length not a multiple of 4, a character outside the alphabet (whitespace included),
// misplaced padding, or non-zero bits under the padding.
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

}  // namespace planificador
