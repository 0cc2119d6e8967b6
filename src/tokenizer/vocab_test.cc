// llama.cpp's own tokenizer tests (tests/data/vocab: <name>.gguf.inp / .out pairs), and the tiny
// models' GGUF tokenizer metadata read with the GGUF reader.
//   deepseek-r1-qwen, qwen2: our Qwen tokenizer.json files (same BPE; llama.cpp has no NFC, the
//     inputs are NFC already). llama-bpe: skipped -- no Llama-3 vocabulary is available here.
//   deepseek-llm, gpt-2: the vocab-only GGUFs, through r1_io's GGUF reader and from_gguf().
#include <gtest/gtest.h>

#include <sstream>

#include "io/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace r1 {
namespace {

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Case> read_cases(const std::string& name) {
  const std::string base = test::data_path("vocab/ggml-vocab-" + name + ".gguf");
  const std::string inp = test::read_text(base + ".inp");
  std::istringstream out(test::read_text(base + ".out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<Case> cases;
  for (size_t pos = 0;;) {
    const size_t next = inp.find(sep, pos);
    Case c;
    c.text = inp.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    std::string line;
    std::getline(out, line);
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
    if (next == std::string::npos) break;
    pos = next + sep.size();
  }
  return cases;
}

int count_mismatches(const Tokenizer& tok, const std::vector<Case>& cases, const std::string& name) {
  int bad = 0;
  for (const auto& c : cases) {
    if (tok.encode(c.text, false) != c.ids && ++bad <= 5) ADD_FAILURE() << name << ": \"" << c.text << "\"";
  }
  return bad;
}

// What the model loader does with a GGUF file's tokenizer.ggml.* keys.
GgufVocab read_gguf_vocab(const std::string& path) {
  const auto f = GgufFile::open(path);
  GgufVocab v;
  v.model = f->get_string("tokenizer.ggml.model");
  v.pre = f->get_string("tokenizer.ggml.pre", "default");
  v.tokens = f->get("tokenizer.ggml.tokens").as_strings();
  if (const auto* types = f->find("tokenizer.ggml.token_type"))
    for (int64_t t : types->as_ints()) v.token_types.push_back(static_cast<int32_t>(t));
  if (const auto* merges = f->find("tokenizer.ggml.merges")) v.merges = merges->as_strings();
  v.bos_id = f->get_int("tokenizer.ggml.bos_token_id", -1);
  v.eos_id = f->get_int("tokenizer.ggml.eos_token_id", -1);
  v.add_bos = f->get_bool("tokenizer.ggml.add_bos_token", false);
  v.chat_template = f->get_string("tokenizer.chat_template", "");
  return v;
}

TEST(LlamaCppVocab, DeepSeekR1Qwen) {
  const auto cases = read_cases("deepseek-r1-qwen");
  EXPECT_GT(cases.size(), 30u);
  EXPECT_EQ(count_mismatches(test::r1_distill_qwen(), cases, "deepseek-r1-qwen"), 0);
}

TEST(LlamaCppVocab, Qwen2) {
  const auto cases = read_cases("qwen2");
  EXPECT_GT(cases.size(), 30u);
  EXPECT_EQ(count_mismatches(test::qwen(), cases, "qwen2"), 0);
}

TEST(LlamaCppVocab, DeepSeekLlmGguf) {
  const Tokenizer tok = Tokenizer::from_gguf(read_gguf_vocab(test::data_path("vocab/ggml-vocab-deepseek-llm.gguf")));
  const auto cases = read_cases("deepseek-llm");
  EXPECT_GT(cases.size(), 30u);
  EXPECT_EQ(count_mismatches(tok, cases, "deepseek-llm"), 0);
}

TEST(LlamaCppVocab, Gpt2Gguf) {
  const Tokenizer tok = Tokenizer::from_gguf(read_gguf_vocab(test::data_path("vocab/ggml-vocab-gpt-2.gguf")));
  const auto cases = read_cases("gpt-2");
  EXPECT_GT(cases.size(), 30u);
  EXPECT_EQ(count_mismatches(tok, cases, "gpt-2"), 0);
}

// The tiny models' GGUF tokenizers agree with the JSONL vectors of their flavour.
TEST(GgufModels, TokenizerMatchesVectors) {
  for (const auto& [model, flavour] : std::vector<std::pair<std::string, std::string>>{
           {"qwen2-mini-f32", "qwen2"}, {"llama-mini-f32", "llama-bpe"}, {"deepseek2-mini-f32", "deepseek-v3"}}) {
    const GgufVocab v = read_gguf_vocab(test::data_path("models/" + model + ".gguf"));
    EXPECT_EQ(v.pre, flavour);
    const Tokenizer tok = Tokenizer::from_gguf(v);
    EXPECT_EQ(tok.bos_id(), 0);
    EXPECT_FALSE(tok.chat_template().empty());
    int bad = 0;
    for (const auto& vec : test::read_vectors(test::data_path("tokenizer_vectors/tiny512_" + flavour + ".jsonl")))
      bad += tok.encode(vec.text, false) != vec.ids;
    EXPECT_EQ(bad, 0) << model;
    // The prompt of refs/tokens.txt (README §4) as the qwen2 / llama-bpe flavours tokenize it.
    if (flavour != "deepseek-v3") {
      const std::vector<int32_t> want = {0,   508, 49, 311, 280, 70,  503, 500, 309, 90,  500, 27,  278, 73,  270, 286,
                                         222, 18,  19, 466, 222, 20,  17,  32,  353, 79,  478, 15,  509, 510, 200, 295};
      EXPECT_EQ(tok.encode("<｜User｜>Please think step by step: what is 12 + 30? Then answer.<｜Assistant｜><think>\nThe",
                           true),
                want)
          << model;
    }
  }
}

}  // namespace
}  // namespace r1
