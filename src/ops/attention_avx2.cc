// attend() on AVX2 + FMA (CPUs without AVX-512, or head sizes that are multiples of 8 but not 16);
// compiled with -mavx2 -mfma and called only when the CPU has them. The layout of
// attention_avx512.cc at 8 lanes: scores for 8 (query, key) pairs at a time, reduced into one vector
// of 8 scores; softmax as elementwise.h's; values for up to 2 queries × 48 floats per pass. Keys and
// values are float32, F16, Q8_0 or Q4_0 (widened as they are loaded; KR, VR: their row pointer types).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "ops/attention.h"
#include "ops/avx2_util.h"
#include "ops/elementwise.h"

namespace r1 {
namespace {

__m256 load8(const float* p) { return _mm256_loadu_ps(p); }
__m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
__m256 load8(Q8Ptr p) {
  const __m256 codes = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p.codes()))));
  return _mm256_mul_ps(codes, _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(p.block().d))));
}
__m256 load8(Q4Ptr p) {
  const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p.bytes()));
  const __m128i nibbles = _mm_and_si128(_mm_srl_epi16(bytes, _mm_cvtsi32_si128(p.nibble_shift())), _mm_set1_epi8(15));
  const __m256 codes = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_sub_epi8(nibbles, _mm_set1_epi8(8))));
  return _mm256_mul_ps(codes, _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(p.block().d))));
}

// The 8 sums of 8 vectors' lanes: out[i] = Σ_lanes a[i].
__m256 reduce8(const __m256* a) {
  const __m256 s01 = _mm256_hadd_ps(a[0], a[1]), s23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 s45 = _mm256_hadd_ps(a[4], a[5]), s67 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 t0 = _mm256_hadd_ps(s01, s23), t1 = _mm256_hadd_ps(s45, s67);  // per 128-bit half: a0..a3, a4..a7
  return _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20), _mm256_permute2f128_ps(t0, t1, 0x31));
}

// s[i · s_stride + t + l] = scale · q_i·k_{t+l} for Q queries and the 8 / Q keys from t: each loaded key
// row serves Q queries.
template <int Q, class T>
void scores_block(const float* q, int64_t d_k, T K, int64_t k_stride, int64_t t, float scale, float* s,
                  int64_t s_stride) {
  constexpr int L = 8 / Q;
  __m256 acc[8];
  for (int a = 0; a < 8; ++a) acc[a] = _mm256_setzero_ps();
  for (int64_t j = 0; j < d_k; j += 8) {
    __m256 qj[Q];
    for (int i = 0; i < Q; ++i) qj[i] = _mm256_loadu_ps(q + i * d_k + j);
    for (int l = 0; l < L; ++l) {
      const __m256 kl = load8(K + (t + l) * k_stride + j);
      for (int i = 0; i < Q; ++i) acc[i * L + l] = _mm256_fmadd_ps(qj[i], kl, acc[i * L + l]);
    }
  }
  alignas(32) float sums[8];  // lane i·L + l
  _mm256_store_ps(sums, _mm256_mul_ps(reduce8(acc), _mm256_set1_ps(scale)));
  for (int i = 0; i < Q; ++i) std::copy(sums + i * L, sums + (i + 1) * L, s + i * s_stride + t);
}

template <class T>
float score1(const float* q, int64_t d_k, T k, float scale) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t j = 0; j < d_k; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), load8(k + j), acc);
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  const __m128 d = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d))) * scale;
}

// o_i += Σ_{t0 ≤ t < t1} p_i[t] · v_t for Q queries and 8·N floats of each o_i.
template <int Q, int N, class T>
void values_block(const float* p, int64_t p_stride, T V, int64_t v_stride, int64_t t0, int64_t t1, float* o,
                  int64_t o_stride) {
  __m256 acc[Q][N];
  for (int i = 0; i < Q; ++i)
    for (int c = 0; c < N; ++c) acc[i][c] = _mm256_loadu_ps(o + i * o_stride + 8 * c);
  for (int64_t t = t0; t < t1; ++t) {
    __m256 pt[Q];
    for (int i = 0; i < Q; ++i) pt[i] = _mm256_broadcast_ss(p + i * p_stride + t);
    for (int c = 0; c < N; ++c) {
      const __m256 v = load8(V + t * v_stride + 8 * c);
      for (int i = 0; i < Q; ++i) acc[i][c] = _mm256_fmadd_ps(pt[i], v, acc[i][c]);
    }
  }
  for (int i = 0; i < Q; ++i)
    for (int c = 0; c < N; ++c) _mm256_storeu_ps(o + i * o_stride + 8 * c, acc[i][c]);
}

