#include "planificador/backend/docker/engine_client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include <curl/curl.h>

namespace planificador::backend::docker {
namespace {

// The engine this project targets is 20.10, whose newest API is 1.41; pinning the
// version keeps the JSON shapes fixed when a newer engine answers.
constexpr std::string_view k_api_prefix = "http://localhost/v1.41";
// A runaway answer (e.g. the logs of a task that printed for minutes) must not grow
// the daemon without bound.
constexpr std::size_t k_max_body_bytes = std::size_t{64} << 20;
constexpr std::size_t k_max_error_text = 300;

struct Response {
  long status = 0;
  std::string body;
};

struct CurlDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
using CurlList = std::unique_ptr<curl_slist, CurlDeleter>;

// curl_global_init is not thread-safe and must run before any handle exists
// (libcurl-thread(3)).
void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t bytes = size * count;
  if (body->size() + bytes > k_max_body_bytes) {
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  body->append(data, bytes);
  return bytes;
}

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Percent-encodes everything outside RFC 3986's unreserved set and `keep`.
std::string url_encode(std::string_view text, std::string_view keep = {}) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (is_unreserved(c) || keep.find(c) != std::string_view::npos) {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += k_hex[byte >> 4U];
      out += k_hex[byte & 0x0FU];
    }
  }
  return out;
}

std::string_view without_query(std::string_view target) {
  return target.substr(0, target.find('?'));
}

// The engine reports failures as {"message": "..."}; anything else (a proxy's HTML, an
// empty body) is passed on trimmed, so the status line still says what happened.
std::string engine_message(const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string()) {
    return parsed["message"].get<std::string>();
  }
  std::string text = body.substr(0, k_max_error_text);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text.empty() ? "(empty answer)" : text;
}

Result<nlohmann::json> parse_json(std::string_view method, std::string_view target,
                                  const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    return fail(std::string(method) + " " + std::string(without_query(target)) +
                ": answer is not JSON: " + body.substr(0, k_max_error_text));
  }
  return parsed;
}

class Call {
 public:
  Call(const std::string& socket, std::chrono::milliseconds timeout, std::string_view method,
       std::string target)
      : m_socket(socket), m_timeout(timeout), m_method(method), m_target(std::move(target)) {}

  // Performs the request; any HTTP status is a success at this level.
  Result<Response> perform(const std::string* body) const;

  // Performs the request and turns a status outside `ok` into the engine's message.
  Result<Response> expect(std::initializer_list<long> ok, const std::string* body = nullptr) const;

  [[nodiscard]] std::string what() const {
    return m_method + " " + std::string(without_query(m_target));
  }

 private:
  Error transport_error(CURL* handle, CURLcode code, const char* detail) const;

  const std::string& m_socket;
  std::chrono::milliseconds m_timeout;
  std::string m_method;
  std::string m_target;
};

Result<Response> Call::perform(const std::string* body) const {
  init_curl_once();
  CurlHandle handle(curl_easy_init());
  if (!handle) {
    return fail(what() + ": curl_easy_init failed");
  }
  CURL* h = handle.get();
  const std::string url = std::string(k_api_prefix) + m_target;
  // "Expect:" switches off curl's 100-continue round trip for larger bodies.
  CurlList headers(curl_slist_append(nullptr, "Expect:"));
  if (body != nullptr) {
    headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
  }
  Response response;
  char detail[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, m_socket.c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m_method.c_str());
  // Signals cannot time out a resolver here (unix socket), and they are not thread-safe.
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(m_timeout.count()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
  if (m_method == "POST") {
    // Without a body curl would still need a length; the engine wants 0, not chunked.
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != nullptr ? body->c_str() : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body != nullptr ? body->size() : 0));
  }
  const CURLcode code = curl_easy_perform(h);
  if (code != CURLE_OK) {
    return tl::unexpected(transport_error(h, code, detail));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Error Call::transport_error(CURL* handle, CURLcode code, const char* detail) const {
  const std::string quoted = "`" + m_socket + "`";
  if (code == CURLE_COULDNT_CONNECT) {
    long os_errno = 0;
    curl_easy_getinfo(handle, CURLINFO_OS_ERRNO, &os_errno);
    const int err = os_errno != 0 ? static_cast<int>(os_errno) : ECONNREFUSED;
    return Error{"connect " + quoted + ": " + std::strerror(err), err};
  }
  if (code == CURLE_OPERATION_TIMEDOUT) {
    return Error{what() + ": no answer from " + quoted + " within " +
                     std::to_string(m_timeout.count()) + " ms",
                 ETIMEDOUT};
  }
  if (code == CURLE_WRITE_ERROR) {
    return Error{what() + ": answer larger than " + std::to_string(k_max_body_bytes) + " bytes",
                 EMSGSIZE};
  }
  const std::string text = detail[0] != '\0' ? detail : curl_easy_strerror(code);
  return Error{what() + " on " + quoted + ": " + text, 0};
}

Result<Response> Call::expect(std::initializer_list<long> ok, const std::string* body) const {
  auto response = perform(body);
  PLAN_TRY(response);
  if (std::find(ok.begin(), ok.end(), response->status) == ok.end()) {
    // 404: the engine has no such object (POST /containers/create: no such image).
    return fail(
        response->status == 404 ? ErrorKind::not_found : ErrorKind::other,
        what() + ": " + std::to_string(response->status) + ": " + engine_message(response->body));
  }
  return response;
}

std::string container_path(std::string_view id, std::string_view rest = {}) {
  return "/containers/" + url_encode(id) + std::string(rest);
}

Result<ContainerSummary> parse_summary(const nlohmann::json& item) {
  if (!item.is_object() || !item.contains("Id") || !item["Id"].is_string()) {
    return fail("GET /containers/json: entry without an Id: " + item.dump());
  }
  ContainerSummary summary;
  summary.id = item["Id"].get<std::string>();
  if (auto names = item.find("Names"); names != item.end() && names->is_array()) {
    for (const auto& name : *names) {
      if (name.is_string()) {
        summary.names.push_back(name.get<std::string>());
      }
    }
  }
  if (auto state = item.find("State"); state != item.end() && state->is_string()) {
    summary.state = state->get<std::string>();
  }
  // Labels is null, not {}, for a container created without any.
  if (auto labels = item.find("Labels"); labels != item.end() && labels->is_object()) {
    for (const auto& [key, value] : labels->items()) {
      if (value.is_string()) {
        summary.labels.emplace(key, value.get<std::string>());
      }
    }
  }
  return summary;
}

}  // namespace

