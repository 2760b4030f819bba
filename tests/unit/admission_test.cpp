#include "planificador/sched/admission.hpp"

#include "fake_backend.hpp"
#include <gtest/gtest.h>

#include "planificador/protocol/codec.hpp"

namespace planificador::sched {
namespace {

using testing::fake_config;
using testing::make_id;

std::string submit(const std::string& image, const std::string& code,
                   std::optional<std::string> options = std::nullopt) {
  return protocol::encode(protocol::Submit{make_id("adm"), image, code, std::move(options)});
}

Admission decide(const std::string& frame, bool control = false, bool shutting_down = false) {
  static const auto config = fake_config(1, 4);
  return admit(frame, config, decode_limits(config), control, shutting_down);
}

TEST(Admission, AdmitsAPlainSubmitWithTheRunnersLimits) {
  auto result = decide(submit("python", "print(1)\n"));
  ASSERT_TRUE(std::holds_alternative<Admitted>(result));
  const auto& admitted = std::get<Admitted>(result);
  EXPECT_FALSE(admitted.extended);
  EXPECT_EQ(admitted.image, "python");
  EXPECT_EQ(admitted.spec.code, "print(1)\n");
  EXPECT_EQ(admitted.spec.id, make_id("adm"));
  ASSERT_NE(admitted.spec.runner, nullptr);
  EXPECT_EQ(admitted.spec.runner->image, "planificador/fake");
  EXPECT_EQ(admitted.spec.limits, admitted.spec.runner->limits);
}

TEST(Admission, RequestedLimitsLowerTheRunners) {
  auto result = decide(submit("fake-x", "x", R"({"limits":{"wall_ms":500,"pids":4}})"));
  ASSERT_TRUE(std::holds_alternative<Admitted>(result));
  const auto& admitted = std::get<Admitted>(result);
  EXPECT_TRUE(admitted.extended);
  EXPECT_EQ(admitted.spec.limits.wall_ms, 500U);
  EXPECT_EQ(admitted.spec.limits.pids, 4U);
  EXPECT_EQ(admitted.spec.limits.cpu_ms, 2000U);
  EXPECT_EQ(admitted.spec.limits.output_bytes, 4096U);
}

TEST(Admission, RejectsALimitAboveTheRunnersMaximumNamingIt) {
  auto result = decide(submit("python", "x", R"({"limits":{"memory_bytes":999999999999}})"));
  ASSERT_TRUE(std::holds_alternative<Rejected>(result));
  const auto& rejected = std::get<Rejected>(result);
  EXPECT_TRUE(rejected.extended);
  EXPECT_NE(rejected.reason.find("memory_bytes"), std::string::npos) << rejected.reason;
  EXPECT_NE(rejected.reason.find("67108864"), std::string::npos) << rejected.reason;
}

TEST(Admission, RejectsAnUnknownImage) {
  auto result = decide(submit("foo", "x"));
  ASSERT_TRUE(std::holds_alternative<Rejected>(result));
  EXPECT_EQ(std::get<Rejected>(result).reason, "no runner for image `foo`");
  EXPECT_FALSE(std::get<Rejected>(result).extended);
}

TEST(Admission, RejectsInvalidOptions) {
  auto result = decide(submit("python", "x", R"({"stdn":"typo"})"));
  ASSERT_TRUE(std::holds_alternative<Rejected>(result));
  EXPECT_NE(std::get<Rejected>(result).reason.find("stdn"), std::string::npos);
  auto not_json = decide(submit("python", "x", "{"));
  ASSERT_TRUE(std::holds_alternative<Rejected>(not_json));
  EXPECT_TRUE(std::get<Rejected>(not_json).extended);
}

TEST(Admission, RejectsEverySubmitWhileShuttingDown) {
  auto result = decide(submit("python", "x"), false, true);
  ASSERT_TRUE(std::holds_alternative<Rejected>(result));
  EXPECT_EQ(std::get<Rejected>(result).reason, "shutting down");
}

TEST(Admission, RejectsABadSubmitWhoseIdIsReadable) {
  auto frame = submit("python", "print(1)\n");
  frame.pop_back();  // one byte short
  auto result = decide(frame);
  ASSERT_TRUE(std::holds_alternative<Rejected>(result));
  EXPECT_EQ(std::get<Rejected>(result).id, make_id("adm"));
  EXPECT_FALSE(std::get<Rejected>(result).reason.empty());

  auto empty_image = decide(submit("", "x"));
  ASSERT_TRUE(std::holds_alternative<Rejected>(empty_image));

  auto code = decide(submit("python", std::string((std::size_t{1} << 20) + 1, 'x')));
  ASSERT_TRUE(std::holds_alternative<Rejected>(code));
}

TEST(Admission, DropsFramesWithoutATaskId) {
  for (const std::string& frame :
       {std::string(), std::string(1, '\0'), std::string(20, '\0'), std::string(33, '\x7f')}) {
    auto result = decide(frame);
    EXPECT_TRUE(std::holds_alternative<Dropped>(result)) << frame.size();
  }
  auto short_cancel = protocol::encode(protocol::Cancel{make_id("c")});
  short_cancel.pop_back();
  EXPECT_TRUE(std::holds_alternative<Dropped>(decide(short_cancel)));
}

TEST(Admission, CancelFromEitherSocketAndOnlyCancelFromControl) {
  const auto cancel = protocol::encode(protocol::Cancel{make_id("c")});
  ASSERT_TRUE(std::holds_alternative<protocol::Cancel>(decide(cancel)));
  ASSERT_TRUE(std::holds_alternative<protocol::Cancel>(decide(cancel, true)));
  EXPECT_EQ(std::get<protocol::Cancel>(decide(cancel, true)).id, make_id("c"));
  EXPECT_TRUE(std::holds_alternative<Dropped>(decide(submit("python", "x"), true)));
}

TEST(Admission, EffectiveLimitsAcceptTheMaximumItself) {
  config::Limits runner{1000, 1000, 100, 8, 10};
  protocol::RequestedLimits asked;
  asked.wall_ms = 1000;
  asked.output_bytes = 3;
  auto limits = effective_limits(runner, asked);
  ASSERT_TRUE(limits);
  EXPECT_EQ(limits->wall_ms, 1000U);
  EXPECT_EQ(limits->output_bytes, 3U);
  asked.cpu_ms = 1001;
  auto over = effective_limits(runner, asked);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().message,
            "options.limits.cpu_ms: 1001 exceeds the runner's maximum of 1000");
}

TEST(Admission, MaxFrameBytesCoversTheLargestValidSubmitExt) {
  protocol::DecodeLimits limits;
  EXPECT_EQ(max_frame_bytes(limits), 45 + 255 + limits.max_code_bytes + limits.max_options_bytes);
}

}  // namespace
}  // namespace planificador::sched
