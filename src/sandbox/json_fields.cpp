#include "json_fields.hpp"

#include <climits>

namespace planificador::sandbox {

using nlohmann::json;

const json* JsonFields::find(const char* key) const {
  if (!m_body.is_object()) {
    return nullptr;
  }
  const auto found = m_body.find(key);
  return found == m_body.end() ? nullptr : &*found;
}

tl::unexpected<Error> JsonFields::missing(const char* key) const {
  return fail(m_what + ": `" + key + "` is missing");
}

tl::unexpected<Error> JsonFields::wrong(const char* key, const char* expected) const {
  return fail(m_what + ": `" + key + "` is not " + expected);
}

Result<void> JsonFields::tagged(const char* key, const char* value) const {
  if (!m_body.is_object()) {
    return fail(m_what + ": not a JSON object");
  }
  const json* tag = find(key);
  if (tag == nullptr || !tag->is_string() || tag->get_ref<const std::string&>() != value) {
    return fail(m_what + ": `" + key + "` is not \"" + value + "\"");
  }
  return {};
}

Result<std::vector<std::string>> JsonFields::strings(const char* key, bool required) const {
  std::vector<std::string> values;
  const json* found = find(key);
  if (found == nullptr) {
    if (required) {
      return missing(key);
    }
    return values;
  }
  if (!found->is_array()) {
    return wrong(key, "an array of strings");
  }
  for (const auto& value : *found) {
    if (!value.is_string()) {
      return wrong(key, "an array of strings");
    }
    values.push_back(value.get<std::string>());
  }
  return values;
}

Result<std::optional<std::uint64_t>> JsonFields::positive(const char* key) const {
  const json* found = find(key);
  if (found == nullptr) {
    return std::optional<std::uint64_t>();
  }
  const auto value = unsigned_of(*found);
  if (!value || *value == 0) {
    return wrong(key, "a positive integer");
  }
  return value;
}

Result<bool> JsonFields::boolean(const char* key, std::optional<bool> fallback) const {
  const json* found = find(key);
  if (found == nullptr) {
    if (!fallback) {
      return missing(key);
    }
    return *fallback;
  }
  if (!found->is_boolean()) {
    return wrong(key, "true or false");
  }
  return found->get<bool>();
}

Result<std::optional<std::string>> JsonFields::string(const char* key) const {
  const json* found = find(key);
  if (found == nullptr) {
    return std::optional<std::string>();
  }
  if (!found->is_string()) {
    return wrong(key, "a string");
  }
  return std::optional<std::string>(found->get<std::string>());
}

Result<std::optional<int>> JsonFields::integer(const char* key) const {
  const json* found = find(key);
  if (found == nullptr) {
    return std::optional<int>();
  }
  const auto value = int_of(*found);
  if (!value) {
    return wrong(key, "an integer");
  }
  return value;
}

std::optional<std::uint64_t> JsonFields::unsigned_of(const json& value) {
  if (value.is_number_unsigned()) {
    return value.get<std::uint64_t>();
  }
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(value.get<std::int64_t>());
  }
  return std::nullopt;
}

std::optional<int> JsonFields::int_of(const json& value) {
  if (value.is_number_unsigned()) {
    const auto number = value.get<std::uint64_t>();
    return number <= INT_MAX ? std::optional<int>(static_cast<int>(number)) : std::nullopt;
  }
  if (value.is_number_integer()) {
    const auto number = value.get<std::int64_t>();
    return number >= INT_MIN && number <= INT_MAX ? std::optional<int>(static_cast<int>(number))
                                                  : std::nullopt;
  }
  return std::nullopt;
}

}  // namespace planificador::sandbox
