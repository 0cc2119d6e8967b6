// InferenceContext for DeepSeek-V2/V3 (MLA + MoE): a latent KV cache (kv_lora_rank + qk_rope_dim
// values per token and layer) and the activation buffers of deepseek_forward, sized once.
#pragma once
#include <cstdint>

#include "model/context.h"
#include "model/deepseek_forward.h"

namespace r1 {

class ThreadPool;

class DeepseekContext final : public InferenceContext {
 public:
  // config, weights and pool must outlive the context.
  DeepseekContext(const DeepseekConfig& config, const DeepseekWeights& weights, int64_t n_ctx, ThreadPool& pool,
                  int64_t max_batch);

  int64_t n_past() const override { return cache_.size(); }
  int64_t n_ctx() const override { return cache_.capacity(); }
  void truncate(int64_t n) override { cache_.truncate(n); }
  void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) override;

 private:
  const DeepseekConfig& config_;
  const DeepseekWeights& weights_;
  ThreadPool& pool_;
  LatentKVCache cache_;
  DeepseekActivations act_;
};

}  // namespace r1
