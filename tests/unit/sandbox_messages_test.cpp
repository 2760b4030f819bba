// The typed messages of messages.hpp: what each encodes to, what each decoder takes, defaults
// and refuses. Framing and descriptor passing themselves are sandbox_wire_test's.
#include <array>
#include <cstdint>
#include <fcntl.h>
#include <limits>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <type_traits>
#include <unistd.h>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "planificador/os/fd.hpp"
#include "planificador/sandbox/messages.hpp"
#include "planificador/sandbox/wire.hpp"

namespace planificador::sandbox {
namespace {

using nlohmann::json;

template <class T, class V>
struct AlternativeOf;
template <class T, class... Ts>
struct AlternativeOf<T, std::variant<Ts...>> : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {
};
template <class T, class V>
constexpr bool k_alternative_of = AlternativeOf<T, V>::value;

template <class T>
constexpr bool k_is_exec = std::is_same_v<T, ExecRequest> || std::is_same_v<T, ProgramExec>;

std::string text(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<os::Fd> null_fds(std::size_t count) {
  std::vector<os::Fd> fds;
  for (std::size_t i = 0; i < count; ++i) {
    fds.emplace_back(::open("/dev/null", O_RDWR | O_CLOEXEC));
    EXPECT_TRUE(fds.back());
  }
  return fds;
}

// A message as receive_message() makes it: `body` parsed from text, `fds` descriptors.
Message parsed(const char* body, std::size_t fds = 0) {
  return Message{json::parse(body), null_fds(fds)};
}

// `value` encoded into a Message, with an exec's three descriptors.
template <class T>
Message wrapped(const T& value) {
  return Message{encode(value), null_fds(k_is_exec<T> ? k_exec_fds : 0)};
}

// `value` sent with send() over a socket pair and received again.
template <class T>
Message through_a_socket(const T& value) {
  std::array<int, 2> ends{-1, -1};
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends.data()), 0);
  const os::Fd sender(ends[0]);
  const os::Fd receiver(ends[1]);
  const auto fds = null_fds(k_is_exec<T> ? k_exec_fds : 0);
  std::vector<int> raw;
  for (const auto& fd : fds) {
    raw.push_back(fd.get());
  }
  EXPECT_TRUE(sandbox::send(sender.get(), value, raw));
  auto received = receive_message(receiver.get());
  EXPECT_TRUE(received) << (received ? "" : received.error().message);
  return received ? std::move(*received) : Message{};
}

// What the dispatcher of T's link (decode_request, decode_answer, decode_zygote_request)
// makes of `message`.
template <class T>
auto dispatch(const Message& message) {
  if constexpr (k_alternative_of<T, Request>) {
    return decode_request(message);
  } else if constexpr (k_alternative_of<T, Answer>) {
    return decode_answer(message);
  } else {
    return decode_zygote_request(message);
  }
}

template <class R>
std::string error_text(const R& result) {
  return result ? "(decoded)" : result.error().message;
}

template <class T>
std::string decode_error(const Message& message) {
  auto decoded = decode<T>(message);
  EXPECT_FALSE(decoded) << describe(message);
  return error_text(decoded);
}

template <class T>
std::string dispatch_error(const Message& message) {
  auto decoded = dispatch<T>(message);
  EXPECT_FALSE(decoded) << describe(message);
  return error_text(decoded);
}

// Checks that decode<T> and T's dispatcher both refuse `body` (with `fds` descriptors)
// with exactly `expected`.
template <class T>
void expect_refused(const char* body, const std::string& expected, std::size_t fds = 0) {
  SCOPED_TRACE(body);
  EXPECT_EQ(decode_error<T>(parsed(body, fds)), expected);
  EXPECT_EQ(dispatch_error<T>(parsed(body, fds)), expected);
}

template <class T>
void expect_decodes_to(const Message& message, const T& expected) {
  SCOPED_TRACE(describe(message));
  auto decoded = decode<T>(message);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(*decoded == expected)
      << "decoded as " << text(encode(*decoded)) << ", not " << text(encode(expected));
  auto dispatched = dispatch<T>(message);
  ASSERT_TRUE(dispatched) << dispatched.error().message;
  const T* alternative = std::get_if<T>(&*dispatched);
  ASSERT_NE(alternative, nullptr) << "dispatched as alternative " << dispatched->index();
  EXPECT_TRUE(*alternative == expected)
      << "dispatched as " << text(encode(*alternative)) << ", not " << text(encode(expected));
}

// Checks encode → Message → decode both in memory and through a real socket.
template <class T>
void expect_round_trip(const T& value) {
  SCOPED_TRACE(text(encode(value)));
  expect_decodes_to(wrapped(value), value);
  expect_decodes_to(through_a_socket(value), value);
}

const std::string k_binary("\0\x01\xff\xfe text\n", 10);

TEST(SandboxMessages, EncodesTheDocumentedBodies) {
  EXPECT_EQ(encode(PrepareRequest{{{"main.py", "x", 0755}, {"a/b", "", k_default_file_mode}}}),
            json::parse(R"({"op":"prepare","files":[{"path":"main.py","data":"eA==","mode":493},
                                                      {"path":"a/b","data":""}]})"));
  EXPECT_EQ(encode(PrepareRequest{}), json::parse(R"({"op":"prepare","files":[]})"));
  EXPECT_EQ(encode(ExecRequest{{"sh", "-c", "true"}, {"K=V"}, 5, {{"f", "x", 0600}}}),
            json::parse(R"({"op":"exec","argv":["sh","-c","true"],"env":["K=V"],
                            "rlimit_cpu_s":5,"files":[{"path":"f","data":"eA==","mode":384}]})"));
  EXPECT_EQ(encode(ExecRequest{{"true"}, {}, std::nullopt, {}}),
            json::parse(R"({"op":"exec","argv":["true"],"env":[]})"));
  EXPECT_EQ(encode(KillRequest{}), json::parse(R"({"op":"kill"})"));
  EXPECT_EQ(encode(ResetRequest{}), json::parse(R"({"op":"reset","isolation":"strict"})"));
  EXPECT_EQ(encode(ResetRequest{Isolation::fast}),
            json::parse(R"({"op":"reset","isolation":"fast"})"));
  EXPECT_EQ(encode(Reply{}), json::parse(R"({"ok":true})"));
  EXPECT_EQ(encode(Reply{true, true, ""}), json::parse(R"({"ok":true,"clean":true})"));
  EXPECT_EQ(encode(Reply{false, false, "why"}), json::parse(R"({"ok":false,"error":"why"})"));
  EXPECT_EQ(encode(Ready{}), json::parse(R"({"event":"ready"})"));
  EXPECT_EQ(encode(Started{42}), json::parse(R"({"event":"started","pid":42})"));
  EXPECT_EQ(encode(Exited{9, ""}), json::parse(R"({"event":"exited","wait_status":9})"));
  EXPECT_EQ(encode(Exited{std::nullopt, "gone"}),
            json::parse(R"({"event":"exited","error":"gone"})"));
  EXPECT_EQ(encode(Exited{std::nullopt, "file `../x`: no", true}),
            json::parse(R"({"event":"exited","error":"file `../x`: no","rejected":true})"));
  EXPECT_EQ(encode(ProgramExec{{"a"}, {"PATH=/bin"}, 2}),
            json::parse(R"({"op":"exec","argv":["a"],"env":["PATH=/bin"],"rlimit_cpu_s":2})"));
  EXPECT_EQ(encode(CleanRequest{}), json::parse(R"({"op":"clean"})"));
}

