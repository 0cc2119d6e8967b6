#include "tokenizer/stream_decoder.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/tokenizer_test_util.h"

namespace r1 {
namespace {

// Byte-level tokens split characters: the tiny vocabulary spells every non-ASCII character as
// single byte tokens, so each multi-byte character spans several tokens.
TEST(StreamDecoder, EmitsOnlyCompleteCharacters) {
  const Tokenizer tok = Tokenizer::from_file(test::data_path("tokenizer/tiny512-deepseek-v3"));
  const std::string text = "a😀é多 <think>x";
  const auto ids = tok.encode(text, false);
  StreamDecoder stream(tok);
  std::string out;
  for (int32_t id : ids) {
    const std::string part = stream.push(id);
    // Every chunk is complete UTF-8 on its own.
    size_t i = 0;
    while (i < part.size()) {
      const auto c = static_cast<uint8_t>(part[i]);
      const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      ASSERT_LE(i + len, part.size()) << "chunk ends inside a character";
      i += len;
    }
    out += part;
  }
  out += stream.flush();
  EXPECT_EQ(out, text);
}

TEST(StreamDecoder, EmojiAppearsWhenItsLastByteArrives) {
  const Tokenizer tok = Tokenizer::from_file(test::data_path("tokenizer/tiny512-deepseek-v3"));
  const auto ids = tok.encode("😀", false);  // F0 9F 98 80 -> four byte tokens
  ASSERT_EQ(ids.size(), 4u);
  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push(ids[0]), "");
  EXPECT_EQ(stream.push(ids[1]), "");
  EXPECT_EQ(stream.push(ids[2]), "");
  EXPECT_EQ(stream.push(ids[3]), "😀");
  EXPECT_EQ(stream.flush(), "");
}

TEST(StreamDecoder, InvalidBytesBecomeReplacementAndFlushEndsTheTail) {
  const Tokenizer tok = Tokenizer::from_file(test::data_path("tokenizer/tiny512-deepseek-v3"));
  const auto bad = tok.encode("\xff", false);
  const auto lead = tok.encode("\xe4", false);
  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push(bad[0]), "\xEF\xBF\xBD");
  EXPECT_EQ(stream.push(lead[0]), "");
  EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");
}

TEST(StreamDecoder, SkipsSpecialTokensWhenAsked) {
  const Tokenizer& tok = test::r1_distill_qwen();
  StreamDecoder keep(tok), skip(tok, /*skip_special=*/true);
  EXPECT_EQ(keep.push(151643), "<｜end▁of▁sentence｜>");
  EXPECT_EQ(skip.push(151643), "");
  EXPECT_EQ(skip.push(151648), "<think>");  // not special
  EXPECT_THROW(skip.push(-3), Error);
  EXPECT_THROW(skip.push(tok.n_vocab()), Error);
}

}  // namespace
}  // namespace r1
