// InferenceContext for DeepSeek-V2/V3 (MLA + MoE): a latent KV cache (kv_lora_rank + qk_rope_dim
// values per token and layer) and the activation buffers of deepseek_forward, sized once.
//
// With drafts enabled (a checkpoint with an MTP module), the context also keeps the MTP module's
// one-layer latent cache: its entry i is computed from (h_i, t_{i+1}), the main model's final-normed
// hidden state at position i and the token after it. After every forward() it holds the entries
// 0 .. n_past()-2 and the context keeps h_{n_past()-1}; draft(next) adds entry n_past()-1 with
// `next` and returns its logits. A truncate() that cuts into an older chunk (whose hidden states
// are gone) makes the next call recompute the last kept token once to get its hidden state back.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "model/context.h"
#include "model/deepseek_forward.h"

namespace r1 {

class ThreadPool;

class DeepseekContext final : public InferenceContext {
 public:
  // config, weights and pool must outlive the context. cache_type: of the latent caches (F32, F16).
  DeepseekContext(const DeepseekConfig& config, const DeepseekWeights& weights, int64_t n_ctx, ThreadPool& pool,
                  int64_t max_batch, DType cache_type = DType::F32);

  int64_t n_past() const override { return cache_.size(); }
  int64_t n_ctx() const override { return cache_.capacity(); }
  void truncate(int64_t n) override;
  void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) override;
  bool enable_drafts() override;
  void draft(int32_t next, float* logits) override;

 private:
  // One chunk (n <= max_batch) through the main model and, with drafts on, the MTP module.
  void forward_chunk(const int32_t* ids, int64_t n, bool all_logits, float* logits);
  // Recomputes the main cache from position replay_from_ so that the last hidden state is known.
  void replay();

  const DeepseekConfig& config_;
  const DeepseekWeights& weights_;
  ThreadPool& pool_;
  LatentKVCache cache_;
  DeepseekActivations act_;
  std::vector<int32_t> tokens_;  // the ids in cache_, for replays

  // Drafting state (empty until enable_drafts()).
  bool drafting_ = false;
  std::optional<LatentKVCache> mtp_cache_;  // the MTP module's one-layer cache
  std::vector<float> hidden_;       // [max_batch][n_embd] hidden states of the last chunk
  int64_t hidden_pos_ = 0;          // position of hidden_'s first row
  int64_t hidden_rows_ = 0;         // rows of hidden_ that are valid
  int32_t draft_next_ = -1;         // `next` of mtp entry n_past()-1 when draft() made it
  int64_t replay_from_ = -1;        // >= 0: position to recompute from before the next call
  std::vector<float> scratch_logits_;  // [n_vocab] logits of a replay, thrown away
};

}  // namespace r1