TEST(SandboxMessages, RoundTripsEveryDaemonRequest) {
  expect_round_trip(PrepareRequest{});
  expect_round_trip(PrepareRequest{{{"main.py", "print(1)\n", 0755},
                                    {"dir/data.bin", k_binary, k_default_file_mode},
                                    {"none", "", 0},
                                    {"all", "abc", k_max_file_mode}}});
  expect_round_trip(ExecRequest{{"true"}, {}, std::nullopt, {}});
  expect_round_trip(ExecRequest{{"python3", "main.py", ""},
                                {"LANG=C.UTF-8", "X=a=b"},
                                std::numeric_limits<std::uint64_t>::max(),
                                {{"main.py", k_binary, 0700}}});
  expect_round_trip(KillRequest{});
  expect_round_trip(ResetRequest{Isolation::strict});
  expect_round_trip(ResetRequest{Isolation::fast});
}

TEST(SandboxMessages, RoundTripsEveryAnswer) {
  expect_round_trip(Reply{});
  expect_round_trip(Reply{true, true, ""});
  expect_round_trip(Reply{false, false, "reset: no sandbox"});
  expect_round_trip(Reply{false, false, ""});
  expect_round_trip(Ready{});
  expect_round_trip(Started{1});
  expect_round_trip(Started{std::numeric_limits<int>::max()});
  for (const int status : {0, 3 << 8, 9, 139, 0x7f}) {
    expect_round_trip(Exited{status, ""});
  }
  expect_round_trip(Exited{std::nullopt, "sandbox helper stopped by signal 15"});
  expect_round_trip(Exited{std::nullopt, "file `../x`: path escapes the work directory", true});
  expect_round_trip(Exited{0, "", true});
}

