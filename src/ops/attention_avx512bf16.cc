// Attention in bf16 products; compiled with -mavx512bf16 and called only when the CPU has it.
// vdpbf16ps multiplies 32 bf16 pairs and adds them into 16 float32 sums, twice the products per
// instruction of a float32 FMA. One kernel, two ways of getting its bf16 keys and values:
//  - prompt attention (attend_bf16): packed once per pass by the caller (pack_bf16_rows /
//    pack_bf16_pairs) and shared by all of the pass's queries;
//  - attend() on cache rows while bf16 products are on (decode): each block of 16 keys, and later
//    its values, packed into L1 when the kernel reaches it and used there by every query. Decode
//    attention with many heads on one cache (MLA's latent: 16 and more) is bound by its products.
// Scores: the layout of attention_avx512.cc (16 (query, key) sums per pass, each loaded key row
// serving up to 4 queries), 32 elements of d_k per step. Values: the probabilities of two positions
// and their value rows are multiplied in one instruction, which is why the values come in pairs of
// positions.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/attention_avx512.h"
#include "ops/convert.h"
#include "ops/quant.h"

namespace r1 {

bool widen_row_avx2(DType type, const void* row, float* y, int64_t n);  // attention_avx2.cc

namespace {

constexpr int64_t kMaxQueries = 16, kMaxWidth = 1024, kKeyBlock = 16;

__m512bh load_bh(const uint16_t* p) { return (__m512bh)_mm512_loadu_si512(p); }

// dst [n][d] bf16 from the first d values of n rows `stride` apart (T: a row pointer of block_rows.h;
// d a multiple of 32).
template <class T>
void pack_rows(T rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst) {
  for (int64_t t = 0; t < n; ++t) {
    const T row = rows + t * stride;
    for (int64_t j = 0; j < d; j += 32) {
      __m512 lo, hi;
      load32(row + j, lo, hi);
      _mm512_storeu_si512(dst + t * d + j, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
}

// dst [(n + 1) / 2][d][2] bf16: positions 2u and 2u + 1 side by side (zero after an odd n).
template <class T>
void pack_pairs(T rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst) {
  // Words [a0 .. a15 | b0 .. b15] (the two positions' bf16) to [a0 b0 a1 b1 ..].
  alignas(64) static constexpr uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                           8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i interleave = _mm512_load_si512(kInterleave);
  for (int64_t u = 0; u < (n + 1) / 2; ++u) {
    const T r0 = rows + 2 * u * stride;
    const bool odd_end = 2 * u + 1 == n;  // the last pair's second position is padding: zeros
    const auto store = [&](int64_t j, __m512 a, __m512 b) {
      const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(b, a);
      _mm512_storeu_si512(dst + (u * d + j) * 2, _mm512_permutexvar_epi16(interleave, both));
    };
    int64_t j = 0;
    for (; j + 32 <= d; j += 32) {  // whole blocks
      __m512 a_lo, a_hi, b_lo = _mm512_setzero_ps(), b_hi = _mm512_setzero_ps();
      load32(r0 + j, a_lo, a_hi);
      if (!odd_end) load32(r0 + (stride + j), b_lo, b_hi);
      store(j, a_lo, b_lo);
      store(j + 16, a_hi, b_hi);
    }
    for (; j < d; j += 16) store(j, load16(r0 + j), odd_end ? _mm512_setzero_ps() : load16(r0 + (stride + j)));
  }
}

// s[i · s_stride + l] = scale · q_i·k_l for Q queries (bf16 rows q + i·d_k) and the 16 / Q keys from
// l0 (bf16 rows of d_k at K). Inlined: called out of line from the four instances of attend_blocks,
// its accumulators went through memory (BM_attention_prompt 98 → 64 µs).
template <int Q>
__attribute__((always_inline)) inline void scores_block(const uint16_t* q, int64_t d_k, const uint16_t* K, int64_t l0,
                                                        float scale, float* s, int64_t s_stride) {
  constexpr int L = 16 / Q;
  __m512 acc[16];
  for (int a = 0; a < 16; ++a) acc[a] = _mm512_setzero_ps();
  for (int64_t j = 0; j < d_k; j += 32) {
    __m512bh qj[Q];
    for (int i = 0; i < Q; ++i) qj[i] = load_bh(q + i * d_k + j);
    for (int l = 0; l < L; ++l) {
      const __m512bh kl = load_bh(K + (l0 + l) * d_k + j);
      for (int i = 0; i < Q; ++i) acc[i * L + l] = _mm512_dpbf16_ps(acc[i * L + l], qj[i], kl);
    }
  }
  store_scores<Q>(_mm512_mul_ps(reduce16(acc), _mm512_set1_ps(scale)), s, s_stride, l0);
}

float score1(const uint16_t* q, int64_t d_k, const uint16_t* k, float scale) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < d_k; j += 32) acc = _mm512_dpbf16_ps(acc, load_bh(q + j), load_bh(k + j));
  return _mm512_reduce_add_ps(acc) * scale;
}

// o_i += Σ_{pairs 0 ≤ u < n_pairs} p_i(2u)·v_{2u} + p_i(2u+1)·v_{2u+1} for Q queries (bf16 probabilities
// at p + i·p_stride) over 16·N columns (o_i at o + i·o_stride; value pairs Vp rows of d_v pairs).
template <int Q, int N>
void values_block(const uint16_t* p, int64_t p_stride, const uint16_t* Vp, int64_t d_v, int64_t n_pairs, float* o,
                  int64_t o_stride) {
  __m512 acc[Q][N];
  for (int i = 0; i < Q; ++i)
    for (int c = 0; c < N; ++c) acc[i][c] = _mm512_loadu_ps(o + i * o_stride + 16 * c);
  for (int64_t u = 0; u < n_pairs; ++u) {
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
using ValuesFn = void (*)(const uint16_t*, int64_t, const uint16_t*, int64_t, int64_t, float*, int64_t);
template <int Q>
constexpr ValuesFn kValues[8] = {&values_block<Q, 1>, &values_block<Q, 2>, &values_block<Q, 3>, &values_block<Q, 4>,
                                 &values_block<Q, 5>, &values_block<Q, 6>, &values_block<Q, 7>, &values_block<Q, 8>};
constexpr const ValuesFn* kValuesByQueries[3] = {kValues<1>, kValues<2>, kValues<3>};

// The prompt kernel's keys and value pairs: packed by the caller, used where they are.
struct PackedRows {
  const uint16_t* K;
  const uint16_t* Vp;
  int64_t d_k, d_v;
  const uint16_t* keys(int64_t t, int64_t /*m*/) const { return K + t * d_k; }
  const uint16_t* pairs(int64_t t, int64_t /*m*/) const { return Vp + t * d_v; }  // t even
};

// Cache rows: the m keys (values) from t packed into L1 buffers when asked for. The row pointers'
// types are behind pack functions (one call per 16 positions), so that attend_blocks has one
// instance for every pair of cache types.
struct CacheRows {
  const void *K, *V;  // the keys' and values' row pointers (KR, VR)
  int64_t k_stride, v_stride, d_k, d_v;
  uint16_t* buffer;  // kKeyBlock · max(d_k, d_v) bf16
  void (*pack_keys)(const void* K, int64_t stride, int64_t t, int64_t m, int64_t d, uint16_t* dst);
  void (*pack_values)(const void* V, int64_t stride, int64_t t, int64_t m, int64_t d, uint16_t* dst);
  const uint16_t* keys(int64_t t, int64_t m) const {
    pack_keys(K, k_stride, t, m, d_k, buffer);
    return buffer;
  }
  const uint16_t* pairs(int64_t t, int64_t m) const {
    pack_values(V, v_stride, t, m, d_v, buffer);
    return buffer;
  }
};
// Rows of any cache type as bytes, widened to float32 by widen_row_avx2 (attention_avx2.cc) 16 at a
// time where the kernel asks for them: the cache types the kernels do not read in place (BF16, Q4_1,
// Q5_0, Q5_1, IQ4_NL) and whatever type the other side of such a pair has.
struct WidenedRows {
  DType type;
  const uint8_t* rows;
  size_t row_bytes;
  int64_t width;  // values widened per row (whole blocks)
};
template <bool kPairs>
void pack_widened_at(const void* src, int64_t /*stride*/, int64_t t, int64_t m, int64_t d, uint16_t* dst) {
  const auto& w = *static_cast<const WidenedRows*>(src);
  alignas(64) float rows[kKeyBlock * kMaxWidth];
  for (int64_t j = 0; j < m; ++j) {
    const uint8_t* row = w.rows + size_t(t + j) * w.row_bytes;
    if (!widen_row_avx2(w.type, row, rows + j * w.width, w.width)) dequantize_row(w.type, row, rows + j * w.width, w.width);
  }
  if constexpr (kPairs) {
    pack_pairs(static_cast<const float*>(rows), w.width, m, d, dst);
  } else {
    pack_rows(static_cast<const float*>(rows), w.width, m, d, dst);
  }
}

template <class R>
void pack_rows_at(const void* rows, int64_t stride, int64_t t, int64_t m, int64_t d, uint16_t* dst) {
  pack_rows(*static_cast<const R*>(rows) + t * stride, stride, m, d, dst);
}
template <class R>
void pack_pairs_at(const void* rows, int64_t stride, int64_t t, int64_t m, int64_t d, uint16_t* dst) {
  pack_pairs(*static_cast<const R*>(rows) + t * stride, stride, m, d, dst);
}

// Attention of n_q <= 16 queries (the causal mask as attend_causal) over keys and values in bf16
// from `rows`, in one pass over blocks of 16 positions: a block's keys and then its values are used
// while they are in L1, so each row is read from memory once (MLA's values are the first d_v of its
// key rows). The softmax runs along: query i keeps the largest score so far m_i and the sum l_i of
// e^(s − m_i); a block's probabilities e^(s − m_i) are rounded to bf16 for the products, and when m_i
// grows the sums so far are scaled by e^(m_old − m_new). out_i / l_i at the end.
template <class Rows>
void attend_blocks(const float* q, int64_t n_q, int64_t d_k, int64_t n_keys, int64_t d_v, float scale, float* out,
                   float* lse, bool causal, const Rows& rows) {
  alignas(64) uint16_t qb[kMaxQueries * kMaxWidth];  // the queries in bf16
  pack_rows(q, d_k, n_q, d_k, qb);
  alignas(64) float sb[kMaxQueries * kKeyBlock];     // a block's scores, query-major
  alignas(64) uint16_t pb[kMaxQueries * kKeyBlock];  // and its probabilities in bf16
  float m[kMaxQueries], l[kMaxQueries];
  const float ninf = -std::numeric_limits<float>::infinity();
  std::fill(m, m + n_q, ninf);
  std::fill(l, l + n_q, 0.0f);
  std::fill(out, out + n_q * d_v, 0.0f);

  for (int64_t t = 0; t < n_keys; t += kKeyBlock) {
    const int64_t mk = std::min(kKeyBlock, n_keys - t);
    const uint16_t* kb = rows.keys(t, mk);
    if (mk == kKeyBlock) {
      int64_t i = 0;
      for (; i + 4 <= n_q; i += 4)
        for (int64_t k = 0; k < kKeyBlock; k += 4) scores_block<4>(qb + i * d_k, d_k, kb, k, scale, sb + i * kKeyBlock, kKeyBlock);
      for (; i + 2 <= n_q; i += 2)
        for (int64_t k = 0; k < kKeyBlock; k += 8) scores_block<2>(qb + i * d_k, d_k, kb, k, scale, sb + i * kKeyBlock, kKeyBlock);
      for (; i < n_q; ++i) scores_block<1>(qb + i * d_k, d_k, kb, 0, scale, sb + i * kKeyBlock, kKeyBlock);
    } else {
      for (int64_t k = 0; k < mk; ++k)
        for (int64_t i = 0; i < n_q; ++i) sb[i * kKeyBlock + k] = score1(qb + i * d_k, d_k, kb + k * d_k, scale);
    }

    for (int64_t i = 0; i < n_q; ++i) {
      // Keys this query sees in the block: the first `seen` (mk, or fewer under the causal mask).
      const int64_t seen = std::clamp<int64_t>(keys_seen(i, n_q, n_keys, causal) - t, 0, mk);
      const __mmask16 live = static_cast<__mmask16>((1u << seen) - 1);
      const __m512 si = _mm512_mask_loadu_ps(_mm512_set1_ps(ninf), live, sb + i * kKeyBlock);
      const float m_new = std::max(m[i], _mm512_mask_reduce_max_ps(live, si));
      __m512 p = _mm512_setzero_ps();
      if (m_new != ninf) {
        if (m_new > m[i] && l[i] > 0.0f) {
          const float f = std::exp(m[i] - m_new);
          l[i] *= f;
          for (int64_t j = 0; j < d_v; j += 16)
            _mm512_storeu_ps(out + i * d_v + j, _mm512_mul_ps(_mm512_set1_ps(f), _mm512_loadu_ps(out + i * d_v + j)));
        }
        m[i] = m_new;
        p = _mm512_maskz_mov_ps(live, exp512(_mm512_sub_ps(si, _mm512_set1_ps(m_new))));
        l[i] += _mm512_reduce_add_ps(p);
      }
      // Masked and missing positions get 0 (the zero after an odd count pads the last pair).
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(pb + i * kKeyBlock), (__m256i)_mm512_cvtneps_pbh(p));
    }

    const uint16_t* vp = rows.pairs(t, mk);
    for (int64_t i = 0; i < n_q; i += 3) {
      const int nq = static_cast<int>(std::min<int64_t>(3, n_q - i));
      for (int64_t j = 0; j < d_v; j += 128) {
        const int nv = static_cast<int>(std::min<int64_t>(128, d_v - j) / 16);
        kValuesByQueries[nq - 1][nv - 1](pb + i * kKeyBlock, kKeyBlock, vp + 2 * j, d_v, (mk + 1) / 2, out + i * d_v + j,
                                         d_v);
      }
    }
  }
  for (int64_t i = 0; i < n_q; ++i) {
    if (lse != nullptr) lse[i] = l[i] > 0.0f ? m[i] + std::log(l[i]) : ninf;
    const __m512 inv = _mm512_set1_ps(l[i] > 0.0f ? 1.0f / l[i] : 0.0f);
    for (int64_t j = 0; j < d_v; j += 16) _mm512_storeu_ps(out + i * d_v + j, _mm512_mul_ps(inv, _mm512_loadu_ps(out + i * d_v + j)));
  }
}

// Any number of queries, 16 at a time (on the stack in bf16); a causal block's chunk ends
// n_q - i0 - m queries before the block does, and sees as many keys fewer.
template <class Rows>
void attend_chunks(const float* q, int64_t n_q, int64_t d_k, int64_t n_keys, int64_t d_v, float scale, float* out,
                   float* lse, bool causal, const Rows& rows) {
  if (d_k > kMaxWidth) fail("attention in bf16: keys of ", d_k, " values (", kMaxWidth, " at most)");
  for (int64_t i0 = 0; i0 < n_q; i0 += kMaxQueries) {
    const int64_t m = std::min(kMaxQueries, n_q - i0), keys = causal ? n_keys - (n_q - i0 - m) : n_keys;
    attend_blocks(q + i0 * d_k, m, d_k, keys, d_v, scale, out + i0 * d_v, lse ? lse + i0 : nullptr, causal, rows);
  }
}

}  // namespace

void pack_bf16_rows_avx512bf16(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst) {
  with_row_pointer(type, rows, "pack_bf16_rows", [&](auto r) { pack_rows(r, stride, n, d, dst); });
}

void pack_bf16_pairs_avx512bf16(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst) {
  with_row_pointer(type, rows, "pack_bf16_pairs", [&](auto r) { pack_pairs(r, stride, n, d, dst); });
}

void attend_bf16_avx512bf16(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t n_keys,
                            const uint16_t* Vp, int64_t d_v, float scale, float* out, bool causal) {
  attend_chunks(q, n_q, d_k, n_keys, d_v, scale, out, nullptr, causal, PackedRows{K, Vp, d_k, d_v});
}

template <class KR, class VR>
void attend_rows_avx512bf16(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                            int64_t v_stride, int64_t d_v, float scale, float* out, float* lse, bool causal) {
  if (d_v > kMaxWidth) fail("attention in bf16: values of ", d_v, " (", kMaxWidth, " at most)");
  alignas(64) uint16_t buffer[kKeyBlock * kMaxWidth];
  attend_chunks(q, n_q, d_k, n_keys, d_v, scale, out, lse, causal,
                CacheRows{&K, &V, k_stride, v_stride, d_k, d_v, buffer, &pack_rows_at<KR>, &pack_pairs_at<VR>});
}
void attend_widened_avx512bf16(const float* q, int64_t n_q, int64_t d_k, DType k_type, const void* K, int64_t k_stride,
                               int64_t n_keys, DType v_type, const void* V, int64_t v_stride, int64_t d_v, float scale,
                               float* out, float* lse) {
  if (d_k > kMaxWidth || d_v > kMaxWidth) fail("attention in bf16: rows of ", std::max(d_k, d_v), " (", kMaxWidth, " at most)");
  const auto source = [](DType type, const void* rows, int64_t stride, int64_t d) {
    return WidenedRows{type, static_cast<const uint8_t*>(rows), row_bytes(type, stride),
                       widened_width(type, d)};
  };
  const WidenedRows keys = source(k_type, K, k_stride, d_k), values = source(v_type, V, v_stride, d_v);
  alignas(64) uint16_t buffer[kKeyBlock * kMaxWidth];
  attend_chunks(q, n_q, d_k, n_keys, d_v, scale, out, lse, false,
                CacheRows{&keys, &values, k_stride, v_stride, d_k, d_v, buffer, &pack_widened_at<false>,
                          &pack_widened_at<true>});
}

#define R1_INSTANTIATE(name, KR, VR) \
  template void name<KR, VR>(const float*, int64_t, int64_t, KR, int64_t, int64_t, VR, int64_t, int64_t, float, float*, float*, bool);
R1_ATTENTION_ROW_PAIRS(R1_INSTANTIATE, attend_rows_avx512bf16)
#undef R1_INSTANTIATE

}  // namespace r1
