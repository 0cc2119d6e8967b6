#include "train/mla.h"

#include <algorithm>
#include <cmath>

#include "ops/rope.h"
#include "train/kernels.h"
#include "util/threadpool.h"

namespace r1::train {
namespace {

template <typename T>
void zero(std::vector<T>& v, size_t n) {
  v.assign(n, T(0));
}

// Runs fn(b, h) for every sequence and head; they touch disjoint slices.
void for_heads(ThreadPool* pool, int64_t B, int64_t H, const std::function<void(int64_t, int64_t)>& fn) {
  auto body = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) fn(i / H, i % H);
  };
  if (pool && pool->size() > 1) {
    pool->parallel_for(B * H, 1, body);
  } else {
    body(0, B * H);
  }
}

}  // namespace

template <typename T>
RopeCache<T> make_rope_cache(int64_t n_dims, double theta, int64_t n_pos, bool float_angle) {
  RopeParams p;
  p.n_dims = int(n_dims);
  p.theta = theta;
  p.pairing = RopePairing::kNorm;
  const std::vector<double> freq = rope_frequencies(p);
  RopeCache<T> r;
  r.half = n_dims / 2;
  r.cos.resize(size_t(n_pos * r.half));
  r.sin.resize(size_t(n_pos * r.half));
  for (int64_t pos = 0; pos < n_pos; pos++) {
    for (int64_t i = 0; i < r.half; i++) {
      const double exact = double(pos) * freq[size_t(i)];
      const double angle = float_angle ? double(float(exact)) : exact;
      r.cos[size_t(pos * r.half + i)] = T(std::cos(angle));
      r.sin[size_t(pos * r.half + i)] = T(std::sin(angle));
    }
  }
  return r;
}

template <typename T>
RopeCache<T> make_rope_cache(const ModelConfig& c, int64_t n_pos) {
  // The angle in float first, as the inference engine's MLA table does, so both rotate alike.
  return make_rope_cache<T>(c.qk_rope_dim, c.rope_theta, n_pos, true);
}

template <typename T>
void mla_forward(ThreadPool* pool, const ModelConfig& c, const BlockLayout& L, const T* P, const T* x, int64_t B,
                 int64_t S, const RopeCache<T>& rope, T* out, MlaActs<T>& a) {
  const int64_t N = B * S, D = c.n_embd, H = c.n_head, rq = c.q_lora_rank, rkv = c.kv_lora_rank;
  const int64_t dn = c.qk_nope_dim, dr = c.qk_rope_dim, dk = c.qk_head_dim(), dv = c.v_head_dim;
  // Queries: x → latent → norm → per-head [nope ; rope].
  a.qa.resize(size_t(N * rq));
  a.q_rstd.resize(size_t(N));
  a.cq.resize(size_t(N * rq));
  a.q.resize(size_t(N * H * dk));
  linear_forward(pool, a.qa.data(), x, P + L.q_a, N, D, rq);
  rmsnorm_forward(a.cq.data(), a.q_rstd.data(), a.qa.data(), P + L.q_a_norm, N, rq, c.rms_eps);
  linear_forward(pool, a.q.data(), a.cq.data(), P + L.q_b, N, rq, H * dk);
  // Keys and values: x → [latent ; shared rope key]; the latent is normed and up-projected.
  std::vector<T> kva(size_t(N * (rkv + dr)));
  linear_forward(pool, kva.data(), x, P + L.kv_a, N, D, rkv + dr);
  a.c.resize(size_t(N * rkv));
  a.kv_rstd.resize(size_t(N));
  a.cn.resize(size_t(N * rkv));
  for (int64_t n = 0; n < N; n++) std::copy_n(&kva[size_t(n * (rkv + dr))], rkv, &a.c[size_t(n * rkv)]);
  rmsnorm_forward(a.cn.data(), a.kv_rstd.data(), a.c.data(), P + L.kv_a_norm, N, rkv, c.rms_eps);
  a.kv.resize(size_t(N * H * (dn + dv)));
  linear_forward(pool, a.kv.data(), a.cn.data(), P + L.kv_b, N, rkv, H * (dn + dv));
  a.k.resize(size_t(N * H * dk));
  a.v.resize(size_t(N * H * dv));
  std::vector<T> kpe(static_cast<size_t>(dr));
  for (int64_t n = 0; n < N; n++) {
    const int64_t pos = n % S;
    const T* cs = &rope.cos[size_t(pos * rope.half)];
    const T* sn = &rope.sin[size_t(pos * rope.half)];
    std::copy_n(&kva[size_t(n * (rkv + dr) + rkv)], dr, kpe.data());
    rope_rotate(kpe.data(), cs, sn, rope.half, false);
    for (int64_t h = 0; h < H; h++) {
      rope_rotate(&a.q[size_t((n * H + h) * dk + dn)], cs, sn, rope.half, false);
      const T* kvh = &a.kv[size_t((n * H + h) * (dn + dv))];
      T* kh = &a.k[size_t((n * H + h) * dk)];
      std::copy_n(kvh, dn, kh);
      std::copy_n(kpe.data(), dr, kh + dn);
      std::copy_n(kvh + dn, dv, &a.v[size_t((n * H + h) * dv)]);
    }
  }
  a.p.resize(size_t(B * H * S * S));
  a.o.resize(size_t(N * H * dv));
  const HeadShape hs{S, dk, dv, H * dk, H * dk, H * dv, H * dv, c.attn_scale()};
  for_heads(pool, B, H, [&](int64_t b, int64_t h) {
    const int64_t base = b * S;
    attention_forward(&a.o[size_t(base * H * dv + h * dv)], &a.p[size_t((b * H + h) * S * S)],
                      &a.q[size_t(base * H * dk + h * dk)], &a.k[size_t(base * H * dk + h * dk)],
                      &a.v[size_t(base * H * dv + h * dv)], hs);
  });
  linear_forward(pool, out, a.o.data(), P + L.o, N, H * dv, D);
}