TEST(SandboxMessages, RoundTripsEveryZygoteRequest) {
  expect_round_trip(ProgramExec{{"sh"}, {}, std::nullopt});
  expect_round_trip(ProgramExec{{"sh", "-c", "echo hi"}, {"PATH=/bin", "HOME=/work"}, 1});
  expect_round_trip(CleanRequest{});
}

TEST(SandboxMessages, TakesTheDefaultsOfAbsentOptionalFields) {
  expect_decodes_to(parsed(R"({"op":"prepare","files":[{"path":"a","data":"eA=="}]})"),
                    PrepareRequest{{{"a", "x", 0644}}});
  expect_decodes_to(parsed(R"({"op":"exec","argv":["true"]})", 3),
                    ExecRequest{{"true"}, {}, std::nullopt, {}});
  expect_decodes_to(parsed(R"({"op":"reset"})"), ResetRequest{Isolation::strict});
  expect_decodes_to(parsed(R"({"ok":true})"), Reply{true, false, ""});
  expect_decodes_to(parsed(R"({"ok":false})"), Reply{false, false, ""});
  expect_decodes_to(parsed(R"({"event":"exited","wait_status":0})"), Exited{0, "", false});
  expect_decodes_to(parsed(R"({"event":"exited","error":"e"})"), Exited{std::nullopt, "e", false});
  expect_decodes_to(parsed(R"({"op":"exec","argv":["a"],"env":[]})", 3),
                    ProgramExec{{"a"}, {}, std::nullopt});
}

TEST(SandboxMessages, RefusesAMissingRequiredFieldNamingIt) {
  expect_refused<PrepareRequest>(R"({"op":"prepare"})", "prepare: `files` is missing");
  expect_refused<PrepareRequest>(R"({"op":"prepare","files":[{"data":""}]})",
                                 "prepare: a file needs string `path` and `data`");
  expect_refused<PrepareRequest>(R"({"op":"prepare","files":[{"path":"a"}]})",
                                 "prepare: a file needs string `path` and `data`");
  expect_refused<ExecRequest>(R"({"op":"exec","env":[]})", "exec: `argv` is missing", 3);
  expect_refused<ExecRequest>(R"({"op":"exec","argv":["a"],"files":[{"path":"a"}]})",
                              "exec: a file needs string `path` and `data`", 3);
  expect_refused<ProgramExec>(R"({"op":"exec","env":[]})", "exec: `argv` is missing", 3);
  expect_refused<ProgramExec>(R"({"op":"exec","argv":["a"]})", "exec: `env` is missing", 3);
  expect_refused<Started>(R"({"event":"started"})", "started: `pid` is missing");
  expect_refused<Exited>(R"({"event":"exited"})", "exited: neither `wait_status` nor `error`");
  expect_refused<Exited>(R"({"event":"exited","rejected":true})",
                         "exited: neither `wait_status` nor `error`");
  // A Reply is told by its `ok`: without one, decode_answer cannot tell it is a reply.
  EXPECT_EQ(decode_error<Reply>(parsed(R"({"clean":true})")), "reply: `ok` is missing");
  EXPECT_EQ(dispatch_error<Reply>(parsed(R"({"clean":true})")),
            "answer without an `event` or `ok`");
}

