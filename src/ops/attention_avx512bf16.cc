// Prompt attention in bf16 products (attend_bf16 in ops/attention.h); compiled with -mavx512bf16 and
// called only when the CPU has it. vdpbf16ps multiplies 32 bf16 pairs and adds them into 16 float32
// sums, twice the products per instruction of a float32 FMA. Scores: the layout of attention_avx512.cc
// (16 (query, key) sums per pass, each loaded key row serving up to 4 queries), 32 elements of d_k
// per step. Values: the probabilities of two positions and their value rows are multiplied in one
// instruction, which is why the values come in pairs of positions (pack_bf16_pairs).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/attention_avx512.h"
#include "ops/convert.h"

namespace r1 {
namespace {

// 16 floats from 16 values of a cache row of `type` (F32, F16 or Q8_0, j a multiple of 16).
__m512 load16(DType type, const void* row, int64_t j) {
  if (type == DType::F16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + j)));
  }
  if (type == DType::Q8_0) return load16_q8(Q8Ptr{static_cast<const BlockQ8_0*>(row)} + j);
  return _mm512_loadu_ps(static_cast<const float*>(row) + j);
}

__m512bh load_bh(const uint16_t* p) { return (__m512bh)_mm512_loadu_si512(p); }

// s[i · s_stride + t + l] = scale · q_i·k_{t+l} for Q queries (bf16 rows q + i·d_k) and the 16 / Q
// keys from t (bf16 rows of d_k).
template <int Q>
void scores_block(const uint16_t* q, int64_t d_k, const uint16_t* K, int64_t t, float scale, float* s,
                  int64_t s_stride) {
  constexpr int L = 16 / Q;
  __m512 acc[16];
  for (int a = 0; a < 16; ++a) acc[a] = _mm512_setzero_ps();
  for (int64_t j = 0; j < d_k; j += 32) {
    __m512bh qj[Q];
    for (int i = 0; i < Q; ++i) qj[i] = load_bh(q + i * d_k + j);
    for (int l = 0; l < L; ++l) {
      const __m512bh kl = load_bh(K + (t + l) * d_k + j);
      for (int i = 0; i < Q; ++i) acc[i * L + l] = _mm512_dpbf16_ps(acc[i * L + l], qj[i], kl);
    }
  }
  const __m512 sums = _mm512_mul_ps(reduce16(acc), _mm512_set1_ps(scale));  // lane i·L + l
  for (int i = 0; i < Q; ++i)
    _mm512_mask_compressstoreu_ps(s + i * s_stride + t, static_cast<__mmask16>(((1u << L) - 1) << (i * L)), sums);
}

float score1(const uint16_t* q, int64_t d_k, const uint16_t* k, float scale) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < d_k; j += 32) acc = _mm512_dpbf16_ps(acc, load_bh(q + j), load_bh(k + j));
  return _mm512_reduce_add_ps(acc) * scale;
}

// o_i += Σ_{pairs u0 ≤ u < u1} p_i(2u)·v_{2u} + p_i(2u+1)·v_{2u+1} for Q queries (bf16 probabilities at
// p + i·p_stride) over 16·N columns (o_i at o + i·o_stride; value pairs Vp rows of d_v pairs).
template <int Q, int N>
void values_block(const uint16_t* p, int64_t p_stride, const uint16_t* Vp, int64_t d_v, int64_t u0, int64_t u1,
                  float* o, int64_t o_stride) {
  __m512 acc[Q][N];
  for (int i = 0; i < Q; ++i)
    for (int c = 0; c < N; ++c) acc[i][c] = _mm512_loadu_ps(o + i * o_stride + 16 * c);
  for (int64_t u = u0; u < u1; ++u) {
    __m512bh pu[Q];
    for (int i = 0; i < Q; ++i) {
      uint32_t pair;
      std::memcpy(&pair, p + i * p_stride + 2 * u, sizeof pair);
      pu[i] = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
    }
    for (int c = 0; c < N; ++c) {
      const __m512bh v = load_bh(Vp + (u * d_v + 16 * c) * 2);
      for (int i = 0; i < Q; ++i) acc[i][c] = _mm512_dpbf16_ps(acc[i][c], pu[i], v);
    }
  }
  for (int i = 0; i < Q; ++i)
    for (int c = 0; c < N; ++c) _mm512_storeu_ps(o + i * o_stride + 16 * c, acc[i][c]);
}

// The values of nq (1..3) queries over 16·N columns, N = 1..8.
using ValuesFn = void (*)(const uint16_t*, int64_t, const uint16_t*, int64_t, int64_t, int64_t, float*, int64_t);
template <int Q>
constexpr ValuesFn kValues[8] = {&values_block<Q, 1>, &values_block<Q, 2>, &values_block<Q, 3>, &values_block<Q, 4>,
                                 &values_block<Q, 5>, &values_block<Q, 6>, &values_block<Q, 7>, &values_block<Q, 8>};
constexpr const ValuesFn* kValuesByQueries[3] = {kValues<1>, kValues<2>, kValues<3>};

}  // namespace

