#include "tokenizer/unicode.h"

#include <gtest/gtest.h>

#include <set>

namespace r1 {
namespace {

TEST(Utf8, SequenceLengthRejectsMalformedForms) {
  EXPECT_EQ(utf8_sequence_length("a", 0), 1u);
  EXPECT_EQ(utf8_sequence_length("\xc3\xa9", 0), 2u);
  EXPECT_EQ(utf8_sequence_length("\xe4\xb8\x80", 0), 3u);
  EXPECT_EQ(utf8_sequence_length("\xf0\x9f\x98\x80", 0), 4u);
  EXPECT_EQ(utf8_sequence_length("\x80", 0), 0u);              // stray continuation
  EXPECT_EQ(utf8_sequence_length("\xc0\xaf", 0), 0u);          // overlong
  EXPECT_EQ(utf8_sequence_length("\xed\xa0\x80", 0), 0u);      // surrogate
  EXPECT_EQ(utf8_sequence_length("\xf4\x90\x80\x80", 0), 0u);  // > U+10FFFF
  EXPECT_EQ(utf8_sequence_length("\xe4\xb8", 0), 0u);          // truncated
  EXPECT_EQ(utf8_valid_prefix("ab\xc3\xa9\xff\x41"), 4u);
}

TEST(Utf8, IncompleteTailOnlyForPossiblePrefixes) {
  EXPECT_TRUE(utf8_incomplete_tail("\xf0\x9f\x98", 0));
  EXPECT_TRUE(utf8_incomplete_tail("\xe4", 0));
  EXPECT_FALSE(utf8_incomplete_tail("\xe4\xb8\x80", 0));  // complete, not a prefix
  EXPECT_FALSE(utf8_incomplete_tail("\xed\xa0", 0));      // would be a surrogate
  EXPECT_FALSE(utf8_incomplete_tail("\xc0", 0));          // never valid
  EXPECT_FALSE(utf8_incomplete_tail("\xe4\x41", 0));
}

TEST(Nfc, ComposesLikeTheStandard) {
  EXPECT_EQ(nfc("A\xcc\x8a"), "\xc3\x85");          // A + ring above -> Å
  EXPECT_EQ(nfc("\xe2\x84\xab"), "\xc3\x85");       // ANGSTROM SIGN -> Å
  EXPECT_EQ(nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(nfc("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab"), "\xed\x95\x9c");  // Hangul jamo -> 한
}

TEST(ByteLevel, MapIsGpt2s) {
  const auto& chars = byte_level_chars();
  EXPECT_EQ(chars[' '], "\xc4\xa0");   // Ġ
  EXPECT_EQ(chars['\n'], "\xc4\x8a");  // Ċ
  EXPECT_EQ(chars['A'], "A");
  EXPECT_EQ(chars[0xAD], "\xc5\x83");  // the last non-printable byte maps to U+0143
  std::set<std::string> distinct(chars.begin(), chars.end());
  EXPECT_EQ(distinct.size(), 256u);
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string back;
  ASSERT_TRUE(byte_level_decode(byte_level_encode(all), back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(byte_level_decode("\xef\xbd\x9c", back));  // ｜ is not a byte-level character
  EXPECT_FALSE(byte_level_decode(" ", back));             // nor is a plain space
}

}  // namespace
}  // namespace r1