TEST(SandboxMessages, RefusesAFieldOfTheWrongTypeNamingIt) {
  for (const char* files : {R"("x")", "{}", "null", "1"}) {
    expect_refused<PrepareRequest>(
        (std::string(R"({"op":"prepare","files":)") + files + "}").c_str(),
        "prepare: `files` is not an array");
  }
  for (const char* entry : {"5", R"("a")", "[]", R"({"path":5,"data":""})",
                            R"({"path":"a","data":null})", R"({"path":["a"],"data":""})"}) {
    expect_refused<PrepareRequest>(
        (std::string(R"({"op":"prepare","files":[)") + entry + "]}").c_str(),
        "prepare: a file needs string `path` and `data`");
  }
  for (const char* argv : {R"("true")", "[1]", R"(["a",null])", R"({"0":"a"})"}) {
    const std::string body = std::string(R"({"op":"exec","env":[],"argv":)") + argv + "}";
    expect_refused<ExecRequest>(body.c_str(), "exec: `argv` is not an array of strings", 3);
    expect_refused<ProgramExec>(body.c_str(), "exec: `argv` is not an array of strings", 3);
  }
  for (const char* env : {R"("K=V")", "[5]", R"(["K=V",["L=W"]])", "null"}) {
    const std::string body = std::string(R"({"op":"exec","argv":["a"],"env":)") + env + "}";
    expect_refused<ExecRequest>(body.c_str(), "exec: `env` is not an array of strings", 3);
    expect_refused<ProgramExec>(body.c_str(), "exec: `env` is not an array of strings", 3);
  }
  expect_refused<ExecRequest>(R"({"op":"exec","argv":["a"],"files":"main.py"})",
                              "exec: `files` is not an array", 3);
  expect_refused<ResetRequest>(R"({"op":"reset","isolation":5})",
                               "reset: `isolation` is not a string");
  expect_refused<ResetRequest>(R"({"op":"reset","isolation":"paranoid"})",
                               R"(reset: `isolation` is not "strict" or "fast")");
  for (const char* ok : {R"("yes")", "1", "null"}) {
    expect_refused<Reply>((std::string(R"({"ok":)") + ok + "}").c_str(),
                          "reply: `ok` is not true or false");
  }
  expect_refused<Reply>(R"({"ok":true,"clean":"yes"})", "reply: `clean` is not true or false");
  expect_refused<Reply>(R"({"ok":false,"error":5})", "reply: `error` is not a string");
  for (const char* pid : {R"("5")", "1.5", "2147483648", "-2147483649", "true"}) {
    expect_refused<Started>((std::string(R"({"event":"started","pid":)") + pid + "}").c_str(),
                            "started: `pid` is not an integer");
  }
  expect_refused<Exited>(R"({"event":"exited","wait_status":"0"})",
                         "exited: `wait_status` is not an integer");
  expect_refused<Exited>(R"({"event":"exited","wait_status":4294967296})",
                         "exited: `wait_status` is not an integer");
  expect_refused<Exited>(R"({"event":"exited","error":{}})", "exited: `error` is not a string");
  expect_refused<Exited>(R"({"event":"exited","wait_status":0,"rejected":1})",
                         "exited: `rejected` is not true or false");
}

TEST(SandboxMessages, RefusesAMessageOfAnotherType) {
  EXPECT_EQ(decode_error<KillRequest>(parsed(R"({"op":"reset"})")), R"(kill: `op` is not "kill")");
  EXPECT_EQ(decode_error<PrepareRequest>(parsed(R"({"op":5,"files":[]})")),
            R"(prepare: `op` is not "prepare")");
  EXPECT_EQ(decode_error<ExecRequest>(parsed(R"({"argv":["a"]})", 3)),
            R"(exec: `op` is not "exec")");
  EXPECT_EQ(decode_error<ProgramExec>(parsed(R"({"op":"clean"})", 3)),
            R"(exec: `op` is not "exec")");
  EXPECT_EQ(decode_error<CleanRequest>(parsed(R"({"op":"kill"})")),
            R"(clean: `op` is not "clean")");
  EXPECT_EQ(decode_error<ResetRequest>(parsed(R"({"event":"reset"})")),
            R"(reset: `op` is not "reset")");
  EXPECT_EQ(decode_error<Ready>(parsed(R"({"event":"started","pid":1})")),
            R"(ready: `event` is not "ready")");
  EXPECT_EQ(decode_error<Started>(parsed(R"({"op":"started","pid":1})")),
            R"(started: `event` is not "started")");
  EXPECT_EQ(decode_error<Exited>(parsed(R"({"event":"started","wait_status":0})")),
            R"(exited: `event` is not "exited")");
}

