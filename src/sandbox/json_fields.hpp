#pragma once
// How the decoders of messages.cpp read a body: one field at a time, with its type checked
// before its value is taken (nlohmann's throwing accessors are never reached), and every
// refusal naming the message and the field ("exec: `argv` is not an array of strings").

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "planificador/util/result.hpp"

namespace planificador::sandbox {

class JsonFields {
 public:
  // Reads `body` (which must outlive this) for the message called `what` in errors.
  JsonFields(const nlohmann::json& body, std::string what)
      : m_body(body), m_what(std::move(what)) {}

  [[nodiscard]] const std::string& what() const { return m_what; }

  // Returns the field `key`, or nullptr when it is absent or the body is not an object.
  [[nodiscard]] const nlohmann::json* find(const char* key) const;

  // Returns the Error "<what>: `key` is missing".
  [[nodiscard]] tl::unexpected<Error> missing(const char* key) const;
  // Returns the Error "<what>: `key` is not <expected>".
  [[nodiscard]] tl::unexpected<Error> wrong(const char* key, const char* expected) const;

  // Checks that the body is an object whose field `key` is the string `value`.
  [[nodiscard]] Result<void> tagged(const char* key, const char* value) const;

  // Returns the array of strings `key`; an empty one when absent and not `required`.
  [[nodiscard]] Result<std::vector<std::string>> strings(const char* key, bool required) const;
  // Returns the positive integer `key`, or nullopt when absent.
  [[nodiscard]] Result<std::optional<std::uint64_t>> positive(const char* key) const;
  // Returns the boolean `key`, or `fallback` when absent (required when there is none).
  [[nodiscard]] Result<bool> boolean(const char* key, std::optional<bool> fallback) const;
  // Returns the string `key`, or nullopt when absent.
  [[nodiscard]] Result<std::optional<std::string>> string(const char* key) const;
  // Returns the integer `key` (in the range of int), or nullopt when absent.
  [[nodiscard]] Result<std::optional<int>> integer(const char* key) const;

  // Returns `value` when it is a JSON integer that is not negative; nullopt otherwise.
  [[nodiscard]] static std::optional<std::uint64_t> unsigned_of(const nlohmann::json& value);
  // Returns `value` when it is a JSON integer in the range of int; nullopt otherwise.
  [[nodiscard]] static std::optional<int> int_of(const nlohmann::json& value);

 private:
  const nlohmann::json& m_body;
  std::string m_what;
};

}  // namespace planificador::sandbox
