#include <optional>

#include "planificador/config/config.hpp"

namespace planificador::config {
namespace {

bool in_range(char low, char c, char high) {
  const auto byte = static_cast<unsigned char>(c);
  return static_cast<unsigned char>(low) <= byte && byte <= static_cast<unsigned char>(high);
}

// Matches `c` against the bracket expression opening at pattern[open]. Returns the index
// just past the closing ']' and whether `c` is a member, or std::nullopt when the bracket
// is never closed (fnmatch(3) then takes the '[' literally). A ']' right after "[" or
// "[!" is a member, not the end.
std::optional<std::size_t> match_bracket(std::string_view pattern, std::size_t open, char c,
                                         bool& member) {
  std::size_t i = open + 1;
  bool negate = false;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    negate = true;
    ++i;
  }
  bool found = false;
  for (bool first = true; i < pattern.size() && (first || pattern[i] != ']'); first = false) {
    const char low = pattern[i];
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      found = found || in_range(low, c, pattern[i + 2]);
      i += 3;
    } else {
      found = found || low == c;
      ++i;
    }
  }
  if (i >= pattern.size()) return std::nullopt;
  member = found != negate;
  return i + 1;
}

// Matches one pattern element other than '*' at pattern[at] against `c`. Returns the index
// of the next element if it matches, std::nullopt otherwise.
std::optional<std::size_t> match_one(std::string_view pattern, std::size_t at, char c) {
  const char p = pattern[at];
  if (p == '?') return at + 1;
  if (p == '[') {
    bool member = false;
    if (const auto next = match_bracket(pattern, at, c, member)) {
      return member ? next : std::nullopt;
    }
  }
  if (p == '\\' && at + 1 < pattern.size()) {
    return pattern[at + 1] == c ? std::optional<std::size_t>(at + 2) : std::nullopt;
  }
  return p == c ? std::optional<std::size_t>(at + 1) : std::nullopt;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  // Backtracking to the most recent '*' is enough: whatever an earlier '*' could absorb,
  // the later one can absorb instead. So this is O(pattern x text), never exponential.
  constexpr auto k_none = std::string_view::npos;
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = k_none;
  std::size_t star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = ++p;
      star_text = t;
      continue;
    }
    if (p < pattern.size()) {
      if (const auto next = match_one(pattern, p, text[t])) {
        p = *next;
        ++t;
        continue;
      }
    }
    if (star == k_none) return false;
    p = star;
    t = ++star_text;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

const Runner* match_runner(const Config& config, std::string_view image) {
  for (const Runner& runner : config.runners) {
    for (const std::string& pattern : runner.match) {
      if (glob_match(pattern, image)) return &runner;
    }
  }
  return nullptr;
}

}  // namespace planificador::config
