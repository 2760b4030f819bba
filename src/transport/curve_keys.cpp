#include "planificador/transport/curve_keys.hpp"

#include <array>
#include <cerrno>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <zmq.h>

namespace planificador::transport::curve {
namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

Result<std::vector<std::string>> read_lines(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return fail_errno("open `" + path + "`");
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) {
    lines.push_back(line);
  }
  return lines;
}

// Writes `text` to a new file `path` with `mode`; never replaces an existing file.
Result<void> write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return fail_errno("create `" + path + "`");
  }
  const ssize_t written = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (written != static_cast<ssize_t>(text.size())) {
    return fail_errno("write `" + path + "`", written < 0 ? err : EIO);
  }
  return {};
}

// Parses `name = "value"` (quotes optional); empty when the line is not that assignment.
std::string assigned(std::string_view line, std::string_view name) {
  line = trim(line);
  if (!line.starts_with(name)) {
    return {};
  }
  line = trim(line.substr(name.size()));
  if (!line.starts_with('=')) {
    return {};
  }
  line = trim(line.substr(1));
  if (line.size() >= 2 && line.front() == '"' && line.back() == '"') {
    line = line.substr(1, line.size() - 2);
  }
  return std::string(line);
}

}  // namespace

bool is_key(std::string_view text) {
  if (text.size() != k_key_chars) {
    return false;
  }
  const std::string copy(text);
  std::array<std::uint8_t, 32> raw{};
  return zmq_z85_decode(raw.data(), copy.c_str()) != nullptr;
}

Result<KeyPair> generate_key_pair() {
  std::array<char, k_key_chars + 1> public_key{};
  std::array<char, k_key_chars + 1> secret_key{};
  if (zmq_curve_keypair(public_key.data(), secret_key.data()) != 0) {
    return fail_errno("zmq_curve_keypair (libzmq without CURVE?)");
  }
  return KeyPair{public_key.data(), secret_key.data()};
}

Result<void> write_key_files(const std::string& prefix, const KeyPair& keys,
                             std::string_view comment) {
  std::ostringstream pair;
  pair << "# planificador CURVE key pair of " << comment << ": keep it secret\n"
       << "public-key = \"" << keys.public_key << "\"\n"
       << "secret-key = \"" << keys.secret_key << "\"\n";
  std::ostringstream public_only;
  public_only << "# planificador CURVE public key of " << comment << "\n"
              << keys.public_key << "\n";
  if (auto written = write_new_file(prefix + ".key", pair.str(), 0600); !written) {
    return written;
  }
  return write_new_file(prefix + ".pub", public_only.str(), 0644);
}

Result<KeyPair> load_key_pair(const std::string& path) {
  auto lines = read_lines(path);
  PLAN_TRY(lines);
  KeyPair keys;
  for (std::size_t i = 0; i < lines->size(); ++i) {
    const std::string& line = (*lines)[i];
    const std::string where = path + ":" + std::to_string(i + 1) + ": ";
    for (auto [name, target] :
         {std::pair{"public-key", &keys.public_key}, std::pair{"secret-key", &keys.secret_key}}) {
      if (auto value = assigned(line, name); !value.empty()) {
        if (!is_key(value)) {
          return fail(where + name + " is not a Z85 key of 40 characters");
        }
        *target = value;
      }
    }
  }
  if (keys.public_key.empty() || keys.secret_key.empty()) {
    return fail(path + ": expected both public-key and secret-key (write one with planctl keygen)");
  }
  std::array<char, k_key_chars + 1> derived{};
  if (zmq_curve_public(derived.data(), keys.secret_key.c_str()) != 0 ||
      keys.public_key != derived.data()) {
    return fail(path + ": public-key is not the one secret-key implies");
  }
  return keys;
}

Result<std::vector<std::string>> load_public_keys(const std::string& path) {
  auto lines = read_lines(path);
  PLAN_TRY(lines);
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < lines->size(); ++i) {
    std::string_view line = trim((*lines)[i]);
    // '#' is a Z85 digit, so a comment is '#' followed by a blank (a key holds none), and
    // anything after the key and a blank is a name for the reader.
    if (line.empty() || line == "#" || line.starts_with("# ") || line.starts_with("#\t")) {
      continue;
    }
    line = line.substr(0, line.find_first_of(" \t"));
    if (!is_key(line)) {
      return fail(path + ":" + std::to_string(i + 1) + ": not a Z85 public key of 40 characters");
    }
    keys.emplace_back(line);
  }
  return keys;
}

Result<std::string> load_public_key(const std::string& path) {
  auto keys = load_public_keys(path);
  PLAN_TRY(keys);
  if (keys->size() != 1) {
    return fail(path + ": expected one public key, found " + std::to_string(keys->size()));
  }
  return keys->front();
}

}  // namespace planificador::transport::curve
