#include "model/dense_context.h"

#include "core/error.h"
#include "util/threadpool.h"

namespace r1 {

DenseContext::DenseContext(const ModelConfig& config, const DenseWeights& weights, int64_t n_ctx, ThreadPool& pool,
                           int64_t max_batch, CacheTypes cache_types)
    : config_(config),
      weights_(weights),
      pool_(pool),
      cache_(config.n_layer, config.n_head_kv, config.head_dim, n_ctx, cache_types),
      act_(config, max_batch, n_ctx, pool.size()) {}

void DenseContext::forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) {
  dense_forward(config_, weights_, cache_, act_, pool_, ids, n, all_logits, logits);
}

}  // namespace r1
