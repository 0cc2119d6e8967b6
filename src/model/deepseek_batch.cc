#include "model/deepseek_batch.h"

#include <algorithm>

#include "core/error.h"
#include "model/token_rows.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/quant.h"

namespace r1 {

void deepseek_forward_step(const DeepseekConfig& c, const DeepseekWeights& w, const std::vector<LatentKVCache*>& caches,
                           DeepseekActivations& act, ThreadPool& pool, const int32_t* ids, float* logits) {
  const int64_t n = int64_t(caches.size()), D = c.n_embd;
  if (n == 0) return;
  if (n > act.max_batch) fail("batch step: ", n, " sequences but activations for ", act.max_batch);
  for (int64_t i = 0; i < n; i++) {
    const LatentKVCache& cache = *caches[size_t(i)];
    cache.check_room(1);
    if (cache.capacity() > act.mla.n_ctx) fail("batch step: activations sized for ", act.mla.n_ctx, " positions, cache holds ", cache.capacity());
    if (ids[i] < 0 || ids[i] >= c.n_vocab) fail("token id ", ids[i], " is outside the vocabulary (", c.n_vocab, " tokens)");
    if (std::count(caches.begin(), caches.end(), caches[size_t(i)]) > 1) fail("batch step: a sequence is listed twice");
  }
  std::vector<LatentSlot> slots;
  for (LatentKVCache* cache : caches) slots.push_back({cache, cache->size()});

  auto norm_rows = [&](const TensorView& weight) { rmsnorm_rows(act.x.data(), weight, n, D, c.rms_eps, act.xn.data(), pool); };
  embed_rows(w.token_embd, ids, n, D, act.x.data(), pool);
  for (int64_t l = 0; l < c.n_layer; l++) {
    const DeepseekLayer& L = w.layers[size_t(l)];
    norm_rows(L.attn_norm);
    mla_forward_slots(c, L.attn, slots.data(), l, act.xn.data(), n, act.proj.data(), act.mla, pool);
    add_rows(act.x.data(), act.proj.data(), n, D, pool);
    norm_rows(L.ffn_norm);
    if (c.is_moe_layer(l)) {
      moe_forward(c, L.moe, act.xn.data(), n, act.proj.data(), act.ffn, pool);
    } else {
      ffn_forward(L.dense, act.xn.data(), n, act.proj.data(), act.ffn, pool);
    }
    add_rows(act.x.data(), act.proj.data(), n, D, pool);
  }
  for (LatentKVCache* cache : caches) cache->advance(1);
  norm_rows(w.output_norm);
  matmul(w.output, act.xn.data(), n, logits, pool);
}

}  // namespace r1
