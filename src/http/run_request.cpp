#include "planificador/http/run_request.hpp"

#include <array>

#include <nlohmann/json.hpp>

#include "planificador/util/base64.hpp"

namespace planificador::http {
namespace {

using nlohmann::json;

tl::unexpected<Refusal> refuse(int status, std::string message) {
  return tl::unexpected<Refusal>(Refusal{status, std::move(message)});
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void put_bytes(json& object, const char* key, std::string_view bytes) {
  if (is_utf8(bytes)) {
    object[key] = std::string(bytes);
  } else {
    object[std::string(key) + "_base64"] = base64_encode(bytes);
  }
}

// The program's source: `code` as it is, or `code_base64` decoded; exactly one of them.
tl::expected<std::string, Refusal> read_code(const json& document) {
  const auto code = document.find("code");
  const auto code_base64 = document.find("code_base64");
  if ((code == document.end()) == (code_base64 == document.end())) {
    return refuse(400, "code: exactly one of `code` and `code_base64` is required");
  }
  if (code != document.end()) {
    if (!code->is_string()) {
      return refuse(400, "code: expected a string");
    }
    return code->get<std::string>();
  }
  if (!code_base64->is_string()) {
    return refuse(400, "code_base64: expected a string");
  }
  auto decoded = base64_decode(code_base64->get<std::string>());
  if (!decoded) {
    return refuse(400, "code_base64: " + decoded.error().message);
  }
  return std::move(*decoded);
}

}  // namespace

tl::expected<RunRequest, Refusal> parse_run_request(std::string_view body,
                                                    std::size_t max_code_bytes) {
  json document = json::parse(body, nullptr, false);
  if (document.is_discarded()) {
    return refuse(400, "body: not JSON");
  }
  if (!document.is_object()) {
    return refuse(400, "body: expected a JSON object");
  }
  RunRequest request;
  const auto image = document.find("image");
  if (image == document.end() || !image->is_string()) {
    return refuse(400, "image: required, a string");
  }
  request.image = image->get<std::string>();
  auto code = read_code(document);
  if (!code) {
    return tl::unexpected(code.error());
  }
  request.code = std::move(*code);
  if (request.code.size() > max_code_bytes) {
    return refuse(413, "code: " + std::to_string(request.code.size()) +
                           " bytes exceed server.max_code_bytes (" +
                           std::to_string(max_code_bytes) + ")");
  }
  if (const auto id = document.find("id"); id != document.end()) {
    std::optional<protocol::TaskId> parsed;
    if (id->is_string() && id->get_ref<const std::string&>().size() == protocol::k_task_id_size) {
      parsed = parse_task_id(id->get<std::string>());
    }
    if (!parsed) {
      return refuse(400, "id: expected 32 printable ASCII characters (no space)");
    }
    request.id = parsed;
  }
  for (const char* key : {"image", "code", "code_base64", "id"}) {
    document.erase(key);
  }
  request.options_json = dump(document);
  return request;
}

std::optional<protocol::TaskId> parse_task_id(std::string_view text) {
  if (text.size() == protocol::k_task_id_size) {
    for (const char c : text) {
      if (c <= ' ' || c > '~') {
        return std::nullopt;
      }
    }
    return protocol::TaskId::from_bytes(text);
  }
  if (text.size() != 2 * protocol::k_task_id_size) {
    return std::nullopt;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  protocol::TaskId id;
  for (std::size_t i = 0; i < protocol::k_task_id_size; ++i) {
    const int high = nibble(text[2 * i]);
    const int low = nibble(text[2 * i + 1]);
    if (high < 0 || low < 0) {
      return std::nullopt;
    }
    id.bytes.at(i) = static_cast<unsigned char>(high * 16 + low);
  }
  return id;
}

bool is_utf8(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    std::size_t length = 0;
    std::uint32_t point = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
      point = lead & 0x1FU;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      point = lead & 0x0FU;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      point = lead & 0x07U;
    } else {
      return false;
    }
    if (i + length > bytes.size()) {
      return false;
    }
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(bytes[i + k]);
      if ((next & 0xC0U) != 0x80U) {
        return false;
      }
      point = (point << 6U) | (next & 0x3FU);
    }
    static constexpr std::array<std::uint32_t, 5> k_smallest = {0, 0, 0x80, 0x800, 0x10000};
    if (point < k_smallest.at(length) || point > 0x10FFFF || (point >= 0xD800 && point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

std::string run_answer(const protocol::TaskId& id, std::int32_t exit_code, std::string_view out,
                       std::string_view err, std::string_view report_json) {
  json answer = {{"id", id_text(id)}, {"exit_code", exit_code}};
  put_bytes(answer, "stdout", out);
  put_bytes(answer, "stderr", err);
  json report = report_json.empty() ? json(nullptr) : json::parse(report_json, nullptr, false);
  answer["report"] = report.is_discarded() ? json(nullptr) : std::move(report);
  return dump(answer);
}

std::string sse_event(std::string_view name, std::string_view data) {
  std::string event;
  event.reserve(name.size() + data.size() + 16);
  event.append("event: ").append(name).append("\ndata: ").append(data).append("\n\n");
  return event;
}

std::string chunk_data(std::string_view chunk) {
  json data = json::object();
  if (is_utf8(chunk)) {
    data["text"] = std::string(chunk);
  } else {
    data["base64"] = base64_encode(chunk);
  }
  return dump(data);
}

std::string error_body(std::string_view message) {
  return dump(json{{"error", std::string(message)}});
}

std::string id_text(const protocol::TaskId& id) { return id.printable(); }

namespace {

json limits_json(const config::Limits& limits) {
  return {{"wall_ms", limits.wall_ms},
          {"cpu_ms", limits.cpu_ms},
          {"memory_bytes", limits.memory_bytes},
          {"pids", limits.pids},
          {"output_bytes", limits.output_bytes}};
}

}  // namespace

std::string runners_json(const config::Config& config) {
  json runners = json::array();
  for (const auto& runner : config.runners) {
    runners.push_back(
        {{"match", runner.match},
         {"image", runner.image},
         {"compiles", !runner.compile.empty()},
         {"isolation", runner.isolation == config::Isolation::fast ? "fast" : "strict"},
         {"pool", runner.pool},
         {"limits", limits_json(runner.limits)}});
  }
  return json{{"runners", std::move(runners)}}.dump();
}

}  // namespace planificador::http
