#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

namespace planificador::bench {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int /*signal*/) { g_interrupted = 1; }

// Returns utime + stime in seconds from one /proc stat file; the fields follow the command
// name, which is in parentheses and may hold blanks (proc(5), /proc/pid/stat).
double stat_seconds(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long user = 0;
  unsigned long long system = 0;
  // Field 3 (state) is the first after the name; utime and stime are fields 14 and 15.
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) {
      user = std::stoull(field);
    } else if (index == 15) {
      system = std::stoull(field);
    }
  }
  static const double k_ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return static_cast<double>(user + system) / k_ticks;
}

}  // namespace

double percentile(std::vector<double> values, double p) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto index = static_cast<std::size_t>(std::lround(rank));
  return values[std::min(index, values.size() - 1)];
}

double median(std::vector<double> values) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

CpuTimes cpu_times(pid_t pid) {
  CpuTimes times;
  const std::string base = "/proc/" + std::to_string(pid);
  times.total = stat_seconds(base + "/stat");
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(base + "/task", error)) {
    const auto tid = static_cast<pid_t>(std::stol(entry.path().filename().string()));
    times.threads[tid] = stat_seconds(entry.path().string() + "/stat");
  }
  return times;
}

double busiest_thread(const CpuTimes& before, const CpuTimes& after) {
  double most = 0;
  for (const auto& [tid, seconds] : after.threads) {
    const auto earlier = before.threads.find(tid);
    most = std::max(most, seconds - (earlier == before.threads.end() ? 0 : earlier->second));
  }
  return most;
}

std::size_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoul(line.substr(6));
    }
  }
  return 0;
}

double own_cpu_seconds() {
  rusage usage{};
  (void)::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& time) {
    return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void Targets::check(const std::string& what, const std::string& figure, const std::string& target,
                    bool met) {
  std::printf("  %-4s %s: %s (target %s)\n", met ? "ok" : "MISS", what.c_str(), figure.c_str(),
              target.c_str());
  (void)std::fflush(stdout);
  m_verdicts.push_back({what, figure, target, met});
}

std::size_t Targets::summarize() const {
  std::size_t missed = 0;
  std::printf("\n== targets\n");
  for (const auto& verdict : m_verdicts) {
    std::printf("  %-4s %-66s %-22s target %s\n", verdict.met ? "ok" : "MISS", verdict.what.c_str(),
                verdict.figure.c_str(), verdict.target.c_str());
    missed += verdict.met ? 0 : 1;
  }
  return missed;
}

void install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  (void)::sigaction(SIGINT, &action, nullptr);
  (void)::sigaction(SIGTERM, &action, nullptr);
}

bool interrupted() { return g_interrupted != 0; }

void check_interrupted() {
  if (interrupted()) {
    throw Interrupted();
  }
}

std::string format(const char* pattern, ...) {
  char text[256];
  va_list arguments;
  va_start(arguments, pattern);
  (void)std::vsnprintf(text, sizeof text, pattern, arguments);
  va_end(arguments);
  return text;
}

}  // namespace planificador::bench