TEST(SandboxMessages, RefusesABodyThatIsNotAnObject) {
  for (const char* body : {"[1,2]", R"("exec")", "null", "7", "true", R"([{"op":"exec"}])"}) {
    SCOPED_TRACE(body);
    const Message message = parsed(body, 3);
    EXPECT_EQ(error_text(decode_request(message)), "message without an `op`");
    EXPECT_EQ(error_text(decode_zygote_request(message)), "message without an `op`");
    EXPECT_EQ(error_text(decode_answer(message)), "answer without an `event` or `ok`");
    EXPECT_EQ(decode_error<PrepareRequest>(message), "prepare: not a JSON object");
    EXPECT_EQ(decode_error<ExecRequest>(message), "exec: not a JSON object");
    EXPECT_EQ(decode_error<KillRequest>(message), "kill: not a JSON object");
    EXPECT_EQ(decode_error<ResetRequest>(message), "reset: not a JSON object");
    EXPECT_EQ(decode_error<Reply>(message), "reply: `ok` is missing");
    EXPECT_EQ(decode_error<Ready>(message), "ready: not a JSON object");
    EXPECT_EQ(decode_error<Started>(message), "started: not a JSON object");
    EXPECT_EQ(decode_error<Exited>(message), "exited: not a JSON object");
    EXPECT_EQ(decode_error<ProgramExec>(message), "exec: not a JSON object");
    EXPECT_EQ(decode_error<CleanRequest>(message), "clean: not a JSON object");
    EXPECT_FALSE(is_exec(message));
  }
  // As a default-constructed Message holds it.
  EXPECT_EQ(error_text(decode_request(Message{})), "message without an `op`");
  EXPECT_EQ(error_text(decode_answer(Message{})), "answer without an `event` or `ok`");
}

TEST(SandboxMessages, RefusesAnUnknownOrMissingOpOrEvent) {
  EXPECT_EQ(error_text(decode_request(parsed(R"({"op":"launch-missiles"})"))),
            "unknown op `launch-missiles`");
  EXPECT_EQ(error_text(decode_request(parsed(R"({"op":"EXEC"})"))), "unknown op `EXEC`");
  // The zygote's ops are not the daemon's, and the other way round.
  EXPECT_EQ(error_text(decode_request(parsed(R"({"op":"clean"})"))), "unknown op `clean`");
  for (const char* op : {"prepare", "kill", "reset"}) {
    EXPECT_EQ(
        error_text(decode_zygote_request(parsed((std::string(R"({"op":")") + op + "\"}").c_str()))),
        std::string("unknown op `") + op + "`");
  }
  for (const char* body : {"{}", R"({"op":5})", R"({"op":null})", R"({"op":["exec"]})",
                           R"({"event":"exited","wait_status":0})", R"({"ok":true})"}) {
    SCOPED_TRACE(body);
    EXPECT_EQ(error_text(decode_request(parsed(body))), "message without an `op`");
    EXPECT_EQ(error_text(decode_zygote_request(parsed(body))), "message without an `op`");
  }
  EXPECT_EQ(error_text(decode_answer(parsed(R"({"event":"crashed"})"))), "unknown event `crashed`");
  EXPECT_EQ(error_text(decode_answer(parsed(R"({"event":5,"ok":true})"))),
            "answer: `event` is not a string");
  EXPECT_EQ(error_text(decode_answer(parsed("{}"))), "answer without an `event` or `ok`");
  EXPECT_EQ(error_text(decode_answer(parsed(R"({"op":"exec","argv":["a"]})"))),
            "answer without an `event` or `ok`");
}

