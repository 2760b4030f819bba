#include <string>

#include <gtest/gtest.h>

#include "planificador/protocol/options.hpp"

namespace planificador::protocol {
namespace {

TaskOptions parse_ok(std::string_view json) {
  auto options = parse_options(json);
  EXPECT_TRUE(options.has_value()) << json << " -> " << options.error().message;
  return options ? *options : TaskOptions{};
}

std::string parse_error(std::string_view json) {
  auto options = parse_options(json);
  EXPECT_FALSE(options.has_value()) << json;
  return options ? std::string() : options.error().message;
}

TEST(ProtocolOptions, EmptyObjectGivesDefaults) {
  EXPECT_EQ(parse_ok("{}"), TaskOptions{});
  EXPECT_EQ(parse_ok(" \n{ }\t"), TaskOptions{});
}

TEST(ProtocolOptions, SpecExample) {
  const TaskOptions options = parse_ok(R"({
    "stdin": "text",
    "args": ["--flag"],
    "env": {"KEY": "value"},
    "files": [{"path": "input.txt", "content": "...", "base64": false}],
    "limits": {"wall_ms": 2000, "cpu_ms": 1000, "memory_bytes": 67108864,
               "pids": 32, "output_bytes": 65536}
  })");
  EXPECT_EQ(options.stdin_data, "text");
  EXPECT_EQ(options.args, std::vector<std::string>{"--flag"});
  ASSERT_EQ(options.env.size(), 1U);
  EXPECT_EQ(options.env[0], (std::pair<std::string, std::string>{"KEY", "value"}));
  ASSERT_EQ(options.files.size(), 1U);
  EXPECT_EQ(options.files[0], (TaskFile{"input.txt", "..."}));
  EXPECT_EQ(options.limits.wall_ms, 2000U);
  EXPECT_EQ(options.limits.cpu_ms, 1000U);
  EXPECT_EQ(options.limits.memory_bytes, 67108864U);
  EXPECT_EQ(options.limits.pids, 32U);
  EXPECT_EQ(options.limits.output_bytes, 65536U);
}

TEST(ProtocolOptions, StdinForms) {
  EXPECT_EQ(parse_ok(R"({"stdin": "a\u0000b\n"})").stdin_data, std::string("a\0b\n", 4));
  EXPECT_EQ(parse_ok(R"({"stdin_base64": "AP8K"})").stdin_data, std::string("\0\xff\n", 3));
  EXPECT_EQ(parse_ok(R"({"stdin_base64": ""})").stdin_data, "");
  EXPECT_EQ(parse_error(R"({"stdin": "a", "stdin_base64": "YQ=="})"),
            "options: `stdin` and `stdin_base64` are mutually exclusive");
  EXPECT_EQ(parse_error(R"({"stdin": 5})"), "options.stdin: expected a string");
  EXPECT_EQ(
      parse_error(R"({"stdin_base64": "YQ="})").rfind("options.stdin_base64: invalid base64", 0),
      0U);
}

TEST(ProtocolOptions, ArgsAndEnvKeepOrder) {
  const TaskOptions options =
      parse_ok(R"({"args": ["b", "", "a b"], "env": {"Z": "1", "A": "", "M_1": "x=y"}})");
  EXPECT_EQ(options.args, (std::vector<std::string>{"b", "", "a b"}));
  ASSERT_EQ(options.env.size(), 3U);
  EXPECT_EQ(options.env[0].first, "Z");
  EXPECT_EQ(options.env[1], (std::pair<std::string, std::string>{"A", ""}));
  EXPECT_EQ(options.env[2].second, "x=y");
}

TEST(ProtocolOptions, BadArgs) {
  EXPECT_EQ(parse_error(R"({"args": "x"})"), "options.args: expected an array of strings");
  EXPECT_EQ(parse_error(R"({"args": ["a", 1]})"), "options.args[1]: expected a string");
  EXPECT_EQ(parse_error(R"({"args": ["a\u0000"]})"), "options.args[0]: must not contain NUL");
}

TEST(ProtocolOptions, BadEnv) {
  EXPECT_EQ(parse_error(R"({"env": ["A"]})"), "options.env: expected an object of strings");
  EXPECT_EQ(parse_error(R"({"env": {"": "x"}})"), "options.env: empty variable name");
  EXPECT_EQ(parse_error(R"({"env": {"A=B": "x"}})"),
            "options.env: variable name `A=B` contains `=` or NUL");
  EXPECT_EQ(parse_error(R"({"env": {"A\u0000": "x"}})"),
            "options.env: variable name `A\\x00` contains `=` or NUL");
  EXPECT_EQ(parse_error(R"({"env": {"A": 1}})"), "options.env.A: expected a string");
  EXPECT_EQ(parse_error(R"({"env": {"A": "\u0000"}})"), "options.env.A: must not contain NUL");
}

TEST(ProtocolOptions, Files) {
  const TaskOptions options = parse_ok(R"({"files": [
      {"path": "a.txt", "content": "plain"},
      {"path": "dir/b.bin", "content": "AAH/", "base64": true},
      {"path": "dir/c", "content": "", "base64": false},
      {"path": ".hidden", "content": "x"}]})");
  ASSERT_EQ(options.files.size(), 4U);
  EXPECT_EQ(options.files[0], (TaskFile{"a.txt", "plain"}));
  EXPECT_EQ(options.files[1], (TaskFile{"dir/b.bin", std::string("\0\x01\xff", 3)}));
  EXPECT_EQ(options.files[2], (TaskFile{"dir/c", ""}));
  EXPECT_EQ(options.files[3].path, ".hidden");
}

