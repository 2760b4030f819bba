#include "section.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <unistd.h>

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

namespace {

// Far beyond any real config.toml; keeps a wrong path (a log, a device) from being read whole.
constexpr std::size_t k_max_file_bytes = std::size_t{16} << 20;

class FileCloser {
 public:
  explicit FileCloser(int fd) : m_fd(fd) {}
  FileCloser(const FileCloser&) = delete;
  FileCloser& operator=(const FileCloser&) = delete;
  ~FileCloser() { ::close(m_fd); }

 private:
  int m_fd;
};

}  // namespace

Result<std::string> read_document(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(path);
  const FileCloser closer(fd);
  std::string text;
  std::array<char, 65536> buffer{};
  for (;;) {
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail_errno(path);
    if (got == 0) return text;
    text.append(buffer.data(), static_cast<std::size_t>(got));
    if (text.size() > k_max_file_bytes) return fail(path + ": larger than 16 MiB");
  }
}

}  // namespace planificador::config
