#include "model/deepseek_forward.h"

#include <algorithm>

#include "core/error.h"
#include "model/token_rows.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

// One block: x += MLA(attn_norm(x)); x += FFN(ffn_norm(x)). `layer` indexes the cache.
void block_forward(const DeepseekConfig& c, const DeepseekLayer& L, bool moe, int64_t layer, LatentKVCache& cache,
                   int64_t pos0, int64_t n, DeepseekActivations& act, ThreadPool& pool) {
  const int64_t D = c.n_embd;
  rmsnorm_rows(act.x.data(), L.attn_norm, n, D, c.rms_eps, act.xn.data(), pool);
  mla_forward(c, L.attn, cache, layer, pos0, act.xn.data(), n, act.proj.data(), act.mla, pool);
  add_rows(act.x.data(), act.proj.data(), n, D, pool);
  rmsnorm_rows(act.x.data(), L.ffn_norm, n, D, c.rms_eps, act.xn.data(), pool);
  if (moe) {
    moe_forward(c, L.moe, act.xn.data(), n, act.proj.data(), act.ffn, pool);
  } else {
    ffn_forward(L.dense, act.xn.data(), n, act.proj.data(), act.ffn, pool);
  }
  add_rows(act.x.data(), act.proj.data(), n, D, pool);
}

// The checks every entry point makes before touching the cache.
void check_call(const DeepseekConfig& c, const LatentKVCache& cache, const DeepseekActivations& act, ThreadPool& pool,
                const int32_t* ids, int64_t n) {
  if (n <= 0) fail("forward: no tokens given");
  cache.check_room(n);
  for (int64_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= c.n_vocab) fail("token id ", ids[i], " is outside the vocabulary (", c.n_vocab, " tokens)");
  }
  if (cache.capacity() > act.mla.n_ctx) {
    fail("forward: activations sized for ", act.mla.n_ctx, " positions, cache holds ", cache.capacity());
  }
  if (int64_t(act.mla.scores.size()) < int64_t(pool.size()) * MlaScratch::kHeadBlock * act.mla.n_ctx) {
    fail("forward: activations sized for fewer threads than the pool has");
  }
}

}  // namespace

DeepseekActivations::DeepseekActivations(const DeepseekConfig& c, int64_t max_batch_, int64_t n_ctx, int n_threads)
    : max_batch(max_batch_),
      x(size_t(std::max<int64_t>(max_batch_, 0) * c.n_embd)),
      xn(x.size()),
      proj(x.size()),
      mla(c, max_batch_, n_ctx, n_threads),
      ffn(c, max_batch_) {}

LatentKVCache make_latent_cache(const DeepseekConfig& c, int64_t capacity, DType type) {
  return LatentKVCache(c.n_layer, c.latent_dim(), capacity, type);
}

void deepseek_forward(const DeepseekConfig& c, const DeepseekWeights& w, LatentKVCache& cache,
                      DeepseekActivations& act, ThreadPool& pool, const int32_t* ids, int64_t n, bool all_logits,
                      float* logits, float* hidden) {
  check_call(c, cache, act, pool, ids, n);
  const int64_t D = c.n_embd;
  for (int64_t start = 0; start < n; start += act.max_batch) {
    const int64_t m = std::min(act.max_batch, n - start);
    const int64_t pos0 = cache.size();
    embed_rows(w.token_embd, ids + start, m, D, act.x.data(), pool);
    for (int64_t l = 0; l < c.n_layer; l++) {
      block_forward(c, w.layers[size_t(l)], c.is_moe_layer(l), l, cache, pos0, m, act, pool);
    }
    cache.advance(m);
    // Output head: every row of the chunk, or only the very last token of the whole input.
    const bool last_chunk = start + m == n;
    const bool want_rows = all_logits || hidden;
    if (!want_rows && !last_chunk) continue;
    const int64_t first = want_rows ? 0 : m - 1, rows = m - first;
    rmsnorm_rows(act.x.data() + first * D, w.output_norm, rows, D, c.rms_eps, act.xn.data(), pool);
    if (hidden) std::copy_n(act.xn.data(), rows * D, hidden + (start + first) * D);
    if (all_logits) {
      matmul(w.output, act.xn.data(), rows, logits + start * c.n_vocab, pool);
    } else if (last_chunk) {
      matmul(w.output, act.xn.data() + (rows - 1) * D, 1, logits, pool);
    }
  }
}

LatentKVCache make_mtp_cache(const DeepseekConfig& c, int64_t capacity, DType type) {
  return LatentKVCache(1, c.latent_dim(), capacity, type);
}

void mtp_forward(const DeepseekConfig& c, const MtpWeights& w, LatentKVCache& cache, DeepseekActivations& act,
                 ThreadPool& pool, const int32_t* ids, const float* hidden, int64_t n, float* logits) {
  check_call(c, cache, act, pool, ids, n);
  const int64_t D = c.n_embd;
  std::vector<float> cat(size_t(std::min(act.max_batch, n) * 2 * D));
  for (int64_t start = 0; start < n; start += act.max_batch) {
    const int64_t m = std::min(act.max_batch, n - start);
    const int64_t pos0 = cache.size();
    // x = eh_proj([enorm(embed(t_{i+1})) ; hnorm(h_i)]), embedding half first.
    for (int64_t i = 0; i < m; i++) {
      float* e = cat.data() + i * 2 * D;
      dequantize_row(w.embed.type, w.embed.row(ids[start + i]), e, D);
      rmsnorm(e, e, static_cast<const float*>(w.enorm.data), c.rms_eps, D);
      rmsnorm(e + D, hidden + (start + i) * D, static_cast<const float*>(w.hnorm.data), c.rms_eps, D);
    }
    linear(w.eh_proj, cat.data(), m, act.x.data(), pool);
    block_forward(c, w.layer, true, 0, cache, pos0, m, act, pool);
    cache.advance(m);
    if (!logits) continue;  // only filling the cache (speculative decoding catching up)
    rmsnorm_rows(act.x.data(), w.head_norm, m, D, c.rms_eps, act.xn.data(), pool);
    matmul(w.head, act.xn.data(), m, logits + start * c.n_vocab, pool);
  }
}

}  // namespace r1
