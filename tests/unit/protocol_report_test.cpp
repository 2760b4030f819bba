#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "planificador/protocol/report.hpp"

namespace planificador::protocol {
namespace {

TEST(ProtocolReport, StatusNamesFollowSpec) {
  const std::pair<Status, std::string_view> names[] = {
      {Status::exited, "exited"},
      {Status::signaled, "signaled"},
      {Status::time_limit, "time_limit"},
      {Status::cpu_limit, "cpu_limit"},
      {Status::memory_limit, "memory_limit"},
      {Status::output_limit, "output_limit"},
      {Status::cancelled, "cancelled"},
      {Status::compile_error, "compile_error"},
      {Status::rejected, "rejected"},
      {Status::error, "error"},
  };
  for (const auto& [status, name] : names) {
    EXPECT_EQ(to_string(status), name);
  }
}

TEST(ProtocolReport, ExitCodesFollowSpec) {
  EXPECT_EQ(exit_code_for(Status::exited, 0, 0), 0);
  EXPECT_EQ(exit_code_for(Status::exited, 3, 0), 3);
  EXPECT_EQ(exit_code_for(Status::exited, 255, 0), 255);
  EXPECT_EQ(exit_code_for(Status::compile_error, 1, 0), 1);
  EXPECT_EQ(exit_code_for(Status::signaled, 0, 11), 139);
  EXPECT_EQ(exit_code_for(Status::signaled, 0, 6), 134);
  EXPECT_EQ(exit_code_for(Status::time_limit, 0, 9), 124);
  EXPECT_EQ(exit_code_for(Status::rejected, 0, 0), 125);
  EXPECT_EQ(exit_code_for(Status::error, 0, 0), 125);
  EXPECT_EQ(exit_code_for(Status::cancelled, 0, 9), 130);
  EXPECT_EQ(exit_code_for(Status::memory_limit, 0, 9), 137);
  EXPECT_EQ(exit_code_for(Status::cpu_limit, 0, 24), 152);
  EXPECT_EQ(exit_code_for(Status::output_limit, 0, 9), 153);
  EXPECT_EQ(exit_code_for(Status::signaled, 0, std::numeric_limits<int>::max()),
            std::numeric_limits<std::int32_t>::max());
}

TEST(ProtocolReport, JsonHasSpecKeysInOrder) {
  ReportFields fields;
  fields.status = Status::exited;
  fields.exit_code = 0;
  fields.wall_ms = 31;
  fields.cpu_ms = 12;
  fields.memory_peak_bytes = 9437184;
  fields.output_bytes = 2;
  fields.queued_ms = 0;
  fields.executor = "host-a";
  const std::string text = encode_report_json(fields);
  EXPECT_EQ(text,
            R"({"status":"exited","exit_code":0,"signal":null,"wall_ms":31,"cpu_ms":12,)"
            R"("memory_peak_bytes":9437184,"output_bytes":2,"queued_ms":0,"executor":"host-a"})");

  const auto parsed = nlohmann::ordered_json::parse(text);
  std::vector<std::string> keys;
  for (const auto& [key, value] : parsed.items()) {
    keys.push_back(key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"status", "exit_code", "signal", "wall_ms", "cpu_ms",
                                            "memory_peak_bytes", "output_bytes", "queued_ms",
                                            "executor"}));
}

TEST(ProtocolReport, SignalIsNumberWhenSet) {
  ReportFields fields;
  fields.status = Status::signaled;
  fields.exit_code = exit_code_for(Status::signaled, 0, 9);
  fields.signal = 9;
  fields.wall_ms = std::numeric_limits<std::uint64_t>::max();
  const auto parsed = nlohmann::json::parse(encode_report_json(fields));
  EXPECT_EQ(parsed["status"], "signaled");
  EXPECT_EQ(parsed["exit_code"], 137);
  EXPECT_EQ(parsed["signal"], 9);
  EXPECT_EQ(parsed["wall_ms"].get<std::uint64_t>(), std::numeric_limits<std::uint64_t>::max());
}

TEST(ProtocolReport, ExecutorIsEscapedAndInvalidUtf8Replaced) {
  ReportFields fields;
  fields.executor = std::string("a\"b\n\xff", 5);
  const std::string text = encode_report_json(fields);
  const auto parsed = nlohmann::json::parse(text);
  EXPECT_EQ(parsed["executor"], "a\"b\n\xef\xbf\xbd");
}

TEST(ProtocolReport, SummaryIsOneLineForAPerson) {
  ReportFields fields;
  fields.exit_code = 3;
  fields.wall_ms = 16;
  fields.cpu_ms = 15;
  fields.memory_peak_bytes = 5390336;
  fields.output_bytes = 2;
  fields.executor = "devbox";
  EXPECT_EQ(
      summarize_report(encode_report_json(fields)),
      "exited 3 · wall 16 ms · cpu 15 ms · memory 5.1 MiB · output 2 B · queued 0 ms · on devbox");
  fields.status = Status::signaled;
  fields.signal = 9;
  fields.exit_code = 137;
  fields.executor.clear();
  EXPECT_TRUE(summarize_report(encode_report_json(fields)).starts_with("signaled 9 · wall 16 ms"));
  EXPECT_EQ(summarize_report(R"({"status":"rejected","exit_code":125})"), "rejected 125");
  EXPECT_EQ(summarize_report("[1]"), "");
  EXPECT_EQ(summarize_report("not json"), "");
}

}  // namespace
}  // namespace planificador::protocol
