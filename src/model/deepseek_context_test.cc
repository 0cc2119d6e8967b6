// The drafting state of DeepseekContext: whatever sequence of forward() chunks and truncate()
// calls led to a cache, draft(next) must give the logits the MTP module gives when it is run from
// scratch over the whole sequence (h_i from one main pass, entries (h_i, t_{i+1}), t_P = next).
#include "model/deepseek_context.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "model/deepseek_model.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

const std::string kData = std::string(R1_TEST_DATA_DIR) + "/";

class DeepseekDraftTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = DeepseekModel::load(kData + "models/deepseek2-mini-hf").release(); }
  static void TearDownTestSuite() { delete model_; }

  const DeepseekConfig& c() const { return model_->config(); }

  // The MTP module's logits for the token after `next`, following `ids`, computed from scratch.
  std::vector<float> reference_draft(const std::vector<int32_t>& ids, int32_t next) {
    const auto P = int64_t(ids.size());
    DeepseekActivations act(c(), P, P + 1, pool_.size());
    LatentKVCache cache = make_latent_cache(c(), P + 1), mtp_cache = make_mtp_cache(c(), P + 1);
    std::vector<float> logits(size_t(P * c().n_vocab)), hidden(size_t(P * c().n_embd));
    deepseek_forward(c(), model_->weights(), cache, act, pool_, ids.data(), P, true, logits.data(), hidden.data());
    std::vector<int32_t> after(ids.begin() + 1, ids.end());
    after.push_back(next);
    std::vector<float> drafts(size_t(P * c().n_vocab));
    mtp_forward(c(), *model_->weights().mtp, mtp_cache, act, pool_, after.data(), hidden.data(), P, drafts.data());
    return std::vector<float>(drafts.end() - c().n_vocab, drafts.end());
  }

  void expect_draft(DeepseekContext& ctx, const std::vector<int32_t>& ids, int32_t next, const char* what) {
    ASSERT_EQ(ctx.n_past(), int64_t(ids.size())) << what;
    std::vector<float> got(size_t(c().n_vocab));
    ctx.draft(next, got.data());
    const std::vector<float> want = reference_draft(ids, next);
    double num = 0, den = 0;
    for (size_t i = 0; i < want.size(); i++) {
      num += (got[i] - want[i]) * double(got[i] - want[i]);
      den += double(want[i]) * want[i];
    }
    EXPECT_LT(std::sqrt(num / den), 1e-5) << what;
  }

  static DeepseekModel* model_;
  ThreadPool pool_{2};
  // A fixed token sequence (ids < the mini models' 512).
  std::vector<int32_t> seq_ = {0, 17, 301, 45, 9, 250, 77, 77, 3, 480, 12, 199, 64, 5, 333, 101, 2, 411, 90, 23};
};
DeepseekModel* DeepseekDraftTest::model_ = nullptr;

std::vector<int32_t> head(const std::vector<int32_t>& v, size_t n) { return {v.begin(), v.begin() + std::ptrdiff_t(n)}; }

TEST_F(DeepseekDraftTest, DraftsEqualAFreshRunAfterChunksAndTruncations) {
  ASSERT_TRUE(model_->weights().mtp.has_value());
  DeepseekContext ctx(c(), model_->weights(), 64, pool_, /*max_batch=*/4);
  ASSERT_TRUE(ctx.enable_drafts());
  std::vector<float> logits(size_t(c().n_vocab * seq_.size()));
  // A prompt longer than a chunk, then single tokens and pairs as speculative decoding sends them.
  ctx.forward(seq_.data(), 10, false, logits.data());
  expect_draft(ctx, head(seq_, 10), seq_[10], "after a 10-token prompt in chunks of 4");
  ctx.forward(seq_.data() + 10, 2, true, logits.data());  // begins with the drafted `next`
  expect_draft(ctx, head(seq_, 12), seq_[12], "after a pair");
  ctx.forward(seq_.data() + 12, 2, true, logits.data());
  ctx.truncate(13);  // a rejected draft: the last hidden state is in the last chunk
  expect_draft(ctx, head(seq_, 13), 42, "after dropping a draft");
  ctx.forward(seq_.data() + 13, 1, false, logits.data());  // not the token drafted from
  expect_draft(ctx, head(seq_, 14), seq_[14], "after a token other than the drafted one");
  ctx.draft(7, logits.data());  // drafting twice at a position keeps only the last
  expect_draft(ctx, head(seq_, 14), seq_[14], "after drafting twice");
  ctx.truncate(6);  // into an older chunk: position 5 is recomputed
  expect_draft(ctx, head(seq_, 6), seq_[6], "after truncating into an older chunk");
  ctx.forward(seq_.data() + 6, 9, false, logits.data());
  expect_draft(ctx, head(seq_, 15), seq_[15], "after a long extension");
  ctx.truncate(0);
  ctx.forward(seq_.data(), 3, false, logits.data());
  expect_draft(ctx, head(seq_, 3), seq_[3], "after a restart");
}

TEST_F(DeepseekDraftTest, EnablingLateReplaysTheCache) {
  DeepseekContext ctx(c(), model_->weights(), 64, pool_, 8);
  std::vector<float> logits(size_t(c().n_vocab)), plain(size_t(c().n_vocab));
  ctx.forward(seq_.data(), 11, false, plain.data());
  ASSERT_TRUE(ctx.enable_drafts());
  expect_draft(ctx, head(seq_, 11), seq_[11], "enabled after 11 tokens");
  ctx.forward(seq_.data() + 11, 1, false, logits.data());
  // The replay rewrote the cache with the same values: the next logits are the plain ones.
  DeepseekContext fresh(c(), model_->weights(), 64, pool_, 8);
  fresh.forward(seq_.data(), 12, false, plain.data());
  for (size_t i = 0; i < plain.size(); i++) ASSERT_NEAR(logits[i], plain[i], 1e-4f * (1 + std::fabs(plain[i])));
}

TEST_F(DeepseekDraftTest, FailuresAndModelsWithoutMtp) {
  DeepseekContext ctx(c(), model_->weights(), 16, pool_, 4);
  std::vector<float> logits(size_t(c().n_vocab));
  EXPECT_THROW(ctx.draft(1, logits.data()), Error);  // not enabled
  ASSERT_TRUE(ctx.enable_drafts());
  EXPECT_THROW(ctx.draft(1, logits.data()), Error);  // nothing cached
  ctx.forward(seq_.data(), 6, false, logits.data());
  const int32_t bad[2] = {5, int32_t(c().n_vocab)};
  EXPECT_THROW(ctx.forward(bad, 2, false, logits.data()), Error);
  EXPECT_THROW(ctx.draft(int32_t(c().n_vocab), logits.data()), Error);
  EXPECT_EQ(ctx.n_past(), 6);
  expect_draft(ctx, head(seq_, 6), seq_[6], "after failed calls");
  EXPECT_THROW(ctx.forward(seq_.data(), 11, false, logits.data()), Error);  // does not fit
  EXPECT_EQ(ctx.n_past(), 6);

  auto gguf = DeepseekModel::load(kData + "models/deepseek2-mini-f32.gguf");
  DeepseekContext no_mtp(gguf->config(), gguf->weights(), 16, pool_, 4);
  EXPECT_FALSE(no_mtp.enable_drafts());
}

}  // namespace
}  // namespace r1
