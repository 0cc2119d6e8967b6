#include "tokenizer/bpe.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace r1 {
namespace {

std::unordered_map<std::string, int32_t> byte_vocab() {
  std::unordered_map<std::string, int32_t> v;
  for (int b = 0; b < 256; ++b) v[std::string(1, static_cast<char>(b))] = b;
  return v;
}

std::vector<int32_t> encode(const Bpe& bpe, std::string_view word) {
  std::vector<int32_t> ids;
  bpe.encode_word(word, ids);
  return ids;
}

TEST(Bpe, LowestRankFirstThenLeftmost) {
  auto v = byte_vocab();
  v["ab"] = 300, v["bc"] = 301, v["abc"] = 302, v["aa"] = 303;
  // "bc" outranks "ab": in "abc" it merges first, then "a"+"bc" has no merge.
  const Bpe bc_first(v, {{"b", "c"}, {"a", "b"}, {"ab", "c"}}, false, -1, "test");
  EXPECT_EQ(encode(bc_first, "abc"), (std::vector<int32_t>{'a', 301}));
  const Bpe ab_first(v, {{"a", "b"}, {"b", "c"}, {"ab", "c"}}, false, -1, "test");
  EXPECT_EQ(encode(ab_first, "abc"), (std::vector<int32_t>{302}));
  // Equal pairs merge left to right: "aaa" -> "aa" "a".
  const Bpe aa(v, {{"a", "a"}}, false, -1, "test");
  EXPECT_EQ(encode(aa, "aaa"), (std::vector<int32_t>{303, 'a'}));
  EXPECT_EQ(encode(aa, "aaaa"), (std::vector<int32_t>{303, 303}));
  // Cached results are the same as fresh ones.
  EXPECT_EQ(encode(aa, "aaa"), (std::vector<int32_t>{303, 'a'}));
}

TEST(Bpe, IgnoreMergesTakesWholeWords) {
  auto v = byte_vocab();
  v["ab"] = 300, v["abc"] = 302;
  const Bpe plain(v, {{"a", "b"}}, false, -1, "test");
  EXPECT_EQ(encode(plain, "abc"), (std::vector<int32_t>{300, 'c'}));
  const Bpe whole(v, {{"a", "b"}}, true, -1, "test");
  EXPECT_EQ(encode(whole, "abc"), (std::vector<int32_t>{302}));
}

TEST(Bpe, MissingBytesAreDroppedOrUnk) {
  std::unordered_map<std::string, int32_t> v = {{"a", 1}, {"b", 2}, {"?", 3}};
  EXPECT_EQ(encode(Bpe(v, {}, false, -1, "t"), "a\xff" "b"), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(encode(Bpe(v, {}, false, 3, "t"), "a\xff" "b"), (std::vector<int32_t>{1, 3, 2}));
}

TEST(Bpe, MergeOutsideVocabularyIsAnError) {
  try {
    Bpe(byte_vocab(), {{"a", "b"}}, false, -1, "vocab.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab.json: merge 0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace r1
