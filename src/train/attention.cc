#include "train/attention.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "train/kernels.h"
#include "util/threadpool.h"

namespace r1::train {
namespace {

// Runs fn(b, g) for every sequence and key/value head; they touch disjoint slices of dk / dv
// (the query heads of one group all write their key/value head, so a group stays on one thread).
void for_kv_heads(ThreadPool* pool, int64_t B, int64_t KV, const std::function<void(int64_t, int64_t)>& fn) {
  auto body = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) fn(i / KV, i % KV);
  };
  if (pool && pool->size() > 1) {
    pool->parallel_for(B * KV, 1, body);
  } else {
    body(0, B * KV);
  }
}

template <typename T>
void add_bias(T* y, const T* b, int64_t n, int64_t d) {
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) y[i * d + j] += b[j];
}

template <typename T>
void bias_backward(T* db, const T* dy, int64_t n, int64_t d) {
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) db[j] += dy[i * d + j];
}

// Rotates every head of every token at its position in the sequence.
template <typename T>
void rotate_rows(T* x, int64_t N, int64_t S, int64_t heads, int64_t hd, const RopeCache<T>& rope, bool inverse) {
  for (int64_t n = 0; n < N; n++) {
    const int64_t pos = n % S;
    for (int64_t h = 0; h < heads; h++) {
      rope_rotate_neox(x + (n * heads + h) * hd, &rope.cos[size_t(pos * rope.half)], &rope.sin[size_t(pos * rope.half)],
                       rope.half, inverse);
    }
  }
}

}  // namespace

template <typename T>
void rope_rotate_neox(T* x, const T* cos, const T* sin, int64_t half, bool inverse) {
  for (int64_t i = 0; i < half; i++) {
    const T c = cos[i], s = inverse ? -sin[i] : sin[i];
    const T a = x[i], b = x[i + half];
    x[i] = a * c - b * s;
    x[i + half] = a * s + b * c;
  }
}

template <typename T>
void gqa_forward(ThreadPool* pool, const GqaShape& s, const GqaLayout& L, const T* P, const T* x, int64_t B, int64_t S,
                 const RopeCache<T>& rope, T* out, GqaActs<T>& a) {
  const int64_t N = B * S, D = s.n_embd, H = s.n_head, KV = s.n_kv_head, hd = s.head_dim, group = H / KV;
  a.q.resize(size_t(N * s.q_dim()));
  a.k.resize(size_t(N * s.kv_dim()));
  a.v.resize(size_t(N * s.kv_dim()));
  linear_forward(pool, a.q.data(), x, P + L.q, N, D, s.q_dim());
  linear_forward(pool, a.k.data(), x, P + L.k, N, D, s.kv_dim());
  linear_forward(pool, a.v.data(), x, P + L.v, N, D, s.kv_dim());
  add_bias(a.q.data(), P + L.q_bias, N, s.q_dim());
  add_bias(a.k.data(), P + L.k_bias, N, s.kv_dim());
  add_bias(a.v.data(), P + L.v_bias, N, s.kv_dim());
  rotate_rows(a.q.data(), N, S, H, hd, rope, false);
  rotate_rows(a.k.data(), N, S, KV, hd, rope, false);
  a.p.resize(size_t(B * H * S * S));
  a.o.resize(size_t(N * s.q_dim()));
  const HeadShape hs{S, hd, hd, s.q_dim(), s.kv_dim(), s.kv_dim(), s.q_dim(), 1.0 / std::sqrt(double(hd))};
  for_kv_heads(pool, B, KV, [&](int64_t b, int64_t g) {
    const int64_t base = b * S;
    for (int64_t h = g * group; h < (g + 1) * group; h++) {
      attention_forward(&a.o[size_t(base * s.q_dim() + h * hd)], &a.p[size_t((b * H + h) * S * S)],
                        &a.q[size_t(base * s.q_dim() + h * hd)], &a.k[size_t(base * s.kv_dim() + g * hd)],
                        &a.v[size_t(base * s.kv_dim() + g * hd)], hs);
    }
  });
  linear_forward(pool, out, a.o.data(), P + L.o, N, s.q_dim(), D);
}

template <typename T>
void gqa_backward(ThreadPool* pool, const GqaShape& s, const GqaLayout& L, const T* P, T* G, const T* x, int64_t B,
                  int64_t S, const RopeCache<T>& rope, const T* dout, T* dx, const GqaActs<T>& a) {
  const int64_t N = B * S, D = s.n_embd, H = s.n_head, KV = s.n_kv_head, hd = s.head_dim, group = H / KV;
  std::vector<T> d_o(size_t(N * s.q_dim()), T(0));
  linear_backward(pool, d_o.data(), G + L.o, dout, a.o.data(), P + L.o, N, s.q_dim(), D);
  std::vector<T> dq(size_t(N * s.q_dim()), T(0)), dk(size_t(N * s.kv_dim()), T(0)), dv(size_t(N * s.kv_dim()), T(0));
  const HeadShape hs{S, hd, hd, s.q_dim(), s.kv_dim(), s.kv_dim(), s.q_dim(), 1.0 / std::sqrt(double(hd))};
  for_kv_heads(pool, B, KV, [&](int64_t b, int64_t g) {
    const int64_t base = b * S;
    const size_t ko = size_t(base * s.kv_dim() + g * hd);
    for (int64_t h = g * group; h < (g + 1) * group; h++) {
      const size_t qo = size_t(base * s.q_dim() + h * hd);
      attention_backward(&dq[qo], &dk[ko], &dv[ko], &d_o[qo], &a.p[size_t((b * H + h) * S * S)], &a.q[qo], &a.k[ko],
                         &a.v[ko], hs);
    }
  });
  // The backward of a rotation is the opposite rotation; the biases sit before it.
  rotate_rows(dq.data(), N, S, H, hd, rope, true);
  rotate_rows(dk.data(), N, S, KV, hd, rope, true);
  bias_backward(G + L.q_bias, dq.data(), N, s.q_dim());
  bias_backward(G + L.k_bias, dk.data(), N, s.kv_dim());
  bias_backward(G + L.v_bias, dv.data(), N, s.kv_dim());
  linear_backward(pool, dx, G + L.q, dq.data(), x, P + L.q, N, D, s.q_dim());
  linear_backward(pool, dx, G + L.k, dk.data(), x, P + L.k, N, D, s.kv_dim());
  linear_backward(pool, dx, G + L.v, dv.data(), x, P + L.v, N, D, s.kv_dim());
}

#define R1_TRAIN_GQA(T)                                                                                         \
  template void rope_rotate_neox<T>(T*, const T*, const T*, int64_t, bool);                                     \
  template void gqa_forward<T>(ThreadPool*, const GqaShape&, const GqaLayout&, const T*, const T*, int64_t,     \
                               int64_t, const RopeCache<T>&, T*, GqaActs<T>&);                                  \
  template void gqa_backward<T>(ThreadPool*, const GqaShape&, const GqaLayout&, const T*, T*, const T*, int64_t, \
                                int64_t, const RopeCache<T>&, const T*, T*, const GqaActs<T>&);
R1_TRAIN_GQA(float)
R1_TRAIN_GQA(double)

}  // namespace r1::train