template <typename T>
void mla_backward(ThreadPool* pool, const ModelConfig& c, const BlockLayout& L, const T* P, T* G, const T* x,
                  int64_t B, int64_t S, const RopeCache<T>& rope, const T* dout, T* dx, const MlaActs<T>& a) {
  const int64_t N = B * S, D = c.n_embd, H = c.n_head, rq = c.q_lora_rank, rkv = c.kv_lora_rank;
  const int64_t dn = c.qk_nope_dim, dr = c.qk_rope_dim, dk = c.qk_head_dim(), dv = c.v_head_dim;
  std::vector<T> d_o, dq, dkk, dvv;
  zero(d_o, size_t(N * H * dv));
  linear_backward(pool, d_o.data(), G + L.o, dout, a.o.data(), P + L.o, N, H * dv, D);
  zero(dq, size_t(N * H * dk));
  zero(dkk, size_t(N * H * dk));
  zero(dvv, size_t(N * H * dv));
  const HeadShape hs{S, dk, dv, H * dk, H * dk, H * dv, H * dv, c.attn_scale()};
  for_heads(pool, B, H, [&](int64_t b, int64_t h) {
    const int64_t base = b * S;
    const size_t qo = size_t(base * H * dk + h * dk), vo = size_t(base * H * dv + h * dv);
    attention_backward(&dq[qo], &dkk[qo], &dvv[vo], &d_o[vo], &a.p[size_t((b * H + h) * S * S)], &a.q[qo], &a.k[qo],
                       &a.v[vo], hs);
  });
  // Undo the rotations; the shared rope key collects its gradient from every head.
  std::vector<T> dkv(size_t(N * H * (dn + dv))), dkva(size_t(N * (rkv + dr)), T(0));
  for (int64_t n = 0; n < N; n++) {
    const int64_t pos = n % S;
    const T* cs = &rope.cos[size_t(pos * rope.half)];
    const T* sn = &rope.sin[size_t(pos * rope.half)];
    T* dkpe = &dkva[size_t(n * (rkv + dr) + rkv)];
    for (int64_t h = 0; h < H; h++) {
      rope_rotate(&dq[size_t((n * H + h) * dk + dn)], cs, sn, rope.half, true);
      const T* dkh = &dkk[size_t((n * H + h) * dk)];
      T* dkvh = &dkv[size_t((n * H + h) * (dn + dv))];
      std::copy_n(dkh, dn, dkvh);
      std::copy_n(&dvv[size_t((n * H + h) * dv)], dv, dkvh + dn);
      for (int64_t i = 0; i < dr; i++) dkpe[i] += dkh[dn + i];
    }
    rope_rotate(dkpe, cs, sn, rope.half, true);
  }
  std::vector<T> dcn, dc;
  zero(dcn, size_t(N * rkv));
  linear_backward(pool, dcn.data(), G + L.kv_b, dkv.data(), a.cn.data(), P + L.kv_b, N, rkv, H * (dn + dv));
  zero(dc, size_t(N * rkv));
  rmsnorm_backward(dc.data(), G + L.kv_a_norm, dcn.data(), a.c.data(), P + L.kv_a_norm, a.kv_rstd.data(), N, rkv);
  for (int64_t n = 0; n < N; n++) std::copy_n(&dc[size_t(n * rkv)], rkv, &dkva[size_t(n * (rkv + dr))]);
  linear_backward(pool, dx, G + L.kv_a, dkva.data(), x, P + L.kv_a, N, D, rkv + dr);
  std::vector<T> dcq, dqa;
  zero(dcq, size_t(N * rq));
  linear_backward(pool, dcq.data(), G + L.q_b, dq.data(), a.cq.data(), P + L.q_b, N, rq, H * dk);
  zero(dqa, size_t(N * rq));
  rmsnorm_backward(dqa.data(), G + L.q_a_norm, dcq.data(), a.qa.data(), P + L.q_a_norm, a.q_rstd.data(), N, rq);
  linear_backward(pool, dx, G + L.q_a, dqa.data(), x, P + L.q_a, N, D, rq);
}

#define R1_TRAIN_MLA(T)                                                                                          \
  template RopeCache<T> make_rope_cache<T>(const ModelConfig&, int64_t);                                          \
  template RopeCache<T> make_rope_cache<T>(int64_t, double, int64_t, bool);                                       \
  template void mla_forward<T>(ThreadPool*, const ModelConfig&, const BlockLayout&, const T*, const T*, int64_t, \
                               int64_t, const RopeCache<T>&, T*, MlaActs<T>&);                                    \
  template void mla_backward<T>(ThreadPool*, const ModelConfig&, const BlockLayout&, const T*, T*, const T*,     \
                                int64_t, int64_t, const RopeCache<T>&, const T*, T*, const MlaActs<T>&);
R1_TRAIN_MLA(float)
R1_TRAIN_MLA(double)

}  // namespace r1::train
