// attend() on AVX-512F; compiled with -mavx512f and called only when the CPU has it.
// Scores: 16 (query, key) pairs at a time, one float accumulator per pair summed over d_k in steps
// of 16, then the 16 accumulators reduced into one vector of 16 scores. Softmax with a vector exp.
// Values: out_i += p_i[t] · v_t for up to 3 queries × 128 floats of d_v per pass (6 × 64 for narrow values).
// Keys and values are float32, F16, Q8_0 or Q4_0 (widened as they are loaded: an F16 cache reads half
// the bytes, a Q8_0 one 17/32, a Q4_0 one 9/32). KR and VR are the row pointer types of keys and values.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "ops/attention.h"
#include "ops/attention_avx512.h"

namespace r1 {
namespace {

// s[i · s_stride + t + l] = scale · q_i·k_{t+l} for Q queries (q_i at q + i·d_k) and the 16 / Q keys from
// t: 16 accumulators either way, but each loaded key row serves Q queries, so a step takes Q + 16 / Q
// loads for its 16 FMAs (17 with one query: load-bound).
template <int Q, class T>
void scores_block(const float* q, int64_t d_k, T K, int64_t k_stride, int64_t t, float scale, float* s,
                  int64_t s_stride) {
  constexpr int L = 16 / Q;
  __m512 acc[16];
  for (int a = 0; a < 16; ++a) acc[a] = _mm512_setzero_ps();
  for (int64_t j = 0; j < d_k; j += 16) {
    __m512 qj[Q];
    for (int i = 0; i < Q; ++i) qj[i] = _mm512_loadu_ps(q + i * d_k + j);
    for (int l = 0; l < L; ++l) {
      const __m512 kl = load16(K + (t + l) * k_stride + j);
      for (int i = 0; i < Q; ++i) acc[i * L + l] = _mm512_fmadd_ps(qj[i], kl, acc[i * L + l]);
    }
  }
  store_scores<Q>(_mm512_mul_ps(reduce16(acc), _mm512_set1_ps(scale)), s, s_stride, t);
}

template <class T>
float score1(const float* q, int64_t d_k, T k, float scale) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < d_k; j += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), load16(k + j), acc);
  return _mm512_reduce_add_ps(acc) * scale;
}

// o_i += Σ_{t0 ≤ t < t1} p_i[t] · v_t for Q queries (p_i at p + i·p_stride, o_i at o + i·o_stride) and
// 16·N floats of each o_i (columns from V's first): each loaded value vector serves Q queries.
template <int Q, int N, class T>
void values_block(const float* p, int64_t p_stride, T V, int64_t v_stride, int64_t t0, int64_t t1, float* o,
                  int64_t o_stride) {
  __m512 acc[Q][N];
  for (int i = 0; i < Q; ++i)
    for (int c = 0; c < N; ++c) acc[i][c] = _mm512_loadu_ps(o + i * o_stride + 16 * c);
  for (int64_t t = t0; t < t1; ++t) {
    __m512 pt[Q];
    for (int i = 0; i < Q; ++i) pt[i] = _mm512_set1_ps(p[i * p_stride + t]);
    for (int c = 0; c < N; ++c) {
      const __m512 v = load16(V + t * v_stride + 16 * c);
      for (int i = 0; i < Q; ++i) acc[i][c] = _mm512_fmadd_ps(pt[i], v, acc[i][c]);
    }
  }
  for (int i = 0; i < Q; ++i)
    for (int c = 0; c < N; ++c) _mm512_storeu_ps(o + i * o_stride + 16 * c, acc[i][c]);
}

// Up to kValueQueries queries × kValueVectors vectors of columns, used with 24 accumulators at most:
// 3 queries × 8 vectors for wide values, 6 × 4 for 64 floats (a loaded value row then serves 6
// queries: 4 loads and 6 broadcasts per 24 FMAs, where 3 × 4 took 4 and 3 per 12).
constexpr int kValueQueries = 6, kValueVectors = 8, kValueAccumulators = 24;
template <class T>
using ValuesFn = void (*)(const float*, int64_t, T, int64_t, int64_t, int64_t, float*, int64_t);

template <class T, int Q, int... Ns>
constexpr auto values_row(std::integer_sequence<int, Ns...>) {
  return std::array<ValuesFn<T>, sizeof...(Ns)>{&values_block<Q, Ns + 1, T>...};
}
template <class T, int... Qs>
constexpr auto values_blocks(std::integer_sequence<int, Qs...>) {
  return std::array<std::array<ValuesFn<T>, kValueVectors>, sizeof...(Qs)>{
      values_row<T, Qs + 1>(std::make_integer_sequence<int, kValueVectors>{})...};
}

}  // namespace

template <class KR, class VR>
void attend_avx512(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                   int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, float* lse, bool causal) {
  // Keys in blocks, queries inside: a block of K / V rows is read from memory once and stays in
  // L1 while every query uses it; queries go 4 (then 2, 1) at a time through the scores and 3 (6) at a
  // time through the values, sharing each row they load.
  constexpr int64_t kKeyBlock = 16;
  int64_t t = 0;
  for (; t + kKeyBlock <= n_keys; t += kKeyBlock) {
    int64_t i = 0;
    for (; i + 4 <= n_q; i += 4)
      for (int64_t l = 0; l < kKeyBlock; l += 4)
        scores_block<4, KR>(q + i * d_k, d_k, K, k_stride, t + l, scale, scores + i * n_keys, n_keys);
    for (; i + 2 <= n_q; i += 2)
      for (int64_t l = 0; l < kKeyBlock; l += 8)
        scores_block<2, KR>(q + i * d_k, d_k, K, k_stride, t + l, scale, scores + i * n_keys, n_keys);
    for (; i < n_q; ++i) scores_block<1, KR>(q + i * d_k, d_k, K, k_stride, t, scale, scores + i * n_keys, n_keys);
  }
  for (; t < n_keys; ++t)
    for (int64_t i = 0; i < n_q; ++i) scores[i * n_keys + t] = score1(q + i * d_k, d_k, K + t * k_stride, scale);

  // Masked keys get probability 0: the value loop below runs over every key for every query.
  for (int64_t i = 0; i < n_q; ++i) {
    const int64_t seen = keys_seen(i, n_q, n_keys, causal);
    const float l = softmax512(scores + i * n_keys, seen);
    if (lse != nullptr) lse[i] = l;
    std::fill(scores + i * n_keys + seen, scores + (i + 1) * n_keys, 0.0f);
  }

  static constexpr auto values = values_blocks<VR>(std::make_integer_sequence<int, kValueQueries>{});
  const int widest = static_cast<int>(std::min<int64_t>(kValueVectors, d_v / 16));
  const int64_t q_step = std::clamp(kValueAccumulators / widest, 1, kValueQueries);
  std::fill(out, out + n_q * d_v, 0.0f);
  for (int64_t t0 = 0; t0 < n_keys; t0 += kKeyBlock) {
    const int64_t t1 = std::min(n_keys, t0 + kKeyBlock);
    for (int64_t i = 0; i < n_q; i += q_step) {
      const int nq = static_cast<int>(std::min<int64_t>(q_step, n_q - i));
      for (int64_t j = 0; j < d_v; j += 16 * kValueVectors) {
        const int nv = static_cast<int>(std::min<int64_t>(16 * kValueVectors, d_v - j) / 16);
        values[nq - 1][nv - 1](scores + i * n_keys, n_keys, V + j, v_stride, t0, t1, out + i * d_v + j, d_v);
      }
    }
  }
}

R1_INSTANTIATE_ATTENTION_KERNEL(attend_avx512)

}  // namespace r1
