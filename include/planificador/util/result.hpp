#pragma once
// Result<T>: the value of a call that can fail at run time, or the Error that says why.

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace planificador {

// What a caller may do about an Error, when it does more than pass it on or show it.
enum class ErrorKind {
  other,      // nothing a caller tells apart: show the message
  closed,     // the peer closed the connection: an end, not a fault of either side
  malformed,  // what arrived does not decode; the stream it came on is still in step
  not_found,  // what was named does not exist (an image, a container, a file)
  engine,     // the container engine failed the call or did not answer: ask whether it is up
  cancelled,  // the caller's own cancel event ended the call: no fault to report
};

// A failure: a message naming the call and the object ("connect `/var/run/docker.sock`:
// No such file or directory"), the errno behind it when there is one (0 otherwise), and
// its kind. Callers decide on the kind, never on the message's text.
struct Error {
  std::string message;
  int code = 0;
  ErrorKind kind = ErrorKind::other;
};

template <class T>
using Result = tl::expected<T, Error>;

// Returns an unexpected Error with `message` and `code`.
[[nodiscard]] inline tl::unexpected<Error> fail(std::string message, int code = 0) {
  return tl::unexpected<Error>(Error{std::move(message), code});
}

// Returns an unexpected Error of `kind` with `message` and `code`.
[[nodiscard]] inline tl::unexpected<Error> fail(ErrorKind kind, std::string message, int code = 0) {
  return tl::unexpected<Error>(Error{std::move(message), code, kind});
}

// Returns an unexpected Error "`what`: strerror(err)" carrying `err`.
[[nodiscard]] tl::unexpected<Error> fail_errno(std::string_view what, int err);

// Same, with the current errno.
[[nodiscard]] tl::unexpected<Error> fail_errno(std::string_view what);

}  // namespace planificador

// PLAN_TRY(result): when `result` (a Result, or any tl::expected with the enclosing
// function's error type) holds an error, returns that error from the enclosing function.
// An lvalue is left as it is, so a named Result can be checked and then used:
//
//   auto file = read_text_file(path);
//   PLAN_TRY(file);
//   use(*file);
//
// A macro because only a macro can return from its caller (absl's RETURN_IF_ERROR).
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define PLAN_TRY(...)                                                                            \
  do {                                                                                           \
    auto&& plan_try_result = (__VA_ARGS__);                                                      \
    if (!plan_try_result) {                                                                      \
      return ::tl::unexpected(std::forward<decltype(plan_try_result)>(plan_try_result).error()); \
    }                                                                                            \
  } while (false)