TEST(ProtocolOptions, BadFiles) {
  EXPECT_EQ(parse_error(R"({"files": {}})"), "options.files: expected an array of objects");
  EXPECT_EQ(parse_error(R"({"files": ["a"]})"),
            "options.files[0]: expected an object with `path` and `content`");
  EXPECT_EQ(parse_error(R"({"files": [{"content": "x"}]})"), "options.files[0]: missing `path`");
  EXPECT_EQ(parse_error(R"({"files": [{"path": "a"}]})"), "options.files[0]: missing `content`");
  EXPECT_EQ(parse_error(R"({"files": [{"path": "a", "content": "x", "mode": 493}]})"),
            "options.files[0]: unknown key `mode`");
  EXPECT_EQ(parse_error(R"({"files": [{"path": 1, "content": "x"}]})"),
            "options.files[0].path: expected a string");
  EXPECT_EQ(parse_error(R"({"files": [{"path": "a", "content": 1}]})"),
            "options.files[0].content: expected a string");
  EXPECT_EQ(parse_error(R"({"files": [{"path": "a", "content": "x", "base64": "yes"}]})"),
            "options.files[0].base64: expected true or false");
  EXPECT_EQ(parse_error(R"({"files": [{"path": "a", "content": "x!", "base64": true}]})")
                .rfind("options.files[0].content: invalid base64", 0),
            0U);
  for (const std::string_view path :
       {"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", ".", "..", "a/.."}) {
    const std::string json = R"({"files": [{"path": "ok", "content": ""}, {"path": ")" +
                             std::string(path) + R"(", "content": ""}]})";
    EXPECT_EQ(parse_error(json),
              "options.files[1].path: must be relative and stay in the work directory")
        << path;
  }
  EXPECT_EQ(parse_error(R"({"files": [{"path": "a", "content": ""}, {"path": "b", "content": ""},
                                      {"path": "a", "content": "x"}]})"),
            "options.files[2].path: duplicate of options.files[0]");
  EXPECT_EQ(
      parse_error(R"({"files": [{"path": "d/x", "content": ""}, {"path": "d", "content": ""}]})"),
      "options.files[0].path: needs `d` as a directory but options.files[1] is a file there");
  // A common prefix that is not a directory is fine.
  EXPECT_EQ(parse_ok(R"({"files": [{"path": "d", "content": ""}, {"path": "d.txt", "content": ""},
                                   {"path": "dd/x", "content": ""}]})")
                .files.size(),
            3U);
}

