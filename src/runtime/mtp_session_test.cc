// Self-speculative decoding (GenerationParams::mtp): the session's accept / reject bookkeeping on a
// scripted context whose drafts are right or wrong on purpose, and on the DeepSeek mini model with
// an MTP layer, where the output must equal the output without drafts, greedy and sampled.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "model/model.h"
#include "runtime/session.h"
#include "testing/reference_data.h"

namespace r1 {
namespace {
using r1::test_data::read_ids;

const std::string kData = std::string(R1_TEST_DATA_DIR) + "/";

// Logits single out script[n - prompt_len] once the cache holds n tokens (the last entry when the
// script runs out). Drafts are right except at script positions divisible by `wrong_every`. It
// records the tokens it holds, to check that the session keeps its cache and its own list equal.
class ScriptedDraftContext final : public InferenceContext {
 public:
  ScriptedDraftContext(int64_t n_vocab, int64_t prompt_len, std::vector<int32_t> script, int wrong_every)
      : n_vocab_(n_vocab), prompt_len_(prompt_len), script_(std::move(script)), wrong_every_(wrong_every) {}
  int64_t n_past() const override { return int64_t(tokens_.size()); }
  int64_t n_ctx() const override { return 64; }
  void truncate(int64_t n) override { tokens_.resize(size_t(n)); }
  void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) override {
    for (int64_t i = 0; i < n; i++) {
      tokens_.push_back(ids[i]);
      if (all_logits || i == n - 1) one_hot(expected(n_past()), all_logits ? logits + i * n_vocab_ : logits);
    }
  }
  bool enable_drafts() override { return true; }
  void draft(int32_t next, float* logits) override {
    EXPECT_EQ(next, expected(n_past())) << "draft from a token that is not the sequence";
    const int64_t k = n_past() + 1 - prompt_len_;  // script index of the drafted token
    const int32_t right = expected(n_past() + 1);
    one_hot(k % wrong_every_ == 0 ? (right + 1) % int32_t(n_vocab_) : right, logits);
    drafts_++;
  }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  int drafts() const { return drafts_; }

 private:
  int32_t expected(int64_t n) const {
    const int64_t k = std::min<int64_t>(n - prompt_len_, int64_t(script_.size()) - 1);
    return script_[size_t(std::max<int64_t>(k, 0))];
  }
  void one_hot(int32_t id, float* row) const {
    std::fill(row, row + n_vocab_, 0.0f);
    row[id] = 1.0f;
  }
  int64_t n_vocab_, prompt_len_;
  std::vector<int32_t> script_;
  int wrong_every_;
  std::vector<int32_t> tokens_;
  int drafts_ = 0;
};

GenerationParams greedy(int64_t max_tokens, bool mtp) {
  GenerationParams p;
  p.sampling.temperature = 0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  p.mtp = mtp;
  return p;
}

TEST(MtpSession, AcceptsRightDraftsAndDropsWrongOnes) {
  auto model = Model::load(kData + "models/qwen2-mini-f32.gguf");  // for its tokenizer only
  const std::vector<int32_t> prompt = {10, 11, 12, 13};
  std::vector<int32_t> script;
  for (int32_t i = 0; i < 30; i++) script.push_back(100 + i);
  for (int wrong_every : {1, 3, 1000}) {
    auto owned = std::make_unique<ScriptedDraftContext>(model->n_vocab(), int64_t(prompt.size()), script, wrong_every);
    ScriptedDraftContext* ctx = owned.get();
    Session s(*model, std::move(owned));
    const GenerationResult r = s.generate(prompt, greedy(20, true));
    EXPECT_EQ(r.tokens, std::vector<int32_t>(script.begin(), script.begin() + 20)) << wrong_every;
    EXPECT_EQ(r.draft_tokens, ctx->drafts());
    // The cache holds what the session says, and that is the prompt and the generated tokens.
    EXPECT_EQ(s.cached_tokens(), ctx->tokens());
    std::vector<int32_t> seq = prompt;
    seq.insert(seq.end(), r.tokens.begin(), r.tokens.end());
    ASSERT_LE(ctx->tokens().size(), seq.size());
    EXPECT_TRUE(std::equal(ctx->tokens().begin(), ctx->tokens().end(), seq.begin()));
    if (wrong_every == 1) {  // every draft wrong: one draft per token after the first
      EXPECT_EQ(r.accepted_draft_tokens, 0);
      EXPECT_EQ(r.draft_tokens, 19);
    } else if (wrong_every == 1000) {  // every draft right: one pass per two tokens
      EXPECT_EQ(r.accepted_draft_tokens, r.draft_tokens);
      EXPECT_EQ(r.draft_tokens, 10);
    } else {
      EXPECT_GT(r.accepted_draft_tokens, 0);
      EXPECT_LT(r.accepted_draft_tokens, r.draft_tokens);
    }
  }
}

TEST(MtpSession, StopsAtAFullContextLikeWithoutDrafts) {
  auto model = Model::load(kData + "models/qwen2-mini-f32.gguf");
  const std::vector<int32_t> script = {200, 201, 202, 203, 204, 205};
  for (size_t prompt_len : {59, 60, 61, 62}) {
    const std::vector<int32_t> prompt(prompt_len, 5);
    GenerationResult r[2];
    for (bool mtp : {false, true}) {
      Session s(*model, std::make_unique<ScriptedDraftContext>(model->n_vocab(), int64_t(prompt_len), script, 1000));
      r[mtp] = s.generate(prompt, greedy(-1, mtp));
      EXPECT_LE(int64_t(s.cached_tokens().size()), 64);
    }
    EXPECT_EQ(r[1].finish_reason, "context");
    EXPECT_EQ(r[0].tokens, r[1].tokens) << prompt_len;
    EXPECT_EQ(r[1].tokens.size(), 64 - prompt_len) << prompt_len;
  }
}

class MtpDeepseekTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = Model::load(kData + "models/deepseek2-mini-hf").release(); }
  static void TearDownTestSuite() { delete model_; }
  static const Model* model_;
  const std::vector<int32_t> prompt_ = read_ids(kData + "refs/tokens.txt");
};
const Model* MtpDeepseekTest::model_ = nullptr;

