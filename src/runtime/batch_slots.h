// The KV caches of several sequences of one model (a dense model's KVCache, a DeepSeek model's
// LatentKVCache) and the two passes over them: a prompt alone, and one decode step of a token for
// each of several sequences together (model/batch.h, model/deepseek_batch.h: each projection one
// matrix product over all of the step's tokens). Driven from one thread: batch_generate's loop and
// `r1 bench --parallel`.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "model/deepseek_forward.h"
#include "model/dense.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace r1 {

class ThreadPool;

class BatchSlots {
 public:
  // n sequences of up to n_ctx tokens each, in caches of model.kv_cache_types(), computed on pool.
  BatchSlots(const Model& model, int n, int64_t n_ctx, ThreadPool& pool);
  // Sequence i keeps its first n tokens.
  void truncate(int i, int64_t n);
  // ids[0..n) appended to sequence i; logits [n_vocab] of the last.
  void prompt(int i, const int32_t* ids, int64_t n, float* logits);
  // ids[j] appended to sequence seqs[j], one pass for all; logits [seqs.size()][n_vocab].
  void step(const std::vector<int>& seqs, const int32_t* ids, float* logits);

 private:
  const Model& model_;
  ThreadPool& pool_;
  std::vector<KVCache> kv_;
  std::vector<LatentKVCache> latent_;
  std::unique_ptr<DenseActivations> act_;
  std::unique_ptr<DeepseekActivations> deepseek_act_;
};

}  // namespace r1
