#include "model/dense.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "model/token_rows.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

void rope_rows(const RopeTable& rope, float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t pos0,
               ThreadPool& pool) {
  for_tokens(pool, n, [&](int64_t i) { rope.apply(x + i * n_heads * head_dim, int(n_heads), head_dim, pos0 + i); });
}

// A pass of at least this many tokens (a prompt) attends in bf16 products where they are on
// (ops/attention.h): the layer's keys and values are packed once and shared by all of its tokens.
// Decode steps stay on the cache's own rows: they read each position once, bound by memory.
constexpr int64_t kBf16AttentionMinTokens = 16;

// Elements of one KV head's part of act.k_bf16 / act.v_bf16.
size_t bf16_head_elems(const ModelConfig& c, const DenseActivations& act) { return size_t((act.n_ctx + 1) * c.head_dim); }

// Packs positions 0..N-1 of every KV head of the layer into act.k_bf16 / act.v_bf16, in blocks of
// 64 positions (an even count, so value pairs never straddle two blocks).
void pack_bf16_heads(const ModelConfig& c, const KVCache& cache, int64_t layer, int64_t N, DenseActivations& act,
                     ThreadPool& pool) {
  const int64_t hd = c.head_dim, blocks = (N + 63) / 64;
  const size_t per_head = bf16_head_elems(c, act);
  if (act.k_bf16.size() < per_head * size_t(c.n_head_kv)) {
    act.k_bf16.resize(per_head * size_t(c.n_head_kv));
    act.v_bf16.resize(per_head * size_t(c.n_head_kv));
  }
  pool.run([&](int tid, int nt) {
    for (int64_t item = tid; item < c.n_head_kv * blocks; item += nt) {
      const int64_t g = item / blocks, t0 = (item % blocks) * 64, m = std::min<int64_t>(64, N - t0);
      const size_t to = g * per_head + size_t(t0 * hd);
      pack_bf16_rows(cache.type(0), cache.rows(layer, g, 0) + size_t(t0) * cache.row_bytes(0), hd, m, hd,
                     act.k_bf16.data() + to);
      pack_bf16_pairs(cache.type(1), cache.rows(layer, g, 1) + size_t(t0) * cache.row_bytes(1), hd, m, hd,
                      act.v_bf16.data() + to);
    }
  });
}

}  // namespace

// Items (head, range) are dealt to the threads, each range's attention kept with its log-sum-exps,
// and the ranges merged per head (ops/attention.h).
void attention_decode_split(const ModelConfig& c, const KVCache& cache, int64_t layer, int64_t n_keys, int64_t parts,
                            float scale, DenseActivations& act, ThreadPool& pool) {
  const int64_t hd = c.head_dim, group = c.n_head / c.n_head_kv;
  pool.run([&](int tid, int nt) {
    float* scores = act.scores.data() + size_t(tid) * size_t(group * act.n_ctx);
    for (int64_t item = tid; item < c.n_head_kv * parts; item += nt) {
      const int64_t g = item / parts, p = item % parts;
      const int64_t k0 = n_keys * p / parts, k1 = n_keys * (p + 1) / parts;
      cache.attend_part(layer, g, act.q.data() + g * group * hd, group, k0, k1, scale,
                        act.part_out.data() + item * group * hd, act.part_lse.data() + item * group, scores);
    }
  });
  for (int64_t g = 0; g < c.n_head_kv; g++) {
    merge_attention_parts(parts, group, hd, act.part_out.data() + g * parts * group * hd,
                          act.part_lse.data() + g * parts * group, act.att.data() + g * group * hd);
  }
}

