// take_frame() (src/broker/sockets.hpp, internal to the broker module) on frames read over
// tcp://127.0.0.1: a frame the broker keeps (a queued SUBMIT, an event waiting for the
// consumer) must not hold a slice of ZeroMQ's shared receive buffer, or each kept 40-byte
// frame can pin a whole ~18 KiB buffer: with many peers, the broker's memory then grows
// far beyond what its backlog and events bounds allow.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "../../src/broker/sockets.hpp"
#include <gtest/gtest.h>
#include <zmq.hpp>

namespace planificador::broker {
namespace {

constexpr std::size_t k_frames = 100;
constexpr std::size_t k_short_header = 2;  // ZMTP 3: flags and a one-byte size

struct Pair {
  zmq::context_t context{1};
  zmq::socket_t pull{context, zmq::socket_type::pull};
  zmq::socket_t push{context, zmq::socket_type::push};
  Pair() {
    pull.set(zmq::sockopt::linger, 0);
    push.set(zmq::sockopt::linger, 0);
    pull.bind("tcp://127.0.0.1:0");
    push.connect(pull.get(zmq::sockopt::last_endpoint));
  }
  // Sends every frame before reading any, so that they arrive in few reads.
  std::vector<zmq::message_t> carry(const std::string& bytes, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      (void)push.send(zmq::buffer(bytes), zmq::send_flags::none);
    }
    std::vector<zmq::message_t> received(count);
    for (auto& message : received) {
      if (!pull.recv(message, zmq::recv_flags::none)) {
        ADD_FAILURE() << "recv failed";
      }
    }
    return received;
  }
};

// Returns the [begin, end) ranges of the received messages that lie back to back in one
// buffer, as ZeroMQ's zero-copy receive delivers them.
std::vector<std::pair<const char*, const char*>> shared_runs(
    const std::vector<zmq::message_t>& received) {
  std::vector<std::pair<const char*, const char*>> runs;
  for (std::size_t i = 1; i < received.size(); ++i) {
    const auto* before = received[i - 1].data<char>();
    const auto* next = received[i].data<char>();
    if (next != before + received[i - 1].size() + k_short_header) {
      continue;
    }
    if (!runs.empty() && runs.back().second == before + received[i - 1].size()) {
      runs.back().second = next + received[i].size();
    } else {
      runs.emplace_back(before, next + received[i].size());
    }
  }
  return runs;
}

TEST(BrokerFrames, KeptFramesHoldNoPartOfTheReceiveBuffer) {
  Pair pair;
  const std::string exited(37, 'e');  // an EXITED's size: above ZeroMQ's inline 33 bytes
  auto received = pair.carry(exited, k_frames);
  const auto runs = shared_runs(received);
  if (runs.empty()) {
    GTEST_SKIP() << "this libzmq hands each received frame over in its own allocation";
  }
  std::vector<Frame> kept;
  kept.reserve(received.size());
  for (auto& message : received) {
    kept.push_back(take_frame(message));
  }
  for (const auto& frame : kept) {
    EXPECT_EQ(frame.view(), exited);
    const char* at = frame.view().data();
    // The buffer stays allocated until the last message of it is released, which comes after
    // the last copy is made; so a copy cannot land inside it.
    EXPECT_TRUE(std::none_of(runs.begin(), runs.end(), [&](const auto& run) {
      return at >= run.first && at < run.second;
    })) << "a kept frame is a slice of ZeroMQ's receive buffer";
  }
}

TEST(BrokerFrames, LargeFramesAreMovedNotCopied) {
  Pair pair;
  const std::string chunk(65536, 'c');  // an APPEND_OUT of a full output chunk
  auto received = pair.carry(chunk, 2);
  for (auto& message : received) {
    const auto* data = message.data<char>();
    const Frame frame = take_frame(message);
    EXPECT_EQ(frame.view(), chunk);
    EXPECT_EQ(frame.view().data(), data);
  }
}

}  // namespace
}  // namespace planificador::broker
