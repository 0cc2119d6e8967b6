// Exactness against the JSONL vectors (README §6) for every vocabulary and loader, plus the API
// contract: BOS handling, special tokens, decoding, bounds, invalid UTF-8 and loader errors.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>

#include "core/error.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/unicode.h"

namespace r1 {
namespace {

using test::data_path;
using test::read_vectors;

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

// Encodes every vector; returns the number of mismatches (printing the first few).
int count_mismatches(const Tokenizer& tok, const std::vector<test::Vector>& vectors, const std::string& name) {
  int bad = 0;
  for (const auto& v : vectors) {
    const auto ids = tok.encode(v.text, false);
    if (ids != v.ids && ++bad <= 5)
      ADD_FAILURE() << name << ": text \"" << v.text << "\"\n  want " << show(v.ids) << "\n  got  " << show(ids);
  }
  return bad;
}

// Decoding gives the text back (NFC-normalized where the tokenizer normalizes).
int count_decode_mismatches(const Tokenizer& tok, const std::vector<test::Vector>& vectors, bool nfc) {
  int bad = 0;
  for (const auto& v : vectors) bad += tok.decode(v.ids) != (nfc ? r1::nfc(v.text) : v.text);
  return bad;
}

TEST(TokenizerVectors, DeepSeekV3) {
  const auto vectors = read_vectors(data_path("tokenizer_vectors/deepseek_v3.jsonl"));
  ASSERT_EQ(vectors.size(), 394u);
  EXPECT_EQ(count_mismatches(test::deepseek_v3(), vectors, "deepseek_v3"), 0);
  EXPECT_EQ(count_decode_mismatches(test::deepseek_v3(), vectors, false), 0);
}

TEST(TokenizerVectors, Qwen) {
  const auto vectors = read_vectors(data_path("tokenizer_vectors/qwen.jsonl"));
  ASSERT_EQ(vectors.size(), 394u);
  EXPECT_EQ(count_mismatches(test::qwen(), vectors, "qwen"), 0);
  EXPECT_EQ(count_decode_mismatches(test::qwen(), vectors, true), 0);
}

TEST(TokenizerVectors, R1DistillQwen) {
  const auto vectors = read_vectors(data_path("tokenizer_vectors/r1_distill_qwen.jsonl"));
  ASSERT_EQ(vectors.size(), 394u);
  EXPECT_EQ(count_mismatches(test::r1_distill_qwen(), vectors, "r1_distill_qwen"), 0);
  EXPECT_EQ(count_decode_mismatches(test::r1_distill_qwen(), vectors, true), 0);
}

class Tiny512 : public ::testing::TestWithParam<std::string> {};

TEST_P(Tiny512, FromTokenizerJson) {
  const auto vectors = read_vectors(data_path("tokenizer_vectors/tiny512_" + GetParam() + ".jsonl"));
  ASSERT_EQ(vectors.size(), 394u);
  const Tokenizer tok = Tokenizer::from_file(data_path("tokenizer/tiny512-" + GetParam()));
  EXPECT_EQ(tok.n_vocab(), 512);
  EXPECT_EQ(count_mismatches(tok, vectors, "tiny512 json " + GetParam()), 0);
  EXPECT_EQ(count_decode_mismatches(tok, vectors, GetParam() == "qwen2"), 0);
}

TEST_P(Tiny512, FromGgufVocab) {
  const auto vectors = read_vectors(data_path("tokenizer_vectors/tiny512_" + GetParam() + ".jsonl"));
  const Tokenizer tok = Tokenizer::from_gguf(test::tiny512_gguf_vocab(GetParam()));
  EXPECT_EQ(tok.n_vocab(), 512);
  EXPECT_EQ(count_mismatches(tok, vectors, "tiny512 gguf " + GetParam()), 0);
}

// Merges written as ["a", "b"] pairs load the same as "a b" strings.
TEST_P(Tiny512, MergePairsEqualMergeStrings) {
  const std::string dir = data_path("tokenizer/tiny512-" + GetParam());
  auto j = nlohmann::json::parse(test::read_text(dir + "/tokenizer.json"));
  for (auto& m : j["model"]["merges"]) {
    const auto s = m.get<std::string>();
    m = nlohmann::json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  const Tokenizer pairs = Tokenizer::from_json(j.dump(), "", "pairs");
  const auto vectors = read_vectors(data_path("tokenizer_vectors/tiny512_" + GetParam() + ".jsonl"));
  EXPECT_EQ(count_mismatches(pairs, vectors, "tiny512 pair merges " + GetParam()), 0);
}

INSTANTIATE_TEST_SUITE_P(Flavours, Tiny512, ::testing::Values("deepseek-v3", "qwen2", "llama-bpe"));

TEST(Tokenizer, BosFromConfigAndNeverTwice) {
  const Tokenizer tok = Tokenizer::from_file(data_path("tokenizer/tiny512-qwen2/tokenizer.json"));
  EXPECT_EQ(tok.bos_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  const auto plain = tok.encode("Hello", false);
  auto with_bos = tok.encode("Hello", true);
  ASSERT_EQ(with_bos.size(), plain.size() + 1);
  EXPECT_EQ(with_bos[0], 0);
  EXPECT_EQ(tok.encode("<｜begin▁of▁sentence｜>Hello", true), with_bos);

  // DeepSeek-V3: LlamaTokenizerFast's add_bos_token adds BOS although the post-processor does not.
  EXPECT_EQ(test::deepseek_v3().encode("Hi", true).front(), 0);
  EXPECT_EQ(test::deepseek_v3().bos_id(), 0);
  EXPECT_EQ(test::deepseek_v3().eos_id(), 1);
  // Qwen3's config: add_bos_token false, no BOS.
  EXPECT_EQ(test::qwen().encode("Hi", true), test::qwen().encode("Hi", false));
  EXPECT_EQ(test::qwen().bos_id(), -1);
  // GGUF add_bos.
  const Tokenizer gguf = Tokenizer::from_gguf(test::tiny512_gguf_vocab("qwen2"));
  EXPECT_EQ(gguf.encode("Hello", true), with_bos);
}

TEST(Tokenizer, R1DistillSpecialTokens) {
  const Tokenizer& tok = test::r1_distill_qwen();
  EXPECT_EQ(tok.encode("<｜Assistant｜><think>\n", false), (std::vector<int32_t>{151645, 151648, 198}));
  EXPECT_EQ(tok.token_id("<｜begin▁of▁sentence｜>"), 151646);
  EXPECT_EQ(tok.token_id("Hello"), 9707);
  EXPECT_FALSE(tok.token_id("no such token text").has_value());
  EXPECT_TRUE(tok.is_special(151643));
  EXPECT_FALSE(tok.is_special(151648));  // <think> is not special: skip_special keeps it
  const std::vector<int32_t> ids = {151646, 151648, 9707, 151643};
  EXPECT_EQ(tok.decode(ids), "<｜begin▁of▁sentence｜><think>Hello<｜end▁of▁sentence｜>");
  EXPECT_EQ(tok.decode(ids, true), "<think>Hello");
  EXPECT_EQ(tok.piece(9707), "Hello");
  EXPECT_EQ(tok.piece(220), " ");
}

TEST(Tokenizer, IdsAreBoundsChecked) {
  const Tokenizer& tok = test::deepseek_v3();
  EXPECT_EQ(tok.n_vocab(), 128815);
  EXPECT_THROW(tok.piece(-1), Error);
  EXPECT_THROW(tok.piece(tok.n_vocab()), Error);
  EXPECT_THROW(tok.is_special(tok.n_vocab()), Error);
  const std::vector<int32_t> bad = {5, 1 << 30};
  EXPECT_THROW(tok.decode(bad), Error);
}

// Any byte string encodes without error and decodes back to the same bytes.
TEST(Tokenizer, InvalidUtf8RoundTrips) {
  const Tokenizer tok = Tokenizer::from_file(data_path("tokenizer/tiny512-deepseek-v3"));
  const std::vector<std::string> fixed = {"\xff", "a\xc3", "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80", "ok\xe2\x82",
                                          "<｜User｜>\xc0\xaf<think>"};
  for (const auto& s : fixed) EXPECT_EQ(tok.decode(tok.encode(s, false)), s);
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? 0x80 + rng() % 128 : rng() % 256);
    EXPECT_EQ(tok.decode(tok.encode(s, false)), s);
    EXPECT_EQ(test::r1_distill_qwen().decode(test::r1_distill_qwen().encode(s, false)).size() > 0, !s.empty());
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TokenizerErrors, BadJsonNamesTheProblem) {
  const std::string base = test::read_text(data_path("tokenizer/tiny512-llama-bpe/tokenizer.json"));
  const auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto j = nlohmann::json::parse(base);
    edit(j);
    return error_of([&] { Tokenizer::from_json(j.dump(), "", "t.json"); });
  };
  EXPECT_NE(error_of([] { Tokenizer::from_json("{not json", "", "t.json"); }).find("t.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["model"]["type"] = "Unigram"; }).find("unsupported model type \"Unigram\""),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["normalizer"] = {{"type", "NFKC"}}; }).find("unsupported normalizer \"NFKC\""),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }).find("\"Whitespace\""),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed"; })
                .find("cannot compile split regex"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["model"]["merges"][0] = "Ġ nosuchtoken"; }).find("merge 0"), std::string::npos);
  EXPECT_NE(with([](auto& j) { j["model"]["merges"][1] = 5; }).find("merge 1"), std::string::npos);
  EXPECT_NE(with([](auto& j) { j["decoder"] = {{"type", "WordPiece"}}; }).find("unsupported decoder"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["added_tokens"][0]["id"] = -4; }).find("added token"), std::string::npos);
  EXPECT_NE(error_of([] { Tokenizer::from_file("/nonexistent/dir/tokenizer.json"); }).find("no such file"),
            std::string::npos);
}

