// InferenceContext for the dense decoders (Qwen2 / Llama): a KV cache and the activation buffers
// of dense_forward, sized once for n_ctx positions and batches of up to max_batch tokens.
#pragma once
#include <cstdint>

#include "model/context.h"
#include "model/dense.h"
#include "model/kv_cache.h"

namespace r1 {

class ThreadPool;

class DenseContext final : public InferenceContext {
 public:
  // config, weights and pool must outlive the context.
  DenseContext(const ModelConfig& config, const DenseWeights& weights, int64_t n_ctx, ThreadPool& pool,
               int64_t max_batch, CacheTypes cache_types = DType::F32);

  int64_t n_past() const override { return cache_.size(); }
  int64_t n_ctx() const override { return cache_.capacity(); }
  void truncate(int64_t n) override { cache_.truncate(n); }
  void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) override;

 private:
  const ModelConfig& config_;
  const DenseWeights& weights_;
  ThreadPool& pool_;
  KVCache cache_;
  DenseActivations act_;
};

}  // namespace r1
