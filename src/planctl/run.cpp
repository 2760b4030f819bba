#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "commands.hpp"

#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/report.hpp"
#include "planificador/transport/client.hpp"

namespace planificador::planctl {
namespace {

using namespace std::chrono_literals;

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int /*signal*/) { g_interrupted = 1; }

// Writes every byte, as the program wrote them (no newline translation, binary safe).
void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
}

Result<std::string> read_code(const std::string& path) {
  if (path == "-") {
    std::ostringstream bytes;
    bytes << std::cin.rdbuf();
    return bytes.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail("open `" + path + "`: cannot read it");
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

struct Outcome {
  std::optional<std::int32_t> exit_code;
  std::optional<std::string> report;
};

// Handles one events frame; returns true once it was this task's EXITED.
bool handle_event(std::string_view frame, const protocol::TaskId& id, Outcome& outcome) {
  auto decoded = protocol::decode_outbound(frame);
  if (!decoded) {
    std::cerr << "planctl: ignoring a malformed event: " << decoded.error().message << '\n';
    return false;
  }
  if (const auto* append = std::get_if<protocol::Append>(&*decoded); append && append->id == id) {
    write_all(append->stream == protocol::Stream::out ? STDOUT_FILENO : STDERR_FILENO,
              append->text);
  } else if (const auto* report = std::get_if<protocol::Report>(&*decoded);
             report && report->id == id) {
    outcome.report = report->json;
  } else if (const auto* exited = std::get_if<protocol::Exited>(&*decoded);
             exited && exited->id == id) {
    outcome.exit_code = exited->exit_code;
    return true;
  }
  return false;
}

// Sends CANCEL and waits briefly for the task's EXITED, still forwarding its output.
void cancel_and_wait(transport::Client& client, const protocol::TaskId& id, bool via_control,
                     Outcome& outcome) {
  const auto frame = protocol::encode(protocol::Cancel{id});
  auto sent = via_control ? client.send_control(frame) : client.send(frame, 2000ms);
  if (!sent) {
    std::cerr << "planctl: " << sent.error().message << '\n';
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto event = client.receive(200ms);
    if (event && *event && handle_event(**event, id, outcome)) {
      return;
    }
  }
}

// Sends the task and forwards its output until its EXITED. Returns -1 then (the outcome
// holds the exit code), or planctl's own status when it stopped first: a transport error,
// Ctrl-C or --timeout (the task is cancelled then).
int submit_and_stream(transport::Client& client, const RunRequest& request,
                      const protocol::TaskId& id, const std::string& frame, Outcome& outcome) {
  const auto started = std::chrono::steady_clock::now();
  const auto limit = std::chrono::duration<double>(request.timeout_seconds);
  const auto send_limit = request.timeout_seconds > 0
                              ? std::chrono::duration_cast<std::chrono::milliseconds>(limit)
                              : std::chrono::milliseconds(-1);
  if (auto sent = client.send(frame, send_limit); !sent) {
    std::cerr << "planctl: " << sent.error().message << '\n';
    return k_exit_transport;
  }
  // On the client endpoint the CANCEL goes where the SUBMIT went: only that connection's
  // CANCEL ends the task.
  const bool via_control = request.endpoints.spec_sockets && !request.control.empty();
  while (!outcome.exit_code) {
    if (g_interrupted != 0) {
      cancel_and_wait(client, id, via_control, outcome);
      return k_exit_interrupted;
    }
    if (request.timeout_seconds > 0 && std::chrono::steady_clock::now() - started > limit) {
      cancel_and_wait(client, id, via_control, outcome);
      std::cerr << "planctl: timed out\n";
      return k_exit_timed_out;
    }
    auto event = client.receive(200ms);
    if (!event) {
      if (event.error().code == EINTR) {
        continue;
      }
      std::cerr << "planctl: " << event.error().message << '\n';
      return k_exit_transport;
    }
    if (*event) {
      handle_event(**event, id, outcome);
    }
  }
  return -1;
}

}  // namespace

Result<std::unique_ptr<transport::Client>> connect(const Endpoints& endpoints,
                                                   const std::string& control,
                                                   const transport::CurveClient& curve) {
  if (endpoints.spec_sockets) {
    return transport::Client::connect(endpoints.intake, endpoints.events, control, curve);
  }
  return transport::Client::connect_endpoint(endpoints.endpoint, curve);
}

int run(const RunRequest& request) {
  const std::string id_text =
      request.id.empty() ? protocol::TaskId::random().printable() : request.id;
  const auto id = protocol::TaskId::from_bytes(id_text);
  if (!id) {
    std::cerr << "planctl: --id must be exactly 32 bytes, got " << id_text.size() << '\n';
    return k_exit_usage;
  }
  auto code = read_code(request.code_path);
  auto options = options_json(request);
  if (!code || !options) {
    std::cerr << "planctl: " << (!code ? code.error() : options.error()).message << '\n';
    return k_exit_usage;
  }
  auto curve = load_curve(request.curve);
  if (!curve) {
    std::cerr << "planctl: " << curve.error().message << '\n';
    return k_exit_usage;
  }
  auto client = connect(request.endpoints, request.control, *curve);
  if (!client) {
    std::cerr << "planctl: " << client.error().message << '\n';
    return k_exit_transport;
  }
  const auto connect_limit = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(request.connect_seconds));
  if (auto reachable = (*client)->wait_reachable(connect_limit); !reachable) {
    std::cerr << "planctl: " << reachable.error().message << '\n';
    return k_exit_transport;
  }
  struct sigaction action {};
  action.sa_handler = on_interrupt;  // no SA_RESTART: the wait must return EINTR
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  const auto frame = protocol::encode(protocol::Submit{*id, request.image, *code, *options});
  Outcome outcome;
  if (const int status = submit_and_stream(**client, request, *id, frame, outcome); status >= 0) {
    return status;
  }
  if (request.report && outcome.report) {
    // A line for the person at the terminal, then the JSON for a program (the last line).
    if (const auto summary = protocol::summarize_report(*outcome.report); !summary.empty()) {
      std::cerr << "planctl: " << summary << '\n';
    }
    std::cerr << *outcome.report << '\n';
  }
  return *outcome.exit_code & 0xff;
}

int cancel(const std::string& id_text, const std::string& intake, const std::string& control,
           const CurveFiles& curve_files) {
  const auto id = protocol::TaskId::from_bytes(id_text);
  if (!id) {
    std::cerr << "planctl: a task id is exactly 32 bytes, got " << id_text.size() << '\n';
    return k_exit_usage;
  }
  auto curve = load_curve(curve_files);
  if (!curve) {
    std::cerr << "planctl: " << curve.error().message << '\n';
    return k_exit_usage;
  }
  auto client = transport::Client::connect(control.empty() ? intake : "", "", control, *curve);
  if (!client) {
    std::cerr << "planctl: " << client.error().message << '\n';
    return k_exit_transport;
  }
  const auto frame = protocol::encode(protocol::Cancel{*id});
  Result<void> sent;
  if (control.empty()) {
    sent = (*client)->wait_reachable(5000ms);
    if (sent) {
      sent = (*client)->send(frame, 5000ms);
    }
  } else {
    // PUB/SUB joins are asynchronous: a message published before the subscription has
    // reached the publisher is silently lost (zmq_socket(3), ZMQ_PUB).
    std::this_thread::sleep_for(500ms);
    sent = (*client)->send_control(frame);
  }
  if (!sent) {
    std::cerr << "planctl: " << sent.error().message << '\n';
    return k_exit_transport;
  }
  return 0;
}

}  // namespace planificador::planctl