TEST(TokenizerErrors, BadGgufVocabNamesTheProblem) {
  auto v = test::tiny512_gguf_vocab("qwen2");
  v.pre = "mystery";
  EXPECT_NE(error_of([&] { Tokenizer::from_gguf(v); }).find("unsupported tokenizer.ggml.pre \"mystery\""),
            std::string::npos);
  v = test::tiny512_gguf_vocab("qwen2");
  v.model = "llama";
  EXPECT_NE(error_of([&] { Tokenizer::from_gguf(v); }).find("tokenizer.ggml.model \"llama\""), std::string::npos);
  v = test::tiny512_gguf_vocab("qwen2");
  v.token_types.pop_back();
  EXPECT_NE(error_of([&] { Tokenizer::from_gguf(v); }).find("token_type"), std::string::npos);
  v = test::tiny512_gguf_vocab("qwen2");
  v.bos_id = 9999;
  EXPECT_NE(error_of([&] { Tokenizer::from_gguf(v); }).find("bos_token_id 9999"), std::string::npos);
  v = test::tiny512_gguf_vocab("qwen2");
  v.merges[3] = "abc";
  EXPECT_NE(error_of([&] { Tokenizer::from_gguf(v); }).find("merge 3"), std::string::npos);
}

}  // namespace
}  // namespace r1