TEST(SandboxMessages, IgnoresFieldsItDoesNotKnow) {
  expect_decodes_to(
      parsed(R"({"op":"prepare","v":2,"files":[{"path":"a","data":"","owner":"root"}]})"),
      PrepareRequest{{{"a", "", k_default_file_mode}}});
  expect_decodes_to(parsed(R"({"op":"exec","argv":["a"],"nice":{"x":[1]},"cwd":null})", 3),
                    ExecRequest{{"a"}, {}, std::nullopt, {}});
  expect_decodes_to(parsed(R"({"op":"kill","signal":9})"), KillRequest{});
  expect_decodes_to(parsed(R"({"op":"reset","isolation":"fast","deep":true})"),
                    ResetRequest{Isolation::fast});
  expect_decodes_to(parsed(R"({"ok":true,"took_ms":3})"), Reply{});
  expect_decodes_to(parsed(R"({"event":"ready","version":"2"})"), Ready{});
  expect_decodes_to(parsed(R"({"event":"started","pid":7,"at":1})"), Started{7});
  expect_decodes_to(parsed(R"({"event":"exited","wait_status":0,"rusage":{}})"), Exited{0, ""});
  expect_decodes_to(parsed(R"({"op":"exec","argv":["a"],"env":[],"cgroup":"x"})", 3),
                    ProgramExec{{"a"}, {}, std::nullopt});
  expect_decodes_to(parsed(R"({"op":"clean","deep":false})"), CleanRequest{});
}

TEST(SandboxMessages, RefusesAnExecWithoutExactlyThreeDescriptors) {
  for (const std::size_t count : {0U, 1U, 2U, 4U}) {
    const std::string expected =
        "exec: expected 3 descriptors (stdin, stdout, stderr), got " + std::to_string(count);
    expect_refused<ExecRequest>(R"({"op":"exec","argv":["true"]})", expected, count);
    expect_refused<ProgramExec>(R"({"op":"exec","argv":["true"],"env":[]})", expected, count);
  }
  // The fields are checked first: an exec wrong in both is refused for its field.
  expect_refused<ExecRequest>(R"({"op":"exec","argv":[]})", "exec: argv is empty", 0);
}

TEST(SandboxMessages, IgnoresDescriptorsAttachedToOtherMessages) {
  expect_decodes_to(parsed(R"({"op":"prepare","files":[]})", 3), PrepareRequest{});
  expect_decodes_to(parsed(R"({"op":"kill"})", 2), KillRequest{});
  expect_decodes_to(parsed(R"({"op":"reset"})", 1), ResetRequest{});
  expect_decodes_to(parsed(R"({"ok":true})", 3), Reply{});
  expect_decodes_to(parsed(R"({"event":"started","pid":2})", 3), Started{2});
  expect_decodes_to(parsed(R"({"op":"clean"})", 3), CleanRequest{});

  // They close with the Message: the read end of a pipe whose write end rode on a kill
  // sees EOF once that message is gone.
  std::array<int, 2> pipe_ends{-1, -1};
  ASSERT_EQ(::pipe2(pipe_ends.data(), O_CLOEXEC), 0);
  const os::Fd read_end(pipe_ends[0]);
  os::Fd write_end(pipe_ends[1]);
  std::array<int, 2> ends{-1, -1};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends.data()), 0);
  const os::Fd sender(ends[0]);
  const os::Fd receiver(ends[1]);
  const std::array<int, 1> attached{write_end.get()};
  ASSERT_TRUE(sandbox::send(sender.get(), KillRequest{}, attached));
  write_end.reset();
  {
    auto message = receive_message(receiver.get());
    ASSERT_TRUE(message) << message.error().message;
    ASSERT_EQ(message->fds.size(), 1U);
    auto request = decode_request(*message);
    ASSERT_TRUE(request) << request.error().message;
    EXPECT_TRUE(std::holds_alternative<KillRequest>(*request));
  }
  char byte = 0;
  EXPECT_EQ(::read(read_end.get(), &byte, 1), 0) << "a writer is still open";
}

