// Client text in log lines and diagnostics: one line, bounded, and the escapes unambiguous.
#include <string>

#include <gtest/gtest.h>

#include "planificador/protocol/quote.hpp"

namespace planificador::protocol {
namespace {

TEST(Quote, PrintableTextStaysAsItIs) {
  EXPECT_EQ(escape_text("python3.11"), "python3.11");
  EXPECT_EQ(quote_text("a b"), "`a b`");
}

TEST(Quote, LineBreaksControlBytesAndTheEscapesOwnCharactersAreHex) {
  EXPECT_EQ(escape_text("x\n2026-12-01 info forged"), "x\\x0a2026-12-01 info forged");
  EXPECT_EQ(escape_text(std::string("\r\t\0\x7f\xff", 5)), "\\x0d\\x09\\x00\\x7f\\xff");
  EXPECT_EQ(escape_text("a\\x0a"), "a\\x5cx0a");
  EXPECT_EQ(quote_text("`"), "`\\x60`");
}

TEST(Quote, LongTextIsCutAndMarked) {
  const std::string long_text(100, 'a');
  EXPECT_EQ(escape_text(long_text), std::string(k_max_quoted_bytes, 'a') + "...");
  EXPECT_EQ(escape_text(long_text, 3), "aaa...");
  EXPECT_EQ(escape_text(std::string(64, 'b')), std::string(64, 'b'));
}

}  // namespace
}  // namespace planificador::protocol
