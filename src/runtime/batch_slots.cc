#include "runtime/batch_slots.h"

#include <algorithm>

#include "model/batch.h"
#include "model/deepseek_batch.h"
#include "model/deepseek_model.h"
#include "util/threadpool.h"

namespace r1 {

BatchSlots::BatchSlots(const Model& model, int n, int64_t n_ctx, ThreadPool& pool) : model_(model), pool_(pool) {
  const int64_t batch = std::max<int64_t>(512, n);
  if (const DeepseekModel* ds = model.deepseek()) {
    deepseek_act_ = std::make_unique<DeepseekActivations>(ds->config(), batch, n_ctx, pool.size());
    for (int i = 0; i < n; i++) latent_.push_back(make_latent_cache(ds->config(), n_ctx, model.kv_cache_types().k));
  } else {
    const ModelConfig& c = model.config();
    act_ = std::make_unique<DenseActivations>(c, batch, n_ctx, pool.size());
    for (int i = 0; i < n; i++) kv_.emplace_back(c.n_layer, c.n_head_kv, c.head_dim, n_ctx, model.kv_cache_types());
  }
}

void BatchSlots::truncate(int i, int64_t n) { act_ ? kv_[size_t(i)].truncate(n) : latent_[size_t(i)].truncate(n); }

void BatchSlots::prompt(int i, const int32_t* ids, int64_t n, float* logits) {
  if (const DeepseekModel* ds = model_.deepseek()) {
    deepseek_forward(ds->config(), ds->weights(), latent_[size_t(i)], *deepseek_act_, pool_, ids, n, false, logits);
  } else {
    dense_forward(model_.config(), model_.weights(), kv_[size_t(i)], *act_, pool_, ids, n, false, logits);
  }
}

void BatchSlots::step(const std::vector<int>& seqs, const int32_t* ids, float* logits) {
  if (const DeepseekModel* ds = model_.deepseek()) {
    std::vector<LatentKVCache*> caches;
    for (int i : seqs) caches.push_back(&latent_[size_t(i)]);
    deepseek_forward_step(ds->config(), ds->weights(), caches, *deepseek_act_, pool_, ids, logits);
  } else {
    std::vector<KVCache*> caches;
    for (int i : seqs) caches.push_back(&kv_[size_t(i)]);
    BatchEngine::forward_step(model_.config(), model_.weights(), caches, *act_, pool_, ids, logits);
  }
}

}  // namespace r1
