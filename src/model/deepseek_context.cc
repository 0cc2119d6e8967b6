#include "model/deepseek_context.h"

#include "util/threadpool.h"

namespace r1 {

DeepseekContext::DeepseekContext(const DeepseekConfig& config, const DeepseekWeights& weights, int64_t n_ctx,
                                 ThreadPool& pool, int64_t max_batch)
    : config_(config),
      weights_(weights),
      pool_(pool),
      cache_(make_latent_cache(config, n_ctx)),
      act_(config, max_batch, n_ctx, pool.size()) {}

void DeepseekContext::forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) {
  deepseek_forward(config_, weights_, cache_, act_, pool_, ids, n, all_logits, logits);
}

}  // namespace r1
