#include "fake_engine.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace planificador::test {
namespace {

constexpr int k_io_timeout_ms = 5000;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::string reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 500:
      return "Internal Server Error";
    default:
      return "Status";
  }
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Waits for `fd` to be readable or for the stop pipe; false on stop, timeout or error.
bool wait_readable(int fd, int stop_fd, int timeout_ms) {
  std::array<pollfd, 2> fds{{{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}}};
  const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
  return ready > 0 && (fds[1].revents & POLLIN) == 0 && (fds[0].revents & (POLLIN | POLLHUP)) != 0;
}

// Reads one request (head, then Content-Length bytes of body); false when it never came.
bool read_request(int connection, int stop_fd, RecordedRequest& request) {
  std::string data;
  std::array<char, 4096> buffer{};
  std::size_t head_end = std::string::npos;
  std::size_t body_length = 0;
  while (true) {
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::string head = data.substr(0, head_end);
        std::size_t line_end = head.find("\r\n");
        const std::string first = head.substr(0, line_end);
        const std::size_t space = first.find(' ');
        request.method = first.substr(0, space);
        request.target = first.substr(space + 1, first.rfind(' ') - space - 1);
        while (line_end != std::string::npos) {
          const std::size_t next = head.find("\r\n", line_end + 2);
          const std::string line = head.substr(line_end + 2, next - line_end - 2);
          if (const std::size_t colon = line.find(':'); colon != std::string::npos) {
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            request.headers[lower(line.substr(0, colon))] = value;
          }
          line_end = next;
        }
        if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
          body_length = std::stoul(it->second);
        }
      }
    }
    if (head_end != std::string::npos && data.size() >= head_end + 4 + body_length) {
      request.body = data.substr(head_end + 4, body_length);
      return true;
    }
    if (!wait_readable(connection, stop_fd, k_io_timeout_ms)) {
      return false;
    }
    const ssize_t got = ::recv(connection, buffer.data(), buffer.size(), 0);
    if (got <= 0) {
      return false;
    }
    data.append(buffer.data(), static_cast<std::size_t>(got));
  }
}

void send_all(int connection, const std::string& text) {
  std::size_t sent = 0;
  while (sent < text.size()) {
    // MSG_NOSIGNAL: a client that gave up (timeout test) must not kill the test with SIGPIPE.
    const ssize_t n = ::send(connection, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace

FakeEngine::FakeEngine() {
  std::string pattern = (std::filesystem::temp_directory_path() / "fake-engine.XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw_errno("mkdtemp `" + pattern + "`");
  }
  m_dir = pattern;
  m_socket_path = m_dir + "/engine.sock";
  if (::pipe2(m_stop_pipe, O_CLOEXEC) != 0) {
    throw_errno("pipe2");
  }
  m_listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (m_listen_fd < 0) {
    throw_errno("socket");
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, m_socket_path.c_str(), sizeof(address.sun_path) - 1);
  if (::bind(m_listen_fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw_errno("bind `" + m_socket_path + "`");
  }
  if (::listen(m_listen_fd, 16) != 0) {
    throw_errno("listen `" + m_socket_path + "`");
  }
  m_thread = std::thread([this] { serve(); });
}

FakeEngine::~FakeEngine() {
  const char byte = 'x';
  (void)!::write(m_stop_pipe[1], &byte, 1);
  if (m_thread.joinable()) {
    m_thread.join();
  }
  ::close(m_listen_fd);
  ::close(m_stop_pipe[0]);
  ::close(m_stop_pipe[1]);
  std::error_code ignored;
  std::filesystem::remove_all(m_dir, ignored);
}

void FakeEngine::on(const std::string& method, const std::string& path_prefix,
                    CannedResponse response) {
  const std::lock_guard lock(m_mutex);
  m_routes[method + " " + path_prefix] = std::move(response);
}

std::vector<RecordedRequest> FakeEngine::requests() const {
  const std::lock_guard lock(m_mutex);
  return m_requests;
}

CannedResponse FakeEngine::route(const RecordedRequest& request) const {
  const std::string path = request.target.substr(0, request.target.find('?'));
  const std::string key = request.method + " " + path;
  const std::lock_guard lock(m_mutex);
  const CannedResponse* best = nullptr;
  std::size_t best_length = 0;
  for (const auto& [route_key, response] : m_routes) {
    if (key.starts_with(route_key) && route_key.size() >= best_length) {
      best = &response;
      best_length = route_key.size();
    }
  }
  if (best == nullptr) {
    return CannedResponse{404, R"({"message":"page not found"})"};
  }
  return *best;
}

void FakeEngine::serve() {
  while (wait_readable(m_listen_fd, m_stop_pipe[0], -1)) {
    const int connection = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) {
      continue;
    }
    handle(connection);
    ::close(connection);
  }
}

void FakeEngine::handle(int connection) {
  RecordedRequest request;
  if (!read_request(connection, m_stop_pipe[0], request)) {
    return;
  }
  {
    const std::lock_guard lock(m_mutex);
    m_requests.push_back(request);
  }
  const CannedResponse response = route(request);
  if (response.delay.count() > 0) {
    // The stop pipe ends a stall early so the destructor never waits it out.
    pollfd stop{m_stop_pipe[0], POLLIN, 0};
    if (::poll(&stop, 1, static_cast<int>(response.delay.count())) != 0) {
      return;
    }
  }
  std::string text = "HTTP/1.1 " + std::to_string(response.status) + " " + reason(response.status) +
                     "\r\nContent-Type: " + response.content_type +
                     "\r\nContent-Length: " + std::to_string(response.body.size()) +
                     "\r\nConnection: close\r\n\r\n" + response.body;
  send_all(connection, text);
}

}  // namespace planificador::test
