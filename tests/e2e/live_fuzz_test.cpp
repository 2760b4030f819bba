// A live fuzz of the real daemon's intake: for 60 s, random and mutated frames of every
// message type (bad lengths, huge lengths, truncated, multi-part, oversized) while valid
// tasks keep running through the same daemon. The daemon must never crash, every valid
// task must get its output and one EXITED, and every fuzz frame must get exactly what
// SPEC §3 promises: one EXITED when it is a SUBMIT whose task id can be read, else nothing.
// The seed is printed; PLANIFICADOR_FUZZ_SEED replays a run.

#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "daemon_process.hpp"
#include "e2e_common.hpp"
#include "event_collector.hpp"
#include "resource_watch.hpp"
#include <gtest/gtest.h>

#include "planificador/protocol/codec.hpp"
#include "planificador/protocol/runners.hpp"

namespace planificador::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto k_fuzz_time = 60s;
constexpr double k_frames_per_second = 1500;
// The largest frame the daemon reads (45 + image 255 + code 1 MiB + options 4 MiB);
// ZeroMQ drops the connection of a peer that sends more.
constexpr std::size_t k_max_frame = 45 + 255 + (std::size_t{1} << 20) + (std::size_t{4} << 20);

class Fuzzer {
 public:
  explicit Fuzzer(std::uint64_t seed) : m_random(seed) {}

  struct Frame {
    std::vector<std::string> parts;  // more than one: a multi-part message
    bool oversize = false;           // beyond k_max_frame: for its own socket
  };

  Frame next() {
    const auto roll = pick(1000);
    if (roll < 10) {
      return multipart();
    }
    if (roll < 12) {
      return single(big_code());
    }
    if (roll < 17) {
      return single(runnable());
    }
    if (roll < 300) {
      return single(random_bytes(pick(2) == 0 ? pick(40) : pick(300)));
    }
    return single(mutate(template_frame()));
  }

  Frame oversize() {
    Frame frame = single(template_frame());
    frame.parts[0].resize(k_max_frame + 1 + pick(4096), 'o');
    frame.oversize = true;
    return frame;
  }

  // Writes a fresh id into a frame of at least 33 bytes: random bytes, then a counter,
  // so no two frames share an id and none looks like a valid task's.
  void stamp_id(std::string& frame) {
    if (frame.size() < 33) {
      return;
    }
    for (std::size_t i = 1; i < 9; ++i) {
      frame[i] = static_cast<char>(pick(256));
    }
    frame[1] = 'f';
    char counter[25];
    std::snprintf(counter, sizeof counter, "%024llu", static_cast<unsigned long long>(++m_ids));
    frame.replace(9, 24, counter);
  }

 private:
  std::uint64_t pick(std::uint64_t bound) { return m_random() % bound; }

  static Frame single(std::string frame) { return Frame{{std::move(frame)}}; }

  std::string random_bytes(std::size_t size) {
    std::string bytes(size, '\0');
    for (auto& byte : bytes) {
      byte = static_cast<char>(pick(256));
    }
    if (!bytes.empty() && pick(2) == 0) {
      static constexpr char k_types[] = {0x00, 0x02, 0x10, 0x01, 0x03};
      bytes[0] = k_types[pick(sizeof k_types)];
    }
    return bytes;
  }

  std::string template_frame() {
    // No runner matches these (a task that runs costs a worker tens of milliseconds;
    // runnable() sends those few on purpose), so the daemon must reject each.
    static const std::vector<std::string> k_images{
        "nope", "", "bashx", "pyth", "c++x", std::string(255, 'i'), std::string(300, 'i')};
    static const std::vector<std::string> k_options{
        "{}",         "{\"stdn\":1}",
        "[1,2]",      "{\"limits\":{\"wall_ms\":99999999}}",
        "{\"args\":", "{\"stdin\":\"\\u0000x\"}",
        "\xff\xfe",   "{\"files\":[{\"path\":\"../x\",\"content\":\"\"}]}"};
    protocol::TaskId id;
    switch (pick(3)) {
      case 0:
        return protocol::encode(protocol::Cancel{id});
      case 1:
        return protocol::encode(protocol::Submit{id, k_images[pick(k_images.size())],
                                                 random_bytes(pick(64)), std::nullopt});
      default:
        return protocol::encode(protocol::Submit{id, k_images[pick(k_images.size())],
                                                 random_bytes(pick(64)),
                                                 k_options[pick(k_options.size())]});
    }
  }

