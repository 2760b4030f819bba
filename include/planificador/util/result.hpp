#pragma once
// Result<T>: the value of a call that can fail at run time, or the Error that says why.

#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace planificador {

// A failure: a message naming the call and the object ("connect `/var/run/docker.sock`:
// No such file or directory"), and the errno behind it when there is one (0 otherwise).
struct Error {
  std::string message;
  int code = 0;
};

template <class T>
using Result = tl::expected<T, Error>;

// Returns an unexpected Error with `message` and `code`.
[[nodiscard]] inline tl::unexpected<Error> fail(std::string message, int code = 0) {
  return tl::unexpected<Error>(Error{std::move(message), code});
}

// Returns an unexpected Error "`what`: strerror(err)" carrying `err`.
[[nodiscard]] tl::unexpected<Error> fail_errno(std::string_view what, int err);

// Same, with the current errno.
[[nodiscard]] tl::unexpected<Error> fail_errno(std::string_view what);

}  // namespace planificador
