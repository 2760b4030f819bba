// Properties of the SPEC §2 codec on arbitrary bytes:
//  - decoding never throws, never reads out of bounds (ASan) and never hits UB (UBSan);
//  - a frame that decodes re-encodes to exactly the same bytes (the codec is a bijection on
//    the frames it accepts);
//  - a frame that does not decode gets the error kind the size and type byte call for, and
//    a task id exactly when it is a SUBMIT/SUBMIT_EXT of at least 33 bytes;
//  - messages built from the input encode to frames that decode back to the same message.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fuzzer/FuzzedDataProvider.h>

#include "planificador/protocol/codec.hpp"

namespace {

using namespace planificador::protocol;

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

// Small limits make every limit check reachable with short inputs.
constexpr DecodeLimits k_small_limits{16, 64, 128};

void check_inbound(std::string_view frame, const DecodeLimits& limits) {
  const auto decoded = decode_inbound(frame, limits);
  const int type = frame.empty() ? -1 : static_cast<unsigned char>(frame[0]);
  const bool is_submit = type == 0x00 || type == 0x10;
  if (decoded) {
    require(encode(*decoded) == frame);
    if (const auto* submit = std::get_if<Submit>(&*decoded)) {
      require(!submit->image.empty() && submit->image.size() <= limits.max_image_bytes);
      require(submit->code.size() <= limits.max_code_bytes);
      require(submit->options.has_value() == (type == 0x10));
    } else {
      require(type == 0x02 && frame.size() == 33);
    }
    return;
  }
  const DecodeError& error = decoded.error();
  require(!error.message.empty());
  require(!to_string(error.kind).empty());
  if (frame.size() < 33) {
    require(error.kind == DecodeErrorKind::too_short && !error.task_id);
    return;
  }
  require(error.task_id.has_value() == is_submit);
  if (is_submit) {
    require(error.task_id->bytes[0] == static_cast<unsigned char>(frame[1]));
  } else if (type == 0x02) {
    require(error.kind == DecodeErrorKind::bad_cancel_length);
  } else {
    require(error.kind == DecodeErrorKind::unknown_type);
  }
}

void check_outbound(std::string_view frame) {
  const auto decoded = decode_outbound(frame);
  if (decoded) {
    require(encode(*decoded) == frame);
    return;
  }
  require(!decoded.error().task_id.has_value());
  if (frame.size() < 33) {
    require(decoded.error().kind == DecodeErrorKind::too_short);
  }
}

TaskId consume_id(FuzzedDataProvider& data) {
  TaskId id;
  const std::string raw = data.ConsumeBytesAsString(k_task_id_size);
  std::copy(raw.begin(), raw.end(), id.bytes.begin());
  return id;
}

// Builds messages from the input and checks decode(encode(m)) == m.
void check_structured(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider data(bytes, size);
  const TaskId id = consume_id(data);
  const std::string image = data.ConsumeRandomLengthString(300);
  const std::string code = data.ConsumeRandomLengthString(100);
  const bool ext = data.ConsumeBool();
  const std::string options = data.ConsumeRandomLengthString(200);
  const Submit submit{id, image, code, ext ? std::optional<std::string>(options) : std::nullopt};
  const std::string frame = encode(submit);
  require(frame.size() ==
          (ext ? 45 : 41) + image.size() + code.size() + (ext ? options.size() : 0));
  const auto decoded = decode_inbound(frame, k_small_limits);
  if (decoded) {
    require(std::get<Submit>(*decoded) == submit);
  } else {
    require(decoded.error().task_id == id);
    require(decoded.error().kind != DecodeErrorKind::length_mismatch);
    require(decoded.error().kind != DecodeErrorKind::too_short);
  }

  const Outbound outbound[] = {
      Append{id, data.ConsumeBool() ? Stream::out : Stream::err, code},
      Exited{id, data.ConsumeIntegral<std::int32_t>()},
      Report{id, options},
  };
  for (const Outbound& message : outbound) {
    const auto back = decode_outbound(encode(message));
    require(back.has_value() && *back == message);
  }
  const auto cancel = decode_inbound(encode(Cancel{id}));
  require(cancel.has_value() && std::get<Cancel>(*cancel).id == id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(bytes), size);
  check_inbound(frame, DecodeLimits{});
  check_inbound(frame, k_small_limits);
  check_outbound(frame);
  (void)hex_prefix(frame);
  check_structured(bytes, size);
  return 0;
}