  std::string mutate(std::string frame) {
    const auto rounds = 1 + pick(3);
    for (std::uint64_t r = 0; r < rounds && !frame.empty(); ++r) {
      switch (pick(6)) {
        case 0:  // a length field says something else: huge, zero, off by one, random
          if (frame.size() >= 41) {
            static constexpr std::uint32_t k_lies[] = {0xffffffffU, 0x7fffffffU, 0U,
                                                       1U,          0x00100001U, 0x80000000U};
            const std::size_t at = 33 + 4 * pick(frame[0] == 0x10 ? 3 : 2);
            std::uint32_t value =
                pick(2) == 0 ? k_lies[pick(6)] : static_cast<std::uint32_t>(m_random());
            if (pick(3) == 0) {
              value = static_cast<std::uint32_t>(frame.size() + pick(3) - 1);
            }
            for (int b = 0; b < 4 && at + 3 < frame.size(); ++b) {
              frame[at + static_cast<std::size_t>(b)] =
                  static_cast<char>((value >> (24 - 8 * b)) & 0xffU);
            }
          }
          break;
        case 1:  // truncated
          frame.resize(pick(frame.size()));
          break;
        case 2:  // extended
          frame += random_bytes(1 + pick(16));
          break;
        case 3:  // bits flipped
          frame[pick(frame.size())] ^= static_cast<char>(1U << pick(8));
          break;
        case 4:  // another type byte
          frame[0] = static_cast<char>(pick(4) == 0 ? pick(256) : (pick(2) == 0 ? 0x00 : 0x10));
          break;
        default:  // a byte overwritten
          frame[pick(frame.size())] = static_cast<char>(pick(256));
          break;
      }
    }
    return frame;
  }

  // A SUBMIT that runs: a tiny bash program with its own exit status (below the codes
  // the daemon gives meanings to, so 125 always means the daemon's own answer).
  std::string runnable() {
    return protocol::encode(protocol::Submit{
        protocol::TaskId{}, "bash", "exit " + std::to_string(pick(120)) + "\n", std::nullopt});
  }

  // A SUBMIT whose code is just beyond the 1 MiB maximum: read, then rejected.
  std::string big_code() {
    return protocol::encode(protocol::Submit{
        protocol::TaskId{}, "bash", std::string((std::size_t{1} << 20) + 1, '#'), std::nullopt});
  }

  Frame multipart() {
    Frame frame;
    const auto parts = 2 + pick(3);
    for (std::uint64_t i = 0; i < parts; ++i) {
      frame.parts.push_back(pick(2) == 0 ? runnable() : mutate(template_frame()));
    }
    return frame;
  }

  std::mt19937_64 m_random;
  std::uint64_t m_ids = 0;
};

protocol::TaskId id_of(const std::string& frame) {
  return *protocol::TaskId::from_bytes(std::string_view(frame).substr(1, 32));
}

bool answerable(const std::string& frame) {
  return frame.size() >= 33 && (frame[0] == 0x00 || frame[0] == 0x10);
}

// What the fuzz sent, and what SPEC §3 owes for it.
struct FuzzLedger {
  std::set<protocol::TaskId> expect_exit;     // readable SUBMITs: one EXITED each
  std::set<protocol::TaskId> expect_silence;  // dropped frames: nothing at all
  std::set<protocol::TaskId> expect_runners;  // RUNNERS requests: one answer each
  std::size_t sent = 0, refused = 0, multipart = 0, oversize = 0;
};

