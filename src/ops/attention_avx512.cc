// attend() on AVX-512F; compiled with -mavx512f and called only when the CPU has it.
// Scores: 16 keys at a time, one float accumulator per key summed over d_k in steps of 16, then
// the 16 accumulators reduced into one vector of 16 scores. Softmax with a vector exp. Values:
// out += p_t · v_t with up to 16 vector accumulators (256 floats of d_v) per pass.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "ops/attention.h"
#include "ops/exp_avx512.h"

namespace r1 {
namespace {

// The 16 sums of 16 vectors' lanes: out[i] = Σ_lanes a[i].
__m512 reduce16(const __m512* a) {
  __m512 b[8], c[4];
  for (int i = 0; i < 8; ++i)  // per 128-bit lane: [a2i(0+2), a2i+1(0+2), a2i(1+3), a2i+1(1+3)]
    b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  for (int j = 0; j < 4; ++j) {  // per 128-bit lane L: lane-L sums of a4j .. a4j+3
    const __m512d x = _mm512_castps_pd(b[2 * j]), y = _mm512_castps_pd(b[2 * j + 1]);
    c[j] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  // Sum the four 128-bit lanes of c0..c3 into lane j of the result.
  const __m512 e01 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
  const __m512 e23 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x88), _mm512_shuffle_f32x4(c[2], c[3], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(e01, e23, 0x88), _mm512_shuffle_f32x4(e01, e23, 0xDD));
}

// s[t] = scale · q·k_t for the 16 keys from t, K pointing at key 0.
void scores16(const float* q, int64_t d_k, const float* K, int64_t k_stride, int64_t t, float scale, float* s) {
  __m512 acc[16];
  for (int l = 0; l < 16; ++l) acc[l] = _mm512_setzero_ps();
  for (int64_t j = 0; j < d_k; j += 16) {
    const __m512 qj = _mm512_loadu_ps(q + j);
    for (int l = 0; l < 16; ++l) acc[l] = _mm512_fmadd_ps(qj, _mm512_loadu_ps(K + (t + l) * k_stride + j), acc[l]);
  }
  _mm512_storeu_ps(s + t, _mm512_mul_ps(reduce16(acc), _mm512_set1_ps(scale)));
}

float score1(const float* q, int64_t d_k, const float* k, float scale) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < d_k; j += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), _mm512_loadu_ps(k + j), acc);
  return _mm512_reduce_add_ps(acc) * scale;
}

// In place, as elementwise.h's softmax (an all −inf row becomes zeros).
void softmax_row(float* s, int64_t n) {
  const auto mask = [n](int64_t t) { return n - t >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - t)) - 1); };
  const float ninf = -std::numeric_limits<float>::infinity();
  __m512 mx = _mm512_set1_ps(ninf);
  for (int64_t t = 0; t < n; t += 16) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(ninf), mask(t), s + t));
  const float max = _mm512_reduce_max_ps(mx);
  if (max == ninf) return std::fill(s, s + n, 0.0f);
  __m512d sum = _mm512_setzero_pd();  // in double, as the scalar softmax
  for (int64_t t = 0; t < n; t += 16) {
    const __mmask16 m = mask(t);
    const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + t), _mm512_set1_ps(max))));
    _mm512_mask_storeu_ps(s + t, m, e);
    sum = _mm512_add_pd(sum, _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(e)),
                                           _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)))));
  }
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / _mm512_reduce_add_pd(sum)));
  for (int64_t t = 0; t < n; t += 16) _mm512_mask_storeu_ps(s + t, mask(t), _mm512_mul_ps(_mm512_maskz_loadu_ps(mask(t), s + t), inv));
}

// o += Σ_{t0 ≤ t < t1} p[t] · v_t for 16·N floats of o (columns from V's first).
template <int N>
void values_chunk(const float* p, const float* V, int64_t v_stride, int64_t t0, int64_t t1, float* o) {
  __m512 acc[N];
  for (int c = 0; c < N; ++c) acc[c] = _mm512_loadu_ps(o + 16 * c);
  for (int64_t t = t0; t < t1; ++t) {
    const __m512 pt = _mm512_set1_ps(p[t]);
    for (int c = 0; c < N; ++c) acc[c] = _mm512_fmadd_ps(pt, _mm512_loadu_ps(V + t * v_stride + 16 * c), acc[c]);
  }
  for (int c = 0; c < N; ++c) _mm512_storeu_ps(o + 16 * c, acc[c]);
}

template <int... Ns>
constexpr auto values_chunks(std::integer_sequence<int, Ns...>) {
  using Fn = void (*)(const float*, const float*, int64_t, int64_t, int64_t, float*);
  return std::array<Fn, sizeof...(Ns)>{&values_chunk<Ns + 1>...};
}

}  // namespace

void attend_avx512(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys,
                   const float* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores) {
  // Keys in blocks, queries inside: a block of K / V rows is read from memory once and stays in
  // L1 while every query uses it.
  constexpr int64_t kKeyBlock = 16;
  int64_t t = 0;
  for (; t + kKeyBlock <= n_keys; t += kKeyBlock)
    for (int64_t i = 0; i < n_q; ++i) scores16(q + i * d_k, d_k, K, k_stride, t, scale, scores + i * n_keys);
  for (; t < n_keys; ++t)
    for (int64_t i = 0; i < n_q; ++i) scores[i * n_keys + t] = score1(q + i * d_k, d_k, K + t * k_stride, scale);

  for (int64_t i = 0; i < n_q; ++i) softmax_row(scores + i * n_keys, n_keys);

  static constexpr auto chunks = values_chunks(std::make_integer_sequence<int, 16>{});
  std::fill(out, out + n_q * d_v, 0.0f);
  for (int64_t t0 = 0; t0 < n_keys; t0 += kKeyBlock) {
    const int64_t t1 = std::min(n_keys, t0 + kKeyBlock);
    for (int64_t i = 0; i < n_q; ++i)
      for (int64_t j = 0; j < d_v; j += 256) {
        const int n = static_cast<int>(std::min<int64_t>(256, d_v - j) / 16);
        chunks[n - 1](scores + i * n_keys, V + j, v_stride, t0, t1, out + i * d_v + j);
      }
  }
}

}  // namespace r1
