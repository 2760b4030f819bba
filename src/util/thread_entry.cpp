#include "planificador/util/thread_entry.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace planificador::util {
namespace {

std::mutex g_mutex;
ThreadFailureHandler g_handler;  // guarded by g_mutex

}  // namespace

void set_thread_failure_handler(ThreadFailureHandler handler) {
  const std::scoped_lock lock(g_mutex);
  g_handler = std::move(handler);
}

void thread_failed(std::string_view thread, std::string_view what) noexcept {
  try {
    ThreadFailureHandler handler;
    {
      const std::scoped_lock lock(g_mutex);
      handler = g_handler;
    }
    if (handler) {
      handler(thread, what);
      return;
    }
  } catch (...) {
    // The handler failed too: the last resort below.
  }
  // A failed write to stderr leaves nothing else to report it on; exit regardless.
  static_cast<void>(std::fprintf(stderr, "thread `%.*s` failed: %.*s\n",
                                 static_cast<int>(thread.size()), thread.data(),
                                 static_cast<int>(what.size()), what.data()));
  std::_Exit(k_thread_failure_status);
}

}  // namespace planificador::util