// Sends fuzz frames for k_fuzz_time at k_frames_per_second, an oversize one every 5 s on
// a connection of its own (the daemon drops a connection that sends one).
FuzzLedger run_fuzz(std::uint64_t seed, const std::string& intake_endpoint) {
  FuzzLedger ledger;
  Fuzzer fuzzer(seed);
  IntakeSender intake(intake_endpoint);
  IntakeSender oversize_intake(intake_endpoint);
  const auto start = Clock::now();
  auto next_oversize = start;
  while (Clock::now() - start < k_fuzz_time) {
    const bool big = Clock::now() >= next_oversize;
    auto frame = big ? fuzzer.oversize() : fuzzer.next();
    for (auto& part : frame.parts) {
      fuzzer.stamp_id(part);
    }
    bool queued = false;
    if (big) {
      next_oversize += 5s;
      queued = oversize_intake.send(frame.parts[0], 100ms);
      ledger.oversize += queued ? 1 : 0;
    } else if (frame.parts.size() > 1) {
      queued = intake.send_multipart(frame.parts, 100ms);
      ledger.multipart += queued ? 1 : 0;
    } else {
      queued = intake.send(frame.parts[0], 100ms);
    }
    if (!queued) {
      ++ledger.refused;
      continue;
    }
    ++ledger.sent;
    for (const auto& part : frame.parts) {
      if (part.size() >= 33) {
        const bool single = frame.parts.size() == 1 && !frame.oversize;
        if (single && protocol::decode_runners_request(part)) {
          ledger.expect_runners.insert(id_of(part));
          continue;
        }
        const bool answered = single && answerable(part);
        (answered ? ledger.expect_exit : ledger.expect_silence).insert(id_of(part));
      }
    }
    std::this_thread::sleep_until(
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                    static_cast<double>(ledger.sent) / k_frames_per_second)));
  }
  return ledger;
}

struct ValidRun {
  std::vector<protocol::TaskId> ids;
  std::vector<Clock::time_point> done;
  std::vector<long long> latencies_ms;
};

// Valid tasks (bash and python in turn), one after another, for k_fuzz_time.
ValidRun run_valid_tasks(DaemonProcess& daemon, EventCollector& events) {
  ValidRun run;
  IntakeSender intake(daemon.intake());
  const auto start = Clock::now();
  while (Clock::now() - start < k_fuzz_time) {
    const std::size_t k = run.ids.size();
    char id[33];
    std::snprintf(id, sizeof id, "valid-%026zu", k);
    run.ids.push_back(*protocol::TaskId::from_bytes(id));
    const bool python = k % 2 == 1;
    const std::string code = python ? "print('valid-" + std::to_string(k) + "')\n"
                                    : "echo valid-" + std::to_string(k) + "\n";
    const auto sent_at = Clock::now();
    EXPECT_TRUE(intake.send(submit_frame(run.ids.back(), python ? "python" : "bash", code)));
    if (!events.wait_exited({run.ids.back()}, 60s)) {
      ADD_FAILURE() << "valid task " << k << " not answered within 60 s";
      break;
    }
    run.done.push_back(Clock::now());
    run.latencies_ms.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent_at).count());
    EXPECT_TRUE(daemon.running());
  }
  return run;
}

// Each readable SUBMIT got one EXITED, last; a 125 came with one one-line diagnostic.
// Returns how many got each exit code.
std::map<std::int32_t, std::size_t> check_fuzz_answers(
    const std::map<protocol::TaskId, TaskRecord>& tasks, const FuzzLedger& ledger) {
  std::map<std::int32_t, std::size_t> codes;
  for (const auto& id : ledger.expect_exit) {
    const auto found = tasks.find(id);
    if (found == tasks.end()) {
      ADD_FAILURE() << "no answer for " << id.hex();
      continue;
    }
    const auto& task = found->second;
    EXPECT_EQ(task.exits, 1U) << id.hex();
    EXPECT_EQ(task.after_exit, 0U) << id.hex();
    ++codes[task.exit_code.value_or(-1)];
    if (task.exit_code == 125) {
      EXPECT_TRUE(task.err.starts_with("planificador: ")) << id.hex() << ": " << task.err;
      EXPECT_EQ(std::count(task.err.begin(), task.err.end(), '\n'), 1)
          << id.hex() << ": " << task.err;
      EXPECT_TRUE(task.err.ends_with("\n")) << id.hex();
    } else {
      EXPECT_LT(task.exit_code.value_or(-1), 120) << id.hex() << ": " << task.err;
    }
  }
  for (const auto& id : ledger.expect_silence) {
    EXPECT_FALSE(tasks.contains(id)) << "a dropped frame was answered: " << id.hex();
  }
  return codes;
}

