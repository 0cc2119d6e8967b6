#include "model/mla.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "model/token_rows.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "util/threadpool.h"

namespace r1 {

namespace {

size_t checked_latent_bytes(int64_t n_layer, int64_t latent_dim, int64_t capacity, size_t row) {
  if (n_layer <= 0 || latent_dim <= 0 || capacity <= 0) {
    fail("latent KV cache: sizes must be positive (layers ", n_layer, ", latent ", latent_dim, ", capacity ", capacity, ")");
  }
  const double bytes = double(n_layer) * double(capacity) * double(row);
  if (bytes > double(int64_t{1} << 40)) fail("latent KV cache: context ", capacity, " would need ", bytes / (1 << 30), " GiB");
  return size_t(n_layer) * size_t(capacity) * row;
}

}  // namespace

LatentKVCache::LatentKVCache(int64_t n_layer, int64_t latent_dim, int64_t capacity, DType type)
    : n_layer_(n_layer),
      latent_dim_(latent_dim),
      capacity_(capacity),
      type_(type),
      row_bytes_(cache_row_bytes(type, latent_dim, "latent KV cache")),
      data_(checked_latent_bytes(n_layer, latent_dim, capacity, row_bytes_), "latent KV cache") {}

void LatentKVCache::write(int64_t layer, int64_t pos, const float* latent) {
  quantize_row(type_, latent, data_.data() + offset(layer, pos), latent_dim_);
}

void LatentKVCache::read(int64_t layer, int64_t pos, float* latent) const {
  dequantize_row(type_, data_.data() + offset(layer, pos), latent, latent_dim_);
}

void LatentKVCache::attend(int64_t layer, const float* q, int64_t n_q, int64_t n_keys, int64_t d_v, float scale,
                           float* out, float* scores) const {
  const uint8_t* K = rows(layer);
  r1::attend(type_, q, n_q, latent_dim_, K, latent_dim_, n_keys, K, latent_dim_, d_v, scale, out, scores);
}

void LatentKVCache::attend_part(int64_t layer, const float* q, int64_t n_q, int64_t k0, int64_t k1, int64_t d_v,
                                float scale, float* out, float* lse, float* scores) const {
  const uint8_t* K = rows(layer);
  r1::attend_part(type_, type_, q, n_q, latent_dim_, K, latent_dim_, k0, k1, K, latent_dim_, d_v, scale, out, lse,
                  scores);
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
  const auto threads = size_t(std::max(n_threads, 1));
  scores.resize(threads * size_t(kHeadBlock * n_ctx));
  q_lat.resize(threads * size_t(kHeadBlock * c.latent_dim()));
  q_head.resize(threads * size_t(kHeadBlock * c.qk_head_dim()));
  o_head.resize(threads * size_t(kHeadBlock * c.v_head_dim));
  wk_col.resize(threads * size_t(c.qk_nope_dim));
  part_out.resize(threads * size_t(H * r));
  part_lse.resize(threads * size_t(H));
}

namespace {

std::atomic<int> g_mla_prefill{-1};  // -1: not decided yet (read the environment)

}  // namespace

void set_mla_prefill(MlaPrefill mode) { g_mla_prefill.store(int(mode), std::memory_order_release); }

MlaPrefill mla_prefill() {
  int v = g_mla_prefill.load(std::memory_order_acquire);
  if (v < 0) {
    const char* env = std::getenv("R1_MLA_PREFILL");
    const std::string name = env ? env : "";
    if (name.empty() || name == "auto") v = int(MlaPrefill::Auto);
    else if (name == "absorbed") v = int(MlaPrefill::Absorbed);
    else if (name == "decompressed") v = int(MlaPrefill::Decompressed);
    else fail("R1_MLA_PREFILL=", name, ": not one of auto, absorbed, decompressed");
    g_mla_prefill.store(v, std::memory_order_release);
  }
  return MlaPrefill(v);
}

bool mla_decompressed_pays(const DeepseekConfig& c, int64_t pos0, int64_t n) {
  if (n < kMlaDecompressedMinTokens) return false;
  const double r = double(c.kv_lora_rank), heads_out = double(c.qk_nope_dim + c.v_head_dim);
  const double saved_per_pair = double(c.latent_dim()) + r - double(c.qk_head_dim() + c.v_head_dim);
  const double pairs = double(n) * double(pos0) + double(n) * double(n + 1) / 2;  // Σ keys seen
  // Twice the added work: it runs on float32 FMAs, where the absorbed form's projections of
  // quantized weights run on int8 dot products.
  return 2 * double(pos0) * r * heads_out < pairs * saved_per_pair;
}

namespace {

// For every head h: dst[i][h] (rows values at stride H·rows) = the rows of head h in w (w.rows() / H
// of them) times src[i][h] (w.ne[0] values at src_stride, offset h·src_head).
void per_head_matmul(const TensorView& w, int64_t H, const float* src, int64_t src_stride, int64_t src_head, int64_t n,
                     float* dst, MlaScratch& s, ThreadPool& pool) {
  if (n == 1) return matmul_heads(w, H, src, src_head, dst, pool);
  const int64_t k = w.ne[0], rows = w.rows() / H;
  for (int64_t h = 0; h < H; h++) {
    for (int64_t i = 0; i < n; i++) std::copy_n(src + i * src_stride + h * src_head, k, s.head_in.data() + i * k);
    matmul_rows(w, h * rows, rows, s.head_in.data(), n, s.head_out.data(), pool);
    for (int64_t i = 0; i < n; i++) std::copy_n(s.head_out.data() + i * rows, rows, dst + (i * H + h) * rows);
  }
}

// One head's keys and values for the positions 0 .. N-1 of a layer, decompressed from the latents
// (s.latents, N rows) with the head's up-projection rows as floats (w_head, a view of s.w_head):
// s.kv_head[t] = [W_UK_h c_t | W_UV_h c_t], and W_UK_h c_t into the first qk_nope floats of s.k_head[t]
// (its k_pe part is the layer's, written once for all heads by attend_decompressed).
void decompress_head(const DeepseekConfig& c, const MlaWeights& w, const TensorView& w_head, int64_t h, int64_t N,
                     MlaScratch& s, ThreadPool& pool) {
  const int64_t r = c.kv_lora_rank, nope = c.qk_nope_dim, v = c.v_head_dim, qk = c.qk_head_dim(), per = nope + v;
  // W_UK_h is stored transposed (wk_b rows j = h·r + j hold its column j), W_UV_h as rows of wv_b;
  // both views stay as stored (repack_matrices keeps them), so their rows are read directly.
  // Contiguous shares of j: the transposed stores of neighbouring j share cache lines, and
  // interleaved shares had the threads writing the same lines (~5% of a 0.66B prompt).
  pool.run([&](int tid, int nt) {
    float* col = s.wk_col.data() + size_t(tid) * size_t(nope);
    for (int64_t j = r * tid / nt; j < r * (tid + 1) / nt; j++) {
      dequantize_row(w.wk_b.type, w.wk_b.row(h * r + j), col, nope);
      for (int64_t d = 0; d < nope; d++) s.w_head[size_t(d * r + j)] = col[d];
    }
    for (int64_t d = v * tid / nt; d < v * (tid + 1) / nt; d++) {
      dequantize_row(w.wv_b.type, w.wv_b.row(h * v + d), s.w_head.data() + (nope + d) * r, r);
    }
  });
  matmul(w_head, s.latents.data(), N, s.kv_head.data(), pool);
  pool.run([&](int tid, int nt) {
    for (int64_t t = N * tid / nt; t < N * (tid + 1) / nt; t++) {
      std::copy_n(s.kv_head.data() + t * per, nope, s.k_head.data() + t * qk);
    }
  });
}

// Causal attention of n consecutive tokens (positions pos0 ..) on decompressed heads, into s.att.
void attend_decompressed(const DeepseekConfig& c, const MlaWeights& w, const LatentKVCache& cache, int64_t layer,
                         int64_t pos0, int64_t n, MlaScratch& s, ThreadPool& pool) {
  const int64_t H = c.n_head, r = c.kv_lora_rank, nope = c.qk_nope_dim, v = c.v_head_dim, qk = c.qk_head_dim();
  const int64_t rope = c.qk_rope_dim, N = pos0 + n, per = nope + v, B = MlaScratch::kHeadBlock;
  const int64_t n_blocks = (n + B - 1) / B;
  for (const TensorView* t : {&w.wk_b, &w.wv_b}) {
    if (t->layout != RowLayout::Plain) fail("attention: ", t->name, " is repacked; its rows are read per head");
  }
  s.latents.resize(size_t(N * r));
  s.w_head.resize(size_t(per * r));
  s.kv_head.resize(size_t(N * per));
  s.k_head.resize(size_t(N * qk));
  const bool bf16 = attend_bf16_available(qk, v);
  if (bf16) {
    s.k_bf16.resize(size_t(N * qk));
    s.v_bf16.resize(size_t((N + 1) / 2 * 2 * v));
  }
  // The latents contiguous (the matmul's input), and each position's shared k_pe into its key rows.
  pool.run([&](int tid, int nt) {
    float* row = s.q_lat.data() + size_t(tid) * size_t(MlaScratch::kHeadBlock * c.latent_dim());  // free here
    for (int64_t t = N * tid / nt; t < N * (tid + 1) / nt; t++) {
      cache.read(layer, t, row);
      std::copy_n(row, r, s.latents.data() + t * r);
      std::copy_n(row + r, rope, s.k_head.data() + t * qk + nope);
    }
  });
  TensorView w_head;
  w_head.name = "MLA head up-projection";
  w_head.type = DType::F32;
  w_head.n_dims = 2;
  w_head.ne = {r, per, 1, 1};
  w_head.data = s.w_head.data();
  w_head.nbytes = size_t(r * per) * sizeof(float);
  const float scale = c.attn_scale();
  for (int64_t h = 0; h < H; h++) {
    decompress_head(c, w, w_head, h, N, s, pool);
    if (bf16) {  // packed once for all of the pass's blocks, in blocks of 64 (even) positions
      pool.run([&](int tid, int nt) {
        for (int64_t t0 = 64 * tid; t0 < N; t0 += 64 * nt) {
          const int64_t m = std::min<int64_t>(64, N - t0);
          pack_bf16_rows(DType::F32, s.k_head.data() + t0 * qk, qk, m, qk, s.k_bf16.data() + t0 * qk);
          pack_bf16_pairs(DType::F32, s.kv_head.data() + t0 * per + nope, per, m, v, s.v_bf16.data() + t0 * v);
        }
      });
    }
    // Blocks of B consecutive tokens share the head's key rows; later blocks see more keys, so
    // blocks are dealt round-robin.
    pool.run([&](int tid, int nt) {
      float* q = s.q_head.data() + size_t(tid) * size_t(B * qk);
      float* o = s.o_head.data() + size_t(tid) * size_t(B * v);
      float* scores = s.scores.data() + size_t(tid) * size_t(B * s.n_ctx);
      for (int64_t b = tid; b < n_blocks; b += nt) {
        const int64_t i0 = b * B, nb = std::min(B, n - i0);
        for (int64_t i = 0; i < nb; i++) std::copy_n(s.q.data() + ((i0 + i) * H + h) * qk, qk, q + i * qk);
        if (bf16) {
          attend_bf16(q, nb, qk, s.k_bf16.data(), pos0 + i0 + nb, s.v_bf16.data(), v, scale, o, true);
        } else {
          attend_causal(q, nb, qk, s.k_head.data(), qk, pos0 + i0 + nb, s.kv_head.data() + nope, per, v, scale, o,
                        scores);
        }
        for (int64_t i = 0; i < nb; i++) std::copy_n(o + i * v, v, s.att.data() + ((i0 + i) * H + h) * v);
      }
    });
  }
}

// Attention of the pass's tokens in the absorbed form, into s.att: each head's query absorbs W_UK,
// attends over the latents of its slot's cache, and the result is decompressed with W_UV.
void attend_absorbed(const DeepseekConfig& c, const MlaWeights& w, const LatentSlot* slots, int64_t layer, int64_t n,
                     MlaScratch& s, ThreadPool& pool) {
  const int64_t H = c.n_head, qk = c.qk_head_dim(), nope = c.qk_nope_dim, rope = c.qk_rope_dim;
  const int64_t r = c.kv_lora_rank, latent = c.latent_dim();
  // Absorb W_UK into the query: q_abs[i][h] = W_UK_hᵀ q_nope[i][h].
  per_head_matmul(w.wk_b, H, s.q.data(), H * qk, qk, n, s.q_abs.data(), s, pool);

  // One token over a long cache: the positions are split between the threads, each attending every
  // head over its share (one read of its rows, shared by all heads: ~1.3× faster than half of the
  // heads over all rows in bf16 products, BM_attention_latent), and the shares merged by their
  // log-sum-exps. 16 positions (one kernel block) per thread at least.
  const float scale = c.attn_scale();
  // Token i's queries [q_abs | q_pe] of heads h0 .. h0 + nh − 1, rows of latent_dim at q_lat.
  auto gather_queries = [&](int64_t i, int64_t h0, int64_t nh, float* q_lat) {
    for (int64_t h = h0; h < h0 + nh; h++) {
      std::copy_n(s.q_abs.data() + (i * H + h) * r, r, q_lat + (h - h0) * latent);
      std::copy_n(s.q.data() + i * H * qk + h * qk + nope, rope, q_lat + (h - h0) * latent + r);
    }
  };
  const int64_t n_keys = slots[0].pos + 1, parts = pool.size();
  if (n == 1 && parts > 1 && n_keys >= 16 * parts) {
    pool.run([&](int tid, int nt) {
      const int64_t k0 = n_keys * tid / nt / 16 * 16, k1 = tid + 1 == nt ? n_keys : n_keys * (tid + 1) / nt / 16 * 16;
      float* scores = s.scores.data() + size_t(tid) * size_t(MlaScratch::kHeadBlock * s.n_ctx);
      float* q_lat = s.q_lat.data() + size_t(tid) * size_t(MlaScratch::kHeadBlock * latent);
      for (int64_t h0 = 0; h0 < H; h0 += MlaScratch::kHeadBlock) {
        const int64_t nh = std::min(MlaScratch::kHeadBlock, H - h0);
        gather_queries(0, h0, nh, q_lat);
        slots[0].cache->attend_part(layer, q_lat, nh, k0, k1, r, scale, s.part_out.data() + (tid * H + h0) * r,
                                    s.part_lse.data() + tid * H + h0, scores);
      }
    });
    merge_attention_parts(parts, H, r, s.part_out.data(), s.part_lse.data(), s.u.data());
  } else {
    // Causal attention over the latents. Work items are (token, block of heads): the block's queries
    // [q_abs | q_pe] share the token's keys, read once per block (ops/attention.h); blocks are small
    // enough that every thread gets one when a single token is decoded.
    pool.run([&](int tid, int nt) {
      const int64_t hb = std::min<int64_t>(MlaScratch::kHeadBlock, (H + nt - 1) / nt), n_blocks = (H + hb - 1) / hb;
      float* scores = s.scores.data() + size_t(tid) * size_t(MlaScratch::kHeadBlock * s.n_ctx);
      float* q_lat = s.q_lat.data() + size_t(tid) * size_t(MlaScratch::kHeadBlock * latent);
      for (int64_t item = tid; item < n * n_blocks; item += nt) {
        const int64_t i = item / n_blocks, h0 = (item % n_blocks) * hb, nh = std::min(hb, H - h0);
        gather_queries(i, h0, nh, q_lat);
        slots[i].cache->attend(layer, q_lat, nh, slots[i].pos + 1, r, scale, s.u.data() + (i * H + h0) * r, scores);
      }
    });
  }

  // Decompress each head's latent with W_UV.
  per_head_matmul(w.wv_b, H, s.u.data(), H * r, r, n, s.att.data(), s, pool);
}

// Whether the pass is one sequence's consecutive positions (a prompt), and its form should be decompressed.
bool use_decompressed(const DeepseekConfig& c, const LatentSlot* slots, int64_t n) {
  const MlaPrefill mode = mla_prefill();
  if (mode == MlaPrefill::Absorbed) return false;
  for (int64_t i = 1; i < n; i++) {
    if (slots[i].cache != slots[0].cache || slots[i].pos != slots[0].pos + i) return false;
  }
  return mode == MlaPrefill::Decompressed || mla_decompressed_pays(c, slots[0].pos, n);
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

  // Queries q = W_qb · q_norm(W_qa x) (or W_q x without q LoRA) and latents W_kva x; the first query
  // projection and the latent projection read the same xn, so they are one step.
  if (c.q_lora_rank > 0) {
    linear_shared_input(w.wq_a, s.q_a.data(), w.wkv_a, s.kv.data(), xn, n, pool);
    rmsnorm_rows(s.q_a.data(), w.q_a_norm, n, c.q_lora_rank, c.rms_eps, s.q_a.data(), pool);
    linear(w.wq_b, s.q_a.data(), n, s.q.data(), pool);
  } else {
    linear_shared_input(w.wq, s.q.data(), w.wkv_a, s.kv.data(), xn, n, pool);
  }
  // Then per token: rope on each head's q_pe, and the new latent [kv_norm(c) | rope(k_pe)] into the cache.
  for_tokens(pool, n, [&](int64_t i) {
    s.rope.apply(s.q.data() + i * H * qk + nope, int(H), qk, slots[i].pos);
    float* kv = s.kv.data() + i * latent;
    rmsnorm(kv, kv, static_cast<const float*>(w.kv_a_norm.data), c.rms_eps, r);
    s.rope.apply(kv + r, 1, rope, slots[i].pos);
    slots[i].cache->write(layer, slots[i].pos, kv);
  });

  if (use_decompressed(c, slots, n)) {
    attend_decompressed(c, w, *slots[0].cache, layer, slots[0].pos, n, s, pool);
  } else {
    attend_absorbed(c, w, slots, layer, n, s, pool);
  }
  linear(w.wo, s.att.data(), n, out, pool);
}

}  // namespace r1
