#include "planificador/os/unix_socket.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace planificador::os {
namespace {

Result<Fd> stream_socket() {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return fail_errno("socket");
  }
  return fd;
}

const sockaddr* as_sockaddr(const sockaddr_un& address) {
  return reinterpret_cast<const sockaddr*>(&address);
}

}  // namespace

Result<Fd> connect_unix(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string target = path;
  Fd directory;
  if (path.size() >= sizeof address.sun_path) {
    const auto slash = path.find_last_of('/');
    const std::string parent = slash == std::string::npos ? "." : path.substr(0, slash);
    directory.reset(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!directory) {
      return fail_errno("open `" + parent + "`");
    }
    target = "/proc/self/fd/" + std::to_string(directory.get()) + "/" +
             (slash == std::string::npos ? path : path.substr(slash + 1));
    if (target.size() >= sizeof address.sun_path) {
      return fail("socket name in `" + path + "` is too long");
    }
  }
  std::memcpy(address.sun_path, target.c_str(), target.size() + 1);
  auto fd = stream_socket();
  PLAN_TRY(fd);
  if (::connect(fd->get(), as_sockaddr(address), sizeof address) != 0) {
    return fail_errno("connect `" + path + "`");
  }
  return fd;
}

Result<Fd> listen_unix(const std::string& path, int backlog) {
  const std::string temporary = path + ".new";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (temporary.size() >= sizeof address.sun_path) {
    return fail("socket path `" + path + "` is too long");
  }
  std::memcpy(address.sun_path, temporary.c_str(), temporary.size() + 1);
  const auto slash = path.find_last_of('/');
  const std::string directory = slash == std::string::npos ? "" : path.substr(0, slash);
  if (!directory.empty() && ::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
    return fail_errno("mkdir `" + directory + "`");
  }
  (void)::unlink(temporary.c_str());
  auto socket = stream_socket();
  PLAN_TRY(socket);
  if (::bind(socket->get(), as_sockaddr(address), sizeof address) != 0 ||
      ::chmod(temporary.c_str(), 0666) != 0) {
    return fail_errno("bind `" + temporary + "`");
  }
  if (::listen(socket->get(), backlog) != 0) {
    return fail_errno("listen on `" + temporary + "`");
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return fail_errno("rename `" + temporary + "` to `" + path + "`");
  }
  return socket;
}

}  // namespace planificador::os
