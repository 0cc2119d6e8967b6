// Batched generation must give what one Session gives sample by sample: the same greedy tokens,
// the same sampled tokens for the same per-sample seed, whatever the thread counts and however
// many sequences share a step.
#include "runtime/batch_generate.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "ops/matmul.h"
#include "tokenizer/tokenizer.h"

namespace r1 {
namespace {

const std::string kData = std::string(R1_TEST_DATA_DIR) + "/models/";

// Prompts of different lengths (so sequences sit at different positions within a step).
const std::vector<std::vector<int32_t>> kPrompts = {{1, 2, 3}, {7, 8, 9, 10, 11, 12, 13}, {40}, {5, 6}};
const std::vector<int64_t> kSamples = {2, 1, 3, 2};

std::vector<GenerationResult> sequential(const Model& model, const GenerationParams& params) {
  Session session(model, 256, 2);
  std::vector<GenerationResult> out;
  uint64_t s = 0;
  for (size_t p = 0; p < kPrompts.size(); p++) {
    for (int64_t g = 0; g < kSamples[p]; g++, s++) {
      GenerationParams gp = params;
      gp.sampling.seed = params.sampling.seed + s;
      out.push_back(session.generate(kPrompts[p], gp));
    }
  }
  return out;
}

void expect_same(const std::vector<GenerationResult>& a, const std::vector<GenerationResult>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); i++) {
    EXPECT_EQ(a[i].tokens, b[i].tokens) << what << " sample " << i;
    EXPECT_EQ(a[i].text, b[i].text) << what << " sample " << i;
    EXPECT_EQ(a[i].finish_reason, b[i].finish_reason) << what << " sample " << i;
    EXPECT_EQ(a[i].completion_tokens, b[i].completion_tokens) << what << " sample " << i;
  }
}

GenerationParams params(float temperature, uint64_t seed) {
  GenerationParams p;
  p.sampling.temperature = temperature;
  p.sampling.top_p = 0.95f;
  p.sampling.seed = seed;
  p.max_tokens = 24;
  p.ignore_eos = true;  // random weights: keep every sample the full length
  return p;
}

void expect_batched_equals_sequential(const std::string& file) {
  const auto model = Model::load(kData + file);
  for (const float temp : {0.0f, 0.9f}) {
    const GenerationParams gp = params(temp, 17);
    const std::vector<GenerationResult> want = sequential(*model, gp);
    int64_t total = 0;
    for (const auto& r : want) total += r.completion_tokens;
    ASSERT_EQ(total, 8 * 24);
    for (const int threads : {1, 2}) {
      for (const int parallel : {1, 3, 64}) {
        BatchGenerateOptions o;
        o.threads = threads;
        o.max_parallel = parallel;
        const BatchGeneration got = batch_generate(*model, kPrompts, kSamples, gp, o);
        const std::string what = file + " T " + std::to_string(temp) + " threads " + std::to_string(threads) +
                                 " parallel " + std::to_string(parallel);
        expect_same(got.results, want, what);
        EXPECT_EQ(got.completion_tokens, total) << what;
        // Every decode token after each sample's first went through a batched step (and so did
        // a one-token prompt, or one whose prefix the slot had cached), and with several slots
        // the steps held several tokens.
        EXPECT_GE(got.batched_tokens, total - 8) << what;
        EXPECT_LE(got.batched_tokens, total) << what;
        if (parallel > 1) {
          EXPECT_LT(got.steps, got.batched_tokens) << what;
        } else {
          EXPECT_EQ(got.steps, got.batched_tokens) << what;
        }
      }
    }
  }
  // Sampling does depend on the seed (the comparison above is not between constant outputs).
  const auto a = batch_generate(*model, kPrompts, kSamples, params(0.9f, 17)).results;
  const auto b = batch_generate(*model, kPrompts, kSamples, params(0.9f, 18)).results;
  int differ = 0;
  for (size_t i = 0; i < a.size(); i++) differ += a[i].tokens != b[i].tokens;
  EXPECT_GT(differ, 0);
  // Two samples of one prompt differ too (each has its own seed).
  EXPECT_NE(a[0].tokens, a[1].tokens);
}

TEST(BatchGenerate, DenseMatchesSequentialSessions) { expect_batched_equals_sequential("qwen2-mini-f32.gguf"); }
TEST(BatchGenerate, DeepseekMatchesSequentialSessions) { expect_batched_equals_sequential("deepseek2-mini-f32.gguf"); }