namespace {

// Prompt attention over cache rows that the float32 kernels read widened (ops/attention.h): items are
// (key/value head, block of consecutive tokens), each widening the positions its tokens see once
// (with an item per token, every token widened its whole prefix again). Blocks are small enough for
// ~4 items per thread; later blocks see more keys, so items are dealt round-robin.
void attention_widened_tokens(const ModelConfig& c, const KVCache& cache, int64_t layer, int64_t pos0, int64_t n,
                              float scale, DenseActivations& act, ThreadPool& pool) {
  const int64_t hd = c.head_dim, group = c.n_head / c.n_head_kv;
  const int64_t per_block = std::clamp<int64_t>(n * c.n_head_kv / (4 * pool.size()), 1, 64);
  const int64_t blocks = (n + per_block - 1) / per_block;
  pool.run([&](int tid, int nt) {
    float* scores = act.scores.data() + size_t(tid) * size_t(group * act.n_ctx);
    for (int64_t item = tid; item < blocks * c.n_head_kv; item += nt) {
      const int64_t i0 = item / c.n_head_kv * per_block, g = item % c.n_head_kv, m = std::min(per_block, n - i0);
      const int64_t head0 = i0 * c.q_dim() + g * group * hd;
      cache.attend_tokens(layer, g, act.q.data() + head0, c.q_dim(), m, group, pos0 + i0 + 1, scale,
                          act.att.data() + head0, c.q_dim(), scores);
    }
  });
}

// Causal grouped-query attention of the n new tokens (positions pos0..pos0+n-1) over the cache
// of this layer. Work items are (token, key/value head) pairs dealt round-robin to the threads,
// which evens out the causal triangle; an item's query heads share their keys (ops/attention.h).
// Each thread keeps its scores in its own rows of act.scores.
void attention_forward(const ModelConfig& c, const KVCache& cache, int64_t layer, int64_t pos0, int64_t n,
                       DenseActivations& act, ThreadPool& pool) {
  const int64_t hd = c.head_dim, group = c.n_head / c.n_head_kv;
  const float scale = 1.0f / std::sqrt(float(hd));
  if (n == 1) {
    const int64_t parts = decode_parts(c.n_head_kv, pool.size(), pos0 + 1);
    if (parts > 1) return attention_decode_split(c, cache, layer, pos0 + 1, parts, scale, act, pool);
  }
  const bool bf16 = n >= kBf16AttentionMinTokens && attend_bf16_available(hd, hd);
  if (!bf16 && n > 1 && attention_widens_rows(cache.type(0), cache.type(1), hd, hd)) {
    return attention_widened_tokens(c, cache, layer, pos0, n, scale, act, pool);
  }
  if (bf16) pack_bf16_heads(c, cache, layer, pos0 + n, act, pool);
  const size_t per_head = bf16_head_elems(c, act);
  pool.run([&](int tid, int nt) {
    float* scores = act.scores.data() + size_t(tid) * size_t(group * act.n_ctx);
    for (int64_t item = tid; item < n * c.n_head_kv; item += nt) {
      const int64_t i = item / c.n_head_kv, g = item % c.n_head_kv;
      const int64_t head0 = i * c.q_dim() + g * group * hd;
      if (bf16) {
        attend_bf16(act.q.data() + head0, group, hd, act.k_bf16.data() + g * per_head, pos0 + i + 1,
                    act.v_bf16.data() + g * per_head, hd, scale, act.att.data() + head0);
      } else {
        cache.attend(layer, g, act.q.data() + head0, group, pos0 + i + 1, scale, act.att.data() + head0, scores);
      }
    }
  });
}

// Attention sub-block: x += o_proj(attention(rope(q), rope(k), v)) for the n tokens of the chunk.
void attention_block(const ModelConfig& c, const LayerWeights& L, KVCache& cache, int64_t layer, int64_t pos0,
                     int64_t n, DenseActivations& act, ThreadPool& pool) {
  rmsnorm_rows(act.x.data(), L.attn_norm, n, c.n_embd, c.rms_eps, act.xn.data(), pool);
  matmul_shared_input({{&L.wq, act.q.data()}, {&L.wk, act.k.data()}, {&L.wv, act.v.data()}}, act.xn.data(), n, pool);
  add_bias_rows(act.q.data(), L.bq, n, c.q_dim(), pool);
  add_bias_rows(act.k.data(), L.bk, n, c.kv_dim(), pool);
  add_bias_rows(act.v.data(), L.bv, n, c.kv_dim(), pool);
  rope_rows(act.rope, act.q.data(), n, c.n_head, c.head_dim, pos0, pool);
  rope_rows(act.rope, act.k.data(), n, c.n_head_kv, c.head_dim, pos0, pool);
  // Append k, v to the cache: token-major rows become head-major rows at positions pos0..
  for_tokens(pool, n, [&](int64_t i) {
    for (int64_t h = 0; h < c.n_head_kv; h++) {
      const size_t at = size_t(i * c.kv_dim() + h * c.head_dim);
      cache.write(layer, h, pos0 + i, act.k.data() + at, act.v.data() + at);
    }
  });
  attention_forward(c, cache, layer, pos0, n, act, pool);
  matmul(L.wo, act.att.data(), n, act.proj.data(), pool);
  add_rows(act.x.data(), act.proj.data(), n, c.n_embd, pool);
}

// MLP sub-block: x += down(silu(gate(xn)) * up(xn)).
void mlp_block(const ModelConfig& c, const LayerWeights& L, int64_t n, DenseActivations& act, ThreadPool& pool) {
  rmsnorm_rows(act.x.data(), L.ffn_norm, n, c.n_embd, c.rms_eps, act.xn.data(), pool);
  matmul_shared_input({{&L.w_gate, act.gate.data()}, {&L.w_up, act.up.data()}}, act.xn.data(), n, pool);
  swiglu_rows(act.gate.data(), act.up.data(), n, c.n_ff, pool);
  matmul(L.w_down, act.gate.data(), n, act.proj.data(), pool);
  add_rows(act.x.data(), act.proj.data(), n, c.n_embd, pool);
}

RopeParams rope_params(const ModelConfig& c) {
  RopeParams p;
  p.n_dims = int(c.head_dim);
  p.theta = c.rope_theta;
  p.pairing = c.rope_pairing;
  p.freq_factors = c.rope_freq_factors;
  return p;
}

}  // namespace

