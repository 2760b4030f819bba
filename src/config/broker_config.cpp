// broker.toml -> BrokerConfig, read with the same Section as config.toml (section.hpp):
// every key checked against its type and range, the problem on the earliest line named.

#include "planificador/config/broker_config.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <vector>

#include "rules.hpp"
#include "section.hpp"
#include <toml++/toml.h>

namespace planificador::config {
namespace {

constexpr Range k_backlog{1, 1'000'000};
constexpr Range k_max_code_bytes{1, std::int64_t{64} << 20};
constexpr Range k_heartbeat_ms{10, 60'000};
constexpr Range k_heartbeat_misses{1, 100};
constexpr Range k_unserved_ms{0, 3'600'000};
constexpr Range k_dispatch_attempts{1, 100};
constexpr Range k_grace_ms{0, 3'600'000};

std::optional<std::string> path(std::string_view value) {
  if (value.find('\0') != std::string_view::npos) return "expected a path without NUL bytes";
  return std::nullopt;
}

void read_broker(Section& t, BrokerSection& out) {
  t.string("intake", out.intake, rules::endpoint);
  t.string("events", out.events, rules::endpoint);
  t.string("control", out.control, rules::optional_endpoint);
  t.string("workers", out.workers, rules::endpoint);
  t.string("admin", out.admin, rules::optional_endpoint);
  t.string("clients", out.clients, rules::optional_endpoint);
  t.integer("backlog", k_backlog, out.backlog);
  t.integer("max_code_bytes", k_max_code_bytes, out.max_code_bytes);
  t.integer("heartbeat_ms", k_heartbeat_ms, out.heartbeat_ms);
  t.integer("heartbeat_misses", k_heartbeat_misses, out.heartbeat_misses);
  t.integer("unserved_ms", k_unserved_ms, out.unserved_ms);
  t.integer("dispatch_attempts", k_dispatch_attempts, out.dispatch_attempts);
  t.integer("grace_ms", k_grace_ms, out.grace_ms);
}

void read_curve(Section& t, CurveSection& out) {
  t.string("key", out.key, path);
  t.string("workers_allow", out.workers_allow, path);
  t.string("clients_allow", out.clients_allow, path);
  t.boolean("plaintext", out.plaintext);
}

// The worker link is CURVE unless plaintext is asked for explicitly, so a missing key pair
// is a mistake in the file, not a reason to fall back to plain TCP. Checked once every key
// is known to be well-formed, so the message is about what is missing, not a typo.
void check_curve(const Section& t, const CurveSection& curve, Problems& problems) {
  const std::size_t line = t.line_of_key("plaintext");
  if (curve.key.empty() && !curve.plaintext) {
    problems.add(line, "curve.key",
                 "required unless curve.plaintext = true (write one with `planctl keygen "
                 "broker`)");
  } else if (curve.key.empty() && !curve.clients_allow.empty()) {
    problems.add(t.line_of_key("clients_allow"), "curve.key",
                 "required when curve.clients_allow is set");
  } else if (curve.workers_allow.empty() && !curve.plaintext) {
    problems.add(t.line_of_key("key"), "curve.workers_allow",
                 "required unless curve.plaintext = true (the daemons' public keys)");
  }
}

BrokerConfig read_config(const toml::table& root, Problems& problems) {
  BrokerConfig config;
  Section top(problems, &root, "", line_of(root, 1));
  Section broker = top.child("broker");
  read_broker(broker, config.broker);
  broker.finish();
  Section curve = top.child("curve");
  read_curve(curve, config.curve);
  curve.finish();
  Section log = top.child("log");
  log.string("level", config.log.level, rules::log_level);
  log.finish();
  top.finish();
  if (!problems.found()) {
    check_curve(curve, config.curve, problems);
  }
  return config;
}

void resolve(std::string& file, const std::filesystem::path& base) {
  if (!file.empty() && std::filesystem::path(file).is_relative()) {
    file = (base / file).lexically_normal().string();
  }
}

}  // namespace

Result<BrokerConfig> parse_broker(std::string_view text, std::string_view source) {
  return parse_document(text, source, read_config);
}

Result<BrokerConfig> load_broker(const std::string& path) {
  auto text = read_document(path);
  if (!text) return tl::unexpected<Error>(std::move(text.error()));
  auto config = parse_broker(*text, path);
  if (!config) return config;
  const auto base = std::filesystem::path(path).parent_path();
  resolve(config->curve.key, base);
  resolve(config->curve.workers_allow, base);
  resolve(config->curve.clients_allow, base);
  return config;
}

}  // namespace planificador::config
