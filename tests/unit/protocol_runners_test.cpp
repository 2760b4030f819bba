// RUNNERS' two frames (docs/protocol.md): built and read back byte for byte, and anything
// else refused.
#include <string>

#include "fake_backend.hpp"
#include <gtest/gtest.h>

#include "planificador/protocol/runners.hpp"

namespace planificador::protocol {
namespace {

using testing::make_id;

TEST(ProtocolRunners, RequestIsTheTypeByteAndTheId) {
  const auto id = make_id("runners");
  const std::string frame = encode_runners_request(id);
  ASSERT_EQ(frame.size(), 33U);
  EXPECT_EQ(static_cast<unsigned char>(frame[0]), 0x20);
  EXPECT_EQ(frame.substr(1), std::string(id.bytes.begin(), id.bytes.end()));
  EXPECT_EQ(decode_runners_request(frame), id);
  EXPECT_FALSE(decode_runners_request(frame + "x"));
  EXPECT_FALSE(decode_runners_request(frame.substr(0, 32)));
  std::string cancel = frame;
  cancel[0] = 0x02;
  EXPECT_FALSE(decode_runners_request(cancel));
}

TEST(ProtocolRunners, AnswerCarriesABigEndianLengthAndTheJson) {
  const auto id = make_id("answer");
  const std::string json = R"({"runners":[]})";
  const std::string frame = encode_runners_answer(id, json);
  ASSERT_EQ(frame.size(), 37U + json.size());
  EXPECT_EQ(frame.substr(33, 4), std::string("\0\0\0\x0e", 4));
  const auto decoded = decode_runners_answer(frame);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->first, id);
  EXPECT_EQ(decoded->second, json);
  EXPECT_FALSE(decode_runners_answer(frame + "x"));  // length does not match
  EXPECT_FALSE(decode_runners_answer(frame.substr(0, 36)));
  EXPECT_FALSE(decode_runners_answer(encode_runners_request(id)));
}

}  // namespace
}  // namespace planificador::protocol