EngineClient::EngineClient(std::string socket_path, std::chrono::milliseconds timeout)
    : m_socket(std::move(socket_path)), m_timeout(timeout) {}

Result<void> EngineClient::ping() const {
  return Call(m_socket, m_timeout, "GET", "/_ping").expect({200}).map([](const Response&) {});
}

Result<EngineInfo> EngineClient::info() const {
  auto response = Call(m_socket, m_timeout, "GET", "/info").expect({200});
  PLAN_TRY(response);
  auto parsed = parse_json("GET", "/info", response->body);
  PLAN_TRY(parsed);
  EngineRuntimes runtimes;
  if (auto name = parsed->find("DefaultRuntime"); name != parsed->end() && name->is_string()) {
    runtimes.default_name = name->get<std::string>();
  }
  if (auto listed = parsed->find("Runtimes"); listed != parsed->end() && listed->is_object()) {
    for (const auto& [name, runtime] : listed->items()) {
      std::string path;
      if (runtime.is_object() && runtime.contains("path") && runtime["path"].is_string()) {
        path = runtime["path"].get<std::string>();
      }
      runtimes.paths.emplace(name, std::move(path));
    }
  }
  EngineInfo info{std::move(runtimes), {}};
  if (auto driver = parsed->find("CgroupDriver"); driver != parsed->end() && driver->is_string()) {
    info.cgroups.driver = driver->get<std::string>();
  }
  if (auto version = parsed->find("CgroupVersion");
      version != parsed->end() && version->is_string() && version->get<std::string>() == "2") {
    info.cgroups.version = os::CgroupVersion::v2;
  }
  return info;
}

Result<bool> EngineClient::image_exists(std::string_view image) const {
  // The route is /images/{name:.*}/json: a repository's '/' and a tag's ':' stay literal.
  auto response = Call(m_socket, m_timeout, "GET", "/images/" + url_encode(image, "/:@") + "/json")
                      .expect({200, 404});
  PLAN_TRY(response);
  return response->status == 200;
}

Result<std::string> EngineClient::create(const nlohmann::json& body, std::string_view name) const {
  std::string target = "/containers/create";
  if (!name.empty()) {
    target += "?name=" + url_encode(name);
  }
  const std::string payload = body.dump();
  Call call(m_socket, m_timeout, "POST", std::move(target));
  auto response = call.expect({201}, &payload);
  PLAN_TRY(response);
  auto parsed = parse_json("POST", "/containers/create", response->body);
  PLAN_TRY(parsed);
  if (!parsed->is_object() || !parsed->contains("Id") || !(*parsed)["Id"].is_string()) {
    return fail(call.what() + ": answer without an Id: " + response->body.substr(0, 200));
  }
  return (*parsed)["Id"].get<std::string>();
}

Result<void> EngineClient::start(std::string_view id) const {
  // 304: already started, which is what the caller asked for.
  return Call(m_socket, m_timeout, "POST", container_path(id, "/start"))
      .expect({204, 304})
      .map([](const Response&) {});
}