int64_t decode_parts(int64_t n_head_kv, int n_threads, int64_t n_keys) {
  if (n_head_kv % n_threads == 0) return 1;
  const int64_t parts = n_threads / std::gcd(n_head_kv, int64_t{n_threads});
  return n_keys >= kMinKeysPerPart * parts ? parts : 1;
}

DenseActivations::DenseActivations(const ModelConfig& c, int64_t max_batch_, int64_t n_ctx_, int n_threads)
    : max_batch(max_batch_), n_ctx(n_ctx_), rope(rope_params(c), n_ctx_) {
  if (max_batch <= 0) fail("batch size must be positive (got ", max_batch, ")");
  const auto b = size_t(max_batch);
  x.resize(b * size_t(c.n_embd));
  xn.resize(b * size_t(c.n_embd));
  q.resize(b * size_t(c.q_dim()));
  k.resize(b * size_t(c.kv_dim()));
  v.resize(b * size_t(c.kv_dim()));
  att.resize(b * size_t(c.q_dim()));
  proj.resize(b * size_t(c.n_embd));
  gate.resize(b * size_t(c.n_ff));
  up.resize(b * size_t(c.n_ff));
  scores.resize(size_t(std::max(n_threads, 1)) * size_t(c.n_head / c.n_head_kv) * size_t(n_ctx));
  part_out.resize(size_t(std::max(n_threads, 1)) * size_t(c.n_head * c.head_dim));
  part_lse.resize(size_t(std::max(n_threads, 1)) * size_t(c.n_head));
}

void dense_forward(const ModelConfig& c, const DenseWeights& w, KVCache& cache, DenseActivations& act,
                   ThreadPool& pool, const int32_t* ids, int64_t n, bool all_logits, float* logits) {
  if (n <= 0) fail("forward: no tokens given");
  cache.check_room(n);
  for (int64_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= c.n_vocab) fail("token id ", ids[i], " is outside the vocabulary (", c.n_vocab, " tokens)");
  }
  if (cache.capacity() > act.n_ctx) fail("forward: activations sized for ", act.n_ctx, " positions, cache holds ", cache.capacity());
  if (int64_t(act.scores.size()) < int64_t(pool.size()) * (c.n_head / c.n_head_kv) * act.n_ctx) fail("forward: activations sized for fewer threads than the pool has");
  for (int64_t start = 0; start < n; start += act.max_batch) {
    const int64_t m = std::min(act.max_batch, n - start);
    const int64_t pos0 = cache.size();
    embed_rows(w.token_embd, ids + start, m, c.n_embd, act.x.data(), pool);
    for (int64_t l = 0; l < c.n_layer; l++) {
      attention_block(c, w.layers[size_t(l)], cache, l, pos0, m, act, pool);
      mlp_block(c, w.layers[size_t(l)], m, act, pool);
    }
    cache.advance(m);
    // Output head: every row of the chunk, or only the very last token of the whole input.
    const bool last_chunk = start + m == n;
    if (!all_logits && !last_chunk) continue;
    const int64_t first = all_logits ? 0 : m - 1, rows = m - first;
    rmsnorm_rows(act.x.data() + first * c.n_embd, w.output_norm, rows, c.n_embd, c.rms_eps, act.xn.data(), pool);
    float* dst = all_logits ? logits + start * c.n_vocab : logits;
    matmul(w.output, act.xn.data(), rows, dst, pool);
  }
}

}  // namespace r1