TEST(SandboxMessages, ChecksFileModesAndDataButLeavesPathsToTheWorkspace) {
  for (const char* mode : {"0", "420", "511"}) {
    SCOPED_TRACE(mode);
    auto decoded = decode<PrepareRequest>(parsed(
        (std::string(R"({"op":"prepare","files":[{"path":"a","data":"","mode":)") + mode + "}]}")
            .c_str()));
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(decoded->files.at(0).mode, static_cast<unsigned>(std::stoul(mode)));
  }
  for (const char* mode : {"512", "2541", "-1", R"("0644")", "420.0", "true", "null"}) {
    const std::string entry = std::string(R"({"path":"a","data":"","mode":)") + mode + "}";
    expect_refused<PrepareRequest>(
        (std::string(R"({"op":"prepare","files":[)") + entry + "]}").c_str(),
        "file `a`: `mode` is not permission bits (0 to 0777)");
    expect_refused<ExecRequest>(
        (std::string(R"({"op":"exec","argv":["a"],"files":[)") + entry + "]}").c_str(),
        "file `a`: `mode` is not permission bits (0 to 0777)", 3);
  }
  const std::array<std::pair<const char*, const char*>, 5> bad_data{{
      {"not base64!", "length 11 is not a multiple of 4"},
      {"abc", "length 3 is not a multiple of 4"},
      {"ab c", "invalid character 0x20 at offset 2"},
      {"a=bc", "misplaced padding at offset 1"},
      {"QR==", "non-zero bits before the padding"},
  }};
  for (const auto& [data, why] : bad_data) {
    expect_refused<PrepareRequest>(
        (std::string(R"({"op":"prepare","files":[{"path":"f","data":")") + data + "\"}]}").c_str(),
        std::string("file `f`: `data` is not base64: ") + why);
  }
  // One bad entry refuses the whole list, whatever its place.
  expect_refused<PrepareRequest>(
      R"({"op":"prepare","files":[{"path":"ok","data":""},{"path":"f","data":"abc"}]})",
      "file `f`: `data` is not base64: length 3 is not a multiple of 4");
  // Paths are the work directory's to judge, when it writes (workspace.hpp).
  for (const char* path : {"../x", "/etc/passwd", "", "a//b", "./x"}) {
    const json file = {{"path", path}, {"data", "eA=="}};
    const json body = {{"op", "prepare"}, {"files", json::array({file})}};
    expect_decodes_to(Message{body, {}}, PrepareRequest{{{path, "x", k_default_file_mode}}});
  }
}

TEST(SandboxMessages, RefusesACpuLimitThatIsNotPositive) {
  for (const char* limit : {"0", "-1", "-5", "1.5", R"("1")", "null", "false"}) {
    SCOPED_TRACE(limit);
    const std::string exec =
        std::string(R"({"op":"exec","argv":["a"],"rlimit_cpu_s":)") + limit + "}";
    expect_refused<ExecRequest>(exec.c_str(), "exec: `rlimit_cpu_s` is not a positive integer", 3);
    const std::string program =
        std::string(R"({"op":"exec","argv":["a"],"env":[],"rlimit_cpu_s":)") + limit + "}";
    expect_refused<ProgramExec>(program.c_str(), "exec: `rlimit_cpu_s` is not a positive integer",
                                3);
  }
  expect_decodes_to(parsed(R"({"op":"exec","argv":["a"],"rlimit_cpu_s":1})", 3),
                    ExecRequest{{"a"}, {}, 1, {}});
  expect_decodes_to(
      parsed(R"({"op":"exec","argv":["a"],"env":[],"rlimit_cpu_s":18446744073709551615})", 3),
      ProgramExec{{"a"}, {}, std::numeric_limits<std::uint64_t>::max()});
}

TEST(SandboxMessages, RefusesAnEmptyArgvOrProgramName) {
  for (const char* argv : {"[]", R"([""])", R"(["","x"])"}) {
    SCOPED_TRACE(argv);
    expect_refused<ExecRequest>((std::string(R"({"op":"exec","argv":)") + argv + "}").c_str(),
                                "exec: argv is empty", 3);
    expect_refused<ProgramExec>(
        (std::string(R"({"op":"exec","env":[],"argv":)") + argv + "}").c_str(),
        "exec: argv is empty", 3);
  }
  // Only the program's name must be non-empty; its arguments may be.
  expect_decodes_to(parsed(R"({"op":"exec","argv":["echo",""]})", 3),
                    ExecRequest{{"echo", ""}, {}, std::nullopt, {}});
}