// Up to 2 queries × 6 vectors of columns: 12 of the 16 registers hold accumulators.
constexpr int kValueQueries = 2, kValueVectors = 6;
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
void attend_avx2(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                 int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, float* lse, bool causal) {
  // Keys in blocks of 16 (their rows stay in L1 while every query uses them), queries 2 at a time.
  constexpr int64_t kKeyBlock = 16;
  int64_t t = 0;
  for (; t + kKeyBlock <= n_keys; t += kKeyBlock) {
    int64_t i = 0;
    for (; i + 2 <= n_q; i += 2)
      for (int64_t l = 0; l < kKeyBlock; l += 4)
        scores_block<2, KR>(q + i * d_k, d_k, K, k_stride, t + l, scale, scores + i * n_keys, n_keys);
    for (; i < n_q; ++i)
      for (int64_t l = 0; l < kKeyBlock; l += 8)
        scores_block<1, KR>(q + i * d_k, d_k, K, k_stride, t + l, scale, scores + i * n_keys, n_keys);
  }
  for (; t < n_keys; ++t)
    for (int64_t i = 0; i < n_q; ++i) scores[i * n_keys + t] = score1(q + i * d_k, d_k, K + t * k_stride, scale);

  // Masked keys get probability 0: the value loop below runs over every key for every query.
  for (int64_t i = 0; i < n_q; ++i) {
    const int64_t seen = keys_seen(i, n_q, n_keys, causal);
    const float l = softmax(scores + i * n_keys, seen);
    if (lse != nullptr) lse[i] = l;
    std::fill(scores + i * n_keys + seen, scores + (i + 1) * n_keys, 0.0f);
  }

  static constexpr auto values = values_blocks<VR>(std::make_integer_sequence<int, kValueQueries>{});
  std::fill(out, out + n_q * d_v, 0.0f);
  for (int64_t t0 = 0; t0 < n_keys; t0 += kKeyBlock) {
    const int64_t t1 = std::min(n_keys, t0 + kKeyBlock);
    for (int64_t i = 0; i < n_q; i += kValueQueries) {
      const int nq = static_cast<int>(std::min<int64_t>(kValueQueries, n_q - i));
      for (int64_t j = 0; j < d_v; j += 8 * kValueVectors) {
        const int nv = static_cast<int>(std::min<int64_t>(8 * kValueVectors, d_v - j) / 8);
        values[nq - 1][nv - 1](scores + i * n_keys, n_keys, V + j, v_stride, t0, t1, out + i * d_v + j, d_v);
      }
    }
  }
}

R1_INSTANTIATE_ATTENTION_KERNEL(attend_avx2)

namespace {

// y[0..32·nb) = the values of nb blocks: d·code (+ m where the format has one), as the scalar
// dequantizer computes them (the compiler may fuse the multiply and the add: within an ulp).
template <class Block>
void widen_blocks(const Block* b, int64_t nb, float* y) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const __m256i codes = block_codes(b[i]);
    const __m256 d = _mm256_set1_ps(half_to_f32(b[i].d));
    const __m128i half[2] = {_mm256_castsi256_si128(codes), _mm256_extracti128_si256(codes, 1)};
    for (int k = 0; k < 4; ++k) {
      const __m128i part = k % 2 == 0 ? half[k / 2] : _mm_srli_si128(half[k / 2], 8);
      __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part)), d);
      if constexpr (requires { b[i].m; }) v = _mm256_add_ps(v, _mm256_set1_ps(half_to_f32(b[i].m)));
      _mm256_storeu_ps(y + 8 * k, v);
    }
  }
}

}  // namespace

bool widen_row_avx2(DType type, const void* row, float* y, int64_t n) {
  switch (type) {
    case DType::F32:
      std::memcpy(y, row, size_t(n) * sizeof(float));
      return true;
    case DType::F16:
      if (n % 8 != 0) return false;
      for (int64_t j = 0; j < n; j += 8) _mm256_storeu_ps(y + j, load8_f16(row, j));
      return true;
    case DType::Q8_0: return widen_blocks(static_cast<const BlockQ8_0*>(row), n / 32, y), true;
    case DType::Q4_0: return widen_blocks(static_cast<const BlockQ4_0*>(row), n / 32, y), true;
    case DType::BF16:
      if (n % 8 != 0) return false;
      for (int64_t j = 0; j < n; j += 8) _mm256_storeu_ps(y + j, load8_bf16(row, j));
      return true;
    case DType::Q4_1: return widen_blocks(static_cast<const BlockQ4_1*>(row), n / 32, y), true;
    case DType::Q5_0: return widen_blocks(static_cast<const BlockQ5_0*>(row), n / 32, y), true;
    case DType::Q5_1: return widen_blocks(static_cast<const BlockQ5_1*>(row), n / 32, y), true;
    case DType::IQ4_NL: return widen_blocks(static_cast<const BlockIQ4NL*>(row), n / 32, y), true;
    default: return false;
  }
}

}  // namespace r1
