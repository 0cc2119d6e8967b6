#include "model/mla.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "util/threadpool.h"

namespace r1 {

LatentKVCache::LatentKVCache(int64_t n_layer, int64_t latent_dim, int64_t capacity)
    : n_layer_(n_layer), latent_dim_(latent_dim), capacity_(capacity) {
  if (n_layer <= 0 || latent_dim <= 0 || capacity <= 0) {
    fail("latent KV cache: sizes must be positive (layers ", n_layer, ", latent ", latent_dim, ", capacity ", capacity, ")");
  }
  data_.resize(size_t(n_layer) * size_t(latent_dim) * size_t(capacity));
}

void LatentKVCache::check_room(int64_t n) const {
  if (n < 0 || size_ + n > capacity_) {
    fail("context full: ", size_, " + ", n, " tokens do not fit in the ", capacity_, "-token context");
  }
}

void LatentKVCache::advance(int64_t n) {
  check_room(n);
  size_ += n;
}

void LatentKVCache::truncate(int64_t n) {
  if (n < 0 || n > size_) fail("latent KV cache: cannot truncate ", size_, " positions to ", n);
  size_ = n;
}

MlaScratch::MlaScratch(const DeepseekConfig& c, int64_t max_batch_, int64_t n_ctx_, int n_threads)
    : max_batch(max_batch_), n_ctx(n_ctx_), rope(c.rope, n_ctx_) {
  if (max_batch <= 0 || n_ctx <= 0) fail("attention scratch: batch (", max_batch, ") and context (", n_ctx, ") must be positive");
  const auto b = size_t(max_batch);
  const int64_t H = c.n_head, r = c.kv_lora_rank;
  q_a.resize(b * size_t(c.q_lora_rank));
  q.resize(b * size_t(H * c.qk_head_dim()));
  kv.resize(b * size_t(c.latent_dim()));
  head_in.resize(b * size_t(std::max(c.qk_nope_dim, r)));
  head_out.resize(b * size_t(std::max(r, c.v_head_dim)));
  q_abs.resize(b * size_t(H * r));
  u.resize(b * size_t(H * r));
  att.resize(b * size_t(H * c.v_head_dim));
  scores.resize(size_t(std::max(n_threads, 1)) * size_t(kHeadBlock * n_ctx));
  q_lat.resize(size_t(std::max(n_threads, 1)) * size_t(kHeadBlock * c.latent_dim()));
}

namespace {

// For every head h: dst[i][h] (rows values at stride H·rows) = rows [row0 + h·head_stride, + rows)
// of w times src[i][h] (w.ne[0] values at src_stride, offset h·src_head). One token (decode): each
// thread takes whole heads, one parallel step instead of one per head.
void per_head_matmul(const TensorView& w, int64_t row0, int64_t head_stride, int64_t rows, int64_t H, const float* src,
                     int64_t src_stride, int64_t src_head, int64_t n, float* dst, MlaScratch& s, ThreadPool& pool) {
  const int64_t k = w.ne[0];
  if (n == 1) {
    pool.run([&](int tid, int nt) {
      for (int64_t h = tid; h < H; h += nt) {
        matmul_rows(w, row0 + h * head_stride, rows, src + h * src_head, 1, dst + h * rows, serial_pool());
      }
    });
    return;
  }
  for (int64_t h = 0; h < H; h++) {
    for (int64_t i = 0; i < n; i++) std::copy_n(src + i * src_stride + h * src_head, k, s.head_in.data() + i * k);
    matmul_rows(w, row0 + h * head_stride, rows, s.head_in.data(), n, s.head_out.data(), pool);
    for (int64_t i = 0; i < n; i++) std::copy_n(s.head_out.data() + i * rows, rows, dst + (i * H + h) * rows);
  }
}

}  // namespace

void mla_forward(const DeepseekConfig& c, const MlaWeights& w, LatentKVCache& cache, int64_t layer, int64_t pos0,
                 const float* xn, int64_t n, float* out, MlaScratch& s, ThreadPool& pool) {
  if (n > s.max_batch || pos0 + n > s.n_ctx || pos0 + n > cache.capacity()) {
    fail("attention: ", n, " tokens at position ", pos0, " exceed the scratch or cache size");
  }
  std::vector<LatentSlot> slots;
  for (int64_t i = 0; i < n; i++) slots.push_back({&cache, pos0 + i});
  mla_forward_slots(c, w, slots.data(), layer, xn, n, out, s, pool);
}

void mla_forward_slots(const DeepseekConfig& c, const MlaWeights& w, const LatentSlot* slots, int64_t layer,
                       const float* xn, int64_t n, float* out, MlaScratch& s, ThreadPool& pool) {
  const int64_t H = c.n_head, qk = c.qk_head_dim(), nope = c.qk_nope_dim, rope = c.qk_rope_dim;
  const int64_t r = c.kv_lora_rank, latent = c.latent_dim();
  if (n > s.max_batch) fail("attention: ", n, " tokens exceed the scratch size (", s.max_batch, ")");
  for (int64_t i = 0; i < n; i++) {
    const LatentSlot& at = slots[i];
    if (at.pos < 0 || at.pos >= s.n_ctx || at.pos >= at.cache->capacity()) {
      fail("attention: position ", at.pos, " exceeds the scratch or cache size");
    }
  }

  // Queries: q = W_qb · q_norm(W_qa x), or W_q x without q LoRA; rope on each head's q_pe.
  if (c.q_lora_rank > 0) {
    linear(w.wq_a, xn, n, s.q_a.data(), pool);
    for (int64_t i = 0; i < n; i++) {
      float* qa = s.q_a.data() + i * c.q_lora_rank;
      rmsnorm(qa, qa, static_cast<const float*>(w.q_a_norm.data), c.rms_eps, c.q_lora_rank);
    }
    linear(w.wq_b, s.q_a.data(), n, s.q.data(), pool);
  } else {
    linear(w.wq, xn, n, s.q.data(), pool);
  }
  for (int64_t i = 0; i < n; i++) s.rope.apply(s.q.data() + i * H * qk + nope, int(H), qk, slots[i].pos);

  // The new tokens' latents: [kv_norm(c) | rope(k_pe)] straight into the cache.
  linear(w.wkv_a, xn, n, s.kv.data(), pool);
  for (int64_t i = 0; i < n; i++) {
    const float* kv = s.kv.data() + i * latent;
    float* row = slots[i].cache->row(layer, slots[i].pos);
    rmsnorm(row, kv, static_cast<const float*>(w.kv_a_norm.data), c.rms_eps, r);
    std::copy_n(kv + r, rope, row + r);
    s.rope.apply(row + r, 1, rope, slots[i].pos);
  }

  // Absorb W_UK into the query: q_abs[i][h] = W_UK_hᵀ q_nope[i][h].
  per_head_matmul(w.wk_b, 0, r, r, H, s.q.data(), H * qk, qk, n, s.q_abs.data(), s, pool);

  // Causal attention over the latents. Work items are (token, block of heads): the block's queries
  // [q_abs | q_pe] share the token's keys, read once per block (ops/attention.h); blocks are small
  // enough that every thread gets one when a single token is decoded.
  const float scale = c.attn_scale();
  pool.run([&](int tid, int nt) {
    const int64_t hb = std::min<int64_t>(MlaScratch::kHeadBlock, (H + nt - 1) / nt), n_blocks = (H + hb - 1) / hb;
    float* scores = s.scores.data() + size_t(tid) * size_t(MlaScratch::kHeadBlock * s.n_ctx);
    float* q_lat = s.q_lat.data() + size_t(tid) * size_t(MlaScratch::kHeadBlock * latent);
    for (int64_t item = tid; item < n * n_blocks; item += nt) {
      const int64_t i = item / n_blocks, h0 = (item % n_blocks) * hb, nh = std::min(hb, H - h0);
      for (int64_t h = h0; h < h0 + nh; h++) {
        std::copy_n(s.q_abs.data() + (i * H + h) * r, r, q_lat + (h - h0) * latent);
        std::copy_n(s.q.data() + i * H * qk + h * qk + nope, rope, q_lat + (h - h0) * latent + r);
      }
      const float* K = slots[i].cache->row(layer, 0);  // values: the first r floats of each key row
      attend(q_lat, nh, latent, K, latent, slots[i].pos + 1, K, latent, r, scale, s.u.data() + (i * H + h0) * r,
             scores);
    }
  });

  // Decompress each head's latent with W_UV, then the output projection.
  per_head_matmul(w.wv_b, w.wv_row0, w.wv_head_stride, c.v_head_dim, H, s.u.data(), H * r, r, n, s.att.data(), s,
                  pool);
  linear(w.wo, s.att.data(), n, out, pool);
}

}  // namespace r1