TEST_F(MtpDeepseekTest, GreedyOutputIsTheSame) {
  Session plain(*model_, 256, 2), drafted(*model_, 256, 2);
  const GenerationResult a = plain.generate(prompt_, greedy(64, false));
  const GenerationResult b = drafted.generate(prompt_, greedy(64, true));
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.draft_tokens, 0);
  EXPECT_GT(b.draft_tokens, 0);
  EXPECT_LE(b.accepted_draft_tokens, b.draft_tokens);
  // Every token after the first comes from a checking pass or is a kept draft (the last one may be
  // kept with no room left to use it).
  EXPECT_GE(b.draft_tokens + b.accepted_draft_tokens, 63);
  EXPECT_LE(b.draft_tokens + b.accepted_draft_tokens, 64);
  std::printf("  MTP on random weights: %lld of %lld drafts accepted (%.1f%%), decode %.1f -> %.1f tok/s\n",
              (long long)b.accepted_draft_tokens, (long long)b.draft_tokens,
              100.0 * double(b.accepted_draft_tokens) / double(b.draft_tokens), a.decode_tokens_per_second,
              b.decode_tokens_per_second);

  // A second turn that extends the first (prefix reuse, truncation into an older chunk) and one
  // that branches off inside the prompt.
  for (size_t keep : {prompt_.size() + 10, prompt_.size() - 3}) {
    std::vector<int32_t> next(prompt_);
    next.insert(next.end(), a.tokens.begin(), a.tokens.begin() + 10);
    next.resize(keep);
    next.push_back(7);
    const GenerationResult a2 = plain.generate(next, greedy(24, false));
    const GenerationResult b2 = drafted.generate(next, greedy(24, true));
    EXPECT_EQ(a2.tokens, b2.tokens) << keep;
    EXPECT_EQ(a2.cached_prompt_tokens, b2.cached_prompt_tokens) << keep;
  }
}

TEST_F(MtpDeepseekTest, SampledOutputIsTheSameForASeed) {
  GenerationParams p = greedy(48, false);
  p.sampling.temperature = 1.0f;
  p.sampling.top_p = 0.9f;
  p.sampling.seed = 1234;
  Session plain(*model_, 256, 2), drafted(*model_, 256, 2);
  const GenerationResult a = plain.generate(prompt_, p);
  p.mtp = true;
  const GenerationResult b = drafted.generate(prompt_, p);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_GT(b.draft_tokens, 0);
}

TEST(MtpSessionErrors, ModelWithoutMtpModule) {
  auto model = Model::load(kData + "models/deepseek2-mini-f32.gguf");
  Session s(*model, 64, 1);
  EXPECT_THROW(s.generate({0, 5, 6}, greedy(4, true)), Error);
  auto dense = Model::load(kData + "models/qwen2-mini-f32.gguf");
  Session d(*dense, 64, 1);
  EXPECT_THROW(d.generate({0, 5, 6}, greedy(4, true)), Error);
}

}  // namespace
}  // namespace r1