void pack_bf16_rows_avx512bf16(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst) {
  const size_t stride_bytes = row_bytes(type, stride);
  for (int64_t t = 0; t < n; ++t) {
    const void* row = static_cast<const uint8_t*>(rows) + size_t(t) * stride_bytes;
    for (int64_t j = 0; j < d; j += 32) {
      const __m512bh b = _mm512_cvtne2ps_pbh(load16(type, row, j + 16), load16(type, row, j));
      _mm512_storeu_si512(dst + t * d + j, (__m512i)b);
    }
  }
}

void pack_bf16_pairs_avx512bf16(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst) {
  const size_t stride_bytes = row_bytes(type, stride);
  for (int64_t u = 0; u < (n + 1) / 2; ++u) {
    const void* r0 = static_cast<const uint8_t*>(rows) + size_t(2 * u) * stride_bytes;
    const void* r1 = static_cast<const uint8_t*>(r0) + stride_bytes;
    const bool odd_end = 2 * u + 1 == n;  // the last pair's second position is padding: zeros
    for (int64_t j = 0; j < d; j += 16) {
      // bf16 of position 2u in the low half of each 32-bit lane, of 2u + 1 in the high half.
      const __m512i a = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(load16(type, r0, j)));
      const __m512i b = odd_end ? _mm512_setzero_si512()
                                : _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(load16(type, r1, j)));
      _mm512_storeu_si512(dst + (u * d + j) * 2, _mm512_or_si512(a, _mm512_slli_epi32(b, 16)));
    }
  }
}

void attend_bf16_avx512bf16(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t n_keys,
                            const uint16_t* Vp, int64_t d_v, float scale, float* out, float* scores, bool causal) {
  // The queries in bf16 (a group's query heads: a few rows).
  constexpr int64_t kMaxQueries = 16;
  if (n_q > kMaxQueries || d_k > 1024) fail("attend_bf16: ", n_q, " queries of ", d_k, " exceed 16 x 1024");
  alignas(64) uint16_t qb[kMaxQueries * 1024];
  pack_bf16_rows_avx512bf16(DType::F32, q, d_k, n_q, d_k, qb);

  constexpr int64_t kKeyBlock = 16;
  int64_t t = 0;
  for (; t + kKeyBlock <= n_keys; t += kKeyBlock) {
    int64_t i = 0;
    for (; i + 4 <= n_q; i += 4)
      for (int64_t l = 0; l < kKeyBlock; l += 4) scores_block<4>(qb + i * d_k, d_k, K, t + l, scale, scores + i * n_keys, n_keys);
    for (; i + 2 <= n_q; i += 2)
      for (int64_t l = 0; l < kKeyBlock; l += 8) scores_block<2>(qb + i * d_k, d_k, K, t + l, scale, scores + i * n_keys, n_keys);
    for (; i < n_q; ++i) scores_block<1>(qb + i * d_k, d_k, K, t, scale, scores + i * n_keys, n_keys);
  }
  for (; t < n_keys; ++t)
    for (int64_t i = 0; i < n_q; ++i) scores[i * n_keys + t] = score1(qb + i * d_k, d_k, K + t * d_k, scale);

  // Softmax in float32 (masked keys get probability 0), then each row's probabilities rounded to
  // bf16 in place (row i's bf16 values at the start of its float row; a zero after an odd count
  // pads the last pair).
  const int64_t n_pairs = (n_keys + 1) / 2;
  for (int64_t i = 0; i < n_q; ++i) {
    float* s = scores + i * n_keys;
    const int64_t seen = keys_seen(i, n_q, n_keys, causal);
    softmax512(s, seen);
    std::fill(s + seen, s + n_keys, 0.0f);
    uint16_t* p = reinterpret_cast<uint16_t*>(s);
    int64_t j = 0;
    for (; j + 32 <= n_keys; j += 32)
      _mm512_storeu_si512(p + j, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + j + 16), _mm512_loadu_ps(s + j)));
    for (; j < n_keys; ++j) p[j] = f32_to_bf16(s[j]);  // rounds as vcvtne2ps2bf16 does
    if (n_keys % 2 == 1) p[n_keys] = 0;
  }

  // Rows of bf16 probabilities lie n_keys floats = 2·n_keys bf16 apart.
  constexpr int64_t kPairBlock = 8;  // 16 positions, as the scores' key blocks
  const int64_t p_stride = 2 * n_keys;
  const auto* p = reinterpret_cast<const uint16_t*>(scores);
  std::fill(out, out + n_q * d_v, 0.0f);
  for (int64_t u0 = 0; u0 < n_pairs; u0 += kPairBlock) {
    const int64_t u1 = std::min(n_pairs, u0 + kPairBlock);
    for (int64_t i = 0; i < n_q; i += 3) {
      const int nq = static_cast<int>(std::min<int64_t>(3, n_q - i));
      for (int64_t j = 0; j < d_v; j += 128) {
        const int nv = static_cast<int>(std::min<int64_t>(128, d_v - j) / 16);
        kValuesByQueries[nq - 1][nv - 1](p + i * p_stride, p_stride, Vp + 2 * j, d_v, u0, u1, out + i * d_v + j, d_v);
      }
    }
  }
}

}  // namespace r1
