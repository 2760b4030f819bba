#pragma once
// A stand-in for the Docker engine: an HTTP/1.1 server on a unix socket in a temporary
// directory, answering canned responses, for the error paths a real engine will not
// produce on demand (500s, non-JSON bodies, stalls).

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace planificador::test {

// What the fake answers to a matching request.
struct CannedResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // How long to wait before answering (a stalled engine); cut short when the fake stops.
  std::chrono::milliseconds delay{0};
};

// A request as the fake received it.
struct RecordedRequest {
  std::string method;
  std::string target;  // path and query, as sent ("/v1.41/containers/json?all=1")
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

class FakeEngine {
 public:
  // Listens on <temp dir>/engine.sock and serves from a thread until destroyed.
  // Throws std::runtime_error when the socket cannot be set up.
  FakeEngine();
  ~FakeEngine();
  FakeEngine(const FakeEngine&) = delete;
  FakeEngine& operator=(const FakeEngine&) = delete;

  // Answers `method` requests whose path (without the query) starts with `path_prefix`
  // (e.g. "/v1.41/containers/create"); the longest matching prefix wins. Unmatched
  // requests get 404 {"message": "page not found"}.
  void on(const std::string& method, const std::string& path_prefix, CannedResponse response);

  // Every request received so far, oldest first.
  [[nodiscard]] std::vector<RecordedRequest> requests() const;

  [[nodiscard]] const std::string& socket_path() const { return m_socket_path; }

 private:
  void serve();
  void handle(int connection);
  [[nodiscard]] CannedResponse route(const RecordedRequest& request) const;

  std::string m_dir;
  std::string m_socket_path;
  int m_listen_fd = -1;
  int m_stop_pipe[2] = {-1, -1};
  mutable std::mutex m_mutex;
  std::map<std::string, CannedResponse> m_routes;  // key: method + " " + prefix
  std::vector<RecordedRequest> m_requests;
  std::thread m_thread;
};

}  // namespace planificador::test