// Quantized weights on the dot-product kernels (every token's row computed alone): the results
// do not depend on how many sequences share a step. (The avx512vnni tile and one-token kernels
// round a row differently depending on the number of tokens in the pass, so there a quantized
// model's samples can depend on the batch; f32 weights, as GRPO's policy, always use the dot
// products.)
TEST(BatchGenerate, QuantizedResultsDoNotDependOnTheBatch) {
  ASSERT_TRUE(force_matmul_backend("scalar"));
  struct Restore {
    ~Restore() { force_matmul_backend("auto"); }
  } restore;
  for (const std::string file : {"qwen2-mini-q8_0.gguf", "qwen2-mini-q4_k_m.gguf", "deepseek2-mini-q8_0.gguf"}) {
    const auto model = Model::load(kData + file);
    for (const float temp : {0.0f, 0.9f}) {
      const GenerationParams gp = params(temp, 3);
      BatchGenerateOptions one;
      one.max_parallel = 1;
      const auto want = batch_generate(*model, kPrompts, kSamples, gp, one).results;
      BatchGenerateOptions many;
      many.threads = 1;
      expect_same(batch_generate(*model, kPrompts, kSamples, gp, many).results, want, file + " T " + std::to_string(temp));
    }
  }
  // On the fastest kernels too, one batch layout gives the same samples whatever the threads:
  // which sequences share a step does not depend on timing.
  force_matmul_backend("auto");
  for (const std::string file : {"qwen2-mini-q4_k_m.gguf", "deepseek2-mini-q8_0.gguf"}) {
    const auto model = Model::load(kData + file);
    BatchGenerateOptions a, b;
    a.threads = 1;
    b.threads = 2;
    expect_same(batch_generate(*model, kPrompts, kSamples, params(0.9f, 4), a).results,
                batch_generate(*model, kPrompts, kSamples, params(0.9f, 4), b).results, file + " auto kernels");
  }
}

TEST(BatchGenerate, StopsAtEosAndLimitsLikeSession) {
  // Without ignore_eos and with a stop string, the finish reasons and cut texts agree too.
  const auto model = Model::load(kData + "qwen2-mini-f32.gguf");
  GenerationParams gp = params(1.0f, 5);
  gp.ignore_eos = false;
  gp.max_tokens = 40;
  gp.stop = {"e"};
  const auto want = sequential(*model, gp);
  BatchGenerateOptions o;
  o.max_parallel = 4;
  expect_same(batch_generate(*model, kPrompts, kSamples, gp, o).results, want, "stop/eos");
}

TEST(BatchGenerate, ReasoningBudgetLikeSession) {
  // A prompt that ends inside the think block: the budget forces "</think>" after 3 tokens.
  const auto model = Model::load(kData + "qwen2-mini-f32.gguf");
  const std::vector<int32_t> prompt = model->tokenizer().encode("Hi<think>\n", /*add_special=*/false);
  GenerationParams gp = params(0.8f, 9);
  gp.reasoning_budget = 3;
  gp.max_tokens = 16;
  Session session(*model, 256, 2);
  std::vector<GenerationResult> want;
  for (uint64_t s = 0; s < 3; s++) {
    GenerationParams one = gp;
    one.sampling.seed = gp.sampling.seed + s;
    want.push_back(session.generate(prompt, one));
  }
  const auto got = batch_generate(*model, {prompt}, {3}, gp).results;
  expect_same(got, want, "reasoning budget");
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_NE(got[i].text.find("</think>"), std::string::npos) << got[i].text;
    EXPECT_EQ(got[i].reasoning, want[i].reasoning);
    EXPECT_EQ(got[i].answer, want[i].answer);
    EXPECT_EQ(got[i].reasoning_tokens, want[i].reasoning_tokens);
  }
}

TEST(BatchGenerate, BadInputFailsClearly) {
  const auto model = Model::load(kData + "qwen2-mini-f32.gguf");
  const GenerationParams gp = params(0, 1);
  EXPECT_THROW(batch_generate(*model, kPrompts, {1, 1}, gp), Error);             // sizes differ
  EXPECT_THROW(batch_generate(*model, {{1, 2}}, {-1}, gp), Error);               // negative count
  EXPECT_THROW(batch_generate(*model, {{1, 2}, {}}, {1, 1}, gp), Error);         // empty prompt
  BatchGenerateOptions small;
  small.n_ctx = 4;
  EXPECT_THROW(batch_generate(*model, {{1, 2, 3, 4, 5, 6}}, {2}, gp, small), Error);  // longer than the context
  BatchGenerateOptions none;
  none.max_parallel = 0;
  EXPECT_THROW(batch_generate(*model, kPrompts, kSamples, gp, none), Error);
  GenerationParams mtp = gp;
  mtp.mtp = true;
  EXPECT_THROW(batch_generate(*model, kPrompts, kSamples, mtp), Error);
  // Nothing asked, nothing generated.
  EXPECT_TRUE(batch_generate(*model, {{1, 2}}, {0}, gp).results.empty());
}

}  // namespace
}  // namespace r1
