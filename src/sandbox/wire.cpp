#include "planificador/sandbox/wire.hpp"

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>

namespace planificador::sandbox {
namespace {

constexpr std::size_t k_header_bytes = 4;

// Waits until `socket` is ready for `events`; only reached for non-blocking sockets.
Result<void> wait_for(int socket, short events) {
  pollfd entry{socket, events, 0};
  while (::poll(&entry, 1, -1) < 0) {
    if (errno != EINTR) {
      return fail_errno("poll on the sandboxd socket");
    }
  }
  return {};
}

bool retryable(int err) { return err == EINTR || err == EAGAIN || err == EWOULDBLOCK; }

Result<void> send_all(int socket, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t sent = ::send(socket, data, size, MSG_NOSIGNAL);
    if (sent < 0) {
      if (!retryable(errno)) {
        return fail_errno("send on the sandboxd socket");
      }
      if (errno != EINTR) {
        if (auto ready = wait_for(socket, POLLOUT); !ready) {
          return ready;
        }
      }
      continue;
    }
    data += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return {};
}

// Takes ownership of every descriptor carried by `header`'s control messages.
void collect_fds(msghdr& header, std::vector<os::Fd>& fds) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
      continue;
    }
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(fd);
    }
  }
}

// Reads exactly `size` bytes into `data`, collecting descriptors on the way. Returns the
// number of bytes read before a clean EOF (less than `size` only then).
Result<std::size_t> receive_exactly(int socket, char* data, std::size_t size,
                                    std::vector<os::Fd>& fds) {
  std::size_t done = 0;
  while (done < size) {
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * k_max_fds)> control{};
    iovec io{data + done, size - done};
    msghdr header{};
    header.msg_iov = &io;
    header.msg_iovlen = 1;
    header.msg_control = control.data();
    header.msg_controllen = control.size();
    const ssize_t got = ::recvmsg(socket, &header, MSG_CMSG_CLOEXEC);
    if (got < 0) {
      if (!retryable(errno)) {
        return fail_errno("recvmsg on the sandboxd socket");
      }
      if (errno != EINTR) {
        PLAN_TRY(wait_for(socket, POLLIN));
      }
      continue;
    }
    collect_fds(header, fds);
    if ((header.msg_flags & MSG_CTRUNC) != 0) {
      return fail("sandboxd message: more than " + std::to_string(k_max_fds) +
                  " descriptors attached (cut off)");
    }
    if (got == 0) {
      break;
    }
    done += static_cast<std::size_t>(got);
  }
  return done;
}

}  // namespace

Result<void> send_message(int socket, const nlohmann::json& body, std::span<const int> fds) {
  if (fds.size() > k_max_fds) {
    return fail("sandboxd message: " + std::to_string(fds.size()) + " descriptors, at most " +
                std::to_string(k_max_fds));
  }
  // Replace, not throw, on invalid UTF-8: a message is data, never a reason to unwind.
  const std::string payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (payload.size() > k_max_message_bytes) {
    return fail("sandboxd message: " + std::to_string(payload.size()) + " bytes, at most " +
                std::to_string(k_max_message_bytes));
  }
  const auto length = static_cast<std::uint32_t>(payload.size());
  const std::array<char, k_header_bytes> prefix{
      static_cast<char>(length >> 24), static_cast<char>(length >> 16),
      static_cast<char>(length >> 8), static_cast<char>(length)};

  // Prefix and payload leave in one call, so the peer wakes once per message. The
  // descriptors go with the first byte; once any byte is out they are out too, and the
  // rest is plain data.
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * k_max_fds)> control{};
  std::array<iovec, 2> io{iovec{const_cast<char*>(prefix.data()), prefix.size()},
                          iovec{const_cast<char*>(payload.data()), payload.size()}};
  msghdr header{};
  header.msg_iov = io.data();
  header.msg_iovlen = io.size();
  if (!fds.empty()) {
    header.msg_control = control.data();
    header.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&header);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent = -1;
  while ((sent = ::sendmsg(socket, &header, MSG_NOSIGNAL)) < 0) {
    if (!retryable(errno)) {
      return fail_errno("sendmsg on the sandboxd socket");
    }
    if (errno != EINTR) {
      if (auto ready = wait_for(socket, POLLOUT); !ready) {
        return ready;
      }
    }
  }
  const auto first = static_cast<std::size_t>(sent);
  if (first < prefix.size()) {
    if (auto rest = send_all(socket, prefix.data() + first, prefix.size() - first); !rest) {
      return rest;
    }
    return send_all(socket, payload.data(), payload.size());
  }
  const std::size_t payload_sent = first - prefix.size();
  return send_all(socket, payload.data() + payload_sent, payload.size() - payload_sent);
}

Result<Message> receive_message(int socket) {
  Message message;
  std::array<char, k_header_bytes> prefix{};
  auto got = receive_exactly(socket, prefix.data(), prefix.size(), message.fds);
  PLAN_TRY(got);
  if (*got == 0) {
    return fail(ErrorKind::closed, "connection closed");
  }
  if (*got < prefix.size()) {
    return fail("sandboxd message: truncated length prefix");
  }
  const std::uint32_t length = (std::uint32_t{static_cast<unsigned char>(prefix[0])} << 24) |
                               (std::uint32_t{static_cast<unsigned char>(prefix[1])} << 16) |
                               (std::uint32_t{static_cast<unsigned char>(prefix[2])} << 8) |
                               std::uint32_t{static_cast<unsigned char>(prefix[3])};
  if (length > k_max_message_bytes) {
    return fail("sandboxd message: " + std::to_string(length) + " bytes, at most " +
                std::to_string(k_max_message_bytes));
  }
  std::string payload(length, '\0');
  got = receive_exactly(socket, payload.data(), payload.size(), message.fds);
  PLAN_TRY(got);
  if (*got < payload.size()) {
    return fail("sandboxd message: truncated after " + std::to_string(*got) + " of " +
                std::to_string(length) + " bytes");
  }
  message.body = nlohmann::json::parse(payload, nullptr, false);
  if (message.body.is_discarded()) {
    return fail(ErrorKind::malformed, "sandboxd message: invalid JSON", EBADMSG);
  }
  if (!message.body.is_object()) {
    return fail(ErrorKind::malformed, "sandboxd message: not a JSON object", EBADMSG);
  }
  return message;
}

bool connection_closed(const Error& error) { return error.kind == ErrorKind::closed; }

bool in_step(const Error& error) { return error.kind == ErrorKind::malformed; }

}  // namespace planificador::sandbox
