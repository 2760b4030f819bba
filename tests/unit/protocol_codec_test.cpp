#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "planificador/protocol/codec.hpp"

namespace planificador::protocol {
namespace {

constexpr std::string_view k_spec_id = "0123456789abcdef0123456789abcdef";

TaskId spec_id() { return *TaskId::from_bytes(k_spec_id); }

std::string u32(std::uint32_t value) {
  return {static_cast<char>(value >> 24U), static_cast<char>((value >> 16U) & 0xffU),
          static_cast<char>((value >> 8U) & 0xffU), static_cast<char>(value & 0xffU)};
}

// A SUBMIT frame with the given declared lengths and payload, built by hand so that the
// lengths can lie about the payload.
std::string submit_frame(std::uint32_t image_len, std::uint32_t code_len,
                         std::string_view payload) {
  return std::string(1, '\x00') + std::string(k_spec_id) + u32(image_len) + u32(code_len) +
         std::string(payload);
}

std::string submit_ext_frame(std::uint32_t image_len, std::uint32_t code_len,
                             std::uint32_t options_len, std::string_view payload) {
  return std::string(1, '\x10') + std::string(k_spec_id) + u32(image_len) + u32(code_len) +
         u32(options_len) + std::string(payload);
}

DecodeError inbound_error(std::string_view frame, const DecodeLimits& limits = {}) {
  auto decoded = decode_inbound(frame, limits);
  EXPECT_FALSE(decoded.has_value());
  return decoded ? DecodeError{} : decoded.error();
}

DecodeError outbound_error(std::string_view frame) {
  auto decoded = decode_outbound(frame);
  EXPECT_FALSE(decoded.has_value());
  return decoded ? DecodeError{} : decoded.error();
}

std::string read_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ProtocolCodec, SpecWorkedExampleSubmitByteForByte) {
  // Transcribed from SPEC §2.
  constexpr char k_spec_bytes[] =
      "\x00"
      "0123456789abcdef0123456789abcdef"
      "\x00\x00\x00\x06"
      "\x00\x00\x00\x09"
      "python"
      "print(1)\n";
  const std::string expected(k_spec_bytes, sizeof k_spec_bytes - 1);
  ASSERT_EQ(expected.size(), 56U);
  EXPECT_EQ(static_cast<unsigned char>(expected[0]), 0x00);
  EXPECT_EQ(expected.substr(33, 8), std::string("\0\0\0\x06\0\0\0\x09", 8));

  const Submit submit{spec_id(), "python", "print(1)\n", std::nullopt};
  EXPECT_EQ(encode(submit), expected);

  auto decoded = decode_inbound(expected);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  ASSERT_TRUE(std::holds_alternative<Submit>(*decoded));
  EXPECT_EQ(std::get<Submit>(*decoded), submit);
  EXPECT_FALSE(std::get<Submit>(*decoded).options.has_value());
}

TEST(ProtocolCodec, SpecWorkedExampleAnswersByteForByte) {
  const std::string append_out =
      "\x01" + std::string(k_spec_id) + std::string("\0\0\0\x02", 4) + "1\n";
  const std::string exited = "\x03" + std::string(k_spec_id) + std::string(4, '\0');
  EXPECT_EQ(encode(Append{spec_id(), Stream::out, "1\n"}), append_out);
  EXPECT_EQ(encode(Exited{spec_id(), 0}), exited);

  auto first = decode_outbound(append_out);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(std::get<Append>(*first), (Append{spec_id(), Stream::out, "1\n"}));
  auto second = decode_outbound(exited);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(std::get<Exited>(*second), (Exited{spec_id(), 0}));
}

TEST(ProtocolCodec, RoundTripsEveryInboundType) {
  TaskId binary_id;
  for (std::size_t i = 0; i < binary_id.bytes.size(); ++i) {
    binary_id.bytes[i] = static_cast<unsigned char>(255 - i * 7);
  }
  const Inbound messages[] = {
      Submit{binary_id, "c", std::string("\0\xff\n", 3), std::nullopt},
      Submit{spec_id(), "python3.11", "", std::nullopt},
      Submit{binary_id, "bash", "echo hi", std::string(R"({"args":["-x"]})")},
      Submit{spec_id(), "node", "x", std::string("{}")},
      Cancel{binary_id},
  };
  for (const Inbound& message : messages) {
    const std::string frame = encode(message);
    auto decoded = decode_inbound(frame);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
    EXPECT_EQ(*decoded, message);
    EXPECT_EQ(encode(*decoded), frame);
  }
  EXPECT_EQ(static_cast<unsigned char>(encode(messages[2])[0]), 0x10);
  EXPECT_EQ(encode(Cancel{spec_id()}), "\x02" + std::string(k_spec_id));
}

TEST(ProtocolCodec, RoundTripsEveryOutboundType) {
  const Outbound messages[] = {
      Append{spec_id(), Stream::out, std::string("\0binary\xff", 8)},
      Append{spec_id(), Stream::err, "planificador: time limit of 2000 ms exceeded\n"},
      Append{spec_id(), Stream::out, ""},
      Exited{spec_id(), 0},
      Exited{spec_id(), 125},
      Exited{spec_id(), -1},
      Exited{spec_id(), std::numeric_limits<std::int32_t>::min()},
      Exited{spec_id(), std::numeric_limits<std::int32_t>::max()},
      Report{spec_id(), R"({"status":"exited"})"},
  };
  for (const Outbound& message : messages) {
    const std::string frame = encode(message);
    auto decoded = decode_outbound(frame);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
    EXPECT_EQ(*decoded, message);
    EXPECT_EQ(encode(*decoded), frame);
  }
  EXPECT_EQ(encode(Exited{spec_id(), -1}).substr(33), "\xff\xff\xff\xff");
  EXPECT_EQ(static_cast<unsigned char>(encode(messages[1])[0]), 0x02);
  EXPECT_EQ(static_cast<unsigned char>(encode(messages[8])[0]), 0x10);
}

TEST(ProtocolCodec, FramesShorterThanTaskIdAreTooShortWithoutId) {
  for (const std::size_t size : {0UL, 1UL, 32UL}) {
    const std::string frame(size, '\0');
    const DecodeError in = inbound_error(frame);
    EXPECT_EQ(in.kind, DecodeErrorKind::too_short) << size;
    EXPECT_FALSE(in.task_id.has_value());
    EXPECT_NE(in.message.find(std::to_string(size) + " bytes"), std::string::npos) << in.message;
    EXPECT_EQ(outbound_error(frame).kind, DecodeErrorKind::too_short);
  }
}

TEST(ProtocolCodec, UnknownTypesAreRejectedPerDirection) {
  for (const int type : {0x01, 0x03, 0x04, 0x11, 0x7f, 0x80, 0xff}) {
    const std::string frame = std::string(1, static_cast<char>(type)) + std::string(k_spec_id);
    const DecodeError error = inbound_error(frame);
    EXPECT_EQ(error.kind, DecodeErrorKind::unknown_type) << type;
    EXPECT_FALSE(error.task_id.has_value());
  }
  EXPECT_NE(inbound_error("\xff" + std::string(k_spec_id)).message.find("0xff"), std::string::npos);
  for (const int type : {0x00, 0x04, 0x11, 0xff}) {
    const std::string frame =
        std::string(1, static_cast<char>(type)) + std::string(k_spec_id) + std::string(4, '\0');
    EXPECT_EQ(outbound_error(frame).kind, DecodeErrorKind::unknown_type) << type;
  }
}

TEST(ProtocolCodec, CancelMustBeExactly33Bytes) {
  const std::string cancel = "\x02" + std::string(k_spec_id);
  auto decoded = decode_inbound(cancel);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(std::get<Cancel>(*decoded).id, spec_id());
  for (const std::size_t extra : {1UL, 4UL, 100UL}) {
    const DecodeError error = inbound_error(cancel + std::string(extra, 'x'));
    EXPECT_EQ(error.kind, DecodeErrorKind::bad_cancel_length);
    EXPECT_FALSE(error.task_id.has_value());
  }
  EXPECT_EQ(inbound_error(cancel.substr(0, 32)).kind, DecodeErrorKind::too_short);
}

TEST(ProtocolCodec, SubmitShorterThanHeaderIsTooShortButKeepsId) {
  for (std::size_t size = 33; size < 41; ++size) {
    const DecodeError error = inbound_error(submit_frame(6, 9, "").substr(0, size));
    EXPECT_EQ(error.kind, DecodeErrorKind::too_short) << size;
    ASSERT_TRUE(error.task_id.has_value()) << size;
    EXPECT_EQ(*error.task_id, spec_id());
  }
  for (std::size_t size = 33; size < 45; ++size) {
    const DecodeError error = inbound_error(submit_ext_frame(1, 0, 2, "a{}").substr(0, size));
    EXPECT_EQ(error.kind, DecodeErrorKind::too_short) << size;
    EXPECT_EQ(error.task_id, spec_id());
  }
}

TEST(ProtocolCodec, SubmitOneByteShortOrLongIsLengthMismatch) {
  const std::string good = submit_frame(6, 9, "pythonprint(1)\n");
  ASSERT_TRUE(decode_inbound(good).has_value());
  const DecodeError shorter = inbound_error(good.substr(0, good.size() - 1));
  EXPECT_EQ(shorter.kind, DecodeErrorKind::length_mismatch);
  EXPECT_EQ(shorter.task_id, spec_id());
  EXPECT_NE(shorter.message.find("56 bytes"), std::string::npos) << shorter.message;
  EXPECT_NE(shorter.message.find("55 bytes"), std::string::npos) << shorter.message;
  const DecodeError longer = inbound_error(good + "x");
  EXPECT_EQ(longer.kind, DecodeErrorKind::length_mismatch);
  EXPECT_EQ(longer.task_id, spec_id());
}

TEST(ProtocolCodec, HugeDeclaredLengthsDoNotWrapAround) {
  // In 32-bit arithmetic 41 + 0xffffffff + 2 == 42, exactly this frame's size.
  EXPECT_EQ(inbound_error(submit_frame(0xffffffffU, 2, "x")).kind,
            DecodeErrorKind::length_mismatch);
  EXPECT_EQ(inbound_error(submit_frame(2, 0xffffffffU, "x")).kind,
            DecodeErrorKind::length_mismatch);
  EXPECT_EQ(inbound_error(submit_frame(0xffffffffU, 0xffffffffU, "")).kind,
            DecodeErrorKind::length_mismatch);
  // 45 + 1 + 0xffffffff + 0xffffffff wraps to 44 + 0xffffffff... in 32 bits; still a mismatch.
  EXPECT_EQ(inbound_error(submit_ext_frame(1, 0xffffffffU, 0xffffffffU, "a{}")).kind,
            DecodeErrorKind::length_mismatch);
  EXPECT_EQ(inbound_error(submit_ext_frame(1, 1, 0xfffffffdU, "ab")).kind,
            DecodeErrorKind::length_mismatch);
  const std::string append = "\x01" + std::string(k_spec_id) + u32(0xffffffffU) + "abc";
  EXPECT_EQ(outbound_error(append).kind, DecodeErrorKind::length_mismatch);
}

TEST(ProtocolCodec, ImageLengthBoundaries) {
  const DecodeError empty = inbound_error(submit_frame(0, 4, "code"));
  EXPECT_EQ(empty.kind, DecodeErrorKind::empty_image);
  EXPECT_EQ(empty.task_id, spec_id());
  for (const std::size_t size : {1UL, 255UL}) {
    const std::string image(size, 'i');
    auto decoded = decode_inbound(submit_frame(static_cast<std::uint32_t>(size), 1, image + "c"));
    ASSERT_TRUE(decoded.has_value()) << size;
    EXPECT_EQ(std::get<Submit>(*decoded).image, image);
  }
  const DecodeError too_long = inbound_error(submit_frame(256, 0, std::string(256, 'i')));
  EXPECT_EQ(too_long.kind, DecodeErrorKind::image_too_long);
  EXPECT_EQ(too_long.task_id, spec_id());
  EXPECT_NE(too_long.message.find("256"), std::string::npos) << too_long.message;
}

TEST(ProtocolCodec, CodeLengthBoundaries) {
  auto empty_code = decode_inbound(submit_frame(1, 0, "i"));
  ASSERT_TRUE(empty_code.has_value());
  EXPECT_EQ(std::get<Submit>(*empty_code).code, "");

  const std::size_t max = DecodeLimits{}.max_code_bytes;
  ASSERT_EQ(max, 1U << 20U);
  const std::string at_max(max, 'c');
  auto decoded = decode_inbound(submit_frame(1, static_cast<std::uint32_t>(max), "i" + at_max));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(std::get<Submit>(*decoded).code.size(), max);

  const DecodeError over =
      inbound_error(submit_frame(1, static_cast<std::uint32_t>(max + 1), "i" + at_max + "c"));
  EXPECT_EQ(over.kind, DecodeErrorKind::code_too_long);
  EXPECT_EQ(over.task_id, spec_id());

  const DecodeLimits small{255, 4, 16};
  EXPECT_TRUE(decode_inbound(submit_frame(1, 4, "i1234"), small).has_value());
  EXPECT_EQ(inbound_error(submit_frame(1, 5, "i12345"), small).kind,
            DecodeErrorKind::code_too_long);
}

TEST(ProtocolCodec, SubmitExtOptionsChecks) {
  const DecodeLimits small{255, 1024, 8};
  auto fits = decode_inbound(submit_ext_frame(1, 1, 8, "ic{\"a\":1 }"), small);
  ASSERT_TRUE(fits.has_value()) << fits.error().message;
  EXPECT_EQ(std::get<Submit>(*fits).options, "{\"a\":1 }");

  const DecodeError too_long = inbound_error(submit_ext_frame(1, 1, 9, "ic{\"a\":12 }"), small);
  EXPECT_EQ(too_long.kind, DecodeErrorKind::options_too_long);
  EXPECT_EQ(too_long.task_id, spec_id());

  for (const std::string& options :
       {std::string(), std::string("[]"), std::string("null"), std::string("\"{}\""),
        std::string("{"), std::string("{}x"), std::string("{} {}"), std::string("{\"a\":}"),
        std::string("{\"\xff\":1}"), std::string("{\"a\":\"\xc3\"}"), std::string("\0{}", 3)}) {
    const std::string frame =
        submit_ext_frame(1, 0, static_cast<std::uint32_t>(options.size()), "i" + options);
    const DecodeError error = inbound_error(frame);
    EXPECT_EQ(error.kind, DecodeErrorKind::options_invalid) << options;
    EXPECT_EQ(error.task_id, spec_id());
  }
  const std::string spaced = " \n{\"limits\": {\"wall_ms\": 5}}\t";
  EXPECT_TRUE(decode_inbound(
                  submit_ext_frame(1, 0, static_cast<std::uint32_t>(spaced.size()), "i" + spaced))
                  .has_value());
  // Unknown keys are parse_options()'s business, not the codec's.
  EXPECT_TRUE(decode_inbound(submit_ext_frame(1, 0, 8, "i{\"x\":[]}")).has_value());
}

TEST(ProtocolCodec, SubmitExtValidationOrderPutsLengthsFirst) {
  EXPECT_EQ(inbound_error(submit_ext_frame(0, 0, 2, "{}")).kind, DecodeErrorKind::empty_image);
  EXPECT_EQ(inbound_error(submit_ext_frame(0, 0, 2, "{}x")).kind, DecodeErrorKind::length_mismatch);
}

TEST(ProtocolCodec, OutboundLengthErrors) {
  const std::string exited = encode(Exited{spec_id(), 7});
  EXPECT_EQ(outbound_error(exited.substr(0, 36)).kind, DecodeErrorKind::too_short);
  EXPECT_EQ(outbound_error(exited + "x").kind, DecodeErrorKind::length_mismatch);
  const std::string append = encode(Append{spec_id(), Stream::err, "abc"});
  EXPECT_EQ(outbound_error(append.substr(0, 36)).kind, DecodeErrorKind::too_short);
  EXPECT_EQ(outbound_error(append.substr(0, append.size() - 1)).kind,
            DecodeErrorKind::length_mismatch);
  const std::string report = encode(Report{spec_id(), "{}"});
  EXPECT_EQ(outbound_error(report + "}").kind, DecodeErrorKind::length_mismatch);
}

TEST(ProtocolCodec, ErrorKindNames) {
  EXPECT_EQ(to_string(DecodeErrorKind::too_short), "too_short");
  EXPECT_EQ(to_string(DecodeErrorKind::unknown_type), "unknown_type");
  EXPECT_EQ(to_string(DecodeErrorKind::length_mismatch), "length_mismatch");
  EXPECT_EQ(to_string(DecodeErrorKind::bad_cancel_length), "bad_cancel_length");
  EXPECT_EQ(to_string(DecodeErrorKind::empty_image), "empty_image");
  EXPECT_EQ(to_string(DecodeErrorKind::image_too_long), "image_too_long");
  EXPECT_EQ(to_string(DecodeErrorKind::code_too_long), "code_too_long");
  EXPECT_EQ(to_string(DecodeErrorKind::options_too_long), "options_too_long");
  EXPECT_EQ(to_string(DecodeErrorKind::options_invalid), "options_invalid");
}

TEST(ProtocolCodec, HexPrefix) {
  EXPECT_EQ(hex_prefix(""), "");
  EXPECT_EQ(hex_prefix(std::string("\x00\x30\xff", 3)), "00 30 ff");
  EXPECT_EQ(hex_prefix(std::string(16, 'A')), "41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41");
  EXPECT_EQ(hex_prefix(std::string(17, 'A'), 2), "41 41 ...");
  EXPECT_EQ(hex_prefix("ab", 0), "...");
}

TEST(ProtocolCodec, TaskIdTextForms) {
  EXPECT_EQ(spec_id().printable(), k_spec_id);
  EXPECT_EQ(spec_id().hex(), "3031323334353637383961626364656630313233343536373839616263646566");
  TaskId binary;
  binary.bytes[0] = 0xab;
  binary.bytes[31] = 0x01;
  EXPECT_EQ(binary.hex(), "ab" + std::string(60, '0') + "01");
  EXPECT_EQ(binary.printable(), binary.hex());
  auto spaced = TaskId::from_bytes("0123456789abcdef0123456789abcde ");
  ASSERT_TRUE(spaced.has_value());
  EXPECT_EQ(spaced->printable(), spaced->hex());
  EXPECT_FALSE(TaskId::from_bytes(k_spec_id.substr(1)).has_value());
  EXPECT_FALSE(TaskId::from_bytes(std::string(k_spec_id) + "0").has_value());
  EXPECT_FALSE(TaskId::from_bytes("").has_value());
}

// The fuzz seed corpus is generated by tests/fuzz/make_corpus.py; these checks keep it in
// step with the codec.
TEST(ProtocolCodec, FuzzSeedCorpusMatchesEncoder) {
  const std::string dir = PLANIFICADOR_SOURCE_DIR "/tests/fuzz/corpus/codec/";
  EXPECT_EQ(read_binary(dir + "spec_submit.bin"),
            encode(Submit{spec_id(), "python", "print(1)\n", std::nullopt}));
  EXPECT_EQ(read_binary(dir + "cancel.bin"), encode(Cancel{spec_id()}));
  EXPECT_EQ(read_binary(dir + "submit_ext.bin"),
            encode(Submit{spec_id(), "python", "print(input())\n",
                          std::string(R"({"stdin": "hi\n", "limits": {"wall_ms": 2000}})")}));
  EXPECT_EQ(read_binary(dir + "append_out.bin"), encode(Append{spec_id(), Stream::out, "1\n"}));
  EXPECT_EQ(read_binary(dir + "exited.bin"), encode(Exited{spec_id(), 0}));
}

}  // namespace
}  // namespace planificador::protocol