TEST(SandboxMessages, IsExecForEveryMessageNamingTheExecOpWellFormedOrNot) {
  for (const char* body : {R"({"op":"exec"})", R"({"op":"exec","argv":5})",
                           R"({"op":"exec","argv":[]})", R"({"op":"exec","argv":["a"]})",
                           R"({"op":"exec","argv":["a"],"rlimit_cpu_s":-1,"env":{}})"}) {
    EXPECT_TRUE(is_exec(parsed(body))) << body;
    EXPECT_TRUE(is_exec(parsed(body, 3))) << body;
    EXPECT_FALSE(decode_request(parsed(body))) << body;
  }
  for (const char* body :
       {"{}", R"({"op":"prepare","files":[]})", R"({"op":"kill"})", R"({"op":"EXEC"})",
        R"({"op":["exec"]})", R"({"event":"exec"})", R"({"argv":["a"]})", R"(["exec"])"}) {
    EXPECT_FALSE(is_exec(parsed(body, 3))) << body;
  }
  EXPECT_FALSE(is_exec(Message{}));
}

TEST(SandboxMessages, DescribeNeverThrowsEvenOnInvalidUtf8) {
  const std::string bad = "bad \xff\xfe byte \xc3";
  Message message;
  message.body = {{"op", "exec"}, {"argv", {bad}}, {bad, bad}};
  std::string described;
  EXPECT_NO_THROW(described = describe(message));
  EXPECT_NE(described.find("bad \xEF\xBF\xBD"), std::string::npos) << "U+FFFD replaces it";
  EXPECT_NE(described.find(R"("op":"exec")"), std::string::npos);
  EXPECT_TRUE(is_exec(message));
  EXPECT_NO_THROW((void)decode_request(message));

  EXPECT_EQ(describe(parsed(R"({"ok":true})")), R"({"ok":true})");
  EXPECT_EQ(describe(Message{}), "null");
  message.body = json::value_t::discarded;
  EXPECT_NO_THROW(described = describe(message));
  EXPECT_NO_THROW((void)decode_answer(message));
  message.body = json::binary({0xff, 0x00});
  EXPECT_NO_THROW(described = describe(message));
  EXPECT_FALSE(decode_request(message));
}

// Returns true when decode_answer() makes an A of `body`.
template <class A>
bool answers(const char* body) {
  auto answer = decode_answer(parsed(body));
  EXPECT_TRUE(answer) << body << ": " << error_text(answer);
  return answer && std::holds_alternative<A>(*answer);
}

TEST(SandboxMessages, DecodeAnswerTellsTheFourAnswersApart) {
  EXPECT_TRUE(answers<Reply>(R"({"ok":true})"));
  EXPECT_TRUE(answers<Reply>(R"({"ok":false,"error":"e"})"));
  EXPECT_TRUE(answers<Ready>(R"({"event":"ready"})"));
  EXPECT_TRUE(answers<Started>(R"({"event":"started","pid":3})"));
  EXPECT_TRUE(answers<Exited>(R"({"event":"exited","wait_status":0})"));
  EXPECT_TRUE(answers<Exited>(R"({"event":"exited","error":"e"})"));
  // The event, when there is one, decides; an `ok` next to it is an unknown field.
  EXPECT_TRUE(answers<Exited>(R"({"event":"exited","wait_status":0,"ok":false})"));
  // Both a status and an error: taken as they are (the helper never sends both).
  auto both = decode<Exited>(parsed(R"({"event":"exited","wait_status":9,"error":"e"})"));
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_TRUE(*both == (Exited{9, "e", false}));
  EXPECT_EQ(error_text(decode_answer(parsed(R"({"event":"exited","rejected":false})"))),
            "exited: neither `wait_status` nor `error`");
  EXPECT_EQ(error_text(decode_answer(parsed(R"({"event":"started","pid":"1"})"))),
            "started: `pid` is not an integer");
}

}  // namespace
}  // namespace planificador::sandbox
