#include "planificador/backend/docker/task_run.hpp"

#include <spdlog/spdlog.h>

#include "planificador/backend/docker/exec_session.hpp"
#include "planificador/backend/docker/outcome.hpp"
#include "planificador/sandbox/messages.hpp"

namespace planificador::backend::docker {
namespace {

using protocol::Status;

// The code and the task's files, as the helper writes them into the work directory
// before the first program starts.
std::vector<sandbox::File> files_of(const TaskSpec& spec) {
  std::vector<sandbox::File> files;
  files.reserve(spec.options.files.size() + 1);
  files.push_back(sandbox::File{spec.runner->file, spec.code});
  for (const auto& file : spec.options.files) {
    files.push_back(sandbox::File{file.path, file.content});
  }
  return files;
}

std::string assignment(const std::string& key, const std::string& value) {
  std::string entry = key;
  entry += '=';
  entry += value;
  return entry;
}

// The runner's environment, then the task's (a later KEY wins inside the sandbox).
std::vector<std::string> environment_of(const TaskSpec& spec) {
  std::vector<std::string> env;
  for (const auto& [key, value] : spec.runner->env) {
    env.push_back(assignment(key, value));
  }
  for (const auto& [key, value] : spec.options.env) {
    env.push_back(assignment(key, value));
  }
  return env;
}

// The kernel killed for memory, or (cgroup v1) the socket buffers reached the memory
// limit, where the kernel refuses socket memory instead of killing.
bool memory_exhausted(const os::Cgroup& cgroup, std::uint64_t oom_kills_before) {
  const auto after = cgroup.oom_kills();
  const auto over = cgroup.over_memory_limit();
  return (after && *after > oom_kills_before) || (over && *over);
}

struct Step {
  ExecResult exec;
  bool oom_killed = false;
};

// Runs one exec; nullopt plus `failure` set when it could not be handed to the helper.
std::optional<Step> exec_step(Container& container, const ExecEnvironment& environment,
                              const ExecRequest& request, OutputBudget& budget,
                              TaskResult& failure) {
  const std::uint64_t oom_before = container.cgroup().oom_kills().value_or(0);
  auto exec = run_exec(environment, request, budget);
  if (!exec) {
    failure = failed_outcome(Status::error, exec.error().message);
    return std::nullopt;
  }
  if (exec->rejected) {
    // A file of the task was refused (a bad path): nothing ran.
    failure = failed_outcome(Status::rejected, exec->error);
    return std::nullopt;
  }
  return Step{std::move(*exec), memory_exhausted(container.cgroup(), oom_before)};
}

void finish(TaskResult& result, Container& container, const OutputBudget& budget) {
  result.output_bytes = budget.delivered;
  if (auto peak = container.cgroup().memory_peak_bytes()) {
    result.memory_peak_bytes = *peak;
  }
}

}  // namespace

TaskResult run_task(Container& container, const TaskSpec& spec, OutputSink& sink,
                    const os::Event& cancel, std::size_t chunk_bytes, std::uint64_t flush_ms) {
  const ExecEnvironment environment{container.socket(), &container.cgroup(), &sink, &cancel,
                                    [&container] { container.kill(); }};
  OutputBudget budget{spec.limits.output_bytes, 0, chunk_bytes, flush_ms};
  TaskResult failure;
  const auto& runner = *spec.runner;
  if (!runner.compile.empty()) {
    ExecRequest compile{runner.compile,     environment_of(spec), {}, true, runner.compile_wall_ms,
                        spec.limits.cpu_ms, files_of(spec)};
    if (auto reset = container.cgroup().reset_memory_peak(); !reset) {
      spdlog::debug("reset memory peak: {}", reset.error().message);
    }
    auto step = exec_step(container, environment, compile, budget, failure);
    if (!step) {
      return failure;
    }
    config::Limits compile_limits = spec.limits;
    compile_limits.wall_ms = runner.compile_wall_ms;
    if (auto failed = compile_outcome(step->exec, step->oom_killed, compile_limits)) {
      finish(*failed, container, budget);
      return *failed;
    }
  }
  std::vector<std::string> argv = runner.run;
  argv.insert(argv.end(), spec.options.args.begin(), spec.options.args.end());
  ExecRequest run{std::move(argv),
                  environment_of(spec),
                  spec.options.stdin_data,
                  false,
                  spec.limits.wall_ms,
                  spec.limits.cpu_ms,
                  runner.compile.empty() ? files_of(spec) : std::vector<sandbox::File>()};
  if (auto reset = container.cgroup().reset_memory_peak(); !reset) {
    spdlog::debug("reset memory peak: {}", reset.error().message);
  }
  auto step = exec_step(container, environment, run, budget, failure);
  if (!step) {
    return failure;
  }
  TaskResult result = run_outcome(step->exec, step->oom_killed, spec.limits);
  finish(result, container, budget);
  return result;
}

}  // namespace planificador::backend::docker