Result<void> EngineClient::kill(std::string_view id, std::string_view signal) const {
  // 404 (gone) and 409 (not running) leave the container stopped, as asked.
  return Call(m_socket, m_timeout, "POST", container_path(id, "/kill?signal=" + url_encode(signal)))
      .expect({204, 404, 409})
      .map([](const Response&) {});
}

Result<void> EngineClient::remove(std::string_view id) const {
  return Call(m_socket, m_timeout, "DELETE", container_path(id, "?force=1&v=1"))
      .expect({204, 404})
      .map([](const Response&) {});
}

Result<nlohmann::json> EngineClient::inspect(std::string_view id) const {
  auto response = Call(m_socket, m_timeout, "GET", container_path(id, "/json")).expect({200});
  PLAN_TRY(response);
  return parse_json("GET", container_path(id, "/json"), response->body);
}

Result<std::int64_t> EngineClient::wait(std::string_view id) const { return wait(id, m_timeout); }

Result<std::int64_t> EngineClient::wait(std::string_view id,
                                        std::chrono::milliseconds timeout) const {
  const std::string target = container_path(id, "/wait");
  auto response = Call(m_socket, timeout, "POST", target).expect({200});
  PLAN_TRY(response);
  auto parsed = parse_json("POST", target, response->body);
  PLAN_TRY(parsed);
  // The engine reports a failure to wait (not the container's) in Error.Message.
  if (auto error = parsed->find("Error"); error != parsed->end() && error->is_object()) {
    if (auto message = error->find("Message");
        message != error->end() && message->is_string() && !message->get<std::string>().empty()) {
      return fail("POST " + target + ": " + message->get<std::string>());
    }
  }
  if (!parsed->contains("StatusCode") || !(*parsed)["StatusCode"].is_number_integer()) {
    return fail("POST " + target + ": answer without a StatusCode: " + response->body);
  }
  return (*parsed)["StatusCode"].get<std::int64_t>();
}

Result<std::vector<ContainerSummary>> EngineClient::list_by_label(std::string_view label) const {
  const nlohmann::json filters = {{"label", {std::string(label)}}};
  auto response = Call(m_socket, m_timeout, "GET",
                       "/containers/json?all=1&filters=" + url_encode(filters.dump()))
                      .expect({200});
  PLAN_TRY(response);
  auto parsed = parse_json("GET", "/containers/json", response->body);
  PLAN_TRY(parsed);
  if (!parsed->is_array()) {
    return fail("GET /containers/json: answer is not a list: " + response->body.substr(0, 200));
  }
  std::vector<ContainerSummary> containers;
  for (const auto& item : *parsed) {
    auto summary = parse_summary(item);
    PLAN_TRY(summary);
    containers.push_back(std::move(*summary));
  }
  return containers;
}

Result<Logs> EngineClient::logs(std::string_view id) const {
  const std::string target = container_path(id, "/logs?stdout=1&stderr=1");
  auto response = Call(m_socket, m_timeout, "GET", target).expect({200});
  PLAN_TRY(response);
  auto logs = demultiplex(response->body);
  if (!logs) {
    return fail("GET " + std::string(without_query(target)) + ": " + logs.error().message);
  }
  return logs;
}

Result<Logs> demultiplex(std::string_view raw) {
  // Engine API, "Stream format": [STREAM_TYPE, 0, 0, 0, SIZE1, SIZE2, SIZE3, SIZE4] then
  // SIZE bytes; stream 0 (stdin) is written on stdout.
  constexpr std::size_t k_header = 8;
  Logs logs;
  std::size_t offset = 0;
  while (offset < raw.size()) {
    if (raw.size() - offset < k_header) {
      return fail("demultiplex: truncated frame header at offset " + std::to_string(offset));
    }
    const auto* header = reinterpret_cast<const unsigned char*>(raw.data() + offset);
    if (header[0] > 2 || header[1] != 0 || header[2] != 0 || header[3] != 0) {
      return fail("demultiplex: unknown stream type " + std::to_string(header[0]) + " at offset " +
                  std::to_string(offset) + " (a container with a TTY sends a raw stream)");
    }
    const std::size_t length = (std::size_t{header[4]} << 24U) | (std::size_t{header[5]} << 16U) |
                               (std::size_t{header[6]} << 8U) | std::size_t{header[7]};
    const std::size_t remaining = raw.size() - offset - k_header;
    if (length > remaining) {
      return fail("demultiplex: frame at offset " + std::to_string(offset) + " announces " +
                  std::to_string(length) + " bytes, " + std::to_string(remaining) + " remain");
    }
    std::string& sink = header[0] == 2 ? logs.err : logs.out;
    sink.append(raw.substr(offset + k_header, length));
    offset += k_header + length;
  }
  return logs;
}

}  // namespace planificador::backend::docker
