#pragma once
// CURVE key files (ZeroMQ's CurveZMQ, RFC 26): keys as Z85 text of 40 characters.
//   NAME.key  both keys, mode 0600:   public-key = "…" / secret-key = "…"
//   NAME.pub  the public key alone, on a line of its own; an allow-list is such lines,
//             any number, so .pub files concatenate into one. Text after the key and a
//             blank is a name for the reader; a line of '#' and a blank is a comment ('#'
//             alone is a Z85 digit).

#include <string>
#include <string_view>
#include <vector>

#include "planificador/util/result.hpp"

namespace planificador::transport::curve {

inline constexpr std::size_t k_key_chars = 40;

struct KeyPair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85
};

// Returns a new key pair (zmq_curve_keypair), or an Error when libzmq was built without
// CURVE.
[[nodiscard]] Result<KeyPair> generate_key_pair();

// Writes `prefix`.key (mode 0600) and `prefix`.pub, refusing to replace either. Returns an
// Error naming the file that could not be written.
[[nodiscard]] Result<void> write_key_files(const std::string& prefix, const KeyPair& keys,
                                           std::string_view comment);

// Returns the key pair of a .key file, checked: both keys Z85 of 40 characters and the
// public key the one the secret key implies. The Error names the file and line.
[[nodiscard]] Result<KeyPair> load_key_pair(const std::string& path);

// Returns the public keys of an allow-list (or .pub) file, each checked; an Error names the
// file and line of the first that is not a key.
[[nodiscard]] Result<std::vector<std::string>> load_public_keys(const std::string& path);

// Returns the one public key of a .pub file.
[[nodiscard]] Result<std::string> load_public_key(const std::string& path);

// Returns true when `text` is 40 Z85 characters that decode to 32 bytes.
[[nodiscard]] bool is_key(std::string_view text);

}  // namespace planificador::transport::curve
