// planctl: the command-line client (SPEC §6).

#include <iostream>
#include <string>

#include "commands.hpp"
#include <CLI/CLI.hpp>

namespace {

// The options of every subcommand that may talk to a daemon or broker whose sockets
// require CURVE (curve.clients_allow).
void add_curve_options(CLI::App& command, planificador::planctl::CurveFiles& files) {
  command.add_option("--curve-server-key", files.server_key,
                     "the daemon's or broker's public key file (NAME.pub): talk CURVE to it");
  command.add_option("--curve-key", files.key, "this client's key pair file (NAME.key)");
}

// --endpoint, or --intake and --events: the client endpoint unless one of the two is given
// (see the callback in main(), which sets spec_sockets).
struct EndpointOptions {
  CLI::Option* intake;
  CLI::Option* events;
};

EndpointOptions add_endpoint_options(CLI::App& command,
                                     planificador::planctl::Endpoints& endpoints) {
  command
      .add_option("--endpoint", endpoints.endpoint,
                  "the daemon's client endpoint (server.clients): only this client's events")
      ->capture_default_str();
  auto* intake = command.add_option("--intake", endpoints.intake,
                                    "use SPEC's intake instead of the client endpoint");
  auto* events = command.add_option("--events", endpoints.events,
                                    "use SPEC's events instead of the client endpoint");
  intake->capture_default_str();
  events->capture_default_str();
  return {intake, events};
}

void choose_sockets(const EndpointOptions& options, planificador::planctl::Endpoints& endpoints) {
  endpoints.spec_sockets = options.intake->count() > 0 || options.events->count() > 0;
}

}  // namespace

// planctl runners [--endpoint EP | --intake EP --events EP] [--json] [--timeout S]
// [--connect-timeout S].
CLI::App* add_runners_command(CLI::App& app, planificador::planctl::RunnersRequest& request,
                              EndpointOptions& sockets) {
  auto* runners =
      app.add_subcommand("runners", "list what a daemon runs: patterns, images, limits");
  sockets = add_endpoint_options(*runners, request.endpoints);
  runners->add_flag("--json", request.json, "print the daemon's JSON answer as it is");
  runners->add_option("--timeout", request.timeout_seconds, "seconds to wait for the answer")
      ->capture_default_str();
  runners
      ->add_option("--connect-timeout", request.connect_seconds,
                   "seconds to wait for the daemon to answer at all; then exit 1")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_curve_options(*runners, request.curve);
  return runners;
}

int main(int argc, char** argv) {
  namespace planctl = planificador::planctl;
  CLI::App app{"planctl: submit code to a planificador daemon and stream its output"};
  app.footer(
      "Exit status of `run`: the task's own exit code (SPEC §3: 124 wall time, 125 rejected, "
      "130 cancelled, ...);\n124 also when --timeout passes first (then `planctl: timed out` "
      "is printed), 130 after Ctrl-C,\n2 for a bad command line or unreadable file, 1 when "
      "the daemon cannot be reached.");
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("planctl ") + PLANIFICADOR_VERSION);

  planctl::RunRequest request;
  auto* run = app.add_subcommand("run", "submit a program and stream its output");
  run->add_option("--image", request.image, "image field, e.g. python, c, cpp, bash, node")
      ->required();
  run->add_option("file", request.code_path, "the program's source, or - for stdin")->required();
  run->add_option("--stdin", request.stdin_path, "file fed to the program's standard input");
  run->add_option("--file", request.files, "extra file local[:remote] (repeatable)");
  run->add_option("--limit", request.limits,
                  "lower a limit: wall_ms|cpu_ms|memory_bytes|pids|output_bytes=N (repeatable)");
  run->add_option("--arg", request.args, "argument appended to the run command (repeatable)");
  run->add_option("--env", request.env, "environment variable KEY=VALUE (repeatable)");
  run->add_flag("--report", request.report, "ask for the REPORT and print it to stderr");
  const auto run_sockets = add_endpoint_options(*run, request.endpoints);
  run->add_option("--control", request.control,
                  "with --intake: send Ctrl-C's CANCEL here instead of intake");
  run->add_option("--timeout", request.timeout_seconds, "seconds to wait for the task");
  run->add_option("--connect-timeout", request.connect_seconds,
                  "seconds to wait for the daemon to answer at all; then exit 1")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  run->add_option("--id", request.id, "task id, 32 characters (default: random hex)");
  add_curve_options(*run, request.curve);

  std::string cancel_id;
  std::string cancel_intake = "tcp://127.0.0.1:5555";
  std::string cancel_control;
  auto* cancel = app.add_subcommand("cancel", "cancel a queued or running task");
  cancel->add_option("id", cancel_id, "the task id")->required();
  cancel->add_option("--intake", cancel_intake, "intake endpoint")->capture_default_str();
  cancel->add_option("--control", cancel_control, "control endpoint (preferred when given)");
  planctl::CurveFiles cancel_curve;
  add_curve_options(*cancel, cancel_curve);

  planctl::RunnersRequest runners_request;
  EndpointOptions runners_sockets{};
  auto* runners = add_runners_command(app, runners_request, runners_sockets);

  planctl::FleetRequest fleet_request;
  fleet_request.admin = "tcp://127.0.0.1:5558";
  auto* fleet = app.add_subcommand("fleet", "show a fleet broker's daemons and tasks");
  fleet->add_option("--admin", fleet_request.admin, "the broker's admin endpoint")
      ->capture_default_str();
  fleet->add_flag("--json", fleet_request.json, "print the broker's JSON answer as it is");
  fleet->add_option("--timeout", fleet_request.timeout_seconds, "seconds to wait for the answer")
      ->capture_default_str();
  add_curve_options(*fleet, fleet_request.curve);

  std::string key_prefix;
  std::string key_comment;
  auto* keygen = app.add_subcommand(
      "keygen", "write a CURVE key pair PREFIX.key and PREFIX.pub for a fleet's link");
  keygen->add_option("prefix", key_prefix, "path without extension, e.g. keys/broker")->required();
  keygen->add_option("--comment", key_comment, "who the keys belong to (default: the prefix)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version end parsing with a "success" exception of exit code 0.
    return app.exit(error) == 0 ? 0 : planctl::k_exit_usage;
  }
  if (run->parsed()) {
    choose_sockets(run_sockets, request.endpoints);
    return planctl::run(request);
  }
  if (keygen->parsed()) {
    return planctl::keygen(key_prefix, key_comment);
  }
  if (runners->parsed()) {
    choose_sockets(runners_sockets, runners_request.endpoints);
    return planctl::runners(runners_request);
  }
  if (fleet->parsed()) {
    return planctl::fleet(fleet_request);
  }
  return planctl::cancel(cancel_id, cancel_intake, cancel_control, cancel_curve);
}