TEST(LiveFuzz, MalformedFramesForSixtySecondsWhileValidTasksSucceed) {
  PLANIFICADOR_REQUIRE_E2E();
  std::uint64_t seed = std::random_device{}();
  if (const char* fixed = std::getenv("PLANIFICADOR_FUZZ_SEED")) {
    seed = std::strtoull(fixed, nullptr, 10);
  }
  print_figure("fuzz seed", std::to_string(seed));
  auto settings = e2e_settings("fuz");
  settings.runner_images = {"planificador/bash", "planificador/python"};
  std::string error;
  auto daemon = DaemonProcess::start(settings, error);
  ASSERT_NE(daemon, nullptr) << error;
  EventCollector events(daemon->events());
  const auto rss_before = *proc_status_kb(daemon->pid(), "VmRSS");
  RssSampler sampler(daemon->pid(), 100ms);

  FuzzLedger ledger;
  std::thread fuzz([&] { ledger = run_fuzz(seed, daemon->intake()); });
  const auto fuzz_start = Clock::now();
  auto valid = run_valid_tasks(*daemon, events);
  fuzz.join();
  const std::vector<protocol::TaskId> exits(ledger.expect_exit.begin(), ledger.expect_exit.end());
  EXPECT_TRUE(events.wait_exited(exits, 300s)) << events.exited() << " EXITED so far";
  std::this_thread::sleep_for(2s);  // anything sent after an EXITED, or for a silent frame
  sampler.stop();

  print_figure("fuzz frames sent / refused by a full socket / multi-part / oversize",
               std::to_string(ledger.sent) + " / " + std::to_string(ledger.refused) + " / " +
                   std::to_string(ledger.multipart) + " / " + std::to_string(ledger.oversize));
  print_figure("fuzz frames owed one EXITED / owed silence",
               std::to_string(ledger.expect_exit.size()) + " / " +
                   std::to_string(ledger.expect_silence.size()));
  ASSERT_FALSE(valid.latencies_ms.empty());
  std::sort(valid.latencies_ms.begin(), valid.latencies_ms.end());
  print_figure("valid tasks during the fuzz / latency p50 / max ms",
               std::to_string(valid.ids.size()) + " / " +
                   std::to_string(valid.latencies_ms[valid.latencies_ms.size() / 2]) + " / " +
                   std::to_string(valid.latencies_ms.back()));
  print_figure("fuzz: daemon VmRSS before / peak / end KiB",
               std::to_string(rss_before) + " / " + std::to_string(sampler.peak_kb()) + " / " +
                   std::to_string(*proc_status_kb(daemon->pid(), "VmRSS")));

  ASSERT_TRUE(daemon->running()) << daemon->log().substr(0, 4000);
  EXPECT_EQ(events.undecodable(), 0U);
  // A fuzz frame that happens to be a RUNNERS request (docs/protocol.md) gets its answer.
  EXPECT_EQ(events.runners_answers(), ledger.expect_runners);
  const auto tasks = events.tasks();
  auto codes = check_fuzz_answers(tasks, ledger);
  std::string spread;
  for (const auto& [code, count] : codes) {
    spread += std::to_string(code) + ":" + std::to_string(count) + " ";
  }
  print_figure("fuzz exit codes (code:count)", spread);
  EXPECT_GT(codes[125], 0U);
  // Nothing answered that was not asked.
  EXPECT_EQ(tasks.size(), ledger.expect_exit.size() + valid.ids.size());
  for (std::size_t k = 0; k < valid.ids.size(); ++k) {
    const auto& task = tasks.at(valid.ids[k]);
    EXPECT_EQ(task.exit_code, 0) << k << ": " << task.err;
    EXPECT_EQ(task.out, "valid-" + std::to_string(k) + "\n") << k;
    EXPECT_EQ(task.exits, 1U) << k;
    EXPECT_EQ(task.after_exit, 0U) << k;
  }
  // Served throughout, not only before or after the storm: some valid task finished in
  // every 10 s of it.
  for (auto window = fuzz_start; window + 10s <= fuzz_start + k_fuzz_time; window += 10s) {
    EXPECT_TRUE(std::any_of(valid.done.begin(), valid.done.end(),
                            [&](auto done) { return done >= window && done < window + 10s; }))
        << "no valid task finished " << (window - fuzz_start) / 1s << " s into the fuzz";
  }
  EXPECT_EQ(daemon->log().find(" critical "), std::string::npos);
  EXPECT_EQ(daemon->terminate(60s), 0) << daemon->log().substr(0, 4000);
}

}  // namespace
}  // namespace planificador::testing