TEST(ProtocolOptions, Limits) {
  const TaskOptions options =
      parse_ok(R"({"limits": {"pids": 1, "memory_bytes": 18446744073709551615}})");
  EXPECT_EQ(options.limits.pids, 1U);
  EXPECT_EQ(options.limits.memory_bytes, 18446744073709551615U);
  EXPECT_FALSE(options.limits.wall_ms.has_value());
  for (const std::string_view value : {"0", "-1", "1.5", "2000.0", "1e3", "18446744073709551616",
                                       "\"5\"", "null", "true", "[]", "-0"}) {
    const std::string json = R"({"limits": {"wall_ms": )" + std::string(value) + "}}";
    EXPECT_EQ(parse_error(json), "options.limits.wall_ms: expected a positive integer") << value;
  }
  // nlohmann refuses a number that overflows a double outright.
  EXPECT_EQ(parse_error(R"({"limits": {"wall_ms": 1e999}})").rfind("options: invalid JSON: ", 0),
            0U);
  EXPECT_EQ(parse_error(R"({"limits": {"cpu_ms": 0}})"),
            "options.limits.cpu_ms: expected a positive integer");
  EXPECT_EQ(parse_error(R"({"limits": {"wall": 5}})"), "options.limits: unknown key `wall`");
  EXPECT_EQ(parse_error(R"({"limits": 5})"), "options.limits: expected an object");
}

TEST(ProtocolOptions, UnknownKeysAnywhereAreNamed) {
  EXPECT_EQ(parse_error(R"({"stdn": "x"})"), "options: unknown key `stdn`");
  EXPECT_EQ(parse_error(R"({"limits": {}, "network": true})"), "options: unknown key `network`");
  EXPECT_EQ(parse_error("{\"\\u0001\\u00e9\": 1}"), "options: unknown key `\\x01\\xc3\\xa9`");
  const std::string long_key(100, 'k');
  EXPECT_EQ(parse_error(R"({")" + long_key + R"(": 1})"),
            "options: unknown key `" + std::string(64, 'k') + "...`");
}

TEST(ProtocolOptions, DuplicateKeysAreRejected) {
  EXPECT_EQ(parse_error(R"({"stdin": "a", "stdin": "b"})"), "options: duplicate key `stdin`");
  EXPECT_EQ(parse_error(R"({"env": {"A": "1", "A": "2"}})"), "options: duplicate key `A`");
  // The same key in sibling objects is not a duplicate.
  EXPECT_EQ(parse_ok(R"({"files": [{"path": "a", "content": ""}, {"path": "b", "content": ""}]})")
                .files.size(),
            2U);
}

TEST(ProtocolOptions, NotAnObjectOrNotJson) {
  EXPECT_EQ(parse_error("[]"), "options: expected a JSON object");
  EXPECT_EQ(parse_error("\"x\""), "options: expected a JSON object");
  for (const std::string_view text : {"", "{", "{\"a\":}", "{} x", "{\"a\": \"\xff\"}", "nul"}) {
    EXPECT_EQ(parse_error(text).rfind("options: invalid JSON: ", 0), 0U) << text;
  }
  // Deep nesting must neither crash nor be accepted.
  const std::string deep =
      R"({"args": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(parse_error(deep), "options.args[0]: expected a string");
}

TEST(ProtocolOptions, SafeRelativePath) {
  for (const std::string_view good : {"a", "a/b/c", ".a", "..a", "a..", "a b", "\xc3\xa9"}) {
    EXPECT_TRUE(is_safe_relative_path(good)) << good;
  }
  for (const std::string_view bad :
       {"", "/", "/a", "a/", "a//b", ".", "..", "./a", "a/./b", "a/..", "../a"}) {
    EXPECT_FALSE(is_safe_relative_path(bad)) << bad;
  }
  EXPECT_FALSE(is_safe_relative_path(std::string_view("a\0b", 3)));
  EXPECT_TRUE(is_safe_relative_path(std::string(255, 'x')));
  EXPECT_FALSE(is_safe_relative_path(std::string(256, 'x')));
  std::string long_path;
  while (long_path.size() + 2 <= 4096) {
    long_path += long_path.empty() ? "x" : "/x";
  }
  ASSERT_EQ(long_path.size(), 4095U);
  EXPECT_TRUE(is_safe_relative_path(long_path));
  EXPECT_TRUE(is_safe_relative_path(long_path + "y"));
  EXPECT_FALSE(is_safe_relative_path(long_path + "/y"));
}

}  // namespace
}  // namespace planificador::protocol
