#include <array>
#include <cerrno>
#include <fcntl.h>
#include <string>
#include <unistd.h>

#include "planificador/config/config.hpp"

namespace planificador::config {
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

Result<std::string> read_file(const std::string& path) {
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

}  // namespace

Result<Config> load(const std::string& path) {
  auto text = read_file(path);
  if (!text) return tl::unexpected<Error>(std::move(text.error()));
  return parse(*text, path);
}

}  // namespace planificador::config
