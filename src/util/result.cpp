#include "planificador/util/result.hpp"

#include <cerrno>
#include <cstring>

namespace planificador {

tl::unexpected<Error> fail_errno(std::string_view what, int err) {
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  return tl::unexpected<Error>(Error{std::move(message), err});
}

tl::unexpected<Error> fail_errno(std::string_view what) { return fail_errno(what, errno); }

}  // namespace planificador
